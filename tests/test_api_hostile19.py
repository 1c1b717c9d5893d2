"""A careless or hostile caller of the Python API (task h19): what a notebook hands over (a PIL
image straight from `Image.open`, a numpy subclass, a name no file can have, a frame far too
large) gets the picture the same file gives, or one clear error of the package's own, never a
silently different picture, an error from deep inside numpy/pathlib/OpenCV, or a crash."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch
from PIL import Image

import realtime_adain as ra
from realtime_adain.temporal import Stabilizer
from video_samples import gradient_frames, write_video

THREADS = torch.get_num_threads()
RNG = np.random.default_rng(19)
PICTURE = RNG.integers(0, 256, (24, 32, 3), dtype=np.uint8)


@pytest.fixture(scope="module")
def style(stylizer):
    torch.set_num_threads(1)  # (as `one_thread`: tiny inputs on a shared machine)
    try:
        return stylizer.style(np.full((16, 16, 3), 90, np.uint8), size=16)
    finally:
        torch.set_num_threads(THREADS)


def _save_pictures(folder) -> list:
    """Files whose Pillow image differs from RGB under `convert("RGB")`: 16-bit grey (opened as
    I;16), float grey (F), transparency (RGBA, LA: over white, as the file reads)."""
    grey = PICTURE[..., 0]
    Image.fromarray(grey.astype(np.uint16) * 257).save(folder / "grey16.png")
    Image.fromarray(grey.astype(np.float32) / 255, "F").save(folder / "grey_float.tif")
    half_clear = np.where(np.arange(32) < 16, 0, 255).astype(np.uint8)[None].repeat(24, 0)
    Image.fromarray(np.dstack([PICTURE, half_clear]), "RGBA").save(folder / "clear.png")
    Image.fromarray(np.dstack([grey, half_clear]), "LA").save(folder / "grey_clear.png")
    return sorted(folder.iterdir())


def test_a_pil_image_gives_the_picture_its_file_gives(stylizer, style, tmp_path, one_thread):
    """`st.stylize_image(Image.open(p), ...)` must be `st.stylize_image(p, ...)`. Before, a PIL
    image went through Pillow's `convert("RGB")`: a 16-bit grey PNG came out white (every value
    clipped to 255), a float one black, transparent pixels their hidden colour instead of white:
    a silently different picture, styled. (EXIF orientation stays the caller's, as in Pillow.)"""
    for path in _save_pictures(tmp_path):
        with Image.open(path) as opened:
            given = stylizer.stylize_image(opened, style, size=None)
        expected = stylizer.stylize_image(path, style, size=None)
        assert given.shape == expected.shape, path.name
        assert np.array_equal(given, expected), path.name


def test_a_pil_image_closed_before_use_is_named(stylizer, style, tmp_path):
    """`with Image.open(p) as im: ...` then `st.style(im)` raised a bare AssertionError from
    inside Pillow (no message at all); an image closed after loading said it "has no RGB
    conversion". Both say the image is closed."""
    Image.fromarray(PICTURE).save(tmp_path / "style.png")
    with Image.open(tmp_path / "style.png") as never_read:
        pass
    with pytest.raises(ValueError, match="image: the PIL image was closed before its pixels were read"):
        stylizer.style(never_read)
    read = Image.open(tmp_path / "style.png")
    read.load()
    read.close()
    with pytest.raises(ValueError, match=r"frames\[0\]: the PIL image is closed"):
        next(stylizer.stylize_frames([read], style))


@pytest.mark.filterwarnings("ignore:the matrix subclass:PendingDeprecationWarning")
def test_a_numpy_subclass_is_taken_as_its_array(stylizer, style, one_thread):
    """A grey `np.matrix` (what some older code still hands over) failed inside numpy ("shape too
    large to be a matrix") when made RGB; it is its plain array's picture."""
    grey = PICTURE[..., 0]
    assert np.array_equal(stylizer.stylize_image(np.matrix(grey), style, size=None),
                          stylizer.stylize_image(grey, style, size=None))


# Just over the 16384 x 16384 pixels a frame may have: without the bound, a copy of 805 MB, not 28 GiB.
OVER = np.broadcast_to(np.uint8(7), (16_385, 16_385, 3))


@pytest.mark.parametrize("call", [
    lambda: Stabilizer()(OVER, OVER),
    lambda: Stabilizer().apply(None, OVER),
    lambda: ra.Stabilizer(precise=True).apply_float(None, np.broadcast_to(np.float32(1), (16_385, 16_385, 4))),
], ids=["call", "apply", "apply_float"])
def test_a_huge_frame_given_to_the_stabilizer_is_refused_before_any_copy(call):
    """`ra.Stabilizer` took frames of any size: OpenCV copied a 100000 x 100000 broadcast view
    (28 GiB) and, where that much memory cannot be had, crashed the interpreter (a segmentation
    fault in `gray`). A frame over the pixels every other API call takes is refused before any copy."""
    with pytest.raises(ValueError, match=r"16385x16385, more than the 268435456 pixels"):
        call()


def test_stylize_masked_names_a_mistyped_alpha(stylizer, style):
    """`stylize_masked(..., alpha="0.5")` raised "'<=' not supported between instances of 'float'
    and 'str'", naming nothing; it says which argument, as `stylize_image` does."""
    with pytest.raises(TypeError, match="alpha must be a number"):
        stylizer.stylize_masked(PICTURE, np.zeros(PICTURE.shape[:2], int), [style], alpha="0.5")


def test_a_name_no_file_can_have_is_refused_in_the_packages_words(stylizer, style, tmp_path, published_weights):
    """A name over 255 bytes was a bare OSError from pathlib ("File name too long") in every
    call taking a path, where the API promises `ra.UserError`; a NUL character was os's
    "embedded null byte", naming no argument. A service turning UserError into a 400 gave a 500."""
    long_name = tmp_path / ("a" * 300)
    calls = [
        lambda: ra.read_image(f"{long_name}.png"),
        lambda: stylizer.style(f"{long_name}.png"),
        lambda: ra.write_image(f"{long_name}.png", PICTURE),
        lambda: ra.stylize_video(f"{long_name}.mp4", tmp_path / "out.mp4", style=style, stylizer=stylizer),
        lambda: ra.stylize_video(tmp_path / "in.mp4", f"{long_name}.mp4", style=style, stylizer=stylizer),
        lambda: ra.Stylizer.load(f"{long_name}.pth", published_weights[1], device="cpu"),
    ]
    for call in calls:
        with pytest.raises(ra.UserError, match="file name too long"):
            call()
    with pytest.raises(ra.UserError, match="path too long"):
        ra.write_image(tmp_path / "/".join(["b" * 200] * 25) / "x.png", PICTURE)
    with pytest.raises(ValueError, match="path holds a NUL character"):
        ra.write_image(tmp_path / "a\0.png", PICTURE)
    with pytest.raises(ValueError, match="output holds a NUL character"):
        ra.stylize_video(tmp_path / "in.mp4", tmp_path / "o\0.mp4", style=style, stylizer=stylizer)
    assert not os.listdir(tmp_path)


def test_colour_preservation_asked_of_style_statistics_is_refused(stylizer, style, tmp_path):
    """`stylize_video(..., style=st.style(p), preserve_color=True)` wrote the video in the style's
    own colours, bit for bit what preserve_color=False gives: preservation recolours the style
    image to the first frame, and StyleStats hold no image. Silently wrong output; now refused
    before any file is touched."""
    clip = write_video(tmp_path / "in.mp4", gradient_frames(3, 32, 24))
    with pytest.raises(ValueError, match="preserve_color recolours the style image.*pass the style as a path"):
        ra.stylize_video(clip, tmp_path / "out.mp4", style=style, preserve_color=True, stylizer=stylizer, stabilize="off")
    assert os.listdir(tmp_path) == ["in.mp4"]


def test_a_stylizer_and_a_model_together_are_refused(stylizer, style, tmp_path):
    """`stylize_video(..., stylizer=st, model=ra.ModelSettings(device="cuda", ...))` ran on the
    stylizer's device and weights and never looked at `model`: another device, dtype or decoder
    than the call asked for, silently."""
    model = ra.ModelSettings(decoder=str(tmp_path / "other_decoder.pth"), device="cpu")
    clip = write_video(tmp_path / "in.mp4", gradient_frames(3, 32, 24))
    with pytest.raises(ValueError, match="give stylizer or model, not both"):
        ra.stylize_video(clip, tmp_path / "out.mp4", style=style, stylizer=stylizer, model=model, stabilize="off")
    assert os.listdir(tmp_path) == ["in.mp4"]


def test_a_framerate_for_a_video_file_is_refused(stylizer, style, tmp_path):
    """`stylize_video("clip.mp4", ..., framerate=50)` wrote the clip at its own rate and never
    said so (the CLI refuses `--framerate` for a video file: it is an image sequence's rate)."""
    clip = write_video(tmp_path / "in.mp4", gradient_frames(3, 32, 24))
    with pytest.raises(ValueError, match="framerate is the frame rate of an image-sequence source"):
        ra.stylize_video(clip, tmp_path / "out.mp4", style=style, stylizer=stylizer, framerate=50, stabilize="off")
    assert os.listdir(tmp_path) == ["in.mp4"]


@pytest.mark.parametrize("name, shape, limit", [("wide.webp", (2, 20_000, 3), 16383),
                                                ("long.jpg", (70_000, 1, 3), 65500)])
def test_an_image_over_its_formats_size_says_why(name, shape, limit, tmp_path, capfd):
    """WebP holds 16383 pixels a side, JPEG 65500: OpenCV's encoders printed native error lines
    and the call said only "cannot encode an image with extension '.webp'"."""
    with pytest.raises(ra.UserError, match=f"holds at most {limit} pixels a side.*write .png"):
        ra.write_image(tmp_path / name, np.zeros(shape, np.uint8))
    assert "ERROR" not in capfd.readouterr().err
    assert not os.listdir(tmp_path)
