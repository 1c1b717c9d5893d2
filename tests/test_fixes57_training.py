"""Fixes of the training findings of session 57 (tester h4): a signal as an output's temporary file
was made left it behind, a run folder given as --content or --style itself was trained on, the
damaged-checkpoint advice named an earlier checkpoint that could not be read either, `-inf` read as
an option, and "none of the 1 content images"."""

from __future__ import annotations

import gc
import os
import signal
import tempfile

import pytest

from realtime_adain import atomic, interrupts
from realtime_adain.training import checkpoint_files
from cli_support import training_error_line
from test_train_hostile_checkpoints import copy_run, dataset, finished_run  # noqa: F401  (fixtures)
from train_support import train_tool  # noqa: F401  (a fixture)


def test_a_signal_as_the_temporary_is_made_leaves_no_file(tmp_path, monkeypatch):
    """SIGTERM landing inside mkstemp, once it had made the file but before it said its name,
    left an empty hidden `.NAME...part.EXT` that no one removed (a checkpoint folder kept one)."""
    made = []

    def signalled_as_it_returns(*args, **kwargs):
        fd, name = real_mkstemp(*args, **kwargs)
        made.append(name)
        os.kill(os.getpid(), signal.SIGTERM)  # (its handler runs here, as mkstemp returns)
        return fd, name

    real_mkstemp = tempfile.mkstemp
    monkeypatch.setattr(atomic.tempfile, "mkstemp", signalled_as_it_returns)
    with interrupts.sigterm_raises(), pytest.raises(interrupts.Terminated):
        atomic.PendingOutput(tmp_path / "decoder_iter_0000003.safetensors")
    gc.collect()
    assert made and os.listdir(tmp_path) == []


def test_a_signal_held_as_the_temporary_is_made_is_raised_after(tmp_path, monkeypatch):
    """A Ctrl-C held while the temporary is made is not lost: raised once its removal is registered."""
    real_mkstemp = tempfile.mkstemp
    monkeypatch.setattr(atomic.tempfile, "mkstemp",
                        lambda *a, **k: (real_mkstemp(*a, **k), os.kill(os.getpid(), signal.SIGINT))[0])
    with pytest.raises(KeyboardInterrupt):
        atomic.PendingOutput(tmp_path / "out.png")
    gc.collect()
    assert os.listdir(tmp_path) == []
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    monkeypatch.undo()
    with atomic.PendingOutput(tmp_path / "out.png") as pending:  # (and with no signal, as before)
        pending.path.write_bytes(b"x")
    assert os.listdir(tmp_path) == ["out.png"]


def test_the_only_image_of_a_folder_unusable_is_said_so(tmp_path):
    """"none of the 1 content images is usable": the only one, said as such."""
    from realtime_adain.errors import UserError
    from realtime_adain.training.training_images import check_readable

    (tmp_path / "a.jpg").write_bytes(b"GIF89a, not really")
    with pytest.raises(UserError) as raised:
        check_readable([tmp_path / "a.jpg"], tmp_path, "content")
    assert str(raised.value).startswith(f"{tmp_path}: the only content image is not usable (")
    (tmp_path / "b.jpg").write_bytes(b"nor this")
    with pytest.raises(UserError, match=r": none of the 2 style images is usable \(first: "):
        check_readable([tmp_path / "a.jpg", tmp_path / "b.jpg"], tmp_path, "style")


def test_a_training_run_given_as_the_data_folder_is_refused(tmp_path, data_dir):
    """An earlier run's folder as --content was trained on, its sample grids included, without a
    word (as a subfolder of --content it is left out with a note)."""
    import shutil

    from realtime_adain.errors import UserError
    from realtime_adain.training.image_listing import list_images

    run = tmp_path / "run1"
    (run / "checkpoints").mkdir(parents=True)
    (run / "samples").mkdir()
    (run / "log.csv").write_text("iteration\n")
    shutil.copy(data_dir / "content" / "sailboat.jpg", run / "samples" / "iter_0000002.jpg")
    with pytest.raises(UserError) as raised:
        list_images(run, "content")
    assert str(raised.value) == (f"{run}: --content is a training run's folder (its samples are stylized pictures, "
                                 "not content images); give the folder of the content images")
    with pytest.raises(UserError) as raised:  # (its samples/ given: the same sample grids)
        list_images(run / "samples", "style")
    assert str(raised.value) == (f"{run / 'samples'}: --style lies inside the training run {run} (its samples are "
                                 "stylized pictures, not style images); give the folder of the style images")
    (run / "data").mkdir()  # (a dataset of the user's elsewhere in the run's folder is theirs)
    shutil.copy(data_dir / "content" / "sailboat.jpg", run / "data" / "photo.jpg")
    assert list_images(run / "data", "style") == [run / "data" / "photo.jpg"]
    shutil.copy(data_dir / "content" / "sailboat.jpg", tmp_path / "photo.jpg")  # (inside a dataset: left out)
    assert list_images(tmp_path, "style") == [tmp_path / "photo.jpg"]


