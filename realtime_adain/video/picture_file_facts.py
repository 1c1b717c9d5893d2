"""What a picture file (an image sequence's first, an animated picture) states as `image` reads it
that FFmpeg 8's frames of it do not let PyAV tell: its EXIF orientation, a BMP's fourth byte that
is not alpha (`picture_facts`), and the colour it states (`stated_colour`); the stream's
`pictures.PictureConverter` reads its frames with them.

Apart from the reader (reader.py) because `video` and `live` convert their frames alike, and none
of this demuxes a file or keeps time.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from realtime_adain.hdr_stills import HdrTags, colour_tags
from realtime_adain.pillow_stills import pillow_orientation, open_with_pillow
from realtime_adain.notes import collected
from realtime_adain.video.picture_orientation import Orientation, exif_orientation

@dataclass(frozen=True)
class PictureFacts:
    """What a picture file says that FFmpeg 8's frames of it do not let PyAV tell (`picture_facts`)."""

    turned: Orientation | None = None  # its EXIF orientation (FFmpeg's matrix: `picture_orientation.display_matrix`)
    alpha_ignored: bool = False  # a 32-bit BMP (BI_RGB) whose fourth byte FFmpeg takes for alpha


def picture_facts(path: Path | None) -> PictureFacts:
    """What the picture at `path` says as `image` reads it (`pillow_stills.pillow_orientation`; Pillow, as
    OpenCV and browsers, leaves a BI_RGB BMP's fourth byte out): an image sequence's pictures are
    turned as its first is. FFmpeg 8 turns EXIF into a display matrix beside side data PyAV
    cannot read (`hdr.side_data`): a mirrored photo came out turned instead (2: upside down, 4:
    as stored). Nothing where `path` is None or Pillow cannot read it; Pillow's warnings (a
    corrupt EXIF) are not printed: FFmpeg's reading of the file, or its error, says what counts."""
    if path is None:
        return PictureFacts()
    try:
        with warnings.catch_warnings(action="ignore"), open_with_pillow(
                np.memmap(path, np.uint8, mode="r")) as picture:  # (its header read, not GiBs)
            return PictureFacts(exif_orientation(pillow_orientation(picture)),
                                picture.format == "BMP" and "A" not in picture.mode)
    except Exception:  # noqa: BLE001 - a file Pillow cannot read: FFmpeg's reading stands
        return PictureFacts()


def stated_colour(path: Path | None) -> HdrTags | None:
    """The colour the picture at `path` states as `image` reads it (`hdr_stills.colour_tags`): an
    image sequence's pictures are read as its first is. FFmpeg 8 names a PNG's `cHRM` primaries
    but not the curve `image` reads them on (without `gAMA` the sRGB curve; it said unspecified),
    nor `gAMA`'s power but 2.2 and 1.0 (taken as 2.4: up to 157 levels off `image`). None where
    `path` is None or unreadable."""
    if path is None:
        return None
    try:
        with collected():  # (what `image` notes of it: not FFmpeg's reading)
            return colour_tags(np.memmap(path, np.uint8, mode="r"))
    except (OSError, ValueError):  # (an empty file cannot be mapped)
        return None
