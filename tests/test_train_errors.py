"""Bad input to the trainer: one clear line and exit 2; bad images inside a dataset never stop a run."""

from __future__ import annotations

import csv
import shutil

import cv2
import numpy as np
import pytest

from realtime_adain.training import checkpoint_files
from cli_support import training_error_line
from train_support import tiny_args, train_tool  # noqa: F401  (fixtures)


@pytest.fixture
def dataset(tmp_path, data_dir):
    """Two content and two style images, copied so a test may spoil them."""
    for kind, names in (("content", ("brad_pitt.jpg", "sailboat.jpg")), ("style", ("trial.jpg", "goeritz.jpg"))):
        (tmp_path / kind).mkdir()
        for name in names:
            shutil.copy(data_dir / kind / name, tmp_path / kind / name)
    return tmp_path


def test_empty_directory(train_tool, dataset, published_weights, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    code, _, err = train_tool(*tiny_args(dataset, published_weights[0], tmp_path / "out", 2), "--content", empty)
    assert "the content directory is empty" in training_error_line(code, err)
    one_image = dataset / "content" / "sailboat.jpg"
    code, _, err = train_tool(*tiny_args(dataset, published_weights[0], tmp_path / "out", 2), "--content", one_image)
    assert "--content takes a directory of images, not a single file" in training_error_line(code, err)


def test_directory_of_non_images(train_tool, dataset, published_weights, tmp_path):
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "readme.txt").write_text("not a painting")
    code, _, err = train_tool(*tiny_args(dataset, published_weights[0], tmp_path / "out", 2), "--style", notes)
    assert "no images in the style directory" in training_error_line(code, err)
    assert not (tmp_path / "out").exists()  # the run directory made for it is gone again

    fakes = tmp_path / "fakes"
    fakes.mkdir()
    (fakes / "a.jpg").write_bytes(b"GIF89a, not really")
    code, _, err = train_tool(*tiny_args(dataset, published_weights[0], tmp_path / "out", 2), "--style", fakes)
    assert "the only style image is not usable" in training_error_line(code, err)


def test_unwritable_checkpoint_directory(train_tool, dataset, published_weights, tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    code, _, err = train_tool(*tiny_args(dataset, published_weights[0], blocker / "run", 2))
    assert "not writable" in training_error_line(code, err)


def test_bad_settings(train_tool, dataset, published_weights, tmp_path):
    args = tiny_args(dataset, published_weights[0], tmp_path / "out", 2)
    for extra, message in (
        (["--amp", "bf16"], "--amp bf16 needs a CUDA device"),
        (["--crop-size", "36"], "--crop-size must be a multiple of 8"),
        (["--load-size", "16", "--crop-size", "32"], "--load-size (16) must be at least --crop-size (32)"),
        (["--batch-size", "0"], "--batch-size must be at least 1"),
        (["--lr", "nan"], "--lr: 'nan' is not a finite number"),
        (["--lr", "0"], "--lr must be positive"),
        (["--style-weight", "inf"], "--style-weight: 'inf' is not a finite number"),
        (["--style-weight=-1"], "argument --style-weight: -1 is outside 0..1e+12"),  # refused while parsing
        (["--temporal-weight", "nan"], "--temporal-weight: 'nan' is not a finite number"),  # the culprit named (attack campaign)
        (["--content-weight=-1"], "argument --content-weight: -1 is outside 0..1e+12"),
        (["--encoder", "torchvision-vgg19", "--vgg", ""], "needs --vgg PATH"),
        (["--vgg", published_weights[1]], "not VGG encoder weights"),  # the decoder file as the encoder
    ):
        code, _, err = train_tool(*args, *extra)
        assert message in training_error_line(code, err), extra


@pytest.mark.parametrize("extra, message", [
    (["--seed=-1"], "--seed must be between 0 and 4294967295, got -1"),
    (["--seed", "99999999999999999999999"], "--seed must be between 0 and 4294967295, got 99999999999999999999999"),
    (["--load-size", "99999999"], "--load-size must be at most 4096, got 99999999"),
    (["--batch-size", "99999999999"], "--batch-size must be at most 1024, got 99999999999"),
    (["--workers", "100000"], "--workers must be between 0 and 64, got 100000"),
    # (past ~3e37 Adam's step overflowed at the first iteration: a traceback, and the run's folder)
    (["--lr", "1e38"], "--lr 1e+38: at most 1 (Adam moves each weight by about lr a step; the paper's is 0.0001)"),
])
def test_out_of_range_numbers_are_refused_before_the_run(train_tool, dataset, published_weights, tmp_path, extra, message):
    """Numbers no real run needs (attack campaign: tracebacks from numpy, OpenCV's allocator and a
    MemoryError after log.csv was written) are one line naming the option, and nothing is created."""
    code, _, err = train_tool(*tiny_args(dataset, published_weights[0], tmp_path / "out", 2), *extra)
    assert training_error_line(code, err) == f"error: {message}"
    assert not (tmp_path / "out").exists()


def test_resume_errors(train_tool, dataset, published_weights, tmp_path, one_thread):
    vgg, published_decoder = published_weights
    run = tmp_path / "run"
    code, _, err = train_tool(*tiny_args(dataset, vgg, run, 1, "--save-every", "1"))
    assert code == 0, err

    code, _, err = train_tool("--resume", run, "--iterations", "2", "--decoder", "skip-concat")
    line = training_error_line(code, err)
    assert "--decoder skip-concat differs from the checkpoint's plain" in line

    code, _, err = train_tool("--resume", published_decoder)
    assert "not a trainer checkpoint" in training_error_line(code, err)

    code, _, err = train_tool("--resume", run)  # already at --iterations
    assert "already at iteration 1" in training_error_line(code, err)

    code, _, err = train_tool(*tiny_args(dataset, vgg, run, 2))  # a fresh run over a run's checkpoints
    assert "already holds a run's checkpoints" in training_error_line(code, err)

    checkpoint_files.state_file(run / "checkpoints", 1).unlink()
    code, _, err = train_tool("--resume", checkpoint_files.decoder_file(run / "checkpoints", 1), "--iterations", "2")
    assert "incomplete checkpoint" in training_error_line(code, err)


def test_unreadable_and_tiny_images_are_skipped_with_a_warning(train_tool, dataset, published_weights, one_thread):
    (dataset / "content" / "broken.jpg").write_bytes((dataset / "content" / "sailboat.jpg").read_bytes()[:300])
    cv2.imwrite(str(dataset / "content" / "thumbnail.png"), np.zeros((20, 30, 3), np.uint8))
    run = dataset / "run"
    code, _, err = train_tool(*tiny_args(dataset, published_weights[0], run, 4, "--log-every", "4"))
    assert code == 0, err
    warnings = [line for line in err.splitlines() if line.startswith("warning: skipped")]
    assert sorted(w.split()[2] for w in warnings) == sorted(
        str(dataset / "content" / name) + ":" for name in ("broken.jpg", "thumbnail.png")
    )
    assert any("too small (30x20" in w for w in warnings)
    with open(run / "log.csv", newline="") as handle:
        assert list(csv.DictReader(handle))[-1]["skipped_images"] == "2"
