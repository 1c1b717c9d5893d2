"""Follow-ups on the TIFF layouts read by FFmpeg or OpenCV unchanged (`tiff_layouts`, session 56)."""

from __future__ import annotations

import numpy as np
import pytest

from realtime_adain.imageio import decode_image
from test_fixes56_image_formats import tiff


@pytest.mark.parametrize("orientation", range(1, 9))
def test_a_float_rgba_tiff_is_turned_once_as_the_8_bit_one_is(orientation):
    """OpenCV's TIFF decoder applies the orientation under IMREAD_UNCHANGED too: it was turned twice."""
    rgb = np.zeros((4, 6, 3), np.uint8)
    rgb[0, 0], rgb[0, 5], rgb[3, 0] = (255, 0, 0), (0, 255, 0), (0, 0, 255)
    floats = np.concatenate([rgb.astype(np.float32) / 255, np.ones((4, 6, 1), np.float32)], 2)
    expected = decode_image(tiff(rgb, 2, orientation=orientation), "rgb.tif")
    assert np.array_equal(decode_image(tiff(floats, 2, (2,), orientation=orientation), "rgba.tif"), expected)
