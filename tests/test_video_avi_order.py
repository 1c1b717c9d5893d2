"""An AVI stores no display times, only one packet per frame slot in decode order: a picture is
shown at its slot's time. Encoders that reorder (x264's B-frames) put each picture two slots
late there, so AVI outputs are encoded without B-frames (encoder_settings.py, `EncodeSettings.codec_options`).
Inputs made with the FFmpeg CLI, results read back with ffprobe, as FFmpeg plays them."""

from __future__ import annotations

import json
import subprocess
from fractions import Fraction
from pathlib import Path

import pytest

from realtime_adain.video.encoder_settings import EncodeSettings
from test_video_leftovers import ffmpeg, ffprobe_streams
from test_video_realworld_inputs import stylize, style  # noqa: F401  (a fixture)
from video_corpus import FFMPEG, FFPROBE


def display_slots(path: Path, rate: int = 24) -> list[int]:
    """The frame slots (at `rate`) the pictures are shown in, as `ffmpeg -f framemd5` decodes them."""
    out = subprocess.run([FFMPEG, "-nostdin", "-v", "error", "-i", str(path), "-map", "0:v:0", "-fps_mode", "passthrough",
                          "-f", "framemd5", "-"], capture_output=True, text=True, check=True).stdout
    time_base = Fraction(next(line.split(":")[1] for line in out.splitlines() if line.startswith("#tb 0:")).strip())
    return [round(int(line.split(",")[1]) * time_base * rate) for line in out.splitlines() if line[:1] == "0"]


def first_audio_time(path: Path) -> float:
    out = subprocess.run([FFPROBE, "-v", "error", "-select_streams", "a:0", "-show_entries", "packet=pts_time",
                          "-read_intervals", "%+#1", "-of", "json", str(path)],
                         capture_output=True, text=True, check=True).stdout
    return float(json.loads(out)["packets"][0]["pts_time"])


def b_frame_delay(path: Path) -> int:
    return int(next(s for s in ffprobe_streams(path, "codec_type,has_b_frames") if s["codec_type"] == "video")["has_b_frames"])


@pytest.fixture
def clip(tmp_path) -> Path:
    """Half a second at 24 fps with sound, H.264 with B-frames (as cutBunny.mp4)."""
    source = tmp_path / "in.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=64x48:rate=24:duration=0.5", "-f", "lavfi", "-i", "sine=duration=0.5",
           "-c:v", "libx264", "-c:a", "aac", source)
    return source


@pytest.mark.parametrize("options", [(), ("--codec", "mpeg4"), ("--codec", "mpeg2video")])
@pytest.mark.slow_cases('options1', 'options2')  # (default run's time: 2 s)
def test_avi_pictures_are_shown_at_their_own_times(options, clip, run_cli, weights_env, style, tmp_path):
    """Frame k of the input is shown at k/24 s, the sound from 0. With x264's B-frames every picture
    was two frames late (slots 2 to 13 for 0 to 11), as in `ffmpeg -i in.mp4 out.avi`; MPEG-2,
    whose stream did not say it had no B-frames, was held back a frame by its decoder (1 to 12)."""
    out = tmp_path / "out.avi"
    stylize(run_cli, clip, style, out, *options)
    assert display_slots(out) == list(range(12))
    assert first_audio_time(out) == 0
    assert b_frame_delay(out) == 0


def test_avi_keeps_a_gap_in_the_pictures_in_place(run_cli, weights_env, style, tmp_path):
    """Frames 0 to 3 and 8 to 11 of a 24 fps clip (a variable-rate recording that paused): with
    B-frames every picture was two slots late (2 to 5, then 10 to 13)."""
    source = tmp_path / "gap.mkv"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=64x48:rate=24:duration=0.5", "-vf", "select='lt(n\\,4)+gte(n\\,8)'",
           "-fps_mode", "vfr", "-c:v", "libx264", source)
    out = tmp_path / "out.avi"
    stylize(run_cli, source, style, out)
    assert display_slots(out) == [0, 1, 2, 3, 8, 9, 10, 11]


@pytest.mark.slow  # (default run's time: 2 s)
def test_mpeg1_in_avi_says_its_pictures_show_late(clip, run_cli, weights_env, style, tmp_path):
    """An MPEG-1 stream cannot say it has no B-frames, so its decoder holds each picture a frame and
    an AVI shows them late (as FFmpeg's own): nothing said so. Now a note does; .mkv keeps the times."""
    out = tmp_path / "out.avi"
    err = stylize(run_cli, clip, style, out, "--codec", "mpeg1video")
    assert "note: mpeg1video in .avi: players show each picture after the first a frame late" in err, err
    assert display_slots(out)[:3] == [0, 2, 3]  # what the note says
    err = stylize(run_cli, clip, style, tmp_path / "out.mkv", "--codec", "mpeg1video")
    assert "a frame late" not in err, err
    slots = display_slots(tmp_path / "out.mkv")  # (in .mkv the sound's priming starts the pictures 23 ms in)
    assert [slot - slots[0] for slot in slots] == list(range(12))


@pytest.mark.parametrize("codec", ["libx264", "mpeg4", "mpeg2video"])
def test_b_frames_are_turned_off_only_for_avi(codec):
    assert EncodeSettings(codec).for_container("avi").codec_options()["bf"] == "0"
    for fmt in ("mp4", "matroska", "mpegts"):
        options = EncodeSettings(codec).for_container(fmt).codec_options()
        assert "bf" not in options and "flags" not in options


def test_mp4_keeps_its_b_frames(clip, run_cli, weights_env, style, tmp_path):
    """MP4 stores display times: its H.264 keeps B-frames (smaller files at the same quality)."""
    out = tmp_path / "out.mp4"
    stylize(run_cli, clip, style, out)
    assert b_frame_delay(out) > 0
    assert display_slots(out) == list(range(12))
