"""Checks made once: `mix`'s kinds (StyleSettings and stylize_video), what the engine cache may
replace (the cache and `doctor`), and a WebP's stated size (training and image reading)."""

from __future__ import annotations

import io
import os
import re

import numpy as np
import pytest
from PIL import Image

import realtime_adain as ra
from realtime_adain.errors import UserError


@pytest.mark.parametrize("mix", [np.array([1.0, 2.0]), np.array([1, 3], np.int64), np.array([0.5, 0.5], np.float32)])
def test_style_settings_take_a_numpy_array_of_weights_as_stylize_video_does(mix):
    """`stylize_video(mix=np.array(...))` was taken, `StyleSettings(mix=np.array(...)).check()` a
    TypeError ("mix must be a tuple of numbers ..., got ndarray")."""
    ra.StyleSettings(mix=mix).check(style_count=2)
    from realtime_adain.api import check_mix

    assert check_mix(mix, 2) == tuple(float(w) / float(max(mix)) for w in mix)


@pytest.mark.parametrize("mix, got", [
    ("0.5,0.5", "got str"), (True, "got bool"), (np.array([[1.0, 2.0]]), "got a 2-D numpy array of shape (1, 2)"),
    ([1, "a"], "got a list holding str (mix[1])"), ((1.0, True), "got a tuple holding bool (mix[1])"),
    (np.array([True, False]), "got a ndarray holding bool (mix[0])"),
])
def test_mix_of_the_wrong_kind_is_one_type_error_in_both(mix, got):
    """StyleSettings said "mix must be a tuple of numbers ...", stylize_video "mix must be a list of
    weights ..." or "mix[1] must be a number in [0, inf]" (and took a numpy array of bools)."""
    from realtime_adain.api import check_mix

    words = re.escape(f"mix must be a tuple of numbers (or a list or 1-D numpy array), one weight per style, "
                      f"or None, {got}")
    with pytest.raises(TypeError, match=f"^{words}$"):
        ra.StyleSettings(mix=mix).check()
    with pytest.raises(TypeError, match=f"^{words}$"):
        check_mix(mix, 2)


def test_stylize_video_takes_a_numpy_array_of_weights_and_refuses_a_str(tmp_path, data_dir):
    """The API's own path: the array reaches the settings' check (which refused it) and the value
    checks stay the API's."""
    style = str(data_dir / "style" / "mondrian.jpg")
    missing = tmp_path / "missing.mp4"  # (refused after the mix is checked: nothing is loaded or run)
    with pytest.raises(TypeError, match=re.escape("mix must be a tuple of numbers (or a list")):
        ra.stylize_video(missing, tmp_path / "out.mp4", [style, style], mix="1,2")
    with pytest.raises(ValueError, match=re.escape("mix has 3 weights for 2 styles")):
        ra.stylize_video(missing, tmp_path / "out.mp4", [style, style], mix=np.array([1.0, 2.0, 3.0]))
    with pytest.raises(ValueError, match=re.escape("mix[0] must be a finite number, 0 or more, got -1.0")):
        ra.stylize_video(missing, tmp_path / "out.mp4", [style, style], mix=np.array([-1.0, 2.0]))


def _make(kind: str, path):
    if kind == "folder":
        path.mkdir()
    elif kind == "fifo":
        os.mkfifo(path)
    elif kind == "file":
        path.write_bytes(b"old")
    else:  # a dangling link: the cache replaces the link itself
        path.symlink_to(path.with_name("nowhere"))


@pytest.mark.parametrize("kind, blocks", [("folder", True), ("fifo", True), ("file", False), ("dangling link", False)])
def test_doctor_reports_what_the_engine_cache_refuses_to_replace(weights_env, tmp_path, kind, blocks):
    """doctor repeated the cache's test of a path it may replace as a condition of its own; it now
    asks the cache (`replaceable`), so the report and the export cannot disagree."""
    from realtime_adain.doctor import onnx_export
    from realtime_adain.engines.cache import EngineCache, replaceable
    from realtime_adain.engines.onnx import onnx_components

    cache = EngineCache(tmp_path / "engines")
    cache.directory.mkdir()
    entry = cache.entry(onnx_components(onnx_export.weights_in_use_id()), ".onnx")
    _make(kind, entry.sidecar)
    assert replaceable(entry.sidecar) is not blocks
    problems = [finding.value for finding in onnx_export.export_in_the_way(cache)]
    assert problems == ([f"{entry.sidecar}: a folder, fifo or device is where the ONNX export of these weights "
                         "goes; `export --format onnx` cannot replace it"] if blocks else [])
    if blocks:
        with pytest.raises(UserError, match="not a file we wrote"):
            cache.store(entry, lambda path: pytest.fail("built although the sidecar cannot be replaced"))


def _vp8x_webp(width: int, height: int) -> bytes:
    """A small real WebP (VP8X, for its EXIF) whose canvas states width x height."""
    exif = Image.Exif()
    exif[0x0112] = 1
    buffer = io.BytesIO()
    Image.fromarray(np.full((40, 48, 3), 90, np.uint8)).save(buffer, "WEBP", quality=80, exif=exif.tobytes())
    data = bytearray(buffer.getvalue())
    assert data[12:16] == b"VP8X"
    data[24:27], data[27:30] = (width - 1).to_bytes(3, "little"), (height - 1).to_bytes(3, "little")
    return bytes(data)


def test_a_webp_stating_too_many_pixels_is_refused_before_decoding_as_other_formats_are(tmp_path):
    """A WebP's stated size was read by training only; reading one that states 20000x20000 was
    left to OpenCV's own limit ("the image is larger than ..."), without the size other formats say."""
    from realtime_adain.imageio import read_image
    from realtime_adain.picture_sizes import MAX_DECODE_PIXELS
    from realtime_adain.opencv_headers import webp_sample_bytes

    path = tmp_path / "huge.webp"
    path.write_bytes(_vp8x_webp(20000, 20000))
    with pytest.raises(UserError, match=re.escape(f"{path}: 20000x20000 is larger than the {MAX_DECODE_PIXELS} pixels "
                                                  "an image may have")):
        read_image(path)
    assert webp_sample_bytes(np.frombuffer(_vp8x_webp(48, 40), np.uint8)) == (48, 40, 4)
    (tmp_path / "small.webp").write_bytes(_vp8x_webp(48, 40))
    assert read_image(tmp_path / "small.webp").shape == (40, 48, 3)


def test_training_sizes_a_webp_from_opencv_headers(tmp_path):
    """`webp_size` lived in training/data.py (now training_images.py) beside the header readers (now
    opencv_headers); training now takes it from there (and still refuses a WebP whose header states
    a size too large to load)."""
    from realtime_adain.training import training_images

    assert not hasattr(training_images, "webp_size")
    path = tmp_path / "huge.webp"
    path.write_bytes(_vp8x_webp(20000, 20000))
    assert training_images.stated_size(path) == (20000, 20000)
    assert training_images.read_training_image(path)[1].startswith("too large a picture (20000x20000, over")
