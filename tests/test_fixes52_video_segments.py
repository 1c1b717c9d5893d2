"""Session 52: two untrue errors on reading a file. A segment (--start 0.5 --duration 1) of a
Matroska whose video starts 2 s after its sound was "--start 0.5 s is at or past the end of the
video, which lasts 2.088 s" (where the first picture, found after the segment, stops showing); now
the error says the segment ends before the video's first picture. A fragmented MP4 cut between a
later fragment header's sample entries, which FFmpeg refuses with "Invalid data found", not "End of
file", was "not a readable video (Invalid data found when processing input)"; now it says, as the
other cut does, that the file ends inside its header."""

from __future__ import annotations

import subprocess
from fractions import Fraction
from pathlib import Path

import av
import pytest

from realtime_adain.errors import UserError
from realtime_adain.times import format_time
from realtime_adain.video.probing import cut_inside_header, mp4_without_index
from realtime_adain.video.frames import Frame
from realtime_adain.video.reader import VideoReader

CUT_SHORT = ("not a readable video: the file ends inside its header (a file cut short, or a recording still being "
             "written: try again when it is finished)")


def ffmpeg(*args: str | Path) -> None:
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", *map(str, args)], check=True)


@pytest.fixture(scope="module")
def late_video(tmp_path_factory) -> Path:
    """2 s of 15 fps video from 2 s on (2.021 s: the muxer's B-frame delay), 3 s of sound from zero."""
    path = tmp_path_factory.mktemp("late") / "late.mkv"
    ffmpeg("-itsoffset", "2", "-f", "lavfi", "-i", "testsrc2=s=64x36:r=15:d=2", "-f", "lavfi", "-i",
           "sine=r=48000:d=3", "-c:v", "libx264", "-c:a", "aac", path)
    return path


@pytest.mark.parametrize("start, duration, said", [
    (Fraction(1, 2), 1, "--start 0.5 s --duration 1 s"),
    (0, 1, "--duration 1 s"),
])
def test_a_segment_before_a_late_video_says_it_ends_before_the_first_picture(late_video, start, duration, said):
    """Was "--start 0.5 s is at or past the end of the video, which lasts 2.088 s" (and "the video
    has no frames" from zero)."""
    with pytest.raises(UserError) as refused:
        VideoReader(late_video, start=start, duration=duration)
    assert str(refused.value) == f"{late_video}: {said} ends before the video's first picture (at 2.021 s)"


def test_a_segment_into_a_late_video_keeps_its_first_pictures_offset(late_video):
    with VideoReader(late_video, start=Fraction(1, 2), duration=3) as reader:
        assert reader.first_frame.pts * reader.time_base == Fraction(1521, 1000)


def test_a_start_past_a_late_videos_end_still_says_how_long_it_lasts(late_video):
    with pytest.raises(UserError) as refused:
        VideoReader(late_video, start=5, duration=1)
    assert str(refused.value) == f"{late_video}: --start 5 s is at or past the end of the video, which lasts 4.02 s"


def test_a_segment_before_the_picture_after_a_pause_says_so(tmp_path):
    """The picture before a pause (at 0.95 s, shown until the next, after 3 s) shows under half its
    time in a 0.1 s segment at 2.9 s, so it is left out (`Segment.ends_before`): the error names
    the next picture, not the video's first, nor its end."""
    path = tmp_path / "pause.mkv"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=s=64x36:r=15:d=4", "-vf", "select='not(between(t,1,3))'",
           "-fps_mode", "passthrough", "-c:v", "libx264", path)
    with VideoReader(path) as whole:
        starts = [frame.pts * whole.time_base for frame in whole.items() if isinstance(frame, Frame)]
    after = min(start for start in starts if start > 3)
    assert max(start for start in starts if start < 1) < Fraction(29, 10) - 1  # (the pause)
    with pytest.raises(UserError) as refused:
        VideoReader(path, start=Fraction(29, 10), duration=Fraction(1, 10))
    assert str(refused.value) == (f"{path}: --start 2.9 s --duration 0.1 s ends before the next picture starts "
                                  f"(at {format_time(after)})")


def cut_ffmpeg_refuses_as_invalid(whole: Path, cut: Path) -> Path:
    """`whole` (a fragmented MP4) cut inside its third fragment's header where FFmpeg refuses to
    open it with "Invalid data found" (between the trun box's sample entries)."""
    data = whole.read_bytes()
    moofs = [at - 4 for at in range(len(data)) if data.startswith(b"moof", at)]
    moof = moofs[2]
    for end in range(moof + 8, moof + int.from_bytes(data[moof:moof + 4], "big")):
        cut.write_bytes(data[:end])
        try:
            av.open(str(cut)).close()
        except av.error.InvalidDataError:
            return cut
        except av.error.FFmpegError:
            continue
    pytest.fail("no cut inside the third fragment's header ends with FFmpeg's invalid-data error")


def test_a_fragmented_mp4_cut_between_a_fragments_entries_says_it_ends_inside_its_header(tmp_path):
    """Was "not a readable video (Invalid data found when processing input)"."""
    whole = tmp_path / "whole.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=s=64x36:r=15:d=2", "-c:v", "libx264", "-g", "10", "-movflags",
           "frag_keyframe+empty_moov", whole)
    cut = cut_ffmpeg_refuses_as_invalid(whole, tmp_path / "cut.mp4")
    with pytest.raises(UserError) as refused:
        VideoReader(cut)
    assert str(refused.value) == f"{cut}: {CUT_SHORT}"


def test_only_a_box_other_than_the_pictures_data_cut_short_is_a_header_cut(tmp_path):
    """A cut inside `mdat` is damage to the pictures, said as such where the file is read; a whole
    file, and one that is not ISO media, are not cut."""
    whole = tmp_path / "whole.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=s=64x36:r=15:d=1", "-c:v", "libx264", whole)
    data = whole.read_bytes()
    moov, mdat = data.index(b"moov") - 4, data.index(b"mdat") - 4
    assert mdat < moov  # (FFmpeg writes the index last without -movflags faststart)
    pieces = {"whole": data, "in moov": data[:moov + 20], "in mdat": data[:mdat + 100],
              "a box header cut": data[:mdat + 4], "text": b"not a video at all\n"}
    cut = {}
    for name, piece in pieces.items():
        (tmp_path / "piece.mp4").write_bytes(piece)
        cut[name] = cut_inside_header(tmp_path / "piece.mp4")
    assert cut == {"whole": False, "in moov": True, "in mdat": False, "a box header cut": True, "text": False}
    (tmp_path / "short.mp4").write_bytes(data[:5])  # (not even one box's header: not ISO media)
    assert not cut_inside_header(tmp_path / "short.mp4") and not mp4_without_index(tmp_path / "short.mp4")
