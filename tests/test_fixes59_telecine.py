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


def soft_telecined(progressive: bytes) -> bytes:
    """An MPEG-2 stream of film frames (24000/1001, no B-frames) made soft-telecined, as a DVD's
    film is: 29.97 fps in the sequence header, progressive_sequence 0, and each picture's
    top_field_first/repeat_first_field in the 3:2 cycle, so a player shows 5 frames for 4."""
    data, at, count = bytearray(progressive), 0, 0
    while (at := data.find(b"\x00\x00\x01", at)) >= 0:
        code, kind = data[at + 3], data[at + 4] >> 4
        if code == 0xB3:  # sequence header: frame_rate_code 4 (30000/1001)
            data[at + 7] = (data[at + 7] & 0xF0) | 4
        elif code == 0xB5 and kind == 1:  # sequence extension: progressive_sequence 0
            data[at + 5] &= ~0x08
        elif code == 0xB5 and kind == 8:  # picture coding extension (progressive_frame stays 1)
            top, repeat = ((1, 1), (0, 0), (0, 1), (1, 0))[count % 4]
            data[at + 7] = (data[at + 7] & ~0x82) | top << 7 | repeat << 1
            count += 1
        at += 4
    assert count > 8
    return bytes(data)


def test_soft_telecine_is_said_to_be_film_frames_passed_as_they_are(tmp_path, capsys):
    """A soft-telecined VOB (FFmpeg reads its rate as 29.58): its 36 film frames pass, and the note
    says so, not that the fields are paired back up at 29.58 fps; PAL's woven frames keep that note."""
    film, soft, vob = tmp_path / "film.m2v", tmp_path / "soft.m2v", tmp_path / "VTS_05_1.VOB"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=s=160x120:r=24000/1001:d=1.5", "-c:v", "mpeg2video", "-bf", "0",
           "-f", "mpeg2video", film)
    soft.write_bytes(soft_telecined(film.read_bytes()))
    ffmpeg("-fflags", "+genpts", "-r", "24000/1001", "-i", soft, "-c:v", "copy", "-f", "vob", vob)
    frames, _, _ = read(vob, "film")
    err = capsys.readouterr().err
    assert len(frames) == 36
    assert "film's own already" in err and "passed as they are" in err and "pulldown makes" not in err, err
    pal = tmp_path / "pal.mpg"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=160x120:rate=25:duration=1", "-vf", "setfield=tff", "-c:v",
           "mpeg2video", "-flags", "+ildct+ilme", "-top", "1", pal)
    assert len(read(pal, "film")[0]) == 25
    err = capsys.readouterr().err
    assert "at 25 fps: 3:2 pulldown makes 29.97 fps" in err and "film's own" not in err, err
