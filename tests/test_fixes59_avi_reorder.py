"""An AVI's MPEG-4 Part 2 and MPEG-2 pictures in sync with its sound (session 59). As with H.264
(tests/test_fixes59_avi_sync.py), FFmpeg's AVI muxer moves a video with B-frames on by its decode
delay and the sound stays, and a decoder that holds a picture (B-frames, or an MPEG-2 stream that
cannot say it has none) releases it a packet later: libavformat's guess showed every picture a
slot late, the flash at 1.083 s against a click at 1.0 s at 12 fps (`ffmpeg` reads it so too). A
packed-B-frame DivX file holds picture k in chunk k: it showed a slot late as well. Video that
no decoder holds (MJPEG, MPEG-4 without B-frames) and a video starting after its sound kept
their times and keep them."""

from __future__ import annotations

from fractions import Fraction

import pytest

from test_fixes59_avi_sync import RATE, click, flash_and_click, picture_times
from video_corpus import pack_b_frames

CODECS = {
    "mpeg4-bf1": ("-c:v", "mpeg4", "-bf", "1"),
    "xvid-bf3": ("-c:v", "mpeg4", "-bf", "3", "-vtag", "XVID"),
    "mpeg2-bf0": ("-c:v", "mpeg2video", "-bf", "0"),
    "mpeg2-bf2": ("-c:v", "mpeg2video", "-bf", "2"),
    "mjpeg": ("-c:v", "mjpeg"),
}


def in_sync(source) -> None:
    times, flash = picture_times(source)
    assert times == [Fraction(k, RATE) + times[0] for k in range(len(times))], times[:4]
    assert abs(float(flash) - click(source)) < 0.001, (flash, click(source))


@pytest.mark.parametrize("codec", CODECS)
def test_an_avi_picture_a_decoder_holds_shows_with_its_sound(tmp_path, codec):
    """The flash at 1 s with the click, the first picture at 0 (was 1.083 s and 1/12 s for all but MJPEG)."""
    source = flash_and_click(tmp_path / "in.avi", *CODECS[codec])
    in_sync(source)
    assert picture_times(source)[0][0] == 0


def test_a_packed_b_frame_avi_shows_picture_k_in_slot_k(tmp_path):
    """DivX 5's packed B-frames (a reference picture and a B-frame in one chunk, an N-VOP after):
    the flash in chunk 12 at 1 s with the click (was 1.083 s)."""
    made = flash_and_click(tmp_path / "made.avi", "-c:v", "mpeg4", "-bf", "1", "-vtag", "DX50")
    pack_b_frames(made, tmp_path / "packed.avi")
    in_sync(tmp_path / "packed.avi")
    assert picture_times(tmp_path / "packed.avi")[0][0] == 0


@pytest.mark.parametrize("codec", ["mpeg4-bf1", "mpeg2-bf2"])
def test_an_avi_video_starting_after_its_sound_keeps_its_time(tmp_path, codec):
    """Pictures from 0.5 s, the sound from 0: not moved by the muxer, they keep their times."""
    source = flash_and_click(tmp_path / "in.avi", *CODECS[codec], offset=0.5)
    in_sync(source)
    assert picture_times(source)[0][0] == Fraction(1, 2)
