"""Session 60's fixes to the Python API (docs/api.md): a `StyleStats` of nested tensors is refused
in one line and its repr says what it holds, `StyleStats.to` checks the tensors it converts, and the
public settings' `check()` says its mistakes in the API's words (the commands keep the CLI's)."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

import realtime_adain as ra

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
