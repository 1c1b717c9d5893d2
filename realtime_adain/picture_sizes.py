"""Pixel budgets and processing sizes: the limits the decoders (`still_decoders`, `pillow_stills`)
and the commands, the API, `live` and `serve` all check against, apart from reading and decoding.

Two pixel budgets keep a hostile or mistaken input from exhausting memory: OpenCV refuses to
decode an image whose header claims more than MAX_DECODE_PIXELS (checked before it allocates; for
the formats only Pillow decodes, TGA, ICO, PSD, HEIC..., `pillow_stills.pillow_rgb` checks the
header the same way), and `check_pixel_budget` refuses a processing size above a caller-given
budget (--max-pixels) or with a side over MAX_SIDE. Also the size a picture is processed at
(`short_side_size`, `fit_short_side`) and `resize` to it.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np  # (OpenCV: imported where used, so a broken one stops only what needs it)

from realtime_adain.errors import UserError

# 16384 x 16384 (768 MiB as RGB): OpenCV's decode limit, set in realtime_adain/__init__.py because
# OpenCV reads OPENCV_IO_MAX_IMAGE_PIXELS once, when it is loaded.
MAX_DECODE_PIXELS = 1 << 28

# The most bytes a picture's samples may take decoded: an 8-bit RGBA at the pixel limit (a float
# or 16-bit TIFF within the pixel limit took 6.7 GB and 33 s, from a 14 KB file).
MAX_DECODE_BYTES = 4 * MAX_DECODE_PIXELS
MAX_SIDE = 16384  # the longest processing side: far beyond any use, and OpenCV's resize fails soon after


def over_decode_bytes(size: str) -> str:
    """Why a still picture of `size` ("16000x16000 at 8 bytes a pixel") is refused, and the way
    round it: the limit is fixed (unlike the pixel count's, OPENCV_IO_MAX_IMAGE_PIXELS)."""
    return f"{size} is more than the {MAX_DECODE_BYTES >> 30} GiB of samples an image may decode to; save it smaller"


def too_many_pixels() -> str:
    return f"larger than the {MAX_DECODE_PIXELS} pixels an image may have (OPENCV_IO_MAX_IMAGE_PIXELS)"


def no_pixels(name: str, height: int, width: int) -> str:
    """Why a picture with a side of 0 (an empty crop or slice) is refused: its layout is right, so
    "must be (H, W, 3)" blamed the wrong thing; the API's image checks and the engines' say this."""
    return f"{name} has a side of 0 pixels ({width}x{height}): it holds no picture"


def short_side_size(height: int, width: int, size: int | None) -> tuple[int, int]:
    """(width, height) with the shorter side `size` and the aspect kept; `size` 0/None: as is."""
    if not size:
        return width, height
    scale = size / min(height, width)
    return max(1, round(width * scale)), max(1, round(height * scale))


def fit_short_side(image: np.ndarray, size: int | None) -> np.ndarray:
    """Resize so the shorter side is `size` (aspect kept), as the reference's Resize(size) does."""
    new_size = short_side_size(*image.shape[:2], size)
    return image if new_size == (image.shape[1], image.shape[0]) else resize(image, new_size)


def over_budget(height: int, width: int, size: int | None, max_pixels: int) -> tuple[int, int, str] | None:
    """None where a picture of height x width at `size` (its shorter side) fits; else its size
    there (width, height) and what it is over: "side" (MAX_SIDE) or "pixels" (`max_pixels`). The
    one rule behind each command's and the API's refusal, each in its own words."""
    new_w, new_h = short_side_size(height, width, size)
    if max(new_w, new_h) > MAX_SIDE:
        return new_w, new_h, "side"
    return (new_w, new_h, "pixels") if new_w * new_h > max_pixels else None


def largest_size_within(height: int, width: int, max_pixels: int) -> int:
    """The largest short side a picture of height x width can be processed at within MAX_SIDE a
    side and `max_pixels` in all (0: none): the size a refusal suggests (it suggested one within
    the side only, which the pixel budget then refused)."""
    short, long = min(height, width), max(height, width)
    size = min(MAX_SIDE * short // long, math.isqrt(max_pixels * short // long))
    while size >= 1 and over_budget(height, width, size, max_pixels) is not None:  # (rounding)
        size -= 1
    return size


def check_pixel_budget(path: Path, height: int, width: int, size: int | None, max_pixels: int, option: str,
                       budget_option: str | None = "--max-pixels") -> None:
    """Refuse to process `path` at a size over `max_pixels`: a thin strip scaled by its short side
    would otherwise become a gigapixel image that runs for minutes or exhausts memory.
    `budget_option`: the option that raises the budget (None where the command has none)."""
    if (found := over_budget(height, width, size, max_pixels)) is None:
        return
    new_w, new_h, over = found
    # (at --size 0 it is processed at its own size: "64x36 at --size 0 is 64x36" said it twice)
    at = f"{path}: {width}x{height} at {option} {size} is {new_w}x{new_h}" if size else f"{path}: {width}x{height} (full size)"
    if over == "side":
        fits = largest_size_within(height, width, max_pixels)
        remedy = (f"{option} {fits} or less fits" if fits >= 1 else
                  f"a strip {max(height, width) // min(height, width)} times as long as it is wide is too thin at any size"
                  if MAX_SIDE * min(height, width) < max(height, width) else f"raise {budget_option or 'the pixel budget'}")
        raise UserError(f"{at}, longer than {MAX_SIDE} pixels on a side ({remedy})")
    # (the size that fits, not "lower --size": at --size 0, a picture's own size, there was none to lower)
    fits = largest_size_within(height, width, max_pixels)
    remedies = [f"raise it with {budget_option}"] if budget_option else []
    remedies += [f"give {option} {fits} or less"] if fits >= 1 else []
    remedy = ", or ".join(remedies) or "too large at any size"
    raise UserError(f"{at}, over the budget of {max_pixels} pixels ({remedy})")


def style_budget(max_pixels: int | None = None) -> int:
    """The most pixels a style is encoded at: the default budget, or a higher `max_pixels` (which
    bounds the frames, often far below a style's size)."""
    from realtime_adain.settings import DEFAULT_MAX_PIXELS

    return max(max_pixels or 0, DEFAULT_MAX_PIXELS)


def resize(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize (H, W, C) uint8 to `size` = (width, height): area filter down, bicubic up."""
    import cv2

    if (image.shape[1], image.shape[0]) == tuple(size):
        return image
    shrinking = size[0] * size[1] < image.shape[0] * image.shape[1]
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_CUBIC)
