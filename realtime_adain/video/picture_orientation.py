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
    recording): turned and flipped as FFmpeg's CLI (fftools/ffmpeg_filter.c) does. A mirror
    read as its rotation alone came out upside down (an hflip is "180 degrees"), and a vflip not
    at all. Other angles go to the nearest quarter turn (`picture_notes.note_odd_turn` says so)."""
    theta = -round(rotation)  # clockwise degrees, in [0, 360) as FFmpeg's get_rotation puts it
    theta -= 360 * math.floor(theta / 360 + 0.9 / 360)
    m = matrix or (0,) * 9
    if abs(theta - 90) < 1:
        shown = image.transpose(1, 0, 2) if m[3] > 0 else np.rot90(image, -1)  # transpose cclock_flip / clock
    elif abs(theta - 180) < 1:
        shown = image[:, ::-1] if matrix is None or m[0] < 0 else image  # hflip
        shown = shown[::-1] if matrix is None or m[4] < 0 else shown  # vflip
    elif abs(theta - 270) < 1:
        shown = np.rot90(image, -1)[::-1] if m[3] < 0 else np.rot90(image, 1)  # transpose clock_flip / cclock
    elif abs(theta) > 1:
        shown = np.rot90(image, round(rotation / 90) % 4)
    else:
        shown = image[::-1] if m[4] < 0 else image  # vflip
    return np.ascontiguousarray(shown) if shown is not image else image


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
