"""The stabilisers' argument checks: frames, lumas, arrays, sizes and modes, each refused before any
state changes with a TypeError/ValueError naming the argument."""

from __future__ import annotations

import numpy as np

from realtime_adain.checks import check_whole
from realtime_adain.errors import one_line, quoted
from realtime_adain.picture_sizes import MAX_DECODE_PIXELS

MODES = ("off", "flow", "stats", "both")


def check_choice(value: str, name: str, choices: tuple[str, ...] | dict) -> str:
    """`value` if it is one of the names `choices`, else a TypeError (not a str) or ValueError (another
    name) naming `name`, the value quoted cut short: 10**5000 failed as Python's "Exceeds the limit
    (4300 digits)", naming nothing, and a 100,000-character name was quoted whole."""
    names = ", ".join(choices)
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, one of {names}, got {type(value).__name__}")
    if value not in choices:
        raise ValueError(f"{name} must be one of {names}, got {one_line(quoted(value))}")
    return value


def check_mode(mode: str) -> str:
    return check_choice(mode, "mode", MODES)


def check_frame(frame: np.ndarray, name: str) -> np.ndarray:
    """`frame` if it is an (H, W, 3) uint8 RGB array, else a TypeError/ValueError naming it: a
    float or 16-bit frame fails deep in OpenCV, or (float in [0, 1]) comes out black."""
    if not isinstance(frame, np.ndarray):
        raise TypeError(f"{name} must be an (H, W, 3) uint8 RGB array, got {type(frame).__name__}")
    if frame.dtype != np.uint8:
        raise TypeError(f"{name} must be uint8 (0..255), got {frame.dtype}")
    if frame.ndim != 3 or frame.shape[2] != 3 or 0 in frame.shape:
        raise ValueError(f"{name} must be (H, W, 3) RGB, got shape {frame.shape}")
    return check_pixels(frame, name)


def check_pixels(frame: np.ndarray, name: str) -> np.ndarray:
    """Refuse a frame larger than any image read (MAX_DECODE_PIXELS) before OpenCV copies it: a
    broadcast view of 100000 x 100000 pixels takes no memory until then, 28 GiB after (a
    segmentation fault inside OpenCV where that much cannot be had)."""
    height, width = frame.shape[:2]
    if height * width > MAX_DECODE_PIXELS:
        raise ValueError(f"{name} is {width}x{height}, more than the {MAX_DECODE_PIXELS} pixels "
                         "(16384x16384) a frame may have")
    return frame


def check_frames(content: np.ndarray, stylized: np.ndarray) -> None:
    """Refuse anything but two (H, W, 3) uint8 RGB frames of one size, before any state changes."""
    check_frame(content, "content")
    check_frame(stylized, "stylized")
    if content.shape != stylized.shape:
        raise ValueError(f"content {content.shape} and stylized {stylized.shape} must both be (H, W, 3), one size")


def _kind(value: object) -> str:
    """What `value` is, for an error message: an array's dtype and shape, else its type."""
    return f"{value.dtype} {value.shape}" if isinstance(value, np.ndarray) else type(value).__name__


def check_array(value: np.ndarray, name: str, dtype: type, channels: int | None, what: str) -> np.ndarray:
    """`value` if it is a non-empty `dtype` array of `channels` channels (None: one (h, w) plane),
    else a TypeError (not such an array) or ValueError (its shape) saying it must be `what`:
    anything else failed inside OpenCV (a cv2.error naming no argument)."""
    if not isinstance(value, np.ndarray) or value.dtype != dtype:
        raise TypeError(f"{name} must be {what}, got {_kind(value)}")
    fits = value.ndim == 2 if channels is None else value.ndim == 3 and value.shape[2] == channels
    if not fits or 0 in value.shape:
        raise ValueError(f"{name} must be {what}, got shape {value.shape}")
    return check_pixels(value, name)


def check_size(size: tuple[int, int], name: str = "size") -> tuple[int, int]:
    """`size` as (height, width) of whole numbers from 1 to `MAX_DECODE_PIXELS`' side: a list failed
    as "can only concatenate list (not tuple)", and (0, 0) or (-40, 48) were taken."""
    if not isinstance(size, tuple) or len(size) != 2:
        raise TypeError(f"{name} must be a (height, width) tuple, got {size!r:.80}")
    return (check_whole(size[0], f"{name}[0] (height)", 1, maximum=MAX_DECODE_PIXELS),
            check_whole(size[1], f"{name}[1] (width)", 1, maximum=MAX_DECODE_PIXELS))


def check_luma(luma: np.ndarray, name: str) -> np.ndarray:
    """`luma` if it is an (h, w) uint8 luma, as `gray` gives, or an (h, w, 4) uint8 picture, as
    `colour_working` (and `Stabilizer.luma`) give."""
    channels = 4 if isinstance(luma, np.ndarray) and luma.ndim == 3 else None
    return check_array(luma, name, np.uint8, channels,
                       "an (h, w) uint8 luma or (h, w, 4) uint8 Y, Cr, Cb, 255 picture (see gray(), colour_working())")
