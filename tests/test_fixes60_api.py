"""Session 60's fixes to the Python API (docs/api.md): a `StyleStats` of nested tensors is refused
in one line and its repr says what it holds, `StyleStats.to` checks the tensors it converts, and the
public settings' `check()` says its mistakes in the API's words (the commands keep the CLI's)."""

from __future__ import annotations

import json
import pickle
import struct

import numpy as np
import pytest
import torch
from safetensors.torch import save

import realtime_adain as ra
from realtime_adain import weight_files
from realtime_adain.errors import UserError
from realtime_adain.training import checkpoint_files
from cli_support import training_error_line
from test_train_hostile_checkpoints import dataset, finished_run  # noqa: F401  (fixtures)
from train_support import copy_run, train_tool  # noqa: F401  (a fixture)

PICTURE = np.zeros((8, 8, 3), np.uint8)


@pytest.fixture(scope="module")
def style(stylizer):
    return stylizer.style(np.full((32, 32, 3), 100, np.uint8), size=32)


@pytest.mark.filterwarnings("ignore:The PyTorch API of nested tensors is in prototype stage")
def test_a_style_of_nested_tensors_is_refused_in_one_line(stylizer, style, one_thread):
    """Nested tensors have layout torch.strided: every use was torch's NotImplementedError of 93
    lines, and the repr raised "NestedTensorImpl doesn't support sizes"."""
    odd = ra.StyleStats(torch.nested.nested_tensor([style.mean]), torch.nested.nested_tensor([style.std]))
    assert repr(odd) == "StyleStats(mean=nested tensor, std=nested tensor)"
    words = r"^style\.mean must be a dense tensor, got a nested tensor$"
    for call in (lambda: stylizer.stylize(PICTURE, odd), lambda: stylizer.stylize_image(PICTURE, odd),
                 lambda: list(stylizer.stylize_frames([PICTURE], odd)), lambda: odd.to("cpu")):
        with pytest.raises(TypeError, match=words):
            call()
    with pytest.raises(TypeError, match=r"^styles\[0\]\.mean must be a dense tensor, got a nested tensor$"):
        stylizer.stylize_masked(PICTURE, np.zeros((8, 8), np.int64), [odd])
    with pytest.raises(TypeError, match=r"^styles\[1\]\.mean must be a dense tensor, got a nested tensor$"):
        ra.StyleStats.mix([style, odd], [1, 1])
    assert pickle.loads(pickle.dumps(odd)).mean.is_nested


def test_to_checks_the_tensors_it_converts(style):
    """A meta style was torch's "Cannot copy out of meta tensor; no data!", numpy arrays, lists and
    None an AttributeError ("'numpy.ndarray' object has no attribute 'to'")."""
    with pytest.raises(ValueError, match=r"^style\.mean is on the meta device: it holds no values$"):
        ra.StyleStats(style.mean.to("meta"), style.std.to("meta")).to("cpu")
    for mean, kind in ((style.mean.numpy(), "ndarray"), (None, "NoneType"), ([1.0] * 512, "list")):
        with pytest.raises(TypeError, match=rf"^style\.mean must be a real torch tensor, got {kind}$"):
            ra.StyleStats(mean, style.std).to("cpu")
    with pytest.raises(TypeError, match=r"^style\.std must be a dense tensor, got layout torch\.sparse_coo$"):
        ra.StyleStats(style.mean, style.std.to_sparse()).to("cpu")
    moved = style.to("cpu", torch.float64)  # (values are not checked here: stylize and mix check them)
    assert moved.mean.dtype == torch.float64
    assert ra.StyleStats(style.mean, -style.std).to("cpu").std[0] < 0


def with_header_changed(data: bytes, change) -> bytes:
    """A safetensors file's bytes with `change(header)` applied to its JSON header."""
    (length,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + length])
    change(header)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + data[8 + length:]


def set_dtype(name, dtype):
    return lambda header: header[name].update(dtype=dtype)


@pytest.mark.parametrize("change, words", [
    (set_dtype("1.weight", "F17"), "tensor '1.weight' has an unknown dtype 'F17'"),
    (set_dtype("1.weight", 5), "tensor '1.weight' has an unknown dtype 5"),
    (lambda header: header["1.weight"].pop("shape"), "tensor '1.weight' has no shape"),
    (lambda header: header.update({"1.weight": [1, 2]}), "tensor '1.weight' is described by [1, 2], not by its dtype, "
                                                         "shape and offsets"),
], ids=["unknown", "number", "no-shape", "no-object"])
def test_a_safetensors_entry_safetensors_refuses_is_named(tmp_path, change, words):
    """safetensors' own words, cut at 160 characters mid-list: "Error while deserializing: invalid JSON
    in header: unknown variant `F17`, expected one of `BOOL`, `F4`, ..., `F8_E4M3`, "."""
    path = tmp_path / "d.safetensors"
    path.write_bytes(with_header_changed(save({"1.bias": torch.zeros(2), "1.weight": torch.ones(2, 2)}), change))
    with pytest.raises(UserError) as refused:
        weight_files.read_weights(path)
    assert str(refused.value) == f"{path}: not a readable weights file ({words})"


