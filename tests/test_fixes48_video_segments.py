"""A segment (--start, --duration) of a file whose video clock ticks once a frame (AVI, Ogg
Theora: 1/12 s at 12 fps) starts at its start: 0.55 s was cut at the tick before it (0.5 s), so
the output held 50 ms from before --start and lasted 1.25 s of 1.2, its sound moved with it."""

from __future__ import annotations

import subprocess
from fractions import Fraction
from pathlib import Path

import av
import pytest

from realtime_adain.video.frames import Frame
from realtime_adain.video.reader import VideoReader
from realtime_adain.video.segment import Segment, segment_time_base

START, DURATION = Fraction(55, 100), Fraction(6, 5)


def ffmpeg(*args: str | Path) -> None:
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", *map(str, args)], check=True)


def clip(path: Path, video: str, audio: str, rate: int) -> Path:
    """2 s at 12 fps, 32x32, with noise as sound."""
    ffmpeg("-f", "lavfi", "-i", "testsrc=size=32x32:rate=12", "-f", "lavfi", "-i", f"anoisesrc=r={rate}:a=0.3",
           "-t", "2", "-c:v", video, "-c:a", audio, path)
    return path


def sound_times(items) -> tuple[dict[bytes, Fraction], Fraction]:
    """Each sound packet's start (seconds), by its bytes, and the sound's time base (while the
    file is open)."""
    sound = [p for p in items if isinstance(p, av.Packet) and p.stream.type == "audio" and p.size]
    return {bytes(p): p.pts * p.time_base for p in sound}, sound[0].time_base


@pytest.mark.parametrize("name, video, audio, rate", [("in.avi", "mpeg4", "libmp3lame", 22050),
                                                      ("in.ogg", "libtheora", "libvorbis", 44100)])
def test_a_segment_of_a_frame_ticking_clock_starts_at_its_start(name, video, audio, rate, tmp_path):
    """--start 0.55 --duration 1.2 at 12 fps: the pictures from zero to 1.2 s, the sound moved by 0.55 s."""
    path = clip(tmp_path / name, video, audio, rate)
    with VideoReader(path) as whole:
        assert whole.stream.time_base == Fraction(1, 12)
        read, _ = sound_times(whole.items())
    with VideoReader(path, start=START, duration=DURATION) as reader:
        items = list(reader.items())
        frames = [item for item in items if isinstance(item, Frame)]
        cut, audio_tb = sound_times(items)
        tb = reader.time_base
    # The picture at 0.5 s shows 33 ms of the segment (under half its time): the one at 7/12 s
    # starts it, shown from zero until the next, at 8/12 s.
    assert frames[0].pts == 0 and frames[0].duration * tb == Fraction(8, 12) - START
    assert frames[1].pts * tb == Fraction(8, 12) - START
    assert (frames[-1].pts + frames[-1].duration) * tb == DURATION  # (was 1.25)
    assert len(frames) == 14
    assert cut and all(abs(read[data] - at - START) <= audio_tb / 2 for data, at in cut.items())  # (was 0.5)


def test_a_segments_frames_are_given_in_ticks_that_hold_its_start():
    segment = Segment(Fraction(1, 12), START, DURATION)
    assert segment.frame_time_base == Fraction(1, 60) and segment.shift == START
    assert segment.ends_before(6, 1)  # 0.5 s: 33 ms left of its 83
    assert segment.moved(7, 1) == (0, 7)  # 7/12 s, shown from zero: 7/60 s
    assert segment.moved(8, 1) == (7, 5)
    assert segment.moved(20, 1) == (67, 5)  # ends at 1.2 s
    assert segment.as_read(72) == 21  # where the last frame given stops, as read
    # Where the start is a whole number of ticks, the frames keep the stream's.
    assert segment_time_base(Fraction(1, 90000), START) == Fraction(1, 90000)
    assert segment_time_base(Fraction(1001, 30000), Fraction(0)) == Fraction(1001, 30000)
    assert segment_time_base(Fraction(1001, 30000), START) == Fraction(11, 30000)
    # A start finer than 32-bit ticks hold: ticks that hold its microsecond, the shift a tick below it.
    fine = Fraction(123456789123, 10**11)
    segment = Segment(Fraction(1, 12), fine)
    assert segment.frame_time_base == segment_time_base(Fraction(1, 12), fine) == Fraction(1, 3_000_000)
    assert Fraction(1234567, 10**6) % segment.frame_time_base == 0
    assert 0 <= fine - segment.shift < segment.frame_time_base


@pytest.fixture
def style(data_dir):
    return data_dir / "style" / "brushstrokes.jpg"


@pytest.mark.slow  # (the model's run: the reader's test above is the fix's check)
def test_the_output_of_such_a_segment_starts_and_ends_with_it(run_cli, weights_env, style, tmp_path, one_thread):
    """Through the writer, into a .mkv (which starts the pictures as much later as the sound
    starts before zero): the pictures last 1.2 s, their sound from 0.55 s."""
    source = clip(tmp_path / "in.avi", "mpeg4", "pcm_s16le", 22050)
    with av.open(str(source)) as container:
        sound = [(p.pts * p.time_base, p.duration * p.time_base) for p in container.demux(audio=0) if p.size]
    first_sound = next(at for at, length in sound if at + length > START)  # (46 ms packets: 0.511 s)
    out = tmp_path / "out.mkv"
    code, _, err = run_cli("video", source, "-s", style, "--size", "32", "--style-size", "32", "--engine", "eager",
                           "--threads", "1", "--stabilize", "off", "--start", "0.55", "--duration", "1.2", "-o", out)
    assert code == 0, err
    with av.open(str(out)) as container:
        packets = [(p.stream.type, p.pts * p.time_base, p.duration * p.time_base) for p in container.demux() if p.size]
    pictures = sorted((at, length) for kind, at, length in packets if kind == "video")
    zero = pictures[0][0]
    near = Fraction(1, 1000)  # (Matroska's millisecond)
    assert len(pictures) == 14
    assert abs(pictures[1][0] - zero - Fraction(7, 60)) <= near
    assert abs(sum(pictures[-1]) - zero - DURATION) <= near  # (was 1.25)
    assert abs(min(at for kind, at, _ in packets if kind == "audio") - zero - (first_sound - START)) <= near
