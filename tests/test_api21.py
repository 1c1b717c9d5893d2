"""A hostile caller of `ra.stylize_video` (task h21): what the video code refuses names the
arguments the caller passed (max_pixels, size), not the command line's options (--max-pixels,
--size), which the CLI keeps; style images are bounded like every other image of the API; an
empty pixel format is refused as the CLI refuses it."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

import realtime_adain as ra
from realtime_adain.api_words import in_api_words
from video_samples import gradient_frames, write_video

THREADS = torch.get_num_threads()


@pytest.fixture(scope="module")
def style(stylizer):
    torch.set_num_threads(1)  # (tiny inputs on a shared machine)
    try:
        return stylizer.style(np.full((16, 16, 3), 90, np.uint8), size=16)
    finally:
        torch.set_num_threads(THREADS)


@pytest.fixture
def clip(tmp_path):
    """Three 64x48 frames: 3072 pixels each."""
    return write_video(tmp_path / "in.mp4", gradient_frames(3, 64, 48))


def test_a_video_over_max_pixels_names_the_arguments_not_the_cli_options(stylizer, style, clip, tmp_path,
                                                                       weights_env, run_cli):
    """Was 'in.mp4: 64x48 at --size 0 is 64x48, over the budget of 1000 pixels (raise it with
    --max-pixels, or lower --size)': a Python caller passed max_pixels=, and has no --max-pixels."""
    with pytest.raises(ra.UserError) as refused:
        ra.stylize_video(clip, tmp_path / "out.mp4", style=style, stylizer=stylizer, max_pixels=1000)
    assert "raise it with max_pixels, or give size 27 or less" in str(refused.value)
    assert "--" not in str(refused.value).replace(str(clip), "")
    # (the size suggested fits the pixel budget too: 12288 was refused by it in turn)
    with pytest.raises(ra.UserError, match=r"at size 20000 is 26667x20000, longer than 16384 pixels on a side \(size 3547 or less fits\)"):
        ra.stylize_video(clip, tmp_path / "out.mp4", style=style, stylizer=stylizer, size=20000)
    assert sorted(os.listdir(tmp_path)) == ["in.mp4"]  # no output, whole or partial
    ra.write_image(tmp_path / "style.png", np.full((8, 8, 3), 90, np.uint8))
    code, _, err = run_cli("video", clip, "-s", tmp_path / "style.png", "--style-size", "0", "--device", "cpu",
                           "--max-pixels", "1000", "-o", tmp_path / "out.mp4")
    assert code != 0 and "raise it with --max-pixels, or give --size 27 or less" in err  # the CLI keeps its options


def test_a_start_past_the_end_names_start(stylizer, style, clip, tmp_path):
    """Was 'in.mp4: --start 50 s is at or past the end of the video' for start=50."""
    with pytest.raises(ra.UserError, match=r"in\.mp4: start 50 s is at or past the end"):
        ra.stylize_video(clip, tmp_path / "out.mp4", style=style, stylizer=stylizer, start=50)


def test_a_file_named_like_an_option_keeps_its_name():
    """Only the options in the message become argument names: a path in it is the file's name."""
    message = "--size/--max-pixels.mp4: 640x480 at --size 0 is 640x480 (raise it with --max-pixels, or lower --size)"
    assert in_api_words(message, ["--size/--max-pixels.mp4"]) == (
        "--size/--max-pixels.mp4: 640x480 at size 0 is 640x480 (raise it with max_pixels, or lower size)")
    assert in_api_words("use --no-keep-sizes or --sizes") == "use --no-keep-sizes or --sizes"  # not arguments


