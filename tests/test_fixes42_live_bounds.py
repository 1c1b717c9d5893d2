"""The picture size a `live` source may decode to (session 42): `video` checked a stream's stated
size before decoding since session 41, `live` did not: a 600-byte GIF stating a 16000x16000
screen played at 5.5 GB peak, and a later picture larger than the stream states was decoded and
converted whole. Both now go as in `video` (`check_picture_size`, `bound_decoder`)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path


import pytest
from cli_support import one_error_line
from live_support import cli_env
from realtime_adain.live.pyav_source import PyAVSource
from test_fixes41_video_bounds import gif_stating, growing_mov, run_watched


@pytest.mark.slow  # (default run's time: 3 s)
def test_a_live_gif_stating_a_huge_screen_is_refused_before_it_is_decoded(tmp_path, data_dir, published_weights):
    """Played (two frames at --size 64) after 45 s at 5.5 GB peak: now one line naming the stated
    size and the limit, at the memory any refusal takes."""
    gif = gif_stating(tmp_path / "screen.gif", 16000, 16000)
    code, err, peak_mb, seconds = run_watched(
        [sys.executable, "-m", "realtime_adain", "live", "--source", gif, "--no-window", "-o", tmp_path / "out.mp4",
         "--max-frames", "2", "--size", "64", "-s", data_dir / "style" / "antimonocromatismo.jpg"],
        cli_env(published_weights, tmp_path / "home"))
    assert peak_mb < 1500, f"{peak_mb:.0f} MB peak, {seconds:.0f} s: {err}"
    assert one_error_line(err, code) == (
        f"error: {gif}: a 16000x16000 picture (as its header states): at 8 bytes a pixel, more than the 1 GiB of "
        "samples a picture may decode to (134217728 pixels, 16384x8192)")  # (by its header since session 55)
    assert not (tmp_path / "out.mp4").exists()


def test_a_later_live_picture_larger_than_the_stream_states_is_skipped(tmp_path):
    """A MOV of 16x16 PNG pictures with a 16000x16000 one second: it was decoded and converted
    whole (768 MB as RGB), a frame of its own; FFmpeg now refuses it before allocating it, and it
    is skipped as a damaged packet."""
    path = growing_mov(tmp_path / "grows.mov")
    source = PyAVSource(str(path), is_file=True, loop=False)
    source.open()
    try:
        shapes = [image.shape for image, _ in source._decoded()]
    finally:
        source.close()
    assert (16000, 16000, 3) not in shapes
    assert shapes == [(16, 16, 3)] * 21


@pytest.mark.slow  # (default run's time: a whole live session)
def test_a_video_file_under_dev_plays_as_a_file(tmp_path, data_dir, published_weights):
    """A clip in /dev/shm (a RAM disk) was taken for a camera: "not a camera (cameras are
    video4linux devices, /dev/video*)"; FFmpeg plays it."""
    clip = Path("/dev/shm") / f"realtime-adain-test-{os.getpid()}.mp4"
    shutil.copyfile(data_dir / "videos" / "cutBunny.mp4", clip)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "realtime_adain", "live", "--source", str(clip), "--no-window", "-o",
             str(tmp_path / "out.mp4"), "--max-frames", "2", "--size", "64", "-s",
             str(data_dir / "style" / "antimonocromatismo.jpg")],
            env=cli_env(published_weights, tmp_path / "home"), capture_output=True, text=True, timeout=300)
    finally:
        clip.unlink()
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "out.mp4").stat().st_size > 0
