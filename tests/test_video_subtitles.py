"""Subtitles through `realtime-adain video`: copied where the output container holds their codec,
text subtitles converted to the container's own text codec where it does not (as FFmpeg converts
them), picture-less containers (MPEG-TS) dropping them with a note. Each output's subtitles must
read back as the input's: the same lines at the same times (FFmpeg's SRT rendering of both)."""

from __future__ import annotations

import shutil
import subprocess

import pytest

FFMPEG, FFPROBE = shutil.which("ffmpeg"), shutil.which("ffprobe")
assert FFMPEG and FFPROBE, "these tests need the FFmpeg CLI: run the README's test command, bash .ci/run"

SRT = """1
00:00:00,200 --> 00:00:00,900
Hello <i>world</i>

2
00:00:01,000 --> 00:00:01,800
Second line
"""


def with_subtitles(folder, ext: str, codec: str):
    """A 2 s 64x48 clip with SRT's two lines as `codec` subtitles in a `.ext` file."""
    (folder / "lines.srt").write_text(SRT)
    path = folder / f"in-{codec}.{ext}"
    subprocess.run([FFMPEG, "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=64x48:rate=10:duration=2",
                    "-i", str(folder / "lines.srt"), "-c:v", "libx264", "-c:s", codec, str(path)], check=True)
    return path


def subtitle_codecs(path) -> list[str]:
    out = subprocess.run([FFPROBE, "-v", "error", "-select_streams", "s", "-show_entries", "stream=codec_name",
                          "-of", "csv=p=0", str(path)], capture_output=True, text=True, check=True).stdout
    return out.split()


def as_srt(path) -> str:
    return subprocess.run([FFMPEG, "-nostdin", "-v", "error", "-i", str(path), "-map", "0:s:0", "-f", "srt", "-"],
                          capture_output=True, text=True, check=True).stdout


@pytest.mark.parametrize("source, target, codec, converted", [
    (("mkv", "srt"), "mkv", "subrip", False),
    (("mp4", "mov_text"), "mp4", "mov_text", False),
    (("mp4", "mov_text"), "mkv", "ass", True),      # an iPhone/editor MP4's subtitles into .mkv (FFmpeg: ASS)
    (("mkv", "srt"), "webm", "webvtt", True),       # FFmpeg's default for WebM
    (("mkv", "srt"), "mp4", "mov_text", True),      # FFmpeg drops these unless told -c:s mov_text
    (("mkv", "webvtt"), "mov", "mov_text", True),
], ids=lambda value: "-".join(value) if isinstance(value, tuple) else str(value))
@pytest.mark.slow_cases('mp4-mov_text-mp4-mov_text-False', 'mp4-mov_text-mkv-ass-True', 'mkv-srt-mkv-subrip-False', 'mkv-webvtt-mov-mov_text-True', 'mkv-srt-mp4-mov_text-True')  # (default run's time: 2 s)
def test_subtitles_are_kept_or_converted(source, target, codec, converted, run_cli, weights_env, data_dir, tmp_path):
    given = with_subtitles(tmp_path, *source)
    out = tmp_path / f"out.{target}"
    code, _, err = run_cli("video", given, "-s", data_dir / "style" / "brushstrokes.jpg", "--size", "32",
                           "--style-size", "64", "--stabilize", "off", "-o", out)
    assert code == 0, err
    assert subtitle_codecs(out) == [codec]
    assert as_srt(out).strip() == as_srt(given).strip() == SRT.strip()
    assert ("converting them to " + codec in err) == converted, err


def test_subtitles_a_container_cannot_hold_are_dropped_with_a_note(run_cli, weights_env, data_dir, tmp_path):
    out = tmp_path / "out.ts"
    code, _, err = run_cli("video", with_subtitles(tmp_path, "mkv", "srt"), "-s", data_dir / "style" / "brushstrokes.jpg",
                           "--size", "32", "--style-size", "64", "--stabilize", "off", "-o", out)
    assert code == 0, err
    assert subtitle_codecs(out) == []
    assert "dropping subtitle stream #1 (subrip): .ts cannot hold it (use .mkv to keep it)" in err


def test_many_subtitle_tracks_converted_get_one_note(run_cli, weights_env, data_dir, tmp_path):
    """A .mkv with several SRT tracks into .mp4: each is converted, and the note says so once with
    the count (a file with 300 tracks printed the same line 300 times)."""
    (tmp_path / "lines.srt").write_text(SRT)
    given = tmp_path / "many.mkv"
    tracks = 3
    inputs = [arg for _ in range(tracks) for arg in ("-i", str(tmp_path / "lines.srt"))]
    maps = [arg for index in range(tracks + 1) for arg in ("-map", str(index))]
    subprocess.run([FFMPEG, "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=64x48:rate=10:duration=1",
                    *inputs, *maps, "-c:v", "libx264", "-c:s", "srt", str(given)], check=True)
    out = tmp_path / "out.mp4"
    code, _, err = run_cli("video", given, "-s", data_dir / "style" / "brushstrokes.jpg", "--size", "32",
                           "--style-size", "64", "--stabilize", "off", "-o", out)
    assert code == 0, err
    assert subtitle_codecs(out) == ["mov_text"] * tracks
    said = [line for line in err.splitlines() if "cannot hold subrip subtitles" in line]
    assert said == [f"note: {given.name}: .mp4 cannot hold subrip subtitles; converting them to mov_text ({tracks} streams)"], err
