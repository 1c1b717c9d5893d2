"""How a style is shown: its name printable (a file name that is not UTF-8), the display names
of a library (numbered where two folders share a stem), its thumbnail.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Callable, Sequence

import cv2
import numpy as np

if TYPE_CHECKING:
    from realtime_adain.live.styles import Style

THUMBNAIL_SIDE = 64


def printable_name(name: str) -> str:
    """A file name's undecodable bytes as \\xNN: a name that is not UTF-8 could not be written to
    the cache's metadata (a UnicodeEncodeError ended `live` at start-up) nor to a UTF-8 log."""
    try:
        return os.fsencode(name).decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:  # a surrogate no file system gives (only \\udc80-\\udcff escape bytes)
        return name.encode("utf-8", "backslashreplace").decode("utf-8")


def printable_log(log: Callable[..., None]) -> Callable[..., None]:
    """`log` given the text fields as `printable_name` writes them: a reason naming a file that
    is not UTF-8, written to the session's --log file, raised in the inference thread and ended
    the session."""
    return lambda event, **fields: log(event, **{key: printable_name(value) if isinstance(value, str) else value
                                                 for key, value in fields.items()})


def thumbnail(image: np.ndarray, side: int = THUMBNAIL_SIDE) -> np.ndarray:
    """A centred square crop of an RGB image, as BGR."""
    h, w = image.shape[:2]
    crop = min(h, w)
    top, left = (h - crop) // 2, (w - crop) // 2
    square = cv2.resize(image[top:top + crop, left:left + crop], (side, side), interpolation=cv2.INTER_AREA)
    return cv2.cvtColor(square, cv2.COLOR_RGB2BGR)


def display_names(styles: Sequence[Style]) -> list[str]:
    """Unique display names: the file's stem, numbered when two folders share one."""
    names: list[str] = []
    for style in styles:
        name, n = style.name, 1
        while name in names:
            n += 1
            name = f"{style.name}~{n}"
        names.append(name)
    return names
