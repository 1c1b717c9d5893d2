"""Contact sheets: equal-sized tiles in a grid, each with a caption strip (a thumbnail and a name)
under it, so a whole style library can be judged on one photo at a glance.

Captions are drawn with OpenCV's `putText` (names made drawable by `drawn_text.drawable`: OpenCV 4
has ASCII only) and shortened with '...' to fit the tile.
The sheet's size is planned before any compute (`fit_tile_side`), so a library too large for the
pixel budget is refused or given smaller tiles up front, not after minutes of work.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np

from realtime_adain.drawn_text import DRAWN_UNITS, drawable
from realtime_adain.errors import UserError
from realtime_adain.picture_sizes import MAX_SIDE, short_side_size

MAX_TILES = 400  # 20 x 20: beyond it a tile is too small to judge a style by
MAX_COLUMNS = 64
MIN_TILE_SIDE = 32  # a shorter side below this shows no style
GAP = 8  # pixels around and between tiles
CAPTION = 40  # height of the strip under each tile
THUMB = 32  # side of the style thumbnail in the strip
BACKGROUND = (24, 24, 24)
TEXT_COLOR = (235, 235, 235)
FONT = cv2.FONT_HERSHEY_SIMPLEX
FONT_SCALE = 0.45
_EXTENSION = re.compile(r"\.[A-Za-z0-9]{1,5}")  # (a name's, as `fit_label` keeps it)


def grid(count: int, columns: int | None = None) -> tuple[int, int]:
    """(columns, rows) for `count` tiles: `columns` (at most `count`), else about a square."""
    columns = min(columns or math.ceil(math.sqrt(count)), count)
    return columns, math.ceil(count / columns)


def sheet_size(tile: tuple[int, int], count: int, columns: int | None = None) -> tuple[int, int]:
    """(width, height) of a sheet of `count` tiles of `tile` = (width, height)."""
    cols, rows = grid(count, columns)
    return GAP + cols * (tile[0] + GAP), GAP + rows * (tile[1] + CAPTION + GAP)


def tile_origin(index: int, tile: tuple[int, int], columns: int) -> tuple[int, int]:
    """(x, y) of tile `index`'s top-left corner in a sheet with `columns` columns."""
    row, col = divmod(index, columns)
    return GAP + col * (tile[0] + GAP), GAP + row * (tile[1] + CAPTION + GAP)


def fit_tile_side(shape: tuple[int, int], size: int | None, count: int, columns: int | None, max_pixels: int) -> int:
    """The largest shorter side, at most `size` (0/None: the photo's own), that keeps a sheet of
    `count` tiles of a photo `shape` = (height, width) within `max_pixels` and MAX_SIDE a side."""
    side = size or min(shape)
    while True:
        width, height = sheet_size(short_side_size(*shape, side), count, columns)
        over = max(width * height / max_pixels, width / MAX_SIDE, height / MAX_SIDE)
        if over <= 1:
            return side
        smaller = min(side - 1, int(side / math.sqrt(over)) if width * height > max_pixels else int(side / over))
        if smaller < min(MIN_TILE_SIDE, side):  # (a --size under MIN_TILE_SIDE is the user's to choose)
            raise UserError(f"a sheet of {count} tiles does not fit in {max_pixels} pixels (--max-pixels) or "
                            f"{MAX_SIDE} pixels a side even with {side}-pixel tiles; {_fit_hint(width, height)}")
        side = smaller


def _fit_hint(width: int, height: int) -> str:
    """What makes a sheet of `width` x `height` (too large) fit: a long strip of a photo needs
    fewer columns (wide) or more (tall), not fewer styles."""
    if width > MAX_SIDE and width >= height:
        return "use fewer --sheet-columns (the tiles are wide) or fewer styles"
    if height > MAX_SIDE:
        return "use more --sheet-columns (the tiles are tall) or fewer styles"
    return "use fewer styles or raise --max-pixels"


def style_captions(paths: Sequence[Path]) -> list[str]:
    """Each style's file name; where several share one (a/x.jpg, b/x.jpg), as many of their
    folders as tell them apart, so no two tiles of a sheet carry the same caption."""
    depth = [1] * len(paths)
    while True:
        labels = [Path(*path.parts[-n:]).as_posix() for path, n in zip(paths, depth)]
        counts = Counter(labels)
        clashing = [i for i, label in enumerate(labels) if counts[label] > 1 and depth[i] < len(paths[i].parts)]
        if not clashing:
            return labels
        for i in clashing:
            depth[i] += 1


