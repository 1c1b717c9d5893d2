"""Fixes of the training findings of session 39 (tester h1): a resumed run's first log row
averaged other iterations than an uninterrupted run's, an unusable OUT/samples was found only at
the first sample, a folder of hidden pictures was "empty", every torchrun process printed the
interrupt line, and four messages or docs said the wrong thing."""

from __future__ import annotations

import csv
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time

import pytest
import torch

from cli_support import training_error_line
from realtime_adain import weights
from realtime_adain.errors import UserError
from realtime_adain.training import checkpoint, checkpoint_files, image_listing
from test_train_hostile_checkpoints import (copy_run, dataset, edit_state, finished_run,  # noqa: F401  (fixtures)
                                            refused_as_damaged)
from train_support import REPO, tiny_args, train_tool  # noqa: F401  (fixtures)

LOSSES = ("iteration", "content_loss", "style_loss", "total_loss", "lr")


def logged_losses(run) -> list[tuple[str, ...]]:
    """log.csv's rows without the speed (a clock's, never the same twice)."""
    with open(run / "log.csv", newline="") as handle:
        return [tuple(row[name] for name in LOSSES) for row in csv.DictReader(handle)]


def drop_checkpoint(run, iteration: int) -> None:
    """`run` as an interrupted run left it: its last checkpoint not yet written."""
    for path in (checkpoint_files.decoder_file(run / "checkpoints", iteration),
                 checkpoint_files.state_file(run / "checkpoints", iteration)):
        path.unlink()


# Checkpoints at 2 (mid-window) and 3; the log's one row, at 3, averages iterations 1 to 3.
WINDOW_RUN = ("--save-every", "2", "--log-every", "3")


@pytest.mark.slow  # (default run's time: a run and its resume)
def test_a_resumed_run_logs_the_rows_of_an_uninterrupted_one(train_tool, dataset, published_weights, tmp_path,  # noqa: F811
                                                             one_thread):
    """The losses summed since the last log row were not in the trainer state: resumed at 2, the
    row of iteration 3 averaged iteration 3 alone (docs: the losses are identical)."""
    straight = tmp_path / "straight"
    code, _, err = train_tool(*tiny_args(dataset, published_weights[0], straight, 3, *WINDOW_RUN))
    assert code == 0, err
    resumed = copy_run(straight, tmp_path / "copy")
    drop_checkpoint(resumed, 3)
    assert checkpoint.load_checkpoint(resumed).trainer.window_iterations == 2
    code, _, err = train_tool("--resume", resumed)
    assert code == 0, err
    assert logged_losses(resumed) == logged_losses(straight) and len(logged_losses(straight)) == 1


def without_loss_window(tensors, document):
    del document["loss_window"]


@pytest.mark.slow  # (default run's time, 2026-12-07: a rarer variant; the corpus and `-m slow` runs keep it)
def test_a_trainer_state_from_before_the_loss_window_still_resumes(train_tool, finished_run, tmp_path, one_thread):  # noqa: F811
    run = copy_run(finished_run, tmp_path)
    edit_state(run, without_loss_window)
    code, _, err = train_tool("--resume", run, "--iterations", "2")
    assert code == 0, err
    assert checkpoint_files.decoder_file(run / "checkpoints", 2).is_file()


def text_loss_window(tensors, document):
    document["loss_window"] = {"sums": ["a", 0, 0], "iterations": 1}


def test_an_edited_loss_window_is_a_damaged_state(train_tool, finished_run, tmp_path, one_thread):  # noqa: F811
    refused_as_damaged(train_tool, finished_run, tmp_path, text_loss_window, "loss window")


def test_a_file_named_samples_stops_the_run_before_it_trains(train_tool, dataset, published_weights, tmp_path,  # noqa: F811
                                                            one_thread):
    """It was found at the first sample (--sample-every in), the training time spent, and no
    checkpoint was left."""
    out = tmp_path / "run"
    out.mkdir()
    (out / "samples").write_text("")
    code, _, err = train_tool(*tiny_args(dataset, published_weights[0], out, 2, "--sample-every", "1"))
    line = training_error_line(code, err)
    assert line == f"error: {out / 'samples'}: output directory is not writable (it is a file, not a folder)", line
    assert sorted(p.name for p in out.iterdir()) == ["samples"]  # nothing trained, nothing left behind


def test_a_refused_run_leaves_no_samples_folder_in_an_existing_out(train_tool, dataset, published_weights,  # noqa: F811
                                                                    tmp_path):
    """The samples folder made up front goes with the run that never started, as checkpoints/ does."""
    out = tmp_path / "mine"
    out.mkdir()
    code, _, err = train_tool(*tiny_args(dataset, published_weights[0], out, 1, "--content", tmp_path / "none"))
    assert "no such content directory" in training_error_line(code, err)
    assert list(out.iterdir()) == []


