"""Encoders checked at each input's own output size before any work, one rule for a pixel format
that cannot hold an odd size, and tiny MPEG-TS outputs that FFmpeg reads."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

from cli_support import one_error_line
from realtime_adain.video.encoder_check import check_encoder
from realtime_adain.video.encoder_settings import EncodeSettings
from realtime_adain.video.pixel_formats import choose_pix_fmt
from test_video_more_containers import ffmpeg, style  # noqa: F401 (a fixture)
from test_video_outputs18 import made, plays, stylize


def test_a_folder_run_is_refused_before_any_work_for_a_size_the_encoder_takes_not(run_cli, weights_env, style,
                                                                                    tmp_path):
    """x265 opens for no 8x6 pictures: the run was refused at that input's turn, after the first
    output was made ("stopped there: 1 of 2 outputs written"); now before the model loads."""
    first = made(tmp_path, "64x36", "25", "a.mp4", frames=2)
    small = made(tmp_path, "8x6", "25", "b.mp4", frames=2)
    code, _, err = run_cli("video", first, small, "-s", style, "--size", "32", "--style-size", "64", "--stabilize", "off",
                           "--codec", "libx265", "--ext", "mkv", "-o", f"{tmp_path / 'out'}/")
    assert one_error_line(err, code) == (f"error: {small}: encoder libx265 does not open for 8x6 yuv420p pictures "
                                         "(Invalid argument): use another --codec, e.g. libx264")
    assert not (tmp_path / "out").exists()


def test_the_encoder_is_tried_at_the_time_base_the_writer_gives_it():
    """Opened at an input's rate, MPEG-1 is given its nearest standard rate, as the writer gives it
    (tried at 1/2 fps as it was, it did not open); a rate for each input of a run."""
    check_encoder(EncodeSettings("mpeg1video"), Path("o.mkv"), 64, 36, Fraction(1, 2), Fraction(1, 1000))


def test_a_named_pixel_format_that_cannot_hold_an_odd_size_is_taken_where_the_default_writes_it():
    """MPEG-4 Part 2 takes 4:2:0 alone: left out, --pix-fmt wrote yuv420p at 63x35; named, it was
    refused ("needs an even width and height ... leave --pix-fmt out")."""
    chosen = choose_pix_fmt(EncodeSettings("mpeg4"), 63, 35, "avi")
    assert chosen == choose_pix_fmt(EncodeSettings("mpeg4", pix_fmt="yuv420p"), 63, 35, "avi") == "yuv420p"


def test_a_tiny_mpeg2_clip_in_ts_is_read_back(run_cli, weights_env, style, tmp_path):
    """Three 2x2 MPEG-2 frames made a .ts of 6 packets, which FFmpeg took for an MPEG program
    stream ("could not find codec parameters"); it is padded with null packets."""
    source = tmp_path / "in.mkv"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=2x2:rate=25", "-frames:v", "3", "-c:v", "ffv1", source)
    out = tmp_path / "out.ts"
    code, err = stylize(run_cli, source, style, out, "--codec", "mpeg2video", "--keep-size")
    assert code == 0, err
    plays(out)
