"""`realtime-adain video` on h1's findings (session 57): numbered pictures named only the first
left-out stream of each kind (and none whose first packet followed --frames' last frame); --start
did not move a timecode of one frame digit (FFmpeg's at 10 fps or less), and kept one it could not
read without a word; Matroska's file TIMECODE tag was dropped from .ts and .gif without a note; a
second timecode track (a cover's) was said to be carried as chapters; docs said DVD subtitles are
dropped from MP4, where they are copied."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from realtime_adain.video.encoder_settings import EncodeSettings
from realtime_adain.video.pictures import Colour
from realtime_adain.video.streams import CHAPTERS_CARRIED, TIMECODE_CARRIED, told_otherwise
from realtime_adain.video.timecode import cut_tags, later_timecode
from realtime_adain.video.writer import VideoFormatOut, VideoWriter
from test_video_realworld_inputs import ffmpeg, stylize, style  # noqa: F401  (a fixture)

DOCS = Path(__file__).resolve().parent.parent / "docs" / "video.md"


def test_numbered_pictures_name_every_left_out_stream_as_they_open(run_cli, weights_env, style, tmp_path):
    """Two subtitle tracks: both named, in one note, with --frames 2 too (no packet of either
    comes before the second frame's), and each note said once."""
    for name, line in (("a.srt", "Hello"), ("b.srt", "Bonjour")):
        (tmp_path / name).write_text(f"1\n00:00:00,200 --> 00:00:00,800\n{line}\n")
    source = tmp_path / "two_subs.mkv"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=s=64x48:r=12:d=1", "-f", "lavfi", "-i", "sine=r=48000:d=1",
           "-i", tmp_path / "a.srt", "-i", tmp_path / "b.srt", "-map", "0", "-map", "1", "-map", "2", "-map", "3",
           "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", "-c:s", "srt", source)
    for pattern in ("f_%04d.png", "w_%03d.webp"):
        err = stylize(run_cli, source, style, tmp_path / "out" / pattern, "--frames", "2")
        said = [line for line in err.splitlines() if "numbered pictures hold no" in line]
        assert said == [f"note: {tmp_path / 'out' / pattern}: numbered pictures hold no audio; leaving out stream #1",
                        f"note: {tmp_path / 'out' / pattern}: numbered pictures hold no subtitle; leaving out "
                        "stream #2 (also #3: 2 streams)"], err


@pytest.mark.parametrize("given, rate, moved", [
    ("01:00:00:0", Fraction(8), "01:00:00:4"),  # (FFmpeg's one frame digit at 10 fps or less)
    ("01:00:00:7", Fraction(8), "01:00:01:3"),
    ("01:00:00:00", Fraction(8), "01:00:00:04"),  # (Matroska's tag keeps two: so does the moved one)
    ("01:00:00:00", Fraction(24), "01:00:00:12"),
])
def test_a_timecode_of_any_frame_digits_follows_the_start(given, rate, moved):
    assert later_timecode(given, Fraction(1, 2), rate) == moved


@pytest.mark.parametrize("given, rate, why", [
    ("01:00:00:9", Fraction(8), "frame 9 is past the 8 a second of 8 fps"),
    ("1h00m", Fraction(8), "it is not HH:MM:SS:FF"),
    ("01:00:00:00", None, "the video has no frame rate"),
])
def test_a_timecode_that_cannot_follow_the_start_is_kept_with_a_note(given, rate, why, capsys):
    assert cut_tags({"timecode": given, "title": "x"}, Fraction(1, 2), rate, "in.mp4") == \
        {"timecode": given, "title": "x"}
    err = capsys.readouterr().err
    assert f"note: in.mp4: its timecode '{given}' cannot be moved to the cut's start ({why})" in err, err
    assert cut_tags({"timecode": given}, Fraction(0), rate, "in.mp4") == {"timecode": given}  # (no cut: no word)
    assert capsys.readouterr().err == ""
    # an output that holds no timecode (.ts, .gif, numbered pictures) keeps none: "kept as it is" was untrue
    assert cut_tags({"timecode": given}, Fraction(1, 2), rate, "in.mp4", kept=False) == {"timecode": given}
    assert capsys.readouterr().err == ""


def test_an_output_holding_no_timecode_says_no_unmoved_one_kept(run_cli, weights_env, style, tmp_path):
    """A timecode --start cannot move was said "kept as it is" of .ts, .gif and numbered pictures,
    which drop it (said as they open)."""
    source = tmp_path / "r8.mkv"  # (MP4's muxer writes a timecode it can read: Matroska's tag is as given)
    ffmpeg("-f", "lavfi", "-i", "testsrc2=s=64x36:r=8:d=1", "-c:v", "libx264", "-pix_fmt", "yuv420p",
           "-metadata", "timecode=01:00:00:9", source)
    with av.open(str(source)) as container:
        assert container.metadata["TIMECODE"] == "01:00:00:9"  # (frame 9 at 8 fps: cannot move)
    err = stylize(run_cli, source, style, tmp_path / "out.ts", "--start", "0.5", "--frames", "2")
    assert "cannot be moved" not in err and ".ts holds no timecode" in err, err
    err = stylize(run_cli, source, style, tmp_path / "out.mov", "--start", "0.5", "--frames", "2")
    assert "cannot be moved to the cut's start" in err, err


