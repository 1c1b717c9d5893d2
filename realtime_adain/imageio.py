"""Reading any common image as 8-bit RGB, resizing for processing, and writing atomically.

Two pixel budgets keep a hostile or mistaken input from exhausting memory: OpenCV refuses to
decode an image whose header claims more than MAX_DECODE_PIXELS (checked before it allocates),
and `check_pixel_budget` refuses a processing size above a caller-given budget (--max-pixels)
or with a side over MAX_SIDE.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import threading
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

# 16384 x 16384 (768 MiB as RGB): OpenCV's decode limit, set in realtime_adain/__init__.py because
# OpenCV reads OPENCV_IO_MAX_IMAGE_PIXELS once, when it is loaded.
MAX_DECODE_PIXELS = 1 << 28
MAX_SIDE = 16384  # the longest processing side: far beyond any use, and OpenCV's resize fails soon after

from realtime_adain.atomic import atomic_write_bytes
from realtime_adain.errors import UserError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm")


def is_image_path(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_EXTENSIONS


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Any grayscale, RGB(A), 16-bit or CMYK image as (H, W, 3) uint8 RGB."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such file")
    data = np.fromfile(path, dtype=np.uint8)
    if data.size == 0:
        raise UserError(f"{path}: the file is empty")
    return decode_image(data, str(path))


def decode_image(data: np.ndarray | bytes, name: str) -> np.ndarray:
    """An encoded image's bytes (a file's, an upload's) as (H, W, 3) uint8 RGB; errors name `name`."""
    data = np.frombuffer(data, np.uint8) if isinstance(data, (bytes, bytearray)) else data
    with _native_stderr_captured() as native:
        try:
            # ANYDEPTH|ANYCOLOR keeps 16-bit and float samples and, unlike IMREAD_UNCHANGED, applies
            # the EXIF orientation (JPEG, TIFF, PNG, WebP), as the video reader applies rotation.
            image, failure = cv2.imdecode(data, cv2.IMREAD_ANYDEPTH | cv2.IMREAD_ANYCOLOR), "not a readable image"
        except cv2.error as exc:  # the size check before decoding, or an allocation that failed
            image, failure = None, _decode_failure(exc)
    if image is None:
        detail = next((line.strip() for line in native if line.strip()), "")
        shown = f" ({detail[:120]})" if detail and failure == "not a readable image" else ""
        raise UserError(f"{name}: {failure}{shown}")
    if image.shape[0] * image.shape[1] > MAX_DECODE_PIXELS:  # when OpenCV was loaded before us
        raise UserError(f"{name}: {image.shape[1]}x{image.shape[0]} is {_too_many_pixels()}")
    return to_rgb8(image)


@contextlib.contextmanager
def _native_stderr_captured() -> Iterator[list[str]]:
    """libpng and libjpeg print warnings and errors straight to the process's stderr; collect them
    (as lines) so a bad file is one line of ours and a harmless warning is not shown at all.
    Only on the main thread: fd 2 is shared, and another thread's output must not be taken."""
    lines: list[str] = []
    if threading.current_thread() is not threading.main_thread():
        yield lines
        return
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with tempfile.TemporaryFile() as sink:
            os.dup2(sink.fileno(), 2)
            try:
                yield lines
            finally:
                os.dup2(saved, 2)
                sink.seek(0)
                lines += sink.read(4096).decode(errors="replace").splitlines()
    finally:
        os.close(saved)


def _too_many_pixels() -> str:
    return f"larger than the {MAX_DECODE_PIXELS} pixels an image may have (OPENCV_IO_MAX_IMAGE_PIXELS)"


def _decode_failure(exc: Exception) -> str:
    text = str(exc)
    if "MAX_IMAGE_PIXELS" in text or "validateInputImageSize" in text:
        return f"the image is {_too_many_pixels()}"
    if "alloc" in text.lower():
        return "not enough memory to decode this image"
    return "not a readable image"


def to_rgb8(image: np.ndarray) -> np.ndarray:
    """Normalise an OpenCV-decoded array (BGR order, any depth or channel count) to uint8 RGB."""
    if image.dtype == np.uint16:
        image = (image.astype(np.float32) / 257.0 + 0.5).astype(np.uint8)
    elif image.dtype in (np.float32, np.float64):
        # Float images come as 0..1 or as 0..255 (some TIFF writers): a maximum above 1 says which.
        image = np.nan_to_num(image, nan=0.0, posinf=0.0, neginf=0.0)
        scale = 1.0 if image.size and image.max() > 1.0 else 255.0
        image = (np.clip(image * scale, 0.0, 255.0) + 0.5).astype(np.uint8)
    elif image.dtype != np.uint8:
        raise UserError(f"unsupported image sample type {image.dtype}")
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
    channels = image.shape[2]
    if channels == 1:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
    if channels == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2RGB)
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def read_mask(path: str | os.PathLike) -> np.ndarray:
    """A grayscale mask as (H, W) bool: True (white) selects the first style."""
    return read_image(path).mean(axis=2) >= 128


def mask_labels(mask: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Per-pixel style indices at `shape` (h, w): 0 where the mask is white, 1 where black."""
    resized = cv2.resize(mask.astype(np.uint8), (shape[1], shape[0]), interpolation=cv2.INTER_NEAREST)
    return np.where(resized > 0, 0, 1).astype(np.int64)


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


def check_pixel_budget(path: Path, height: int, width: int, size: int | None, max_pixels: int, option: str) -> None:
    """Refuse to process `path` at a size over `max_pixels`: a thin strip scaled by its short side
    would otherwise become a gigapixel image that runs for minutes or exhausts memory."""
    new_w, new_h = short_side_size(height, width, size)
    if max(new_w, new_h) > MAX_SIDE:
        raise UserError(f"{path}: {width}x{height} at {option} {size or 0} is {new_w}x{new_h}, "
                        f"longer than {MAX_SIDE} pixels on a side (lower {option})")
    if new_w * new_h > max_pixels:
        raise UserError(
            f"{path}: {width}x{height} at {option} {size or 0} is {new_w}x{new_h}, "
            f"over the budget of {max_pixels} pixels (raise it with --max-pixels, or lower {option})"
        )


def resize(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize (H, W, C) uint8 to `size` = (width, height): area filter down, bicubic up."""
    if (image.shape[1], image.shape[0]) == tuple(size):
        return image
    shrinking = size[0] * size[1] < image.shape[0] * image.shape[1]
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_CUBIC)


def write_image(path: str | os.PathLike, rgb: np.ndarray) -> None:
    """Encode by the extension and write via a temporary file, so no half-written image remains."""
    path = Path(path)
    ok, encoded = cv2.imencode(path.suffix or ".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    if not ok:
        raise UserError(f"{path}: cannot encode an image with extension '{path.suffix}'")
    atomic_write_bytes(path, encoded.tobytes())
