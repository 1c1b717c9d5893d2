"""Fixes of session 50 to training: a folder of mostly unusable files read every one of them again
for each crop (100 000 empty `.jpg` files beside one picture: 2 min 30 s an iteration) and said
nothing but 20 "skipped" lines; a checkpoint that a full disk stopped said nothing of --resume,
which the Ctrl-C and SIGTERM lines say."""

from __future__ import annotations

import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest

from cli_support import training_error_line
from realtime_adain.training import checkpoint, checkpoint_files, item_streams, skipped_files
from test_full_disk import tmpfs
from train_support import tiny_args, train_tool  # noqa: F401  (fixtures)

EMPTY_FILES = 100


def mostly_empty_folder(folder: Path, empty: int = EMPTY_FILES) -> Path:
    """`empty` 0-byte `.jpg` files and one real 64 x 64 picture in `folder`."""
    folder.mkdir(parents=True)
    for i in range(empty):
        (folder / f"{i:05d}.jpg").touch()
    cv2.imwrite(str(folder / "photo.png"), np.random.default_rng(0).integers(0, 256, (64, 64, 3), np.uint8))
    return folder


def stream_over(folder: Path) -> item_streams.ImageStream:
    """The content stream of a run over `folder`, as a loading process has it."""
    return item_streams.pair_stream(str(folder), str(folder), 64, 32, 0).content


def test_unusable_files_are_read_once_not_for_every_crop(tmp_path, capsys):
    """Each item walked the shuffle from its place to the next usable file, reading every unusable
    one on the way again: each of them is read (and reported) once now, however many crops follow."""
    folder = mostly_empty_folder(tmp_path / "content")
    stream = stream_over(folder)
    reported, said = [], []
    for k in range(EMPTY_FILES + 1 + 30):  # an epoch and the start of the next
        crop, skipped, notes = stream.item(k)
        assert crop is not None and crop.shape == (3, 32, 32)
        reported += [path for path, _ in skipped]
        said += notes
    assert sorted(reported) == sorted(str(folder / f"{i:05d}.jpg") for i in range(EMPTY_FILES))

    # Nearly all of the folder unusable (past the WARNED_SKIPS named ones) is said once, with the count.
    warning = (f"warning: {folder}: 91 of its {EMPTY_FILES + 1} content images cannot be used so far (each is "
               "skipped, and counted in log.csv); training goes on with the rest")
    assert said == [warning]
    other_worker = stream_over(folder)  # a second loading process finds the same, in the same words
    found_there = [line for k in range(EMPTY_FILES + 1) for line in other_worker.item(k)[2]]
    capsys.readouterr()
    skipped_files.say_notes(said + found_there)
    assert capsys.readouterr().err.splitlines() == [warning]


def test_a_folder_with_some_bad_files_gets_no_such_warning(tmp_path):
    """Under 90% unusable, or no more than the WARNED_SKIPS named one by one: no warning."""
    for empty, good in ((skipped_files.WARNED_SKIPS, 0), (60, 9)):
        folder = mostly_empty_folder(tmp_path / f"content{empty}", empty)
        for i in range(good):
            cv2.imwrite(str(folder / f"more{i}.png"), np.full((64, 64, 3), i, np.uint8))
        stream = stream_over(folder)
        assert [line for k in range(2 * (empty + good + 1)) for line in stream.item(k)[2]] == []
        assert len(stream.unusable) == empty


def test_a_folder_gone_bad_mid_run_still_names_a_file(tmp_path):
    """Every file known unusable: an item reads none of them, and still names one for the error."""
    folder = mostly_empty_folder(tmp_path / "content", 3)
    stream = stream_over(folder)
    assert stream.item(0)[0] is not None
    (folder / "photo.png").write_bytes(b"")
    first = stream.item(1)
    second = stream.item(2)  # all four known unusable now: none read
    assert first[0] is None and second[0] is None
    assert second[1] == [first[1][-1]]
    error = item_streams.collate([(None, None, second[1], [])]).error(str(folder))
    assert str(error).endswith(f"last: {first[1][-1][0]}: the file is empty)")


@pytest.mark.slow  # (a training run with two loading processes: 5 s)
def test_a_run_over_a_mostly_empty_folder_warns_once(train_tool, tmp_path, published_weights, one_thread):
    """Through the loading processes: each empty file counted once in log.csv, the warning said
    once however many processes found it."""
    mostly_empty_folder(tmp_path / "content", 25)
    mostly_empty_folder(tmp_path / "style", 0)
    run = tmp_path / "run"
    code, _, err = train_tool(*tiny_args(tmp_path, published_weights[0], run, 4, "--log-every", "4"),
                              "--workers", "2")
    assert code == 0, err
    warnings = [line for line in err.splitlines() if line.startswith("warning: ") and "cannot be used" in line]
    assert warnings == [f"warning: {tmp_path / 'content'}: 24 of its 26 content images cannot be used so far (each "
                        "is skipped, and counted in log.csv); training goes on with the rest"], err
    assert (run / "log.csv").read_text().splitlines()[-1].endswith(",25")


# --- a full disk mid-run -------------------------------------------------------------------------


@pytest.mark.slow  # (default run's time, 2026-12-07: a rarer variant; the corpus and `-m slow` runs keep it)
def test_a_full_disk_mid_run_says_how_to_resume(train_tool, tmp_path, published_weights, one_thread):
    """A checkpoint (decoder 14 MB and trainer state 28 MB here) that filled the disk: the error named
    the file and the cause but not `--resume RUN`, as an interrupted run's line does."""
    with tmpfs(tmp_path / "disk", "64m") as disk:  # room for one checkpoint, not two
        run = disk / "run"
        code, _, err = train_tool(*two_checkpoints(tmp_path, published_weights[0], run))
        line = training_error_line(code, err)
        assert line == (f"error: {checkpoint_files.state_file(run / 'checkpoints', 2)}: cannot write (No space left on "
                        f"device); resume from the last checkpoint with --resume {run}"), err
        assert checkpoint.load_checkpoint(run).trainer.iteration == 1


@pytest.mark.slow  # (three training runs: 6-10 s)
def test_the_resume_hint_of_a_full_disk_is_right(train_tool, tmp_path, published_weights, one_thread):
    """Given room, the hint's command continues the run; a run whose first checkpoint filled the
    disk has none to resume from, and its line says nothing of resuming."""
    vgg = published_weights[0]
    with tmpfs(tmp_path / "disk", "64m") as disk:
        run = disk / "run"
        assert train_tool(*two_checkpoints(tmp_path, vgg, run))[0] == 2
        subprocess.run(["mount", "-o", "remount,size=128m", str(disk)], check=True)  # room made
        code, out, err = train_tool("--resume", run)
        assert code == 0 and out == f"decoder: {checkpoint_files.decoder_file(run / 'checkpoints', 2)}\n", err
    with tmpfs(tmp_path / "small", "3m") as disk:  # not even one checkpoint
        run = disk / "run"
        code, _, err = train_tool(*two_checkpoints(tmp_path, vgg, run))
        line = training_error_line(code, err)  # (refused before training since session 54: no room for one)
        assert line.startswith(f"error: {run / 'checkpoints'}: no room for a checkpoint (") and "--resume" not in line, line


def two_checkpoints(tmp_path: Path, vgg: Path, run: Path) -> list[str]:
    """A run's arguments: 2 iterations, a checkpoint at each, over one content and one style picture."""
    folder = tmp_path / "data"
    if not folder.exists():
        mostly_empty_folder(folder / "content", 0)
        mostly_empty_folder(folder / "style", 0)
    return tiny_args(folder, vgg, run, 2, "--save-every", "1")
