"""Stored pixels turned and mirrored as EXIF numbers orientations (`ORIENT`, `oriented`), and the
orientation applied here rather than by OpenCV's decoder (`orientation_applied_here`): an AVIF's
irot/imir boxes, an animated PNG's or WebP's EXIF."""

from __future__ import annotations

import numpy as np

from realtime_adain.pillow_stills import open_with_pillow, pillow_orientation
from realtime_adain.unreadable_stills import is_animated_webp

# EXIF orientation -> the same change of the stored pixels as OpenCV's decoder applies.
ORIENT = {2: lambda a: a[:, ::-1], 3: lambda a: a[::-1, ::-1], 4: lambda a: a[::-1], 5: lambda a: a.swapaxes(0, 1),
          6: lambda a: np.rot90(a, -1), 7: lambda a: a[::-1, ::-1].swapaxes(0, 1), 8: lambda a: np.rot90(a)}


def oriented(image: np.ndarray, orientation: int | None) -> np.ndarray:
    """Stored pixels turned and mirrored as EXIF `orientation` says: an AVIF's irot/imir boxes
    (`_avif_orientation`), an animation's EXIF, a still FFmpeg decodes its EXIF."""
    if not orientation or orientation not in ORIENT:
        return image
    return np.ascontiguousarray(ORIENT[orientation](image))


def orientation_applied_here(data: np.ndarray) -> int | None:
    """The orientation, as EXIF numbers it, that `oriented` applies to OpenCV's decode of `data`
    (OpenCV then told to ignore EXIF's): an AVIF's (`_avif_orientation`), an animated PNG's or
    WebP's EXIF, which OpenCV does not apply to an animation's first frame as it does to a still's
    (an animated phone picture was read sideways; Pillow turns both); None for other files."""
    head = bytes(data[:30])
    if not (head.startswith(b"\x89PNG\r\n\x1a\n") or is_animated_webp(head)):
        return _avif_orientation(data)
    try:
        with open_with_pillow(data) as header:  # (as `pillow_header` reads it, which orients the alpha)
            animated = header.format == "WEBP" or header.get_format_mimetype() == "image/apng"
            return pillow_orientation(header) if animated else None
    except Exception:  # noqa: BLE001 - a damaged file: OpenCV's decode says why
        return None


def _avif_orientation(data: np.ndarray) -> int | None:
    """An AVIF's orientation as EXIF numbers it, from its irot/imir boxes (Pillow's AVIF plugin reads
    them; no pixel is decoded); None for other files, or where Pillow cannot open it (OpenCV's
    reading stands). OpenCV applied the EXIF orientation, which MIAF says to ignore, and not the
    boxes: a phone's portrait AVIF was read sideways, a mirrored one unmirrored."""
    head = bytes(data[:12])
    if head[4:8] != b"ftyp" or head[8:12] not in (b"avif", b"avis"):
        return None
    try:
        with open_with_pillow(data) as header:
            return header.getexif().get(0x0112, 1) if header.format == "AVIF" else None
    except Exception:  # noqa: BLE001 - no AVIF plugin in this Pillow, or a damaged file: OpenCV says
        return None
