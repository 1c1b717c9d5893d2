"""Fixes of the training findings of session 42 (tester h3): a decoder file and a trainer state of
two runs resumed as one, a quoted `~` in the tools' paths, checkpoints renamed into place before
their bytes were on the disk, evaluate.py with another --vgg than the decoder's run used, "1 files",
and the training docs' list of image formats."""

from __future__ import annotations

import json
import os
import shutil

import pytest
import torch
from safetensors.torch import save_file

from realtime_adain import atomic, weight_files, weights
from realtime_adain.errors import UserError
from realtime_adain.imageio import IMAGE_EXTENSIONS
from realtime_adain.training import checkpoint, checkpoint_files, checkpoint_writing
from realtime_adain.training.image_listing import list_images
from cli_support import one_error_line, training_error_line
from test_train_hostile_checkpoints import copy_run, dataset, finished_run  # noqa: F401  (fixtures)
from train_support import REPO, load_tool, tiny_args, train_tool  # noqa: F401  (a fixture)


def test_a_decoder_file_of_another_run_beside_the_trainer_state_is_refused(train_tool, finished_run, tmp_path,
                                                                           one_thread):
    """Run A's decoder_iter_N beside run B's trainer_iter_N trained on, A's weights with B's Adam
    moments and RNG, without a word: now one `damaged trainer state` line."""
    run = copy_run(finished_run, tmp_path)
    decoder_path = checkpoint_files.decoder_file(run / "checkpoints", 1)
    config = checkpoint.load_checkpoint(run).trainer.config
    torch.manual_seed(5)  # another run's weights, with the same architecture, encoder and iteration
    checkpoint_writing.save_decoder(decoder_path, weights.DECODER_BUILDERS["plain"](), "plain", config["encoder"], 1,
                                    config)
    code, _, err = train_tool("--resume", run, "--iterations", "2")
    line = training_error_line(code, err)
    assert line == (f"error: {checkpoint_files.state_file(run / 'checkpoints', 1)}: damaged trainer state (saved with "
                    "other decoder weights than those of decoder_iter_0000001.safetensors: the two files come from "
                    "different runs or checkpoints)")
    assert not checkpoint_files.decoder_file(run / "checkpoints", 2).exists()


@pytest.mark.slow  # (default run's time: 2 s)
def test_an_unreadable_newest_checkpoint_names_the_one_before_it(train_tool, finished_run, tmp_path, one_thread):
    """A power loss left the newest pair empty: --resume stopped at it, without naming the earlier
    pair that moving it away resumes from."""
    run = copy_run(finished_run, tmp_path)
    assert train_tool("--resume", run, "--iterations", "2", "--save-every", "1")[0] == 0
    folder = run / "checkpoints"
    for path in (checkpoint_files.decoder_file(folder, 2), checkpoint_files.state_file(folder, 2)):
        path.write_bytes(b"")
    code, _, err = train_tool("--resume", run, "--iterations", "3")
    line = training_error_line(code, err)
    assert line.endswith("; to resume from the checkpoint before it, decoder_iter_0000001.safetensors, move "
                         "decoder_iter_0000002.safetensors and trainer_iter_0000002.safetensors away"), line
    aside = tmp_path / "aside"
    aside.mkdir()
    for path in folder.glob("*_iter_0000002.safetensors"):
        path.rename(aside / path.name)
    code, _, err = train_tool("--resume", run, "--iterations", "2")
    assert code == 0, err


def test_checkpoints_are_on_the_disk_before_their_rename(tmp_path, monkeypatch):
    """The temporary file is synced before it takes the final name, and the folder after: a
    rename the disk saw before the bytes left a zero-length checkpoint after a power loss."""
    synced, real_fsync = [], os.fsync
    target = tmp_path / "decoder_iter_0000001.safetensors"

    def recorded(handle: int) -> None:
        synced.append((os.readlink(f"/proc/self/fd/{handle}"), target.exists()))
        real_fsync(handle)

    monkeypatch.setattr(os, "fsync", recorded)
    atomic.atomic_write_bytes(target, b"weights")
    assert len(synced) == 2, synced
    (temporary, renamed_yet), (folder, renamed) = synced
    assert os.path.dirname(temporary) == str(tmp_path) and temporary.endswith(".part.safetensors")
    assert not renamed_yet and folder == str(tmp_path) and renamed
    assert target.read_bytes() == b"weights"


def test_a_quoted_tilde_is_the_home_folder(train_tool, finished_run, dataset, published_weights, tmp_path,  # noqa: F811
                                           monkeypatch, capsys, one_thread):
    """`--resume='~/runs/c'` was "no such checkpoint", evaluate.py's `--content='~/...'` "no such
    content directory", and its `--json='~/x.json'` made a folder named ~ where it ran."""
    home, elsewhere = tmp_path / "home", tmp_path / "cwd"
    elsewhere.mkdir()
    copy_run(finished_run, home)
    shutil.copytree(dataset, home / "data")
    shutil.copy(published_weights[0], home / "vgg.pth")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(elsewhere)
    code, _, err = train_tool("--resume", "~/run", "--iterations", "1")
    assert "already at iteration 1" in training_error_line(code, err)
    decoder = "~/run/checkpoints/decoder_iter_0000001.safetensors"
    code = load_tool("evaluate").main(["--content", "~/data/content", "--style", "~/data/style", "--decoder", decoder,
                                       "--vgg", "~/vgg.pth", "--load-size", "64", "--crop-size", "32",
                                       "--device", "cpu", "--json", "~/eval.json"])
    assert code == 0, capsys.readouterr().err
    assert json.loads((home / "eval.json").read_text())[0]["pairs"] == 1
    assert list(elsewhere.iterdir()) == []


def test_evaluate_refuses_a_vgg_other_than_the_decoders_runs(finished_run, published_weights, tmp_path, capsys,
                                                             one_thread):
    """A decoder evaluated with another --vgg file than its run trained against gave that encoder's
    losses without a word; its checkpoint records the file's SHA-256."""
    other = tmp_path / "other_vgg.safetensors"  # the same weights, as another file: another digest
    save_file({name: tensor.contiguous() for name, tensor in weight_files.read_weights(published_weights[0]).state_dict.items()},
              str(other))
    decoder = checkpoint_files.decoder_file(finished_run / "checkpoints", 1)
    data = checkpoint.load_checkpoint(finished_run).trainer.config
    code = load_tool("evaluate").main(["--content", data["content_dir"], "--style", data["style_dir"],
                                       "--decoder", str(decoder), "--vgg", str(other), "--load-size", "64",
                                       "--crop-size", "32", "--device", "cpu"])
    line = one_error_line(capsys.readouterr().err, code)
    assert line.startswith(f"error: {other}: not the VGG encoder {decoder} was trained against (its SHA-256 is "), line
    assert line.endswith("...); give --vgg the file that run used"), line


def test_one_file_that_is_no_image_is_said_in_the_singular(tmp_path):
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(UserError, match=r"no images in the content directory \(1 file, not an image\)$"):
        list_images(tmp_path, "content")


def test_the_training_docs_list_every_image_format_the_trainer_takes():
    """docs/training.md listed jpg, png, bmp, tif, webp, ppm/pgm: a folder of .gif or .heic files,
    which the trainer takes, looked unusable."""
    text = (REPO / "docs" / "training.md").read_text()
    section = text[text.index("### Data"):text.index("### Encoders")]
    listed = {word.strip(".,:`()") for word in section.split()}
    assert {extension[1:] for extension in IMAGE_EXTENSIONS} - listed == set()
