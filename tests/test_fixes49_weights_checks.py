"""Fixes of session 49 (task f8) on weights checks: a decoder tested on constant features only
(scaled to just pass, it overflowed on every real picture: black frames, `weights info` said
usable), `weights info` counting an expanded tensor's every place as parameters, torch's raw
words for a .pth whose tensors do not fit its data, and tools/evaluate.py writing NaN as JSON."""

from __future__ import annotations

import io
import json
import struct
import zipfile

import pytest
import torch
from safetensors.torch import save_file

from realtime_adain import weight_files, weights
from realtime_adain.commands.weights import what_it_holds
from realtime_adain.errors import UserError
from realtime_adain.synthetic import published_decoder_state_dict
from train_support import load_tool


def _decoder_state(published_weights) -> dict[str, torch.Tensor]:
    _, decoder = published_weights
    return {key: value.contiguous() for key, value in torch.load(decoder, weights_only=True).items()}


@pytest.mark.parametrize("change, words", [
    # (scaled to just pass on torch.ones features: an all-black picture from every real one)
    (lambda state: {"1.weight": state["1.weight"] * 10 ** 38.077}, "overflows (Inf or NaN) on a test input"),
    # (finite all through: an all-white picture)
    (lambda state: {"1.bias": torch.full_like(state["1.bias"], 1e30)}, "its output reaches"),
    # (session 50: the last layer scaled by 5e4 peaks at 6e4, under the first bound 1e5: all white)
    (lambda state: {key: state[key] * 5e4 for key in ("28.weight", "28.bias")}, "its output reaches"),
], ids=["weight-scaled-1e38", "bias-1e30", "last-layer-5e4"])
def test_a_decoder_too_large_for_real_features_is_refused(published_weights, tmp_path, change, words):
    state = _decoder_state(published_weights)
    state.update(change(state))
    path = tmp_path / "decoder.safetensors"
    save_file(state, path)
    with pytest.raises(UserError) as refused:
        weights.load_decoder(path)
    assert str(refused.value).startswith(f"{path}: corrupt plain decoder weights: ")
    assert words in str(refused.value) and "far too large" in str(refused.value)


@pytest.mark.slow  # (a guard: the fixture's decoder loads in most tests)
def test_generated_decoders_of_other_seeds_still_load(tmp_path):
    """Stand-in decoders (He-initialised) pass the check on relu-like features."""
    for seed in (5, 6):
        torch.save(published_decoder_state_dict(seed), tmp_path / f"decoder{seed}.pth")
        weights.load_decoder(tmp_path / f"decoder{seed}.pth")


def test_weights_info_counts_the_values_stored(published_weights, tmp_path):
    """An expanded tensor (stride 0) stores one value: it was counted as 10**18 parameters; a
    tensor saved twice under two names is stored once."""
    state = torch.load(published_weights[1], weights_only=True)
    state["junk"] = torch.zeros(1).expand(10**6, 10**6, 10**6)
    state["tied"] = state["1.weight"]
    path = tmp_path / "decoder.pth"
    torch.save(state, path)
    rows = dict(what_it_holds("decoder", path, None))
    assert rows["tensors"] == "20 (3,505,220 parameters; 3,505,219 used)"


def _legacy_with_storage_count(count: int) -> bytes:
    """A legacy-format .pth whose one storage claims `count` values (it stores 9)."""
    buffer = io.BytesIO()
    torch.save({"0.weight": torch.ones(3, 3, 1, 1)}, buffer, _use_new_zipfile_serialization=False)
    data = buffer.getvalue()
    where = data.rfind(struct.pack("<q", 9))  # (the count before the storage's bytes, at the end)
    return data[:where] + struct.pack("<q", count) + data[where + 8:]


