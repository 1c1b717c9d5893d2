"""Session 43's fixes to the Python API, found by a tester: `stylize_frames` batches within one
engine call whatever `max_pixels`, `StyleStats.to` refuses the devices `Stylizer.load` refuses,
"no weights found" names the API's arguments, and docs/api.md's colour preservation and stderr."""

from __future__ import annotations

import contextlib
import io
import shutil

import numpy as np
import pytest
import torch

import realtime_adain as ra
from realtime_adain.api_words import in_api_words
from realtime_adain.stylizer import frame_batches
from realtime_adain.engines.base import check_pixels_per_call
from realtime_adain.picture_sizes import MAX_DECODE_PIXELS


@pytest.fixture(scope="module")
def style(stylizer):
    return stylizer.style(np.full((16, 16, 3), 90, np.uint8), size=16)


def test_frame_batches_hold_at_most_one_engine_call(tmp_path):
    """max_pixels=10**9 with batch=300 built a batch of 300 1024x1024 frames (1.6 GB copied over
    10 s), which the engine then refused: "300 x 1024x1024 ... in one call, ... pass fewer at a
    time". The array a batch is built in is held to what the engine takes (a second shape ends
    the first batch after one frame, so nothing large is copied here)."""
    big = np.broadcast_to(np.uint8(7), (1024, 1024, 3))  # (no memory until copied)
    batches = frame_batches([big, np.zeros((8, 8, 3), np.uint8)], batch=300, max_pixels=10**9)
    first = next(batches)
    assert first.shape == (1, 1024, 1024, 3) and (first == 7).all()
    built_in = first.base if first.base is not None else first
    assert len(built_in) == MAX_DECODE_PIXELS // (1024 * 1024)
    check_pixels_per_call(*built_in.shape[:3])  # (raised "pass fewer at a time" for the 300)
    assert next(batches).shape == (1, 8, 8, 3)


def test_stylize_frames_with_a_huge_max_pixels_gives_each_frame(stylizer, style, one_thread):
    frames = [np.full((8, 8, 3), value, np.uint8) for value in (10, 200, 90)]
    together = list(stylizer.stylize_frames(frames, style, batch=300, max_pixels=10**9))
    alone = [stylizer.stylize(frame, style)[0] for frame in frames]
    assert len(together) == 3
    assert all(np.abs(a.astype(int) - b).max() <= 1 for a, b in zip(together, alone))


@pytest.mark.parametrize("device, words", [("xpu", "unknown device 'xpu'"), ("meta", "unknown device 'meta'"),
                                           ("cpu:1", "the CPU is 'cpu'")])
def test_style_stats_to_refuses_what_stylizer_load_refuses(device, words):
    """torch took .to('meta') and .to('cpu:1'), which Stylizer.load refuses, and said 'xpu' with a
    bare AssertionError: the check ran only where torch had refused."""
    stats = ra.StyleStats(torch.zeros(512), torch.ones(512))
    with pytest.raises(ValueError, match=words):
        stats.to(device)
    with pytest.raises(ValueError, match=words):
        ra.Stylizer.load(device=device)
    assert stats.to("cpu").mean.device.type == "cpu" and stats.to(torch.device("cpu")).std.device.type == "cpu"


def test_no_weights_found_names_the_api_arguments(published_weights, data_dir, monkeypatch, tmp_path):
    """Stylizer.load said "(or pass --decoder PATH)", stylize_video "(or pass vgg PATH)"."""
    monkeypatch.delenv("REALTIME_ADAIN_VGG", raising=False)
    monkeypatch.delenv("REALTIME_ADAIN_DECODER", raising=False)
    monkeypatch.setenv("REALTIME_ADAIN_HOME", str(tmp_path / "home"))
    vgg, _ = published_weights
    with pytest.raises(ra.UserError, match=r"^no decoder weights found: .*\(or pass decoder=PATH\)$"):
        ra.Stylizer.load(vgg=vgg, device="cpu")
    with pytest.raises(ra.UserError, match=r"^no vgg weights found: .*\(or pass vgg=PATH\)$"):
        ra.stylize_video(data_dir / "videos" / "cutBunny.mp4", tmp_path / "out.mp4",
                         style=data_dir / "style" / "mondrian.jpg")
    assert not (tmp_path / "out.mp4").exists()
    assert in_api_words("lower --size, or raise --max-pixels") == "lower size, or raise max_pixels"  # (no placeholder)


@pytest.mark.slow  # (default run's time: two whole runs compared)
def test_preserve_color_as_documented_gives_the_cli_pixels(stylizer, data_dir, run_cli, published_weights,
                                                           monkeypatch, tmp_path, one_thread):
    """docs/api.md's way to do `image --preserve-color`: `style_stats(..., color_reference=)`."""
    vgg, decoder = published_weights
    photo, starry = tmp_path / "photo.jpg", tmp_path / "starry.jpg"
    shutil.copy(data_dir / "content" / "sailboat.jpg", photo)  # (512 pixels: the CLI's --size)
    shutil.copy(data_dir / "style" / "brushstrokes.jpg", starry)
    code, _, err = run_cli("image", photo, "--style", starry, "--preserve-color", "-o", tmp_path / "cli.png",
                           "--vgg", vgg, "--decoder", decoder, "--device", "cpu", "--engine", stylizer.engine_name)
    assert code == 0, err
    kept = stylizer.style_stats(str(starry), 512, color_reference=str(photo))
    assert np.array_equal(stylizer.stylize_image(photo, kept), ra.read_image(tmp_path / "cli.png"))


def test_stylize_video_remarks_are_silenced_by_redirecting_stderr(stylizer, style, data_dir, tmp_path, capfd,
                                                                   one_thread):
    """docs/api.md: the library's `note:` lines go to sys.stderr, so redirect_stderr keeps them."""
    with contextlib.redirect_stderr(io.StringIO()) as said:
        ra.stylize_video(data_dir / "videos" / "cutBunny.mp4", tmp_path / "out.gif", style=style, stylizer=stylizer,
                         size=16, frames=2, stabilize="off")
    assert "note: " in said.getvalue() and ".gif files hold no sound" in said.getvalue()
    assert capfd.readouterr() == ("", "")


def test_video_batches_hold_at_most_one_engine_call_too():
    """`video`'s batches (and the API's) went by max_pixels alone: above 16384 x 16384 a batch the
    engine refuses once copied."""
    from realtime_adain.engines.base import frames_within

    assert frames_within(300, (1024, 1024, 3), 10**9) == 256 == frames_within(300, (1024, 1024, 3), None)
    assert frames_within(300, (1024, 1024, 3), 2**20) == 1 and frames_within(4, (16, 16, 3), None) == 4
