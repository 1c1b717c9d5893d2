"""Session 54's video fixes: a display rotation that is not a quarter turn is said to the tenth of a
degree it has, from the matrix (PyAV's `frame.rotation` is cut to whole degrees: 30 was said -29)."""

from __future__ import annotations

import math
import struct

import pytest

from realtime_adain.video.picture_orientation import matrix_rotation
from test_video_leftovers import ffmpeg
from test_video_realworld_inputs import stylize, style  # noqa: F401  (a fixture)


def turned_by_matrix(plain, out, degrees: float) -> None:
    """`plain` with its track header's matrix set to a turn of `degrees` (16.16 fixed point, as a
    phone or editor writes it): FFmpeg's `rotate` tag only makes whole degrees."""
    data = bytearray(plain.read_bytes())
    at = data.index(b"tkhd")
    version = data[at + 4]
    matrix_at = at + 8 + (32 if version == 1 else 20) + 16
    c, s = round(math.cos(math.radians(degrees)) * 65536), round(math.sin(math.radians(degrees)) * 65536)
    data[matrix_at:matrix_at + 36] = struct.pack(">9i", c, s, 0, -s, c, 0, 0, 0, 1 << 30)
    out.write_bytes(bytes(data))


@pytest.mark.parametrize("degrees, said", [(30, "30 degrees clockwise"), (-30, "30 degrees counter-clockwise"),
                                           (100.5, "100.5 degrees clockwise")])
def test_an_odd_turn_is_said_to_its_tenth_of_a_degree(degrees, said, run_cli, weights_env, style, tmp_path):
    plain, source = tmp_path / "plain.mp4", tmp_path / "turned.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=48x32:rate=12:duration=0.25", "-c:v", "libx264", plain)
    turned_by_matrix(plain, source, degrees)
    err = stylize(run_cli, source, style, tmp_path / "out.mp4")
    assert f"the display rotation is {said}, not a quarter turn" in err


def test_a_degenerate_matrix_has_no_angle():
    assert matrix_rotation((0, 0, 0, 0, 0, 0, 0, 0, 1 << 30)) is None
    assert matrix_rotation((0, 65536, 0, -65536, 0, 0, 0, 0, 1 << 30)) == pytest.approx(-90)