def test_a_header_that_is_not_json_keeps_a_plain_message(tmp_path):
    path = tmp_path / "d.safetensors"
    path.write_bytes(struct.pack("<Q", 8) + b"{nojson}")
    with pytest.raises(UserError, match=r"not a readable weights file \(Error while deserializing: invalid JSON in "
                                        r"header: key must be a string at line 1 column 2\)$"):
        weight_files.read_weights(path)


def test_weights_info_names_a_decoder_tensor_of_an_unknown_dtype(run_cli, published_weights, tmp_path):
    decoder = tmp_path / "decoder.safetensors"
    state = torch.load(published_weights[1], weights_only=True)
    decoder.write_bytes(with_header_changed(save(state), set_dtype("1.weight", "F17")))
    code, out, _ = run_cli("weights", "info", "--vgg", published_weights[0], "--decoder", decoder)
    assert code == 1 and "not usable: not a readable weights file (tensor '1.weight' has an unknown dtype 'F17')\n" in out


@pytest.mark.slow  # (a training run of one iteration first)
def test_resume_names_a_checkpoint_tensor_of_an_unknown_dtype(train_tool, finished_run, tmp_path, one_thread):
    run = copy_run(finished_run, tmp_path)
    decoder = checkpoint_files.decoder_file(run / "checkpoints", 1)
    decoder.write_bytes(with_header_changed(decoder.read_bytes(), set_dtype("1.weight", "F17")))
    assert training_error_line(*train_tool("--resume", run)[::2]) == (
        f"error: {decoder}: not a readable weights file (tensor '1.weight' has an unknown dtype 'F17')")


@pytest.mark.parametrize("call, kind, words", [
    (lambda: ra.StyleSettings(alpha=2).check(), ValueError, "alpha must be in [0, 1], got 2"),
    (lambda: ra.StyleSettings(style_size=-1).check(), ValueError, "style_size must be at least 0, got -1"),
    (lambda: ra.StyleSettings(style_size=9000).check(), ValueError, "style_size 9000 is outside 0 (native) to 8192"),
    (lambda: ra.StyleSettings(style_size=1.5).check(), TypeError, "style_size must be a whole number, got float"),
    (lambda: ra.StyleSettings(mix=(1.0,)).check(2), ValueError, "mix has 1 weight for 2 styles"),
    (lambda: ra.StyleSettings(mix=(-1, 1)).check(2), ValueError, "mix[0] must be a finite number, 0 or more, got -1"),
    (lambda: ra.ModelSettings(dtype="x").check(), ValueError, "unknown dtype 'x' (use auto, fp32, fp16, bf16)"),
    (lambda: ra.VideoSettings(size=-1).check(), ValueError, "size must be at least 0, got -1"),
    (lambda: ra.VideoSettings(batch=0).check(), ValueError, "batch must be at least 1, got 0"),
    (lambda: ra.VideoSettings(stabilize_strength=2.0).check(), ValueError, "stabilize_strength must be in [0, 1], got 2.0"),
    (lambda: ra.VideoSettings(style=ra.StyleSettings(alpha=2)).check(), ValueError, "alpha must be in [0, 1], got 2"),
    (lambda: ra.VideoSettings(deinterlace="yes").check(), ValueError, "deinterlace yes: use one of auto, on, off, film"),
], ids=["alpha", "style_size", "style_size-past", "style_size-kind", "mix-count", "mix-weight", "dtype", "size",
        "batch", "strength", "nested-alpha", "deinterlace"])
def test_public_settings_say_a_mistake_as_the_api_does(call, kind, words):
    """`StyleSettings(alpha=2).check()` was a UserError naming the CLI's `--alpha`, where
    `stylize_video(alpha=2)` says `alpha must be in [0, 1], got 2` (docs/api.md: a ValueError naming
    the argument)."""
    with pytest.raises(kind) as refused:
        call()
    assert str(refused.value) == words


def test_the_commands_keep_their_options_words(run_cli, data_dir, tmp_path):
    with pytest.raises(UserError, match=r"^--alpha 2 is outside \[0, 1\]$"):
        ra.StyleSettings(alpha=2).check_for_command()
    with pytest.raises(UserError, match=r"^--size -1 is negative$"):
        ra.VideoSettings(size=-1).check_for_command()
    style = data_dir / "style" / "trial.jpg"
    code, _, err = run_cli("video", data_dir / "videos" / "cutBunny.mp4", "-s", style, "-s", style, "--mix", "1",
                           "-o", tmp_path / "o.mp4")
    assert code == 2 and err == "error: --mix has 1 weight for 2 styles\n"