def _zip_with_pickle_edited(old: bytes, new: bytes) -> bytes:
    """A torch.save archive of one (3, 3, 1, 77) tensor whose data.pkl has `old` replaced by `new`."""
    buffer = io.BytesIO()
    torch.save({"0.weight": torch.ones(3, 3, 1, 77)}, buffer)
    source, edited = zipfile.ZipFile(buffer), io.BytesIO()
    with zipfile.ZipFile(edited, "w") as archive:
        for info in source.infolist():
            body = source.read(info.filename)
            if info.filename.endswith("data.pkl"):
                assert body.count(old) == 1
                body = body.replace(old, new)
            archive.writestr(info, body)
    return edited.getvalue()


@pytest.mark.parametrize("make", [
    lambda: _legacy_with_storage_count(1 << 40),  # ("storage has wrong byte size: expected %ld got %ld4398...")
    lambda: _legacy_with_storage_count(2),
    # (693 values stored, 2**40 claimed: "record size (2772 bytes) does not match expected size ...")
    lambda: _zip_with_pickle_edited(b"M\xb5\x02t", b"\x8a\x06" + (1 << 40).to_bytes(6, "little") + b"t"),
    # (a shape, then a storage offset, past the data: "Trying to resize storage that is not resizable")
    lambda: _zip_with_pickle_edited(b"K\x01KMt", b"K\x01J" + struct.pack("<i", 10**8) + b"t"),
    lambda: _zip_with_pickle_edited(b"QK\x00(", b"QJ" + struct.pack("<i", 2**30) + b"("),
], ids=["legacy-count-huge", "legacy-count-small", "zip-numel", "zip-shape", "zip-offset"])
def test_tensors_that_do_not_fit_their_data_are_one_clear_line(tmp_path, make):
    path = tmp_path / "damaged.pth"
    path.write_bytes(make())
    with pytest.raises(UserError) as refused:
        weight_files.read_weights(path)
    assert str(refused.value) == (f"{path}: not a readable weights file "
                                  "(a damaged PyTorch file: its tensors do not fit the data it stores)")


@pytest.mark.slow  # (an evaluation: a few seconds)
def test_evaluate_writes_an_overflowed_loss_as_null_json(published_weights, data_dir, tmp_path, capsys):
    """A VGG whose relu4_1 is finite but huge (a bias of 1e25) makes the losses overflow: the
    file held NaN/Infinity, which JSON readers refuse."""
    vgg, decoder = published_weights
    state = torch.load(vgg, weights_only=True)
    state["29.bias"] = state["29.bias"] + 1e25  # (the conv before relu4_1)
    huge_vgg = tmp_path / "vgg.pth"
    torch.save(state, huge_vgg)
    for kind, name in (("content", "brad_pitt.jpg"), ("style", "goeritz.jpg")):
        (tmp_path / kind).mkdir()
        (tmp_path / kind / name).symlink_to(data_dir / kind / name)
    out = tmp_path / "eval.json"
    code = load_tool("evaluate").main(["--vgg", str(huge_vgg), "--decoder", str(decoder), "--content",
                                       str(tmp_path / "content"), "--style", str(tmp_path / "style"),
                                       "--load-size", "40", "--crop-size", "32", "--json", str(out)])
    assert code == 0, capsys.readouterr().err
    (result,) = json.loads(out.read_text(), parse_constant=lambda word: pytest.fail(f"{word} in the JSON"))
    assert result["content_loss"] is None and result["total_loss"] is None and result["pairs"] == 1


def test_a_legacy_pth_cut_in_its_last_storage_says_so(tmp_path):
    """("unexpected EOF, expected 8 more bytes. The file might be corrupted.")"""
    buffer = io.BytesIO()
    torch.save({"0.weight": torch.ones(3, 3, 1, 1)}, buffer, _use_new_zipfile_serialization=False)
    path = tmp_path / "cut.pth"
    path.write_bytes(buffer.getvalue()[:-8])
    with pytest.raises(UserError) as refused:
        weight_files.read_weights(path)
    assert str(refused.value) == (f"{path}: not a readable weights file "
                                  "(a PyTorch file cut short: its tensors' data ends early)")