@pytest.mark.parametrize("style_image, changes, words", ids=["thin strip", "over the default budget"], argvalues=[
    # A strip 1 pixel high at style_size 512 is 8192000 pixels long: gigabytes before the network ran.
    (np.zeros((1, 16000, 3), np.uint8), {}, r"style \(16000x1\) at style_size 512 is 8192000x512, longer than 16384"),
    # Over st.style's default budget (4096 x 4096); max_pixels, which bounds the frames, raises it.
    (np.zeros((100, 200, 3), np.uint8), {"style_size": 4096},
     r"style \(200x100\) at style_size 4096 is 8192x4096, over the 16777216 pixels a style may have \(4096 x 4096, "
     r"or max_pixels where higher; lower style_size\)"),
])
def test_style_images_are_bounded_like_every_image(stylizer, clip, tmp_path, style_image, changes, words):
    """Were encoded at any size: the pixel budget and the 16384-pixel side bounded the video's
    frames, not its style (and st.style bounds the same picture)."""
    with pytest.raises(ValueError, match=words):
        ra.stylize_video(clip, tmp_path / "out.mp4", style=style_image, stylizer=stylizer, size=16, **changes)
    with pytest.raises(ValueError, match=r"style\[1\] \(16000x1\) at style_size 512"):  # which of several
        ra.stylize_video(clip, tmp_path / "out.mp4", style=[np.zeros((8, 8, 3), np.uint8), np.zeros((1, 16000, 3), np.uint8)],
                         mix=[1, 1], stylizer=stylizer, size=16)
    assert sorted(os.listdir(tmp_path)) == ["in.mp4"]


def test_a_low_max_pixels_bounds_the_frames_not_the_style(stylizer, clip, tmp_path, one_thread):
    """max_pixels=1000 fits 21x16 frames; the style at style_size 64 (128x64) is held to st.style's
    default budget instead, as the CLI's `video --max-pixels` bounds the frames only."""
    ra.stylize_video(clip, tmp_path / "out.mp4", style=np.zeros((100, 200, 3), np.uint8), stylizer=stylizer, size=16,
                     style_size=64, max_pixels=1000, stabilize="off")
    assert sorted(os.listdir(tmp_path)) == ["in.mp4", "out.mp4"]


def test_an_empty_pixel_format_is_refused(stylizer, style, clip, tmp_path):
    """pix_fmt='' was taken as None (yuv420p) silently; the CLI refuses --pix-fmt '' and codec=''."""
    with pytest.raises(ValueError, match="pix_fmt is an empty name"):
        ra.stylize_video(clip, tmp_path / "out.mp4", style=style, stylizer=stylizer, pix_fmt="")
    assert sorted(os.listdir(tmp_path)) == ["in.mp4"]


def test_model_settings_refusals_name_the_arguments(clip, tmp_path, style):
    """What loading refuses names ModelSettings' fields: 'dtype bf16 needs a GPU', not '--dtype'
    (and weights of the wrong type stay a TypeError naming vgg, not pathlib's message)."""
    with pytest.raises(ra.UserError, match=r"^dtype bf16 needs a GPU"):
        ra.stylize_video(clip, tmp_path / "out.mp4", style=style, model=ra.ModelSettings(device="cpu", dtype="bf16"))
    with pytest.raises(TypeError, match="vgg must be a path"):
        ra.stylize_video(clip, tmp_path / "out.mp4", style=style, model=ra.ModelSettings(device="cpu", vgg=5))
    assert sorted(os.listdir(tmp_path)) == ["in.mp4"]


def test_a_fifo_or_device_source_is_named_as_one(stylizer, style, tmp_path):
    """A FIFO or /dev/zero given as the source was 'no such file' (it exists); the CLI names it
    (and never opens it: a pipe blocks, and a video is read more than once)."""
    os.mkfifo(tmp_path / "pipe.mp4")
    with pytest.raises(ra.UserError, match=r"pipe\.mp4: a device, fifo or socket, not a video file \(a pipe is read"):
        ra.stylize_video(tmp_path / "pipe.mp4", tmp_path / "out.mp4", style=style, stylizer=stylizer)
    with pytest.raises(ra.UserError, match=r"^/dev/zero: a device, fifo or socket, not a video file$"):
        ra.stylize_video("/dev/zero", tmp_path / "out.mp4", style=style, stylizer=stylizer)
    assert sorted(os.listdir(tmp_path)) == ["pipe.mp4"]
