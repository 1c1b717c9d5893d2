"""Fixes of the training findings of session 54: a loss window of NaN or edited sums in a trainer
state trained on and blamed the learning rate (or logged a false row), the divergence line quoted
the total where a term was NaN, links that lead to no file and fifos named as images were left out
without a word (the folder was "empty"), a disk without room for one checkpoint was found at the
first save, and a Ctrl-C while tools/train.py imported its modules was a traceback."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys

import pytest

from cli_support import training_error_line
from realtime_adain.errors import UserError
from realtime_adain.training import checkpoint, checkpoint_files, checkpoint_writing, image_listing, trainer
from test_full_disk import disk, left_on  # noqa: F401  (the tmpfs fixture)
from test_train_hostile_checkpoints import (copy_run, dataset, edit_state, finished_run,  # noqa: F401  (fixtures)
                                            refused_as_damaged)
from train_support import REPO, tiny_args, train_tool  # noqa: F401  (fixtures)

NAN, HUGE = float("nan"), 1e308


def loss_window(sums: list[float], iterations: int):
    def change(tensors, document):
        document["loss_window"] = {"sums": sums, "iterations": iterations}
    return change


def test_a_loss_window_of_nan_is_refused_before_training(train_tool, finished_run, tmp_path, one_thread):  # noqa: F811
    """It trained an iteration, then said "the loss became 5190.52 ...; lower --lr"."""
    refused_as_damaged(train_tool, finished_run, tmp_path, loss_window([NAN, 0.0, 0.0, 0.0], 1), "loss window")


@pytest.mark.slow_cases("huge", "negative", "no iterations", "three sums")  # (a second each: the copied run)
@pytest.mark.parametrize("sums, iterations, said", [
    pytest.param([HUGE, HUGE, 0.0, HUGE], 1, "past float32's range", id="huge"),  # (inf in float32: "lower --lr")
    pytest.param([1.0, -1.0, 0.0, 0.0], 1, "below 0", id="negative"),
    pytest.param([1e6, 1e6, 0.0, 1.0], 1, "is not the sum of its terms", id="false total"),  # (a row no run had)
    pytest.param([1.0, 2.0, 0.0, 3.0], 0, "over 0 iterations", id="no iterations"),
    pytest.param([10.0, 10.0, 1.0], 1, "is not the sum of its terms", id="three sums"),  # (an earlier state's)
])
def test_an_edited_loss_window_is_a_damaged_state(finished_run, tmp_path, sums, iterations, said):  # noqa: F811
    run = copy_run(finished_run, tmp_path)
    edit_state(run, loss_window(sums, iterations))
    with pytest.raises(UserError, match=r": damaged trainer state \(ValueError: loss window") as raised:
        checkpoint.load_checkpoint(run)
    assert said in str(raised.value)


@pytest.mark.slow  # (a second: the copied run)
def test_a_loss_window_whose_sums_round_apart_still_loads(finished_run, tmp_path):  # noqa: F811
    """float32 sums of many iterations: the total a little off the sum of the terms."""
    run = copy_run(finished_run, tmp_path)
    edit_state(run, loss_window([1.0, 2.0, 0.0, 3.0001], 1))
    assert checkpoint.load_checkpoint(run).trainer.loss_window == [1.0, 2.0, 0.0, 3.0001]


def test_the_divergence_line_names_the_term_that_is_not_finite():
    assert trainer.loss_not_finite([1.0, NAN, 0.0, NAN]) == "the style loss became nan"
    assert trainer.loss_not_finite([NAN, 2.0, 0.0, 5190.52]) == "the content loss became nan"
    assert trainer.loss_not_finite([3e38, 3e38, 0.0, math.inf]) == "the loss became inf"


@pytest.fixture
def odd_entries(tmp_path):
    """A folder of a fifo, a link to nowhere and a link to a device, each named as an image."""
    root = tmp_path / "odd"
    root.mkdir()
    os.mkfifo(root / "a.jpg")
    os.symlink("/nonexistent/x.png", root / "b.png")
    os.symlink(os.devnull, root / "c.png")
    return root


def test_a_folder_of_entries_that_are_not_files_is_not_called_empty(odd_entries):
    with pytest.raises(UserError, match=rf"^{odd_entries}: the content directory is empty but for 3 entries that are "
                                        r"not regular files \(links that lead to no file, fifos, sockets or devices\)$"):
        image_listing.list_images(odd_entries, "content")
    (odd_entries / ".hidden.jpg").write_bytes(b"")
    with pytest.raises(UserError, match=r"empty but for 1 hidden file or folder \(names starting with '.' are left "
                                        r"out\) and 3 entries that are not regular files"):
        image_listing.list_images(odd_entries, "content")
    (odd_entries / "notes.txt").write_text("")
    with pytest.raises(UserError, match=r"\(1 file, not an image; 1 hidden file or folder left out: names starting "
                                        r"with '.'; 3 entries that are not regular files left out \(links that lead to "
                                        r"no file, fifos, sockets or devices\)\)$"):
        image_listing.list_images(odd_entries, "content")


def test_images_that_are_not_files_are_said_when_left_out(odd_entries, dataset, capsys):  # noqa: F811
    """A dataset of links half of them to a disk not mounted trained on the other half without a word."""
    photo = next((dataset / "content").iterdir())
    os.symlink(photo, odd_entries / "d.jpg")
    assert image_listing.list_images(odd_entries, "content") == [odd_entries / "d.jpg"]
    err = capsys.readouterr().err
    assert err == (f"note: {odd_entries}: 3 image names hold no regular file (links that lead to no file, fifos, "
                   f"sockets or devices), left out of the content images: {odd_entries / 'a.jpg'}, "
                   f"{odd_entries / 'b.png'}, {odd_entries / 'c.png'}\n"), err


@pytest.mark.slow  # (a second: the checkpoint read; the run on a full disk checks the room)
def test_the_estimate_of_a_checkpoint_covers_its_files(finished_run):  # noqa: F811
    decoder = checkpoint.load_checkpoint(finished_run).decoder_state
    written = sum(os.path.getsize(path) for path in (checkpoint_files.decoder_file(finished_run / "checkpoints", 1),
                                                     checkpoint_files.state_file(finished_run / "checkpoints", 1)))
    tensors = sum(value.numel() * value.element_size() for value in decoder.values())
    extra = checkpoint_writing.CHECKPOINT_EXTRA_BYTES
    assert written <= extra + 3 * tensors <= written + extra


def test_a_disk_without_room_for_a_checkpoint_stops_the_run_before_it_trains(train_tool, dataset, published_weights,  # noqa: F811
                                                                             disk, one_thread):  # noqa: F811
    """It was found at the first save (--save-every 10000 by default: hours of CPU training)."""
    out = disk / "run"
    code, _, err = train_tool(*tiny_args(dataset, published_weights[0], out, 1))
    line = training_error_line(code, err)
    assert line.startswith(f"error: {out / 'checkpoints'}: no room for a checkpoint ("), line
    assert "free some space or choose another --out" in line, line
    assert left_on(disk) == []


SIGINT_WHILE_IMPORTING = """
import os, signal, sys

class SigintWhileImporting:
    def find_spec(self, name, path=None, target=None):
        if name == "realtime_adain.cli":
            os.kill(os.getpid(), signal.SIGINT)
        return None

sys.meta_path.insert(0, SigintWhileImporting())
"""


def test_a_ctrl_c_while_the_tool_imports_is_one_line(tmp_path):
    """A Ctrl-C (sent by the process itself, as `realtime_adain.cli` is about to import) was a
    KeyboardInterrupt traceback: it is `interrupted` and status 130, as for `realtime-adain`."""
    (tmp_path / "sitecustomize.py").write_text(SIGINT_WHILE_IMPORTING)
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    result = subprocess.run([sys.executable, str(REPO / "tools" / "train.py"), "--help"], env=env,
                            capture_output=True, text=True, timeout=60)
    assert (result.returncode, result.stderr, result.stdout) == (128 + signal.SIGINT, "interrupted\n", ""), result
