"""Attacks on the output framing of 52735cc: CineForm sizes its decoder refuses, H.261's pixel
aspect in AVI, --bitrate/--crf on encoders that ignore them, 4:2:2 at odd heights, and a lone `%`
in a numbered pattern."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from realtime_adain.errors import UserError
from realtime_adain.video.encoder_check import check_encoder
from realtime_adain.video.encoder_settings import EncodeSettings
from realtime_adain.video.pixel_formats import choose_pix_fmt
from realtime_adain.video.framing import check_picture_size, encoder_framing
from realtime_adain.video.sequence import pattern_mistake
from realtime_adain.video.writer import VideoFormatOut, VideoWriter
from test_video_outputs18 import first_frame, plays, written


@pytest.mark.parametrize("size, stored", [((100, 36), (128, 36)), ((1000, 50), (1024, 50))])
def test_cineform_widths_its_decoder_refuses_at_that_height_are_widened(size, stored, tmp_path):
    """CineForm 4:2:2 at an odd number of 16s across and 1 to 8 lines past a multiple of 16 (112x36,
    1008x50) was written, and FFmpeg's decoder refused every frame ("Invalid data found")."""
    out = tmp_path / "out.mov"
    written(out, "cfhd", *size)
    plays(out)
    picture, _, pix_fmt, count = first_frame(out)
    assert ((picture.width, picture.height), pix_fmt, count) == (stored, "yuv422p10le", 3)


def test_cineform_keeps_widths_its_decoder_takes():
    """At a multiple of 16 lines (or 9 to 15 past one) an odd number of 16s is read back: no padding."""
    assert encoder_framing(EncodeSettings("cfhd"), 1008, 1088, Fraction(25)) is None
    assert encoder_framing(EncodeSettings("cfhd"), 1008, 1080, Fraction(25)).size == (1024, 1080)


def test_h261_pictures_keep_their_shape_in_avi(tmp_path):
    """H.261's header says no pixel aspect and AVI keeps none, so players show its pixels square: a
    4:3 picture was scaled into all of 176x144 for 12:11 pixels and shown 11:9 (8% too narrow). It
    is scaled to 176x132, black above and below. (FFmpeg 5.1's decoder warns "first frame is no
    keyframe" for every H.261 file, its own CLI's too: not played with `plays`.)"""
    out = tmp_path / "out.avi"
    written(out, "h261", 64, 48)
    picture, aspect, _, count = first_frame(out)
    assert ((picture.width, picture.height), aspect, count) == ((176, 144), 1, 3)
    luma = picture.to_ndarray(format="gray").astype(int)
    assert luma[:4].max() <= 20 and luma[-4:].max() <= 20 and luma[8:-8].min() > 40


@pytest.mark.parametrize("codec, ext", [("ffv1", ".mkv"), ("rawvideo", ".avi"), ("png", ".mov"),
                                        ("prores_ks", ".mov"), ("cfhd", ".mov"), ("utvideo", ".avi")])
def test_bitrate_is_refused_by_encoders_that_ignore_it(codec, ext):
    """These wrote the same bytes at --bitrate 100k and 50M: the option was taken and ignored, and
    their --crf refusal said "use --bitrate"."""
    with pytest.raises(UserError, match=f"^--bitrate: {codec} has no bitrate setting .*; leave --bitrate out$"):
        check_encoder(EncodeSettings(codec, bitrate=5_000_000), Path(f"o{ext}"))
    with pytest.raises(UserError, match=f"^encoder {codec} has no constant-quality .*; leave --crf out"):
        EncodeSettings(codec, crf=10).codec_options()


@pytest.mark.parametrize("codec, ext", [("h263", ".mov"), ("mpeg4", ".mp4"), ("libx264", ".mp4")])
def test_bitrate_is_still_taken_by_encoders_that_follow_it(codec, ext):
    check_encoder(EncodeSettings(codec, bitrate=5_000_000), Path(f"o{ext}"))


@pytest.mark.parametrize("codec, pix_fmt", [("cfhd", "yuv422p10le"), ("libx264", "yuv422p")])
def test_4_2_2_holds_an_odd_height(codec, pix_fmt, tmp_path):
    """4:2:2 halves only the width: `--pix-fmt yuv422p10le` at 64x33 was refused ("needs an even
    width and height ... use --pix-fmt yuv444p", which CineForm does not take)."""
    assert choose_pix_fmt(EncodeSettings(codec, pix_fmt=pix_fmt), 64, 33, "mov") == pix_fmt
    out = tmp_path / "out.mov"
    writer = VideoWriter(out, EncodeSettings(codec, pix_fmt=pix_fmt),
                         VideoFormatOut(64, 33, Fraction(1, 25), Fraction(25)), [])
    for pts in range(3):
        writer.write_frame(np.full((33, 64, 3), 60 + 60 * pts, np.uint8), pts, 1)
    writer.close()
    plays(out)
    picture, _, decoded, count = first_frame(out)
    assert ((picture.width, picture.height), decoded, count) == ((64, 33), pix_fmt, 3)


