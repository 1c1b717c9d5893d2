"""Bare video streams faster than about 105 fps (a Raspberry Pi's `raspivid -fps 120`, drones,
slow-motion dumps) timed at their codec's rate, as `ffmpeg -i in.h264 out.mp4` times them.

`plausible_rate` checked a bare stream's codec rate against FFmpeg's guessed rate, which above a
210 fps grid (H.264's ticks twice a frame) falls back to the raw demuxer's 25 fps default: 120 fps
H.264 was timed at 25 (36 frames lasted 1.44 s, not 0.3; exit 0, no note)."""

from __future__ import annotations

import re
from fractions import Fraction
from pathlib import Path

import av
import pytest

from realtime_adain.video.probing import plausible_rate
from realtime_adain.video.frames import Frame
from realtime_adain.video.reader import VideoReader
from test_video_more_containers import ffmpeg, frame_count, packet_times, stylize, style  # noqa: F401  (a fixture)

# name: (frame rate, the FFmpeg CLI's arguments after the test source)
FAST = {
    "h264-120": (120, ("-c:v", "libx264", "-f", "h264")),
    "h264-240": (240, ("-c:v", "libx264", "-f", "h264")),
    # (the VUI states 1000 fps; the CLI gives each frame 1 ms)
    "h264-1000": (1000, ("-c:v", "libx264", "-bsf:v", "h264_metadata=tick_rate=2000/1", "-f", "h264")),
    "hevc-240": (240, ("-c:v", "libx265", "-x265-params", "log-level=error", "-f", "hevc")),
}
# Bare streams that were timed right and stay so (bare MPEG-4 Part 2 and H.264 at 12 fps, MPEG-1/2:
# test_fixes47_bare_streams.py, test_video_more_containers.py).
KEPT = {
    "h264-100": (100, ("-c:v", "libx264", "-f", "h264")),
    "h264-59.94": (Fraction(60000, 1001), ("-c:v", "libx264", "-f", "h264")),
    "hevc-120": (120, ("-c:v", "libx265", "-x265-params", "log-level=error", "-f", "hevc")),
    "mpeg2-60": (60, ("-c:v", "mpeg2video", "-f", "mpeg2video")),
}


def bare_stream(path: Path, rate: Fraction | int, args: tuple[str, ...], seconds: float = 0.1) -> Path:
    ffmpeg("-f", "lavfi", "-i", f"testsrc2=size=64x64:rate={rate}:duration={seconds}", *args, path,
           needs=(args[1],))
    return path


def read_times(path: Path) -> tuple[Fraction | None, list[Fraction]]:
    """(the stream's rate, each frame's start in seconds) as `video` reads `path`."""
    with VideoReader(path) as reader:
        frames = [item for item in reader.items() if isinstance(item, Frame)]
        return reader.frame_rate, [f.pts * reader.time_base for f in frames] + [
            (frames[-1].pts + frames[-1].duration) * reader.time_base]


def ffmpeg_times(source: Path, tmp_path: Path) -> list[float]:
    """Each frame's start as `ffmpeg -i source out.mp4` times it (without B-frames, which start
    an MP4's packets before zero; `-c copy` gave a 1000 fps stream's frames 1 us each)."""
    out = tmp_path / "ffmpeg.mp4"
    ffmpeg("-i", source, "-c:v", "libx264", "-preset", "ultrafast", out)
    return packet_times(out, "v")


def assert_timed_as_ffmpeg(source: Path, rate: Fraction | int, tmp_path: Path) -> None:
    with av.open(str(source)) as container:
        assert plausible_rate(container.streams.video[0]) == rate
    frame_rate, times = read_times(source)
    expected = ffmpeg_times(source, tmp_path)
    assert frame_rate == rate
    assert len(times) - 1 == len(expected) == frame_count(source)
    # (from zero: FFmpeg 5's CLI starts bare MPEG-2 one frame late, as its parser guesses)
    assert all(abs(float(t) - (e - expected[0])) < 0.0002 for t, e in zip(times, expected)), (times[:4], expected[:4])
    assert times[-1] == len(expected) / Fraction(rate)  # (the last frame lasts one frame too)


