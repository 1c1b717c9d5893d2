"""A bare H.264 or HEVC stream (`-f h264`, `-f hevc`) as `live --source`: FFmpeg's raw demuxers
cannot seek, and every such file was refused as "cannot read (Operation not permitted)"; it plays
as `video` and ffplay play it, once or in a loop, at its codec's frame rate."""

from __future__ import annotations

import subprocess
from pathlib import Path

import av
import numpy as np
import pytest

from live_support import FAST, copy_styles, read_video
from realtime_adain.live.pyav_source import PyAVSource
from realtime_adain.live.sources import SourceLost

CODECS = [
    pytest.param("libx264", "h264", id="h264"),
    pytest.param("libx265", "hevc", id="hevc"),  # (PyAV's FFmpeg has libx265, as the other HEVC tests take)
]


def write_bare(path: Path, encoder: str, muxer: str, frames: int = 6, fps: int = 120) -> Path:
    """A bare video stream (no container, no timestamps) whose frames differ: a moving bar."""
    with av.open(str(path), "w", format=muxer) as container:
        stream = container.add_stream(encoder, rate=fps)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        if encoder == "libx265":
            stream.options = {"x265-params": "log-level=error"}
        for i in range(frames):
            image = np.full((48, 64, 3), 40, np.uint8)
            image[:, i * 9:i * 9 + 8] = (220, 180, 60)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        container.mux(stream.encode(None))
    return path


@pytest.mark.parametrize("encoder, muxer", CODECS)
def test_bare_stream_plays_once_at_its_codec_rate(tmp_path, encoder, muxer):
    clip = write_bare(tmp_path / f"clip.{muxer}", encoder, muxer)
    source = PyAVSource(str(clip), is_file=True, loop=False)
    source.open()
    try:
        images = list(source.frames())
    finally:
        source.close()
    assert len(images) == 6 and images[0].shape == (48, 64, 3)
    assert not np.array_equal(images[0], images[1])
    assert source.fps == 120  # its codec's rate, as `video` times it (FFmpeg's raw demuxer says 25)


@pytest.mark.parametrize("encoder, muxer", CODECS)
def test_bare_stream_loops_from_its_first_frame(tmp_path, encoder, muxer):
    clip = write_bare(tmp_path / f"clip.{muxer}", encoder, muxer)
    source = PyAVSource(str(clip), is_file=True, loop=True)
    source.open()
    frames = source.frames()
    try:
        images = [next(frames) for _ in range(14)]  # past its end twice: opened again each time
    finally:
        frames.close()
        source.close()
    assert all(np.array_equal(images[i], images[i + 6]) for i in range(8))


@pytest.mark.slow
def test_live_plays_a_bare_h264_file(run_cli, weights_env, data_dir, tmp_path, one_thread):
    clip = write_bare(tmp_path / "clip.h264", "libx264", "h264", frames=12, fps=25)
    styles = copy_styles(data_dir, tmp_path / "styles", names=("trial.jpg",))
    out = tmp_path / "out.mp4"
    code, _, err = run_cli("live", "--source", clip, "--no-loop", "--styles", styles, "--no-window", "-o", out, *FAST)
    assert code == 0, err
    assert "live: source-ended source=clip.h264 frames=12" in err
    frames, width, height = read_video(out)
    assert 0 < frames <= 12 and height == 64 and width > height  # (--size 64: its shorter side)


def test_a_bare_dirac_stream_keeps_its_first_picture_on_every_pass(tmp_path):
    """FFmpeg's raw Dirac demuxer takes a seek to 0 and goes on from the second picture: each pass
    (the first too, after the first-picture check) lost one; a bare stream is opened again."""
    clip = tmp_path / "clip.drc"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc=size=96x64:rate=5", "-frames:v", "6",
                    "-c:v", "vc2", "-f", "dirac", str(clip)], check=True)
    source = PyAVSource(str(clip), is_file=True, loop=True)
    source.open()
    frames = source.frames()
    try:
        images = [next(frames) for _ in range(13)]
    finally:
        frames.close()
        source.close()
    assert all(np.array_equal(images[i], images[i + 6]) for i in range(7))
    assert not any(np.array_equal(images[0], images[i]) for i in range(1, 6))  # six pictures a pass, not five


def test_a_bare_stream_emptied_while_it_loops_is_a_lost_source(tmp_path):
    """A file rewritten in place at the loop point (emptied): the pass after it gave no picture
    and the session ended as if the file had been played with --no-loop, exit 0, no word why;
    now lost (retried), as a file deleted is."""
    clip = write_bare(tmp_path / "clip.h264", "libx264", "h264", fps=25)
    source = PyAVSource(str(clip), is_file=True, loop=True)
    source.open()
    frames = source.frames()
    try:
        first = [next(frames) for _ in range(6)]
        clip.write_bytes(b"")
        with pytest.raises(SourceLost, match="no picture when played again"):
            next(frames)
    finally:
        frames.close()
        source.close()
    assert len(first) == 6
