"""Chapters end with the file and move with its streams: set with the header, a preview's
(`--frames`) or an interrupted run's MP4 lasted as long as the input's chapters (2 s for 0.5 s of
pictures) and a .mkv listed chapters past its end; a .mkv whose sound starts before zero (its
muxer moves every stream on) had them early. And a segment's first picture is never a sliver of a
frame: a 12 fps .mkv cut 10 ms before a frame began with a 10 ms picture, two pictures in one
frame's time for `ffmpeg -i out.mkv` ("non monotonically increasing dts")."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Callable

import av
import numpy as np
import pytest

from test_video_more_containers import ffmpeg
from realtime_adain.video.encoder_settings import EncodeSettings
from realtime_adain.video.frames import Frame
from realtime_adain.video.reader import VideoReader
from realtime_adain.video.segment import Segment
from realtime_adain.video.writer import VideoFormatOut, VideoWriter

RATE = 12
MS = Fraction(1, 1000)
STYLE = ("--size", "32", "--style-size", "64", "--stabilize", "off")


def chapter(number: int, start_ms: int, end_ms: int) -> dict:
    return {"id": number, "start": start_ms, "end": end_ms, "time_base": MS, "metadata": {"title": f"c{number}"}}


def chapters_and_length(path: Path) -> tuple[list[tuple[str, Fraction, Fraction]], Fraction]:
    """The file's chapters (title, start s, end s) and its length (s)."""
    with av.open(str(path)) as container:
        return ([(c["metadata"]["title"], c["start"] * c["time_base"], c["end"] * c["time_base"])
                 for c in container.chapters()], Fraction(container.duration, 1_000_000))


def write_pictures(writer: VideoWriter, count: int) -> None:
    for index in range(count):
        writer.write_frame(np.full((16, 16, 3), 20 * index, np.uint8), index, 1)


@pytest.mark.parametrize("ext", ["mp4", "mkv"])
@pytest.mark.parametrize("whole", [True, False])
def test_chapters_are_cut_where_the_pictures_end(tmp_path, ext, whole):
    """Six pictures (0.5 s) given 2 s of chapters, the file finished as a preview's is (`whole`) or
    an interrupted run's: chapter two (from 1 s) is dropped, one ends at 0.5 s, so does the file
    (was both whole, the MP4 2 s long)."""
    out = tmp_path / f"out.{ext}"
    spec = VideoFormatOut(16, 16, Fraction(1, RATE), Fraction(RATE), chapters=[chapter(1, 0, 1000),
                                                                                chapter(2, 1000, 2000)])
    writer = VideoWriter(out, EncodeSettings("libx264"), spec, [])
    write_pictures(writer, 6)
    writer.close(whole=whole)
    chapters, length = chapters_and_length(out)
    assert chapters == [("c1", 0, Fraction(1, 2))] and length == Fraction(1, 2), (chapters, length)


def written_with_sound(out: Path, encoder: str, sound: Path, sound_codec: str,
                       given: Callable[[av.Packet], av.Packet | None] = lambda packet: packet) -> Path:
    """`out` written with six pictures at RATE, two chapters (0-0.25 s, 0.25-0.5 s) and a sine
    encoded with `sound_codec` into `sound`, each of its packets as `given` makes it (None: left out)."""
    ffmpeg("-f", "lavfi", "-i", "sine=sample_rate=48000:duration=1", "-c:a", sound_codec, sound)
    spec = VideoFormatOut(16, 16, Fraction(1, RATE), Fraction(RATE), chapters=[chapter(1, 0, 250),
                                                                                chapter(2, 250, 500)])
    with av.open(str(sound)) as source:
        writer = VideoWriter(out, EncodeSettings(encoder), spec, [source.streams.audio[0]])
        write_pictures(writer, 6)
        for packet in source.demux(audio=0):
            if (kept := given(packet)) is not None:
                writer.write_packet(kept)
        writer.close()
    return out


def test_chapters_move_with_the_streams_a_mkv_muxer_moves(tmp_path):
    """FLAC whose first packet starts 95 ms before zero (a segment's): Matroska's muxer moves every
    stream on by that much; chapter two, from the fourth picture (0.25 s), went on starting at
    0.25 s, 95 ms before it."""
    def moved_back(packet: av.Packet) -> av.Packet | None:
        if packet.pts is not None and packet.pts * packet.time_base < Fraction(4, 10):
            packet.pts = packet.dts = packet.pts - 95  # (milliseconds)
            return packet
        return None

    out = written_with_sound(tmp_path / "out.mkv", "libx264", tmp_path / "sound.mkv", "flac", moved_back)
    with av.open(str(out)) as container:
        pictures = [packet.pts * packet.time_base for packet in container.demux(video=0) if packet.pts is not None]
    moved = sorted(pictures)[0]
    assert moved == Fraction(95, 1000)
    chapters, length = chapters_and_length(out)
    assert chapters == [("c1", 0, Fraction(1, 4) + moved), ("c2", Fraction(1, 4) + moved, Fraction(1, 2) + moved)]


def test_a_segment_starts_with_the_next_picture_after_a_sliver_of_one(tmp_path):
    """12 fps in milliseconds cut at 0.49 s: the picture at 0.417 s would show 10 ms of its 83; the
    one at 0.5 s starts the segment, shown from zero (was the sliver, then it at 10 ms)."""
    segment = Segment(MS, start=Fraction(49, 100))
    assert segment.ends_before(417, 83) and not segment.ends_before(500, 83)
    assert segment.moved(500, 83) == (0, 93) and segment.moved(583, 83) == (93, 83)
    # (more than half a picture left: it is the first, as before)
    assert not Segment(MS, start=Fraction(45, 100)).ends_before(417, 83)
    source = tmp_path / "in.mkv"
    ffmpeg("-f", "lavfi", "-i", f"testsrc2=size=32x32:rate={RATE}:duration=1", "-c:v", "libx264", source)
    with VideoReader(source, start=Fraction(49, 100), duration=Fraction(1, 4)) as reader:
        times = [(item.pts, item.duration) for item in reader.items() if isinstance(item, Frame)]
    assert times == [(0, 93), (93, 84), (177, 73)]  # (the last cut at the segment's end, 0.74 s)
