"""Fixes of the training findings of session 56: a fresh run whose --content (or --style) was its
own --out/samples removed the user's pictures named iter_*.jpg as an earlier run's samples, then
stopped for want of images (log.csv and tensorboard/ left behind); a dataset in any folder the run
writes and cleans up (checkpoints/, samples/, tensorboard/), or one of those leading into a dataset,
is refused before anything is made or removed. And "it holds 1 tensors" said of a wrong weights file."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from cli_support import training_error_line
from realtime_adain import weights
from realtime_adain.errors import UserError
from train_support import tiny_args, train_tool  # noqa: F401  (fixtures)

SAID = "where it writes its files and removes an earlier run's; give the run a folder of its own"


def pictures(folder: Path, names: list[str]) -> list[str]:
    """64 x 64 px noise pictures named `names` in `folder` (made); their names, sorted."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for name in names:
        cv2.imwrite(str(folder / name), rng.integers(0, 256, (64, 64, 3), np.uint8))
    return sorted(names)


def everything(folder: Path) -> list[str]:
    return sorted(str(path.relative_to(folder)) for path in folder.rglob("*"))


def args(content: Path, style: Path, vgg: Path, out: Path) -> list[str]:
    """`tiny_args` with the content and style folders given."""
    given = tiny_args(Path("unused"), vgg, out, 1)
    given[given.index("--content") + 1], given[given.index("--style") + 1] = str(content), str(style)
    return given


def test_a_content_folder_that_is_the_runs_samples_is_refused_and_kept(train_tool, tmp_path, published_weights):
    """The reported run: its three content pictures were removed as an earlier run's samples, and
    the run stopped with "no usable content image is left", leaving log.csv and tensorboard/."""
    out = tmp_path / "p"
    kept = pictures(out / "samples", [f"iter_000000{i}.jpg" for i in range(3)])
    pictures(tmp_path / "s", ["0.jpg", "1.jpg", "2.jpg"])
    before = everything(out)
    code, _, err = train_tool(*args(out / "samples", tmp_path / "s", published_weights[0], out))
    assert training_error_line(code, err) == (
        f"error: {out / 'samples'}: the content directory is the run's samples/ folder, {SAID}")
    assert sorted(os.listdir(out / "samples")) == kept
    assert everything(out) == before  # (no log.csv, tensorboard/, checkpoints/ or .lock)


@pytest.mark.parametrize("folder", ["checkpoints", "samples", "tensorboard"])
def test_a_style_folder_inside_a_folder_the_run_writes_is_refused(train_tool, tmp_path, published_weights, folder):
    out = tmp_path / "run"
    style = out / folder / "art"
    pictures(style, ["iter_0000001.jpg", "events.out.tfevents.1.jpg"])
    pictures(tmp_path / "content", ["a.jpg"])
    before = everything(out)
    code, _, err = train_tool(*args(tmp_path / "content", style, published_weights[0], out))
    assert training_error_line(code, err) == (
        f"error: {style}: the style directory lies inside the run's {folder}/ folder, {SAID}")
    assert everything(out) == before


def test_a_run_folder_that_leads_into_the_content_folder_is_refused(train_tool, tmp_path, published_weights):
    """OUT/samples a link to a folder of the dataset: the samples became training images and the
    dataset's iter_*.jpg were removed (--out itself inside a dataset is left out of it, and fine)."""
    content = tmp_path / "content"
    kept = pictures(content / "sub", ["iter_0000000.jpg", "iter_0000001.jpg"])
    pictures(tmp_path / "style", ["a.jpg"])
    out = tmp_path / "run"
    out.mkdir()
    (out / "samples").symlink_to(content / "sub")
    code, _, err = train_tool(*args(content, tmp_path / "style", published_weights[0], out))
    assert training_error_line(code, err) == (
        f"error: {out / 'samples'}: the run's samples/ folder leads into the content directory {content}, where the "
        "run would write its files and remove an earlier run's; give the run a folder of its own")
    assert sorted(os.listdir(content / "sub")) == kept
    assert sorted(os.listdir(out)) == ["samples"]


def test_a_content_folder_that_is_the_out_is_refused_before_anything_is_made(train_tool, tmp_path,
                                                                             published_weights, monkeypatch):
    """It was refused once the listing found it, after checkpoints/, samples/ and .lock were made
    among the pictures (and removed again)."""
    from realtime_adain.training import trainer

    content = tmp_path / "content"
    pictures(content, ["a.jpg"])
    pictures(tmp_path / "style", ["a.jpg"])
    monkeypatch.setattr(trainer, "make_folders", lambda path: pytest.fail(f"{path} made"))
    code, _, err = train_tool(*args(content, tmp_path / "style", published_weights[0], content))
    assert training_error_line(code, err) == (
        f"error: {content}: the content directory is the run's --out; give the run a folder of its own")
    assert os.listdir(content) == ["a.jpg"]


@pytest.mark.parametrize("count, said", [(0, "no tensors"), (1, "1 tensor"), (2, "2 tensors")])
def test_the_tensors_of_a_wrong_weights_file_are_counted_in_words(tmp_path, count, said):
    """It said "it holds 1 tensors"."""
    path = tmp_path / "decoder_iter_0000005.safetensors"
    save_file({f"t{i}": torch.zeros(2) for i in range(count)}, str(path), metadata={"architecture": "plain"})
    with pytest.raises(UserError) as raised:
        weights.load_decoder(path)
    assert str(raised.value) == f"{path}: not plain decoder weights; it holds {said}"
