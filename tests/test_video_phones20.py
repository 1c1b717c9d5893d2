"""`realtime-adain video` on what phones and cameras put in their files beyond pictures and sound:
the QuickTime metadata keys an iPhone or Android phone writes (location, make, model, capture
date, slow-motion rate) and a camera's timecode, cut with --start. Each file is made with the
FFmpeg CLI as the device writes it, and each output read back with ffprobe."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from test_video_realworld_inputs import ffmpeg, stylize, style  # noqa: F401  (a fixture)
from video_corpus import FFPROBE

PICTURES = ("-f", "lavfi", "-i", "testsrc2=size=96x64:rate=30:duration=1")
SOUND = ("-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=1")
# What an iPhone (iOS 18) and an Android phone write as QuickTime metadata keys (`mdta`).
PHONE_KEYS = {
    "com.apple.quicktime.location.ISO6709": "+37.3349-122.0090+010.000/",
    "com.apple.quicktime.make": "Apple",
    "com.apple.quicktime.model": "iPhone 15 Pro",
    "com.apple.quicktime.software": "18.1",
    "com.apple.quicktime.creationdate": "2026-11-30T11:00:00+0100",
    "com.android.capture.fps": "240.000000",
}


def probe(path: Path, entries: str) -> dict:
    out = subprocess.run([FFPROBE, "-v", "error", "-show_entries", entries, "-of", "json", str(path)],
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out)


@pytest.fixture(scope="module")
def phone_clip(tmp_path_factory) -> Path:
    """An iPhone's HEVC MOV (`hvc1`) with its metadata keys, as the phone writes them: in the
    movie's `meta` box, which FFmpeg writes only with `-movflags use_metadata_tags`."""
    path = tmp_path_factory.mktemp("phones") / "IMG_0001.MOV"
    tags = [arg for key, value in PHONE_KEYS.items() for arg in ("-metadata", f"{key}={value}")]
    ffmpeg(*PICTURES, *SOUND, "-c:v", "libx265", "-x265-params", "log-level=error", "-tag:v", "hvc1", "-c:a", "aac",
           "-metadata", "creation_time=2026-11-30T10:00:00Z", *tags, "-movflags", "use_metadata_tags", path)
    return path


@pytest.mark.parametrize("suffix", [".mp4", ".mov", ".mkv"])
@pytest.mark.slow_cases('.mp4', '.mkv')  # (default run's time: 1 s)
def test_a_phones_location_make_and_capture_date_are_kept(run_cli, weights_env, style, tmp_path, phone_clip,
                                                          suffix):
    """FFmpeg's MP4/MOV muxer writes tags named as QuickTime keys only with `use_metadata_tags`:
    an iPhone clip's location, make, model and capture date (and an Android clip's capture rate,
    which marks slow motion) were dropped from .mp4 and .mov without a word, and kept in .mkv.
    A phone's photo library places and dates a clip by them."""
    out = tmp_path / f"out{suffix}"
    stylize(run_cli, phone_clip, style, out)
    tags = {key.lower(): value for key, value in probe(out, "format_tags")["format"]["tags"].items()}
    assert {key: tags.get(key.lower()) for key in PHONE_KEYS} == PHONE_KEYS
    assert tags["creation_time"].startswith("2026-11-30T10:00:00")


@pytest.fixture(scope="module")
def camera_clips(tmp_path_factory) -> dict[str, Path]:
    """Camera MOVs with a timecode track: one at 30 fps whose video starts 0.1 s after its sound
    (an edit list, as an iPhone writes it), one at 29.97 fps with drop-frame timecode."""
    folder = tmp_path_factory.mktemp("timecode")
    late = folder / "late.mov"
    ffmpeg("-itsoffset", "0.1", *PICTURES, *SOUND, "-c:v", "libx264", "-c:a", "aac", "-fps_mode", "passthrough",
           "-timecode", "01:02:03:04", late)
    drop = folder / "drop.mov"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=96x64:rate=30000/1001:duration=1", *SOUND, "-c:v", "libx264",
           "-c:a", "aac", "-timecode", "00:00:59;29", drop)
    return {"late": late, "drop": drop}


@pytest.mark.parametrize("clip, start, expected", [("late", "0.5", "01:02:03:16"), ("drop", "0.1", "00:01:00;04")])
@pytest.mark.parametrize("suffix", [".mov", ".mkv"])
@pytest.mark.slow_cases('.mkv-drop-0.1-00:01:00;04', '.mov-drop-0.1-00:01:00;04', '.mkv-late-0.5-01:02:03:16')  # (default run's time: 2 s)
def test_a_cut_keeps_the_timecode_of_its_first_picture(run_cli, weights_env, style, tmp_path, camera_clips, clip,
                                                       start, expected, suffix):
    """A timecode names the video's first picture. Cut with --start, the output kept the source's
    (as `ffmpeg -ss` does), which then named a picture the cut left out: editors line up several
    cameras' clips by it, off by the cut. Now it names the output's first picture: 0.4 s into the
    30 fps video that starts at 0.1 s, 12 frames on; 0.1 s into 29.97 fps drop-frame video, the
    cut begins with the fourth picture (the third stops showing 0.1 ms after it), 3 frames past
    59;29, which skip the numbers ;00 and ;01 of the new minute."""
    out = tmp_path / f"out{suffix}"
    stylize(run_cli, camera_clips[clip], style, out, "--start", start)
    found = probe(out, "stream_tags=timecode:format_tags=timecode")
    codes = {tags[key] for entry in [*found["streams"], found.get("format", {})]
             for tags in [entry.get("tags", {})] for key in tags if key.lower() == "timecode"}
    assert codes == {expected}