@pytest.mark.parametrize("codec, pix_fmt, size, said", [
    ("mpeg2video", "yuv420p", (64, 33), "needs an even width and height, the output is 64x33: use --pix-fmt yuv422p "),
    ("libx264", "yuv422p", (65, 32), "needs an even width, the output is 65x32: use --pix-fmt yuv444p "),
])
def test_a_pixel_format_that_cannot_hold_the_size_names_one_the_encoder_takes(codec, pix_fmt, size, said):
    """The refusal named yuv444p whatever the encoder (MPEG-2 takes 4:2:0 and 4:2:2 only)."""
    with pytest.raises(UserError, match=f"^pixel format {pix_fmt} {said}"):
        choose_pix_fmt(EncodeSettings(codec, pix_fmt=pix_fmt), *size)


@pytest.mark.parametrize("name, lone", [("shot%_%04d.png", "'%_'"), ("%04d%.png", "'%.'")])
def test_a_lone_percent_sign_in_a_pattern_is_named(name, lone):
    """`shot%_%04d.png` was said to hold "%04d", the one part of it FFmpeg reads: the lone `%` is
    named, and how to write one (`%%`)."""
    assert pattern_mistake(name) == ("a percent sign in an image-sequence pattern is written %% (as FFmpeg's); "
                                     f"this name has {lone}")
    assert pattern_mistake(name.replace("%_", "%%_").replace("%.", "%%.")) is None


@pytest.mark.parametrize("alias, encoder", [("h264", "libx264"), ("hevc", "libx265")])
def test_a_format_named_as_the_codec_gets_its_encoders_settings(alias, encoder):
    """`--codec h264` is libx264: it ran at x264's CRF 23, not 18, and `--crf` was refused ("no
    constant-quality mode"); `--codec hevc` wrote x265's log on stderr."""
    assert EncodeSettings(alias).codec_options() == EncodeSettings(encoder).codec_options()
    assert EncodeSettings(alias, crf=20).codec_options()["crf"] == "20"


def test_hevc_named_so_writes_no_log(capfd, tmp_path):
    written(tmp_path / "out.mkv", "hevc", 64, 48)
    assert "x265 [" not in capfd.readouterr().err


def test_dv_takes_the_format_of_the_pixel_format_asked_for(tmp_path):
    """A 1920x1080 25 fps clip with `--pix-fmt yuv420p` (DV25) was refused: "DV at 1440x1080 takes
    yuv422p; leave --pix-fmt out for DV25", and leaving it out made DVCPRO HD. It is PAL DV25, 16:9."""
    settings = EncodeSettings("dvvideo", pix_fmt="yuv420p")
    check_encoder(settings, Path("o.mov"), 1920, 1080, Fraction(25))
    out = tmp_path / "out.mov"
    writer = VideoWriter(out, settings, VideoFormatOut(1920, 1080, Fraction(1, 25), Fraction(25)), [])
    for pts in range(3):
        writer.write_frame(np.full((1080, 1920, 3), 60 + 60 * pts, np.uint8), pts, 1)
    writer.close()
    plays(out)
    picture, aspect, decoded, count = first_frame(out)
    assert ((picture.width, picture.height), aspect, decoded, count) == ((720, 576), Fraction(64, 45), "yuv420p", 3)


def test_dv_names_the_pixel_formats_of_every_format_at_the_rate():
    """At 50 fps there is no DV25: the refusal said "leave --pix-fmt out for DV25"."""
    with pytest.raises(UserError, match=r"^--pix-fmt yuv420p: DV at 960x720 takes yuv422p; leave --pix-fmt out$"):
        encoder_framing(EncodeSettings("dvvideo", pix_fmt="yuv420p"), 64, 48, Fraction(50))


def test_dxv_refuses_pictures_under_5_lines_in_one_line(tmp_path):
    """Resolume DXV wrote 640x4 pictures that FFmpeg 8's decoder (PyAV's: this program's own
    reader) refused, every frame "Invalid data found"; from 5 lines they are read back."""
    with pytest.raises(UserError, match=r"^dxv cannot encode 640x4 pictures \(it takes pictures of 1x5 and larger"):
        check_picture_size("dxv", 640, 4)
    out = tmp_path / "out.mov"
    written(out, "dxv", 640, 5)
    picture, _, _, count = first_frame(out)
    assert ((picture.width, picture.height), count) == ((640, 5), 3)


@pytest.mark.parametrize("pix_fmt", ["yuv440p10le", "yuv440p12le"])
def test_a_pixel_format_no_decoder_reads_is_refused(pix_fmt):
    """JPEG 2000 wrote 4:4:0 at 10 and 12 bits, and FFmpeg's decoder refused every frame ("Not yet
    implemented", PyAV's and Debian 12's alike)."""
    with pytest.raises(UserError, match=f"^--pix-fmt {pix_fmt}: FFmpeg's jpeg2000 decoder reads no {pix_fmt}"):
        choose_pix_fmt(EncodeSettings("jpeg2000", pix_fmt=pix_fmt), 64, 48, "matroska")
