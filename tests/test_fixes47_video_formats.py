"""`realtime-adain video` on three findings of h1 and h4: an encoder that opens at no pixel format
at an input's size was blamed on --pix-fmt; a forced subtitle lost its flag in .mov without a
word; `--json` named subtitle codecs by PyAV's decoder (srt, ssa) where FFmpeg says subrip, ass."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import av
import pytest

from realtime_adain.errors import UserError
from realtime_adain.video.encoder_check import check_encoder
from realtime_adain.video.encoder_settings import EncodeSettings
from realtime_adain.video.stream_copy import dropped_roles
from realtime_adain.video.stream_reports import codec_name
from test_video_realworld_inputs import ffmpeg, style  # noqa: F401  (a fixture)
from test_video_subtitles import FFPROBE, subtitle_codecs, with_subtitles


@pytest.mark.parametrize("pix_fmt", ["yuv420p", "yuv444p"])
def test_a_size_no_pixel_format_opens_at_is_blamed_on_the_size(pix_fmt, tmp_path):
    """x265 opens at no 16x10 picture: with --pix-fmt it said "cannot open encoder libx265 with
    --pix-fmt yuv420p", as if another format would do; it says what it says without one."""
    with pytest.raises(UserError, match=rf"^encoder libx265 does not open for 16x10 {pix_fmt} pictures \(.*\): "
                                        "use another --codec, e.g. libx264$"):
        check_encoder(EncodeSettings("libx265", pix_fmt=pix_fmt), tmp_path / "o.mp4", 16, 10)


def test_a_pixel_format_that_fails_where_another_opens_is_still_named_at_an_input_size(tmp_path):
    """MJPEG at 16x10 opens with yuvj444p, not yuv444p: --pix-fmt is what to change."""
    with pytest.raises(UserError, match=r"^cannot open encoder mjpeg with --pix-fmt yuv444p \(try yuvj444p\)"):
        check_encoder(EncodeSettings("mjpeg", pix_fmt="yuv444p"), tmp_path / "o.avi", 16, 10)


@pytest.fixture
def forced_subtitle(tmp_path) -> Path:
    """An .mp4 with a French mov_text subtitle flagged forced (shown with subtitles off: the
    dialogue in a foreign language)."""
    (tmp_path / "fr.srt").write_text("1\n00:00:00,200 --> 00:00:00,800\nBonjour\n")
    source = tmp_path / "forced.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=64x48:rate=12:duration=1", "-i", tmp_path / "fr.srt", "-map", "0",
           "-map", "1", "-c:v", "libx264", "-c:s", "mov_text", "-metadata:s:s:0", "language=fra",
           "-disposition:s:0", "forced", source)
    return source


def forced_read_back(path: Path) -> bool:
    with av.open(str(path)) as container:
        return bool(container.streams.subtitles[0].disposition & av.stream.Disposition.forced)


@pytest.mark.parametrize("ext, fmt, codec", [("mp4", "mp4", "mov_text"), ("mov", "mov", "mov_text"),
                                             ("mkv", "matroska", "srt"), ("webm", "webm", "webvtt")])
def test_a_forced_flag_is_said_lost_exactly_where_the_muxer_drops_it(ext, fmt, codec, forced_subtitle, tmp_path):
    """The forced flag was no role `dropped_roles` knew: .mov dropped it without a note. Each
    muxer's own behaviour (the subtitle written by FFmpeg, read back) is what it says."""
    out = tmp_path / f"out.{ext}"
    ffmpeg("-i", forced_subtitle, "-map", "0:s", "-c:s", codec, "-disposition:s:0", "forced", out)
    with av.open(str(forced_subtitle)) as container:
        dropped = dropped_roles(fmt, container.streams.subtitles[0])
    assert dropped == (None if forced_read_back(out) else ("forced", " (use .mkv to keep it)")), ext
    assert forced_read_back(out) == (ext != "mov")


@pytest.mark.slow
def test_a_forced_subtitle_written_unmarked_in_mov_is_said(forced_subtitle, run_cli, weights_env, style, tmp_path):
    """End to end: the note and `--json`'s reason (which said "copied" with none) name the loss."""
    out = tmp_path / "out.mov"
    code, printed, err = run_cli("video", forced_subtitle, "-s", style, "--size", "32", "--style-size", "64",
                                 "--threads", "1", "--stabilize", "off", "--json", "-o", out)
    assert code == 0 and "Traceback" not in err, err
    said = ".mov cannot mark subtitle stream #1 (mov_text) as forced: it is written unmarked (use .mkv to keep it)"
    assert f"note: {forced_subtitle.name}: {said}" in err, err
    (report,) = json.loads(printed)["streams"]
    assert (report["action"], report["reason"]) == ("copied", said), report
    assert not forced_read_back(out)


@pytest.mark.parametrize("codec", ["srt", "ass"])
def test_subtitle_codecs_are_named_as_ffprobe_names_them(codec, tmp_path):
    """`--json` said "srt" and "ssa" (PyAV's decoders) where ffprobe says subrip and ass: an ASS
    track read was "ssa", the same one converted "ass"."""
    source = with_subtitles(tmp_path, "mkv", codec)
    with av.open(str(source)) as container:
        assert [codec_name(stream) for stream in container.streams] == ["h264", *subtitle_codecs(source)]


def test_data_and_sound_streams_are_still_named_as_ffprobe_names_them(tmp_path):
    """A .mov's MP3 (decoder mp3float) and its timecode track (a codec FFmpeg names none: no name)."""
    source = tmp_path / "in.mov"
    ffmpeg("-f", "lavfi", "-i", "testsrc=size=64x48:rate=10:duration=0.5", "-f", "lavfi", "-i", "sine=duration=0.5",
           "-c:v", "libx264", "-c:a", "libmp3lame", "-timecode", "00:00:01:00", source)
    probed = subprocess.run([FFPROBE, "-v", "error", "-show_entries", "stream=codec_name", "-of", "csv=p=0",
                             str(source)], capture_output=True, text=True, check=True).stdout.split()
    with av.open(str(source)) as container:
        names = [codec_name(stream) for stream in container.streams]
    assert names == [None if name == "unknown" else name for name in probed] == ["h264", "mp3", None]