def test_a_cut_moves_an_mp4_timecode_written_at_8_fps(run_cli, weights_env, style, tmp_path):
    source = tmp_path / "r8.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=s=64x36:r=8:d=1", "-c:v", "libx264", "-pix_fmt", "yuv420p",
           "-timecode", "01:00:00:00", source)
    with av.open(str(source)) as container:
        assert container.streams.video[0].metadata["timecode"] == "01:00:00:0"  # (the case: one digit)
    out = tmp_path / "out.mov"
    err = stylize(run_cli, source, style, out, "--start", "0.5", "--frames", "2")
    assert "cannot be moved" not in err
    with av.open(str(out)) as container:
        assert container.streams.video[0].metadata["timecode"] == "01:00:00:4"


@pytest.mark.parametrize("ext", [".ts", ".gif"])
def test_matroskas_file_timecode_dropped_from_ts_and_gif_is_said(ext, tmp_path, capsys):
    spec = VideoFormatOut(32, 32, Fraction(1, 8), Fraction(8), Colour(1, 1, 1, 1), tags={"TIMECODE": "10:00:00:00"})
    writer = VideoWriter(tmp_path / f"out{ext}", EncodeSettings(), spec, passthrough=[], source="in.mkv")
    writer.write_frame(np.zeros((32, 32, 3), np.uint8), 0, 1)
    writer.close()
    assert f"note: in.mkv: {ext} holds no timecode: the input's are dropped" in capsys.readouterr().err


def test_every_timecode_track_is_said_to_be_the_timecode(tmp_path):
    """FFmpeg writes a timecode track for the cover art too, which it discards as it does MP4's
    chapter track: that one was said to be carried as the chapters."""
    (tmp_path / "chapters.txt").write_text(";FFMETADATA1\n[CHAPTER]\nTIMEBASE=1/1000\nSTART=0\nEND=500\n"
                                           "title=Intro\n[CHAPTER]\nTIMEBASE=1/1000\nSTART=500\nEND=1000\n"
                                           "title=Main\n")
    ffmpeg("-f", "lavfi", "-i", "color=c=red:s=32x32", "-frames:v", "1", tmp_path / "cover.png")
    source = tmp_path / "cov.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=s=64x36:r=8:d=1", "-f", "lavfi", "-i", "sine=r=48000:d=1", "-i",
           tmp_path / "cover.png", "-i", tmp_path / "chapters.txt", "-map", "0", "-map", "1", "-map", "2",
           "-map_chapters", "3", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", "-c:v:1", "png",
           "-disposition:v:1", "attached_pic", "-timecode", "01:00:00:00", source)
    with av.open(str(source)) as container:
        video = container.streams.video[0]
        reasons = {s.metadata.get("handler_name"): told_otherwise(s, video)
                   for s in container.streams if s.type == "data" and "timecode" in s.metadata}
        tracks = [s for s in container.streams if s.type == "data" and "timecode" in s.metadata]
        assert len(tracks) == 2 and any(s.discard == av.stream.Discard.all for s in tracks)  # (the case)
        assert [told_otherwise(s, video) for s in tracks] == [TIMECODE_CARRIED, TIMECODE_CARRIED], reasons
        chapters = [s for s in container.streams if s.type == "data" and "timecode" not in s.metadata]
        assert [told_otherwise(s, video) for s in chapters] == [CHAPTERS_CARRIED]


def test_the_docs_say_dvd_subtitles_are_copied_into_mp4():
    text = " ".join(DOCS.read_text().split())
    assert "DVD/PGS pictures into MP4" not in text
    assert "DVD subtitle pictures are copied into `.mp4`" in text


def test_json_names_a_cover_timecode_track_dropped_from_ts_as_timecode(run_cli, weights_env, style, tmp_path):
    ffmpeg("-f", "lavfi", "-i", "color=c=red:s=32x32", "-frames:v", "1", tmp_path / "cover.png")
    source = tmp_path / "cov.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=s=64x36:r=8:d=1", "-i", tmp_path / "cover.png", "-map", "0", "-map", "1",
           "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:v:1", "png", "-disposition:v:1", "attached_pic",
           "-timecode", "01:00:00:00", source)
    code, out, err = run_cli("video", source, "-s", style, "--size", "32", "--style-size", "64", "--threads", "1",
                             "--stabilize", "off", "--frames", "2", "-o", tmp_path / "out.ts", "--json")
    assert code == 0, err
    reasons = [s["reason"] for s in json.loads(out)["streams"] if s["kind"] == "data"]
    assert reasons == [".ts holds no timecode: dropped"] * 2, reasons
