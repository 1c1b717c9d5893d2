"""A cut's first picture, its timecode and its chapters agree: a 12 fps cut half a frame before a
frame's end skipped that frame but its timecode named it, and a chapter a sliver long was left
before the one its first picture belongs to; an interrupted run kept whole subtitle
cues, so its file and a chapter ran past the last picture."""

from __future__ import annotations

from fractions import Fraction

import av
import pytest

from test_fixes47_video_chapters import chapter, chapters_and_length, write_pictures, written_with_sound
from test_video_more_containers import ffmpeg
from realtime_adain.video.encoder_settings import EncodeSettings
from realtime_adain.video.job import output_format
from realtime_adain.video.reader import VideoReader
from realtime_adain.video.writer import VideoFormatOut, VideoWriter

RATE = 12


@pytest.fixture(scope="module")
def r12(tmp_path_factory):
    """Two seconds at 12 fps, timecode 01:00:00:00, as a camera's MP4."""
    folder = tmp_path_factory.mktemp("r12")
    (folder / "meta.txt").write_text(";FFMETADATA1\n[CHAPTER]\nTIMEBASE=1/1000\nSTART=0\nEND=1000\ntitle=c1\n"
                                     "[CHAPTER]\nTIMEBASE=1/1000\nSTART=1000\nEND=2000\ntitle=c2\n")
    path = folder / "r12.mp4"
    ffmpeg("-f", "lavfi", "-i", f"testsrc2=size=16x16:rate={RATE}:duration=2", "-i", folder / "meta.txt",
           "-map_chapters", "1", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-timecode", "01:00:00:00", path)
    return path


def test_the_timecode_names_the_first_picture_kept(r12):
    """--start 1.0417: frame 12 shows 41.63 ms after it, under half its time, and is skipped; the
    timecode named it (01:00:01:00), from the start rounded down to a tick (exactly half a frame)."""
    reader = VideoReader(r12, start=Fraction("1.0417"), duration=Fraction(1))
    try:
        timecode = output_format(reader, 16, 16).video_tags["timecode"]
    finally:
        reader.close()
    assert timecode == "01:00:01:01"


@pytest.fixture(scope="module")
def cue_file(tmp_path_factory):
    """A subtitle cue shown from 0.25 s to 1.5 s, MP4's mov_text."""
    folder = tmp_path_factory.mktemp("cue")
    (folder / "cue.srt").write_text("1\n00:00:00,250 --> 00:00:01,500\nhello\n")
    path = folder / "cue.mp4"
    ffmpeg("-i", folder / "cue.srt", "-c:s", "mov_text", path)
    return path


@pytest.mark.parametrize("ext", ["mp4", "mkv"])
def test_an_interrupted_file_ends_with_its_pictures_not_a_cue(tmp_path, cue_file, ext):
    """Six pictures (0.5 s) and a cue to 1.5 s, the file finished as an interrupted run's: the cue
    is cut at 0.5 s, so are the file and chapter two (from 0.25 s); the cue kept its 1.5 s end and
    the file lasted 1.5 s, chapter two with it."""
    out = tmp_path / f"out.{ext}"
    spec = VideoFormatOut(16, 16, Fraction(1, RATE), Fraction(RATE), chapters=[chapter(1, 0, 250),
                                                                                chapter(2, 250, 2000)])
    with av.open(str(cue_file)) as source:
        writer = VideoWriter(out, EncodeSettings("libx264"), spec, [source.streams.subtitles[0]])
        for packet in source.demux(subtitles=0):
            if packet.size:
                writer.write_packet(packet)
        write_pictures(writer, 6)
        writer.close(whole=False)
    chapters, length = chapters_and_length(out)
    with av.open(str(out)) as container:
        cue_end = max((p.pts + p.duration) * p.time_base for p in container.demux(subtitles=0) if p.size)
    assert cue_end == Fraction(1, 2) and length == Fraction(1, 2), (cue_end, length)
    assert chapters == [("c1", 0, Fraction(1, 4)), ("c2", Fraction(1, 4), Fraction(1, 2))], chapters


@pytest.mark.parametrize("start", ["0.96", "0.999"])
def test_no_sliver_of_a_chapter_before_the_first_picture(r12, start):
    """--start 0.96 (0.999): frame 11 (chapter one's last) is skipped, frame 12, chapter two's
    first, shown from zero; chapter one was left 40 ms (1 ms) long before it."""
    with VideoReader(r12, start=Fraction(start), duration=Fraction(1)) as reader:
        assert reader.first_frame is not None
        chapters = [(c["metadata"]["title"], c["start"]) for c in reader.chapters()]
    assert chapters == [("c2", 0)], chapters


def test_marks_of_no_time_are_kept(tmp_path):
    """Marks of no time at 0 and 0.5 s (`ffmpeg -c copy` keeps them) in a whole run's .mkv; they
    were dropped."""
    out = tmp_path / "out.mkv"
    spec = VideoFormatOut(16, 16, Fraction(1, RATE), Fraction(RATE), chapters=[
        chapter(1, 0, 0), chapter(2, 0, 1000), chapter(3, 500, 500)])
    writer = VideoWriter(out, EncodeSettings("libx264"), spec, [])
    write_pictures(writer, RATE)
    writer.close()
    chapters, _ = chapters_and_length(out)
    assert chapters == [("c1", 0, 0), ("c2", 0, 1), ("c3", Fraction(1, 2), Fraction(1, 2))], chapters


def test_chapters_in_a_webm_start_with_their_pictures(tmp_path):
    """AAC re-encoded to Opus for .webm: its first packet starts the encoder's pre-skip (6.5 ms)
    before zero, which the muxer stores as the track's CodecDelay, moving nothing; counted as a
    move, chapter two (from the fourth picture, 0.25 s) began 6 ms after it."""
    out = written_with_sound(tmp_path / "out.webm", "libvpx-vp9", tmp_path / "sound.mp4", "aac")
    chapters, _ = chapters_and_length(out)
    with av.open(str(out)) as container:
        first = min(p.pts * p.time_base for p in container.demux(video=0) if p.pts is not None)
    assert [start - first for _, start, _ in chapters] == [0, Fraction(1, 4)], (first, chapters)
