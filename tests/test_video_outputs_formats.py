"""Output encoders and options refused or chosen before any frame (encoder_settings, pixel_formats,
encoder_check), no model needed:
raw video's pixel formats per container, pixel format names, --crf with --bitrate, picture sizes
encoders crash or hang on, and the messages that name the option at fault."""

from __future__ import annotations

import pytest

from realtime_adain.errors import UserError
from realtime_adain.video.encoder_check import check_encoder
from realtime_adain.video.encoder_settings import EncodeSettings
from realtime_adain.video.pixel_formats import _raw_reads_back, choose_pix_fmt
from realtime_adain.video.framing import check_picture_size


@pytest.mark.parametrize("container, width, height", [
    ("mov", 64, 48),       # was yuv420p: MOV has no tag for it, no player opened the file
    ("avi", 33, 17),       # was yuv444p under bgr24's tag: false colours
    ("matroska", 33, 17),  # was yuv444p: Matroska refused it ("cannot start encoding")
    ("matroska", 64, 48),
])
def test_raw_video_gets_a_pixel_format_the_container_reads_back(container, width, height):
    pix_fmt = choose_pix_fmt(EncodeSettings("rawvideo"), width, height, container)
    assert _raw_reads_back(container, pix_fmt)
    assert pix_fmt != "gray"  # (Matroska stores grey raw video: colour comes first)


def test_raw_video_refuses_a_pixel_format_the_container_cannot_store(tmp_path):
    with pytest.raises(UserError, match=r"^--pix-fmt yuv420p: the mov container does not store raw video in that "
                                        r"format \(it stores uyvy422"):
        check_encoder(EncodeSettings("rawvideo", pix_fmt="yuv420p"), tmp_path / "o.mov")
    check_encoder(EncodeSettings("rawvideo", pix_fmt="uyvy422"), tmp_path / "o.mov")


@pytest.mark.parametrize("codec, pix_fmt, message", [
    # was a traceback: "ValueError: not a pixel format: 'nonsense'" (raw video takes any name)
    ("rawvideo", "nonsense", "^--pix-fmt nonsense: not a pixel format FFmpeg knows"),
    ("libx264", "nonsense", "^--pix-fmt nonsense: not a pixel format FFmpeg knows"),
    ("rawvideo", "cuda", "^--pix-fmt cuda: a hardware surface format"),
])
def test_pixel_format_names_are_checked(tmp_path, codec, pix_fmt, message):
    with pytest.raises(UserError, match=message):
        check_encoder(EncodeSettings(codec, pix_fmt=pix_fmt), tmp_path / "o.mkv")


def test_a_pixel_format_the_encoder_lists_but_does_not_open_names_one_that_does(tmp_path):
    """MJPEG lists yuv444p but opens only with yuvj444p: was "cannot open encoder mjpeg: Invalid argument"."""
    with pytest.raises(UserError, match=r"^cannot open encoder mjpeg with --pix-fmt yuv444p \(try yuvj444p\)"):
        check_encoder(EncodeSettings("mjpeg", pix_fmt="yuv444p"), tmp_path / "o.avi")


@pytest.mark.parametrize("codec", ["libx264", "libx265", "libsvtav1"])
def test_crf_with_bitrate_is_refused_where_the_encoder_would_ignore_one(codec):
    """x264 and x265 dropped --bitrate silently (the same bytes as --crf alone); SVT-AV1 failed to
    open ("cannot open encoder libsvtav1: Invalid argument")."""
    with pytest.raises(UserError, match=f"^encoder {codec} takes --crf or --bitrate, not both"):
        EncodeSettings(codec, crf=20, bitrate=1_000_000).codec_options()


def test_crf_with_bitrate_is_constrained_quality_for_vp9():
    assert EncodeSettings("libvpx-vp9", crf=20, bitrate=1_000_000).codec_options()["crf"] == "20"


@pytest.mark.parametrize("codec, message", [
    ("srt", "^--codec: 'srt' is a subtitle encoder, not a video encoder$"),  # was "an subtitle encoder"
    ("aac", "^--codec: 'aac' is an audio encoder, not a video encoder$"),
    ("nope", "^--codec: unknown video encoder 'nope'"),
    ("", "^--codec: an empty encoder name"),  # was the default encoder, silently
])
def test_codec_errors_name_the_option(tmp_path, codec, message):
    with pytest.raises(UserError, match=message):
        check_encoder(EncodeSettings(codec), tmp_path / "o.mkv")


@pytest.mark.parametrize("codec, width, height, refused", [
    ("libx265", 40, 20, True),    # x265 aborted the process: "corrupted size vs. prev_size"
    ("libx265", 33, 31, True),
    ("hevc", 48, 16, True),       # (the same encoder by its codec's name)
    ("libx265", 32, 20, False),
    ("libx265", 49, 20, False),
    ("libx265", 40, 32, False),
    ("libsvtav1", 100, 8, True),  # SVT-AV1 never returned from its flush
    ("libsvtav1", 24, 65, True),
    ("libsvtav1", 64, 24, False),
    ("libsvtav1", 100, 25, False),
    ("libx264", 40, 20, False),
])
def test_picture_sizes_an_encoder_crashes_or_hangs_on_are_refused(codec, width, height, refused):
    if refused:
        with pytest.raises(UserError, match=f"cannot encode {width}x{height} pictures"):
            check_picture_size(codec, width, height)
    else:
        check_picture_size(codec, width, height)
