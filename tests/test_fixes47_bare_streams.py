"""Bare MPEG-4 Part 2 streams at NTSC rates, and Ogg Theora's empty "same picture" packets.

A bare `-f m4v` stream states its VOL's clock ticks a second as the codec's frame rate (30000 at
29.97 fps), and `video` made 36 frames 1.2 ms of video (exit 0, no note); 25 and 30 fps were
right. libtheora stores a repeated picture as an empty packet, which the decoder refuses: a still
stretch was noted as "N damaged video packets skipped"."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import pytest

from realtime_adain.video.frames import Frame
from realtime_adain.video.reader import VideoReader
from test_video_more_containers import ffmpeg, frame_count, packet_times, stylize, style  # noqa: F401  (a fixture)


def read(path: Path) -> tuple[list[Frame], Fraction | None, Fraction, int]:
    """(frames, frame rate, time base, damaged packets) as `video` reads `path` (the stream's
    rates are read while the file is open: after, they are freed memory)."""
    with VideoReader(path) as reader:
        frames = [item for item in reader.items() if isinstance(item, Frame)]
        return frames, reader.frame_rate, reader.time_base, reader.damaged


def bare_mpeg4(path: Path, rate: str, seconds: float = 0.3) -> Path:
    ffmpeg("-f", "lavfi", "-i", f"testsrc2=size=64x48:rate={rate}:duration={seconds}", "-c:v", "mpeg4", "-f", "m4v",
           path, needs=("mpeg4",))
    return path


@pytest.mark.parametrize("rate", ["30000/1001", "24000/1001", "60000/1001", "25"])
def test_a_bare_mpeg4_part2_stream_keeps_its_frame_rate(rate, tmp_path):
    """Every frame one frame at the stream's rate apart, from zero, the last one too (it lasted
    40 ticks of 1/1200000 s, the rate read as 30000 fps)."""
    source = bare_mpeg4(tmp_path / "cam.m4v", rate)
    frames, frame_rate, time_base, _ = read(source)
    step = 1 / (Fraction(rate) * time_base)
    assert frame_rate == Fraction(rate)
    assert len(frames) == frame_count(source) > 5
    assert [f.pts for f in frames] == [round(i * step) for i in range(len(frames))]
    assert {f.duration for f in frames} == {round(step)}


@pytest.mark.slow
def test_a_bare_mpeg4_part2_stream_stylized_lasts_as_long_as_ffmpeg_makes_it(run_cli, weights_env, style, tmp_path):
    """h10's case, end to end: the output's frames 1001/30000 s apart, as `ffmpeg -i cam.m4v out` times them."""
    source = bare_mpeg4(tmp_path / "cam.m4v", "30000/1001")
    out = tmp_path / "out.mkv"
    stylize(run_cli, source, style, out)
    times = packet_times(out, "v")
    assert len(times) == frame_count(source) == 9
    assert all(abs(t - i * 1001 / 30000) < 0.0011 for i, t in enumerate(times)), times


def test_theora_still_stretches_are_no_damage(tmp_path):
    """A still stretch (empty packets) at the start and in the middle: no damage counted, and the
    held pictures last until the next one shows (the whole 0.8 s, frames as FFmpeg decodes them)."""
    source = tmp_path / "still.ogv"
    ffmpeg("-filter_complex", "color=c=red:s=64x48:r=25:d=0.2[a];testsrc2=s=64x48:r=25:d=0.2[b];"
           "color=c=blue:s=64x48:r=25:d=0.2[c];testsrc2=s=64x48:r=25:d=0.2[d];[a][b][c][d]concat=n=4:v=1:a=0",
           "-c:v", "libtheora", "-q:v", "7", source, needs=("libtheora",))
    with av.open(str(source)) as container:
        sizes = [packet.size for packet in container.demux(video=0) if packet.dts is not None]
    assert sizes.count(0) >= 6  # (libtheora's "same picture as before": the case itself)
    frames, _, time_base, damaged = read(source)
    assert damaged == 0
    assert len(frames) == len(sizes) - sizes.count(0)
    assert frames[0].pts == 0 and all(a.pts + a.duration == b.pts for a, b in zip(frames, frames[1:]))
    assert (frames[-1].pts + frames[-1].duration) * time_base == Fraction(4, 5)