def fit_label(text: str, width: int) -> str:
    """`text` (as `drawable` gives it), shortened in the middle with '...' until it is at most
    `width` pixels wide (possibly just '...'): its extension kept whole where it fits, then as much
    of its start and its end as fit (the end of a name often tells it from another: `..._1.jpg`,
    `..._2.jpg`), an escape (`\\u65e5`) kept whole or left out. The extension is kept apart: a name
    of wide escapes (`日本語の名前.jpg`) was cut to '...g', its start and extension both lost."""
    if _text_width(text) <= width:
        return text
    units = DRAWN_UNITS.findall(text)
    stem, extension = _split_extension(units)
    if _text_width("..." + extension) > width:
        stem, extension = units, ""
    for kept in range(len(stem) - 1, -1, -1):
        head, tail = stem[:(kept + 1) // 2], stem[len(stem) - kept // 2:]  # (the start first)
        shortened = "".join(head).rstrip() + "..." + "".join(tail).lstrip() + extension
        if _text_width(shortened) <= width:
            return shortened
    return "..."


def _split_extension(units: list[str]) -> tuple[list[str], str]:
    """A name's drawn units without its extension (`.jpg`: a dot, then up to five letters or
    digits, after the name's first character), and that extension ('' where it has none)."""
    for index in range(len(units) - 1, 0, -1):
        if units[index] == ".":
            extension = "".join(units[index:])
            return (units[:index], extension) if _EXTENSION.fullmatch(extension) else (units, "")
    return units, ""


def _text_width(text: str) -> int:
    return cv2.getTextSize(text, FONT, FONT_SCALE, 1)[0][0]


def compose_sheet(tiles: Sequence[np.ndarray], captions: Sequence[str],
                  thumbnails: Sequence[np.ndarray | None], columns: int | None = None) -> np.ndarray:
    """The sheet as (H, W, 3) uint8 RGB: `tiles` (equal (h, w, 3) uint8 RGB) row by row, each with its
    caption and its thumbnail (square RGB, or None for none) in a strip under it."""
    if not tiles:
        raise ValueError("tiles must hold at least one image")
    if not len(tiles) == len(captions) == len(thumbnails):
        raise ValueError(f"{len(tiles)} tiles, {len(captions)} captions and {len(thumbnails)} thumbnails: one each")
    shape = tiles[0].shape
    if any(t.shape != shape or t.dtype != np.uint8 for t in tiles) or len(shape) != 3 or shape[2] != 3:
        raise ValueError("tiles must be (h, w, 3) uint8 images of one size")
    if columns is not None and not 1 <= columns <= MAX_COLUMNS:
        raise ValueError(f"columns must be 1 to {MAX_COLUMNS}, got {columns}")
    tile = (shape[1], shape[0])
    cols = grid(len(tiles), columns)[0]
    width, height = sheet_size(tile, len(tiles), columns)
    sheet = np.empty((height, width, 3), np.uint8)
    sheet[:] = BACKGROUND
    for index, (image, caption, thumbnail) in enumerate(zip(tiles, captions, thumbnails)):
        x, y = tile_origin(index, tile, cols)
        sheet[y:y + tile[1], x:x + tile[0]] = image
        _caption(sheet, x, y + tile[1], tile[0], caption, thumbnail)
    return sheet


def _caption(sheet: np.ndarray, x: int, y: int, width: int, caption: str, thumbnail: np.ndarray | None) -> None:
    """The strip under a tile at (x, y): the thumbnail (if it fits beside some text), then the name."""
    text_x = x
    side = min(THUMB, CAPTION - 8)
    if thumbnail is not None and width >= 2 * side:
        top = y + (CAPTION - side) // 2
        sheet[top:top + side, x:x + side] = cv2.resize(thumbnail, (side, side), interpolation=cv2.INTER_AREA)
        text_x = x + side + 6
    label = fit_label(drawable(caption), x + width - text_x)
    (_, text_height), _ = cv2.getTextSize(label, FONT, FONT_SCALE, 1)
    cv2.putText(sheet, label, (text_x, y + (CAPTION + text_height) // 2), FONT, FONT_SCALE, TEXT_COLOR, 1, cv2.LINE_AA)
