"""Session 58's fixes to docs and messages: an image with a side of 0 is refused as having no
pixels (its layout was blamed: "must be (H, W, 3) ..., got shape (0, 5, 3)"), as docs/api.md says."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

import realtime_adain as ra
from realtime_adain.adain import StyleStats


@pytest.fixture(scope="module")
def style() -> StyleStats:
    generator = torch.Generator().manual_seed(58)
    return StyleStats(torch.rand(512, generator=generator), torch.rand(512, generator=generator) + 0.1)


EMPTY = [  # an image with a side of 0, and the width x height its message names
    (lambda: np.zeros((0, 5, 3), np.uint8), "5x0"),
    (lambda: np.zeros((0, 0, 3), np.uint8), "0x0"),
    (lambda: np.zeros((4, 0), np.uint8), "0x4"),
    (lambda: Image.new("RGB", (64, 64)).crop((0, 0, 0, 10)), "0x10"),
]


@pytest.mark.parametrize("make, sides", EMPTY, ids=["0x5 array", "0x0 array", "grey no width", "PIL crop"])
def test_an_image_with_a_side_of_0_is_said_to_have_no_pixels(stylizer, style, make, sides):
    expected = rf"^image has a side of 0 pixels \({sides}\): it holds no picture$"
    with pytest.raises(ValueError, match=expected):
        stylizer.stylize_image(make(), style, size=32)
    with pytest.raises(ValueError, match=expected):
        stylizer.style(make())


def test_frames_with_a_side_of_0_are_said_to_have_no_pixels(stylizer, style):
    with pytest.raises(ValueError, match=r"^frames has a side of 0 pixels \(4x0\): it holds no picture$"):
        stylizer.stylize(np.zeros((0, 4, 3), np.uint8), style)
    with pytest.raises(ValueError, match=r"^frames\[0\] has a side of 0 pixels \(0x3\)"):
        list(stylizer.stylize_frames([np.zeros((3, 0, 3), np.uint8)], style))
    with pytest.raises(ValueError, match=r"^frames must be \(H, W, 3\) or \(N, H, W, 3\) RGB, got shape \(8, 8, 4\)$"):
        stylizer.stylize(np.zeros((8, 8, 4), np.uint8), style)  # (a wrong layout is still named as one)


def test_write_image_of_an_empty_array_says_so(tmp_path):
    with pytest.raises(ValueError, match=r"^image has a side of 0 pixels \(5x0\)"):
        ra.write_image(tmp_path / "x.png", np.zeros((0, 5, 3), np.uint8))
    assert not (tmp_path / "x.png").exists()