def test_the_advice_for_a_damaged_checkpoint_names_one_that_can_be_read(train_tool, finished_run, tmp_path):
    """The newest two checkpoints cut short: the advice named the one before the newest, and
    following it stopped there the same way. Now the newest that can be read, with every file that
    --resume would choose before it, or that none is left."""
    run = copy_run(finished_run, tmp_path)
    folder = run / "checkpoints"
    for iteration in (2, 3, 4):
        for path in (checkpoint_files.decoder_file(folder, iteration), checkpoint_files.state_file(folder, iteration)):
            path.write_bytes(b"\0" * 100)
    code, _, err = train_tool("--resume", run, "--iterations", "6", "--workers", "0")
    line = training_error_line(code, err)
    assert line.endswith("; the 2 checkpoints before it cannot be read either: to resume from "
                         "decoder_iter_0000001.safetensors, move decoder_iter_0000004.safetensors, "
                         "trainer_iter_0000004.safetensors, decoder_iter_0000003.safetensors, "
                         "trainer_iter_0000003.safetensors, decoder_iter_0000002.safetensors and "
                         "trainer_iter_0000002.safetensors away"), line
    assert line.startswith(f"error: {checkpoint_files.decoder_file(folder, 4)}: not a readable weights file"), line
    checkpoint_files.decoder_file(folder, 3).unlink()  # (h4's: the one just before unreadable)
    checkpoint_files.state_file(folder, 3).unlink()
    code, _, err = train_tool("--resume", run, "--iterations", "6", "--workers", "0")
    assert training_error_line(code, err).endswith(
        "; the checkpoint before it, decoder_iter_0000002.safetensors, cannot be read either: to resume from "
        "decoder_iter_0000001.safetensors, move decoder_iter_0000004.safetensors, trainer_iter_0000004.safetensors, "
        "decoder_iter_0000002.safetensors and trainer_iter_0000002.safetensors away")
    checkpoint_files.state_file(folder, 1).write_bytes(b"\0" * 100)
    code, _, err = train_tool("--resume", checkpoint_files.decoder_file(folder, 2), "--iterations", "6")
    assert training_error_line(code, err).endswith(
        "; the checkpoint before it, decoder_iter_0000001.safetensors, cannot be read either: no checkpoint is left "
        "to resume from")


@pytest.mark.parametrize("value, said", [("-inf", "'-inf' is not a finite number"),
                                         ("-NaN", "'-NaN' is not a finite number"),
                                         ("-1e5", "must be positive")])
def test_a_negative_number_is_a_value_for_the_trainer(train_tool, value, said):
    """argparse reads `-1` and `-0.5` as values, but `-inf`, `-nan` and `-1e5` as options:
    `--lr -inf` was "argument --lr: expected one argument"."""
    code, _, err = train_tool("--content", "c", "--style", "s", "--lr", value)
    assert code == 2 and err.startswith("error: ") and said in err.splitlines()[0], err
    assert "expected one argument" not in err


@pytest.mark.parametrize("args, said", [
    (["image", "a.jpg", "-s", "b.jpg", "--alpha", "-inf"], "argument --alpha: '-inf' is not a finite number"),
    (["image", "a.jpg", "-s", "b.jpg", "--alpha", "-1e5"], "argument --alpha:"),
    (["video", "a.mp4", "-s", "b.jpg", "--start", "-inf"], "argument --start:"),
    (["video", "a.mp4", "-s", "b.jpg", "--stabilize-strength", "-nan"],
     "argument --stabilize-strength: '-nan' is not a finite number"),
])
def test_a_negative_number_is_a_value_for_the_commands(run_cli, args, said):
    code, _, err = run_cli(*args)
    assert code == 2 and err.startswith(f"error: realtime-adain {args[0]}: {said}"), err
    assert "expected one argument" not in err
