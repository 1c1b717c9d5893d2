"""Chapters end where the file's content ends, the latest end of any stream: the held subtitle cues
are muxed in the order they start, so a short cue muxed after a long one cut the last chapter at
the short cue's end (2.5 s) in a file lasting to the long one's (4 s)."""

from __future__ import annotations

from fractions import Fraction

import av
import pytest

from test_fixes47_video_chapters import chapter, chapters_and_length, write_pictures
from test_video_more_containers import ffmpeg
from realtime_adain.video.encoder_settings import EncodeSettings
from realtime_adain.video.writer import VideoFormatOut, VideoWriter

RATE = 12


@pytest.fixture(scope="module")
def nested_cues(tmp_path_factory):
    """A long cue (0.1 s to 4 s) and a short one within it (1.5 s to 2.5 s), as SRT in Matroska."""
    folder = tmp_path_factory.mktemp("cues")
    (folder / "cues.srt").write_text("1\n00:00:00,100 --> 00:00:04,000\nlong cue\n\n"
                                     "2\n00:00:01,500 --> 00:00:02,500\nshort cue\n")
    path = folder / "cues.mkv"
    ffmpeg("-i", folder / "cues.srt", "-c:s", "srt", path)
    return path


def test_the_last_chapter_ends_with_the_cue_that_ends_last(tmp_path, nested_cues):
    """Six pictures (0.5 s), the long cue to 4 s muxed before the short one to 2.5 s: chapter two
    (to 5 s) ends at 4 s with the file (was 2.5 s, the last cue muxed)."""
    out = tmp_path / "out.mkv"
    spec = VideoFormatOut(16, 16, Fraction(1, RATE), Fraction(RATE), chapters=[chapter(1, 0, 250),
                                                                                chapter(2, 250, 5000)])
    with av.open(str(nested_cues)) as source:
        writer = VideoWriter(out, EncodeSettings("libx264"), spec, [source.streams.subtitles[0]])
        for packet in source.demux(subtitles=0):
            if packet.size:
                writer.write_packet(packet)
        write_pictures(writer, 6)
        writer.close()
    chapters, length = chapters_and_length(out)
    assert chapters == [("c1", 0, Fraction(1, 4)), ("c2", Fraction(1, 4), Fraction(4))], chapters
    assert length == Fraction(4), length