@pytest.mark.parametrize("name", FAST)
def test_a_fast_bare_stream_is_timed_at_its_codecs_rate(name, tmp_path):
    """Every frame one frame at the stream's rate after the one before, as FFmpeg's CLI times it
    (they were 40 ms apart, the raw demuxer's 25 fps)."""
    rate, args = FAST[name]
    assert_timed_as_ffmpeg(bare_stream(tmp_path / f"fast.{args[-1]}", rate, args), rate, tmp_path)


@pytest.mark.parametrize("name", KEPT)
def test_a_bare_stream_below_the_fallback_keeps_its_rate(name, tmp_path):
    rate, args = KEPT[name]
    assert_timed_as_ffmpeg(bare_stream(tmp_path / f"kept.{args[-1]}", rate, args), rate, tmp_path)


def test_a_bare_h264_without_vui_timing_is_timed_at_25_fps_as_ffmpeg_times_it(tmp_path):
    """No rate stated at all: FFmpeg's raw demuxer's 25 fps (this 30 fps clip's SPS rewritten
    without its timing info, which libx264 always writes)."""
    timed = bare_stream(tmp_path / "timed.h264", 30, ("-c:v", "libx264", "-f", "h264"))
    source = tmp_path / "untimed.h264"
    source.write_bytes(without_vui_timing(timed.read_bytes()))
    with av.open(str(source)) as container:
        assert not container.streams.video[0].codec_context.framerate  # (the case itself)
    assert_timed_as_ffmpeg(source, 25, tmp_path)


@pytest.mark.slow  # (stylizes; test_a_fast_bare_stream_is_timed_at_its_codecs_rate checks the reader's times)
def test_a_raspberry_pi_120_fps_h264_stylized_lasts_as_long_as_ffmpeg_makes_it(run_cli, weights_env, style,
                                                                               tmp_path):
    """The report's case, end to end: 36 frames at 120 fps, 0.3 s (it was 25 fps, 1.44 s)."""
    source = bare_stream(tmp_path / "pi.h264", 120, FAST["h264-120"][1], seconds=0.3)
    out = tmp_path / "out.mp4"
    stylize(run_cli, source, style, out)
    times = packet_times(out, "v")
    assert len(times) == 36
    assert all(abs(t - i / 120) < 0.0011 for i, t in enumerate(times)), times[:4]


# A bare H.264 without VUI timing, made from libx264's (which always writes it): the SPS's
# timing_info_present_flag cleared and its 65 bits of timing removed.
HIGH_PROFILES = (100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135)


def without_vui_timing(stream: bytes) -> bytes:
    parts = re.split(b"(\x00\x00\x01)", stream)
    return b"".join(sps_without_timing(p) if p and p != b"\x00\x00\x01" and p[0] & 0x1F == 7 else p for p in parts)


def sps_without_timing(nal: bytes) -> bytes:
    body = nal.rstrip(b"\x00")
    bits = "".join(f"{x:08b}" for x in re.sub(b"\x00\x00\x03", b"\x00\x00", body))
    at = 0

    def u(n: int) -> int:
        nonlocal at
        at += n
        return int(bits[at - n:at], 2) if n else 0

    def ue() -> int:
        zeros = bits.index("1", at) - at
        return u(2 * zeros + 1) - 1

    u(8)  # (the NAL header)
    profile = u(8)
    u(16), ue()
    if profile in HIGH_PROFILES:
        if ue() == 3:
            u(1)
        ue(), ue(), u(1)
        assert not u(1), "scaling matrices"
    ue()
    assert ue() == 0, "picture order count type"
    ue(), ue(), u(1), ue(), ue()
    if not u(1):
        u(1)
    u(1)
    if u(1):
        ue(), ue(), ue(), ue()
    assert u(1), "no VUI"
    if u(1) and u(8) == 255:
        u(32)
    if u(1):
        u(1)
    if u(1):
        u(4)
        if u(1):
            u(24)
    if u(1):
        ue(), ue()
    assert bits[at] == "1", "no timing info"
    kept = (bits[:at] + "0" + bits[at + 66:]).rstrip("0")  # (ends at the stop bit)
    kept += "0" * (-len(kept) % 8)
    raw = int(kept, 2).to_bytes(len(kept) // 8, "big")
    return re.sub(b"\x00\x00(?=[\x00-\x03])", b"\x00\x00\x03", raw) + nal[len(body):]
