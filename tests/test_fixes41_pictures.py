"""Pictures whose sample scale is not 8 or 16 bits, round 41: a PIL image of 32-bit integer grey
(mode "I") holding 0..255 values, read as 16-bit and nearly black; a 32-bit integer TIFF refused as
a path but read as a PIL image; PFM read by `image` without the sRGB curve `video` gives it."""

from __future__ import annotations

import io

import av
import cv2
import numpy as np
import pytest
from PIL import Image

from realtime_adain.imageio import read_image
from realtime_adain.notes import collected
from realtime_adain.pillow_stills import pillow_image_rgb
from realtime_adain.video.pictures import PictureConverter


def grey_photo(data_dir) -> Image.Image:
    """A real photo as 8-bit grey, 64 pixels wide."""
    photo = Image.open(data_dir / "content" / "lenna.jpg").convert("L")
    return photo.resize((64, 64 * photo.height // photo.width))


def test_mode_i_of_8_bit_levels_reads_as_the_8_bit_picture(data_dir):
    """`convert("I")` of an 8-bit picture, or an int32 array of 0..255, is the same picture as its
    mode "L" (it was taken as 16-bit: mean 0.5 for 124)."""
    grey = grey_photo(data_dir)
    expected = pillow_image_rgb(grey)
    assert expected.mean() > 60
    np.testing.assert_array_equal(pillow_image_rgb(grey.convert("I")), expected)
    np.testing.assert_array_equal(pillow_image_rgb(Image.fromarray(np.asarray(grey).astype(np.int32))), expected)


def test_mode_i_of_16_bit_levels_stays_16_bit(data_dir):
    """Values above 255 are 16-bit levels, as mode "I;16" says of the same values; a PNM of maxval
    1023 whose brightest is 3 (192 once Pillow scales it to 65535) stays nearly black, its depth
    stated by the file, not guessed from its values."""
    levels = (np.asarray(grey_photo(data_dir)).astype(np.int32) * 257)
    np.testing.assert_array_equal(pillow_image_rgb(Image.fromarray(levels)),
                                  pillow_image_rgb(Image.fromarray(levels.astype(np.uint16))))
    pnm = Image.open(io.BytesIO(b"P2 2 1 1023\n3 0\n"))
    assert pnm.mode == "I"
    assert pillow_image_rgb(pnm).max() <= 1


def test_mode_i_file_of_8_bit_levels_says_how_it_is_read(tmp_path, data_dir):
    """A 32-bit integer TIFF (Pillow's mode "I") of 0..255 values is read as 8-bit levels with a
    note; one beyond 0..65535 is clipped with a note saying so."""
    grey = grey_photo(data_dir)
    grey.convert("I").save(tmp_path / "eight.tif")
    with collected() as notes:
        image = read_image(tmp_path / "eight.tif")
    np.testing.assert_array_equal(image, pillow_image_rgb(grey))
    assert any("8-bit levels" in line for line in notes), notes
    wide = np.array([[-5, 0, 32768, 65535, 200000]], np.int32)
    Image.fromarray(wide).save(tmp_path / "wide.tif")
    with collected() as notes:
        image = read_image(tmp_path / "wide.tif")
    np.testing.assert_array_equal(image[0, :, 0], [0, 0, 128, 255, 255])
    assert any("-5 to 200000" in line and "clipped" in line for line in notes), notes


def test_int32_tiff_path_reads_as_its_pil_image(tmp_path):
    """A 32-bit integer grey TIFF was refused as a path ("unsupported sample type int32") and read
    as a PIL image: both ways give the same picture now."""
    values = (np.arange(24 * 32).reshape(24, 32) * 80).astype(np.int32)
    Image.fromarray(values).save(tmp_path / "gI.tif")
    from_path = read_image(tmp_path / "gI.tif")
    with Image.open(tmp_path / "gI.tif") as opened:
        np.testing.assert_array_equal(from_path, pillow_image_rgb(opened))
    np.testing.assert_allclose(from_path[..., 0], values * 255 / 65535, atol=1)


def video_picture(path) -> np.ndarray:
    """`video`'s picture of a still file: FFmpeg's decode, converted as the video reader does."""
    with av.open(str(path)) as container:
        frame = next(container.decode(video=0))
    return PictureConverter(str(path)).rgb(frame, frame.width, frame.height, alpha=False)


def srgb(linear: np.ndarray) -> np.ndarray:
    """Linear light encoded with the sRGB curve, as 8-bit levels."""
    linear = np.clip(linear, 0.0, 1.0)
    return np.round(255 * np.where(linear <= 0.0031308, 12.92 * linear, 1.055 * linear ** (1 / 2.4) - 0.055))


@pytest.mark.parametrize("suffix", [".pfm", ".hdr"])
def test_float_stills_read_as_video_reads_them(tmp_path, suffix):
    """PFM (HDRShop's HDR format; GIMP loads it as linear floats) holds linear light, as Radiance
    does: `image` gives it the sRGB curve as `video` does (0.214 is mid-grey, 128; it was read as
    55), so both commands see one picture. Green's vertical ramp checks the rows' order against the
    values written (PFM stores them bottom to top); `video` is compared on the other channels,
    which are the same in every row (FFmpeg's PFM decoder keeps the stored order: upside down)."""
    ramp = np.linspace(0.0, 1.0, 16, dtype=np.float32)
    linear = np.dstack([np.tile(ramp, (8, 1)), np.tile(ramp[:8, None], (1, 16)), np.full((8, 16), 0.214, np.float32)])
    cv2.imwrite(str(tmp_path / f"scene{suffix}"), linear[..., ::-1])
    image = read_image(tmp_path / f"scene{suffix}")
    np.testing.assert_allclose(image, srgb(linear), atol=2)  # (Radiance's RGBE keeps about 1 % precision)
    np.testing.assert_allclose(image[..., [0, 2]], video_picture(tmp_path / f"scene{suffix}")[..., [0, 2]], atol=1)