def test_a_folder_of_hidden_pictures_says_they_were_left_out(dataset, tmp_path):  # noqa: F811
    """It was "the content directory is empty": true only of what the trainer looks at."""
    root = tmp_path / "content"
    shutil.copytree(dataset / "content", root / ".photos")
    shutil.copy(next((dataset / "content").iterdir()), root / ".hidden.jpg")
    with pytest.raises(UserError, match=rf"^{root}: the content directory is empty but for 2 hidden files or "
                                        r"folders \(names starting with '.' are left out\)$"):
        image_listing.list_images(root, "content")
    (root / "notes.txt").write_text("")
    with pytest.raises(UserError, match=r"\(1 file, not an image; 2 hidden files or folders left out: "
                                        r"names starting with '.'\)$"):
        image_listing.list_images(root, "content")


def test_an_empty_folder_is_still_empty(tmp_path):
    with pytest.raises(UserError, match=rf"^{tmp_path}: the style directory is empty$"):
        image_listing.list_images(tmp_path, "style")


def torchrun(*args: str) -> list[str]:
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
            str(REPO / "tools" / "train.py"), *args]


TORCHRUN_ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def run_under_torchrun(*args: str) -> None:
    result = subprocess.run(torchrun(*args), capture_output=True, text=True, env=TORCHRUN_ENV, timeout=240)
    assert result.returncode == 0, result.stderr[-3000:]


@pytest.mark.slow  # (a torchrun run of two gloo processes, about 12 s)
def test_ctrl_c_under_torchrun_prints_the_interrupt_line_once(dataset, published_weights, tmp_path):  # noqa: F811
    """Each of the processes printed `interrupted (...)`: rank 0 alone does now."""
    out = tmp_path / "run"
    process = subprocess.Popen(torchrun(*tiny_args(dataset, published_weights[0], out, 100_000, "--save-every", "1")),
                               stderr=subprocess.PIPE, text=True, start_new_session=True, env=TORCHRUN_ENV)
    try:
        for line in process.stderr:  # until the run has started: its first checkpoint
            if line.startswith("checkpoint: "):
                break
        time.sleep(1)
        os.killpg(process.pid, signal.SIGINT)  # a terminal's Ctrl-C: torchrun and both processes
        err = process.communicate(timeout=120)[1]
    finally:
        process.kill()
    interrupted = [line for line in err.splitlines() if line.startswith("interrupted (")]
    assert interrupted == [f"interrupted (resume from the last checkpoint with --resume {out})"], err[-3000:]


@pytest.mark.slow  # (two torchrun runs of two gloo processes, about 20 s)
def test_a_data_parallel_resume_logs_the_rows_of_one_uninterrupted_process(train_tool, dataset, published_weights,  # noqa: F811
                                                                           tmp_path, one_thread):
    """Each process sums its own losses: the checkpoint keeps their mean, which every process of
    the resumed run starts from, so its row is the one process's on the whole batch."""
    straight, parallel = tmp_path / "straight", tmp_path / "parallel"
    code, _, err = train_tool(*tiny_args(dataset, published_weights[0], straight, 3, *WINDOW_RUN))
    assert code == 0, err
    run_under_torchrun(*tiny_args(dataset, published_weights[0], parallel, 3, *WINDOW_RUN))
    drop_checkpoint(parallel, 3)
    run_under_torchrun("--resume", str(parallel))
    (expected,), (got,) = logged_losses(straight), logged_losses(parallel)
    assert got[0] == expected[0] == "3"
    assert [float(v) for v in got[1:]] == pytest.approx([float(v) for v in expected[1:]], rel=1e-4)


def test_a_decoder_of_another_shape_says_so(published_weights, tmp_path):
    """It said "not plain decoder weights: ...; it looks like decoder weights"."""
    state = torch.load(published_weights[1], weights_only=True)
    state["1.bias"] = state["1.bias"][:128].clone()
    path = tmp_path / "decoder.pth"
    torch.save(state, path)
    with pytest.raises(UserError, match=rf"^{path}: decoder weights of another shape: '1.bias' has shape \(128,\), "
                                        r"expected \(256,\)$"):
        weights.load_decoder(path)


def test_a_trainer_state_given_as_the_vgg_says_what_it_is(finished_run):  # noqa: F811
    """It said "give the decoder_iter_N file beside it", which --vgg cannot take."""
    path = checkpoint_files.state_file(finished_run / "checkpoints", 1)
    with pytest.raises(UserError, match=rf"^{path}: not VGG encoder weights; it looks like a trainer state "
                                        r"\(trainer_iter_N\)$"):
        weights.load_encoder(path)


def test_the_resume_hint_for_an_out_holding_a_run_is_shell_quoted(train_tool, finished_run, dataset,  # noqa: F811
                                                                  published_weights, tmp_path):
    run = tmp_path / "my run"
    shutil.copytree(finished_run, run, ignore=shutil.ignore_patterns(".lock"))
    code, _, err = train_tool(*tiny_args(dataset, published_weights[0], run, 2))
    line = training_error_line(code, err)
    assert f"continue it with --resume {shlex.quote(str(run))} or choose another --out" in line, line


def test_the_docs_say_total_loss_includes_the_temporal_term():
    text = " ".join((REPO / "docs" / "training.md").read_text().split())
    assert "`total_loss` is their sum, plus the weighted temporal term with `--temporal-weight`" in text
