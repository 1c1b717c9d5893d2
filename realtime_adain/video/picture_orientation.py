"""How a decoded picture is turned for display: its display matrix (side data) and rotation, an
EXIF orientation as FFmpeg turns it into a matrix, and the picture turned and mirrored upright as
FFmpeg's CLI shows it (`upright`).

Apart from the reader (reader.py) because `video` and `live` turn their frames alike
(`pictures.frame_to_rgb`), and none of this demuxes a file or keeps time.
"""

from __future__ import annotations

import math
import struct
from typing import Sequence

import av
from av.sidedata.sidedata import Type as SideDataType
import numpy as np

from realtime_adain.video.hdr import side_data

DISPLAYMATRIX = SideDataType.DISPLAYMATRIX


def display_matrix(frame: av.VideoFrame, codec: str | None = None) -> tuple[int, ...] | None:
    """The frame's display matrix (FFmpeg's 9 int32s: 16.16 a, b, u, c, d, v, ...), None without
    one or where PyAV cannot read its side data (`hdr.side_data`, `codec` its decoder: FFmpeg 8's
    pictures, whose EXIF orientation `picture_file_facts.picture_facts` reads instead); its `rotation`, read apart,
    still turns it."""
    data = side_data(frame, codec).get(DISPLAYMATRIX)
    return struct.unpack("=9i", data[:36]) if data is not None else None


def upright(image: np.ndarray, rotation: float, matrix: Sequence[int] | None = None) -> np.ndarray:
    """The picture as the display matrix shows it: `rotation` is counter-clockwise degrees (PyAV's
    `frame.rotation`), `matrix` the matrix itself, which also tells a mirror (a front camera's
    recording): turned by `quarter_turns`, then mirrored, as FFmpeg's CLI (fftools/ffmpeg_filter.c)
    shows a quarter turn. A mirror read as its rotation alone came out upside down (an hflip is
    "180 degrees"), and a vflip not at all."""
    _, turns, mirrored = quarter_turns((rotation, matrix))
    shown = np.rot90(image, turns) if turns else image
    shown = shown[:, ::-1] if mirrored else shown
    return np.ascontiguousarray(shown) if shown is not image else image


def quarter_turns(turn: Orientation) -> tuple[float, int, bool]:
    """(angle, turns, mirrored) of a display turn: the counter-clockwise angle it turns the pictures
    by (the matrix's own, unrounded, where there is one: PyAV's rotation is cut to whole degrees,
    so 45.5 said 45 and was turned apart from what `picture_notes.note_odd_turn` said), the
    nearest whole counter-clockwise quarter turns in [0, 4), and whether the pictures are then
    mirrored left to right (the matrix reverses them: FFmpeg's -display_hflip applies after
    the rotation). `upright` turns and the note speaks by this one reading."""
    rotation, matrix = turn
    mirrored = bool(matrix) and matrix[0] * matrix[4] - matrix[1] * matrix[3] < 0
    turning = (-matrix[0], matrix[1], matrix[2], -matrix[3], *matrix[4:]) if mirrored else matrix  # the mirror undone
    exact = matrix_rotation(turning) if matrix else None
    angle = rotation if exact is None else exact
    return angle, round(angle / 90) % 4, mirrored


def matrix_rotation(matrix: Sequence[int]) -> float | None:
    """A display matrix's counter-clockwise rotation in degrees, unrounded (FFmpeg's
    av_display_rotation_get, of which PyAV keeps whole degrees); None for a degenerate matrix."""
    scale_a, scale_b = math.hypot(matrix[0], matrix[3]), math.hypot(matrix[1], matrix[4])
    if not scale_a or not scale_b:
        return None
    return -math.degrees(math.atan2(matrix[1] / scale_b, matrix[0] / scale_a))


Orientation = tuple[float, "tuple[int, ...] | None"]  # (frame.rotation, display_matrix(frame))


def orientation(frame: av.VideoFrame, codec: str | None = None) -> Orientation:
    """How `frame`, decoded by `codec`, is turned for display (see `upright`)."""
    return frame.rotation, display_matrix(frame, codec)


def exif_orientation(number: int) -> Orientation | None:
    """The (rotation, matrix) FFmpeg gives a picture of EXIF orientation `number` (its
    av_exif_orientation_to_matrix: turned clockwise, then for 2, 4, 5 and 7 mirrored left to
    right); None for 1 (as stored) and numbers out of range."""
    if not 2 <= number <= 8:
        return None
    clockwise = math.radians((0, 180, 180, 90, 90, -90, -90)[number - 2])
    cos, sin = round(math.cos(clockwise)), round(math.sin(clockwise))
    mirror = -1 if number in (2, 4, 5, 7) else 1
    a, b, c, d = cos * mirror, sin, -sin * mirror, cos  # (av_display_rotation_set, av_display_matrix_flip)
    return -math.degrees(math.atan2(b, a)), (a << 16, b << 16, 0, c << 16, d << 16, 0, 0, 0, 1 << 30)
