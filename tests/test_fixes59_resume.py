"""Fixes of session 59's resume findings (tester h5): a decoder file whose trainer state is missing
passed over for the checkpoint before it and then overwritten; a decoder file converted to float16
or holding another architecture blamed on its intact trainer state; Adam moments in bfloat16
resumed inexactly without a word; tensors besides those a checkpoint holds ignored."""

from __future__ import annotations

import shutil

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from realtime_adain import weights
from realtime_adain.decoders import SkipConcatDecoder
from realtime_adain.errors import UserError
from realtime_adain.training import checkpoint_files
from cli_support import training_error_line
from test_train_hostile_checkpoints import dataset, finished_run, refused_as_damaged  # noqa: F401  (fixtures)
from train_support import copy_run, train_tool  # noqa: F401  (a fixture)


def rewrite(path, change_tensors=lambda tensors: tensors, change_metadata=lambda metadata: metadata) -> None:
    """Rewrite a safetensors file with its tensors and metadata changed."""
    with safe_open(str(path), framework="pt") as handle:
        tensors = {key: handle.get_tensor(key) for key in handle.keys()}
        metadata = handle.metadata()
    save_file(change_tensors(tensors), str(path), change_metadata(metadata))


def test_a_decoder_file_without_its_trainer_state_is_refused_not_overwritten(train_tool, finished_run, tmp_path,
                                                                             one_thread):
    """decoder_iter_2 without trainer_iter_2: --resume took iteration 1, trained to 2 and wrote over
    decoder_iter_2, exit 0, without a word."""
    run = copy_run(finished_run, tmp_path)
    folder = run / "checkpoints"
    lone = checkpoint_files.decoder_file(folder, 2)
    shutil.copyfile(checkpoint_files.decoder_file(folder, 1), lone)
    before = lone.read_bytes()
    code, _, err = train_tool("--resume", run, "--iterations", "2")
    assert training_error_line(code, err) == (
        f"error: {lone}: incomplete checkpoint, trainer_iter_0000002.safetensors is missing beside it; to resume from "
        "the checkpoint before it, decoder_iter_0000001.safetensors, move decoder_iter_0000002.safetensors away")
    code, _, err = train_tool("--resume", checkpoint_files.decoder_file(folder, 1), "--iterations", "2")
    assert "holds checkpoints past iteration 1 (up to decoder_iter_0000002.safetensors)" in training_error_line(code,
                                                                                                                err)
    assert lone.read_bytes() == before and not checkpoint_files.state_file(folder, 2).exists()


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_a_converted_decoder_file_is_named_not_its_trainer_state(train_tool, finished_run, tmp_path, dtype):
    """It said "trainer_iter_1: damaged trainer state (saved with other decoder weights than those of
    decoder_iter_1 ...)" of the intact trainer state."""
    run = copy_run(finished_run, tmp_path)
    decoder = checkpoint_files.decoder_file(run / "checkpoints", 1)
    rewrite(decoder, lambda tensors: {key: value.to(getattr(torch, dtype)) for key, value in tensors.items()})
    code, _, err = train_tool("--resume", run, "--iterations", "2")
    assert training_error_line(code, err) == (f"error: {decoder}: holds {dtype} weights (the run saves float32): "
                                              "converted, not the file the run wrote")


def skip_concat_tensors(tensors):
    torch.manual_seed(0)
    return {key: value.contiguous() for key, value in SkipConcatDecoder().state_dict().items()}


@pytest.mark.parametrize("metadata, said", [
    ("plain", "skip-concat decoder weights, where its metadata says plain"),
    ("skip-concat", "a skip-concat decoder; the run of trainer_iter_0000001.safetensors trains plain"),
])
def test_a_decoder_file_of_another_architecture_is_named_with_what_differs(train_tool, finished_run, tmp_path,
                                                                          metadata, said):
    """Skip-concat tensors under metadata saying plain: "not plain decoder weights; it holds 16
    tensors"; with the metadata changed too: "trainer_iter_1: its trainer state does not belong to
    decoder_iter_1"."""
    run = copy_run(finished_run, tmp_path)
    decoder = checkpoint_files.decoder_file(run / "checkpoints", 1)
    rewrite(decoder, skip_concat_tensors, lambda old: {**old, "architecture": metadata})
    code, _, err = train_tool("--resume", run, "--iterations", "2")
    assert training_error_line(code, err) == f"error: {decoder}: {said}"


def test_a_decoder_file_without_metadata_holding_another_architecture_says_so(tmp_path):
    path = tmp_path / "decoder.safetensors"
    save_file(skip_concat_tensors({}), str(path))
    with pytest.raises(UserError, match=rf"^{path}: skip-concat decoder weights, where it has no metadata saying so "
                                        r"\(such a file is read as a plain decoder\)$"):
        weights.load_decoder(path)


def moments_in(dtype):
    def change(tensors, document):
        for key in tensors:
            if ".exp_avg" in key:
                tensors[key] = tensors[key].to(dtype)
    return change


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_adam_moments_of_another_dtype_are_refused(train_tool, finished_run, tmp_path, one_thread, dtype):
    """bfloat16 moments resumed, no longer exactly, without a word; float16 ones were "not finite"."""
    name = str(dtype).removeprefix("torch.")
    refused_as_damaged(train_tool, finished_run, tmp_path, moments_in(dtype),
                       f"Adam's exp_avg of parameter 0 is {name}, the run saves float32)")


def test_tensors_besides_a_decoders_are_refused(train_tool, finished_run, tmp_path):
    run = copy_run(finished_run, tmp_path)
    decoder = checkpoint_files.decoder_file(run / "checkpoints", 1)
    rewrite(decoder, lambda tensors: {**tensors, "junk.weight": torch.zeros(3), "junk.bias": torch.zeros(3)})
    code, _, err = train_tool("--resume", run, "--iterations", "2")
    assert training_error_line(code, err) == (
        f"error: {decoder}: plain decoder weights with tensors the trainer does not save: 'junk.bias' and 1 more "
        "besides its 18 (a file edited, or of another tool?)")


def test_tensors_a_trainer_state_does_not_name_are_refused(train_tool, finished_run, tmp_path):
    def junk(tensors, document):
        tensors["junk.weight"] = torch.zeros(3)

    refused_as_damaged(train_tool, finished_run, tmp_path, junk,
                       "(ValueError: tensors it does not name: 'junk.weight')")
