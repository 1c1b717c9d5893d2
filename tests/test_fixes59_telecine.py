"""`--deinterlace film` on ordinary MPEG-2 (task f2 of session 59): hard 3:2 telecine at the
encoder's default quality kept 7 of 9 repeated frames (45 frames in, 43 out where `ffmpeg -vf
fieldmatch,yadif,decimate` gives 36): decimate's `mixed` took a frame only when it was a near
copy, and the repeated field's coding noise was above that; a soft-telecined VOB (repeat-field
flags, film frames decoded) was said to have its fields paired at 29.58 fps."""

from __future__ import annotations

from pathlib import Path

import pytest

from test_video_deinterlace import ffmpeg
from test_video_telecine16 import read


@pytest.fixture(scope="module")
def hard_vob(tmp_path_factory) -> Path:
    """36 film frames hard-telecined to 45 interlaced MPEG-2 frames at mpeg2video's default
    quality, with MP2 sound, as h2 made it."""
    path = tmp_path_factory.mktemp("hard") / "tele_hard.vob"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=s=160x120:r=24000/1001:d=1.5", "-f", "lavfi", "-i",
           "sine=f=440:d=1.5:r=48000", "-vf", "telecine=pattern=23", "-flags", "+ildct+ilme", "-c:v", "mpeg2video",
           "-r", "30000/1001", "-c:a", "mp2", "-f", "vob", path)
    return path


def test_noisy_hard_telecine_gives_every_film_frame_once(hard_vob, capsys):
    frames, _, _ = read(hard_vob, "film")
    assert len(frames) == 36
    assert "45 frames in, 36 film frames out" in capsys.readouterr().err
