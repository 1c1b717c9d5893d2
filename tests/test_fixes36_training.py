"""Fixes of the hostile campaign on training of session 36 (task h3): a resumed run read relative
paths from the folder it was resumed in and any VGG the environment named, a torchvision-encoder
message spoke of a decoder a fresh run has not, and an edited count of skipped files went into
log.csv whatever its size."""

from __future__ import annotations

import shutil

import pytest
import torch

from cli_support import training_error_line
from realtime_adain.training import checkpoint, checkpoint_files
from test_train_hostile_checkpoints import copy_run, dataset, edit_state, finished_run, refused_as_damaged  # noqa: F401
from train_support import tiny_args, train_tool  # noqa: F401  (fixtures)


def saved_config(run) -> dict:
    return checkpoint.load_checkpoint(str(run)).trainer.config


@pytest.mark.slow  # (default run's time: 2 s)
def test_relative_data_paths_are_kept_as_absolute_ones(train_tool, dataset, published_weights, tmp_path,  # noqa: F811
                                                       monkeypatch, one_thread):
    """`--content data/c` was saved as typed: resumed from another folder holding a data/c of other
    pictures, the run trained on those without a word."""
    monkeypatch.chdir(dataset.parent)
    run = tmp_path / "run"
    args = tiny_args(dataset, published_weights[0], run, 1, "--save-every", "1")
    relative = {"--content": f"{dataset.name}/content", "--style": f"{dataset.name}/style"}
    args = [relative.get(args[i - 1], value) if i else value for i, value in enumerate(args)]
    assert f"{dataset.name}/content" in args
    code, _, err = train_tool(*args)
    assert code == 0, err
    config = saved_config(run)
    assert config["content_dir"] == str(dataset / "content") and config["style_dir"] == str(dataset / "style")
    assert config["vgg"] == str(published_weights[0]) and len(config["vgg_sha256"]) == 64
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / dataset.name).mkdir(parents=True)
    shutil.copytree(dataset / "style", elsewhere / dataset.name / "content")  # (swapped: other pictures)
    shutil.copytree(dataset / "content", elsewhere / dataset.name / "style")
    monkeypatch.chdir(elsewhere)
    code, _, err = train_tool("--resume", run, "--iterations", "2")
    assert code == 0 and saved_config(run)["content_dir"] == str(dataset / "content"), err


@pytest.mark.slow  # (default run's time: a run and its resume)
def test_another_vgg_on_resume_is_refused(train_tool, finished_run, published_weights, tmp_path, monkeypatch,  # noqa: F811
                                          one_thread):
    """A run started with the environment's VGG and resumed with another there trained on."""
    run = copy_run(finished_run, tmp_path)
    state = torch.load(published_weights[0], weights_only=True)
    other = tmp_path / "other_vgg.pth"
    torch.save({key: value * 0.5 for key, value in state.items()}, other)
    code, _, err = train_tool("--resume", run, "--iterations", "2", "--vgg", other)
    line = training_error_line(code, err)
    assert line.startswith(f"error: {other}: not the VGG encoder this run was started with") and \
        line.endswith("give --vgg the file it used"), line
    assert not checkpoint_files.decoder_file(run / "checkpoints", 2).exists()
    moved = tmp_path / "moved.pth"
    shutil.copy(published_weights[0], moved)
    code, _, err = train_tool("--resume", run, "--iterations", "2", "--vgg", moved)  # (the same file, moved: fine)
    assert code == 0, err


def test_a_torchvision_encoder_given_the_normalised_vgg_says_so(train_tool, dataset, published_weights,  # noqa: F811
                                                                tmp_path, one_thread):
    args = tiny_args(dataset, published_weights[0], tmp_path / "run", 1, "--encoder", "torchvision-vgg19")
    code, _, err = train_tool(*args)
    line = training_error_line(code, err)
    assert "this is the normalised VGG; torchvision's VGG-19 encoder (--encoder torchvision-vgg19" in line, line
    assert "the decoder was trained" not in line


def huge_skip_count(tensors, document):
    document["skipped_count"] = 10 ** 30


def test_an_edited_count_of_skipped_files_is_a_damaged_state(train_tool, finished_run, tmp_path, one_thread):  # noqa: F811
    refused_as_damaged(train_tool, finished_run, tmp_path, huge_skip_count, "skipped files 10000000000")


@pytest.mark.slow  # (default run's time: a run and its resume)
def test_a_checkpoint_with_relative_paths_asks_for_them_again(train_tool, finished_run, tmp_path, dataset,  # noqa: F811
                                                              monkeypatch, one_thread):
    """A checkpoint saved before paths were kept absolute (`--content c`), resumed from another
    folder, trained on that folder's c/ without a word (second round, h5)."""
    run = copy_run(finished_run, tmp_path)

    def relative(tensors, document):
        document["config"].update(content_dir="content", style_dir="style")
        document["config"].pop("vgg_sha256", None)

    edit_state(run, relative)
    elsewhere = tmp_path / "elsewhere"
    shutil.copytree(dataset, elsewhere)
    monkeypatch.chdir(elsewhere)
    code, _, err = train_tool("--resume", run, "--iterations", "2")
    line = training_error_line(code, err)
    assert line.endswith("the run's --content 'content' is relative, and which folder it was relative to is not "
                         "known; give --content again"), line
    code, _, err = train_tool("--resume", run, "--iterations", "2", "--content", dataset / "content",
                              "--style", dataset / "style")
    assert code == 0, err
    config = saved_config(run)
    assert config["content_dir"] == str(dataset / "content") and len(config["vgg_sha256"]) == 64
    assert config["out"] == str(run)
