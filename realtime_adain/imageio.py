"""Reading any common image as 8-bit RGB, resizing for processing, and writing atomically."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

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
    image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED | cv2.IMREAD_IGNORE_ORIENTATION)
    if image is None:
        raise UserError(f"{path}: not a readable image")
    return to_rgb8(image)


def to_rgb8(image: np.ndarray) -> np.ndarray:
    """Normalise an OpenCV-decoded array (BGR order, any depth or channel count) to uint8 RGB."""
    if image.dtype == np.uint16:
        image = (image.astype(np.float32) / 257.0 + 0.5).astype(np.uint8)
    elif image.dtype in (np.float32, np.float64):
        image = (np.clip(image, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
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


def fit_short_side(image: np.ndarray, size: int | None) -> np.ndarray:
    """Resize so the shorter side is `size` (aspect kept), as the reference's Resize(size) does."""
    if not size:
        return image
    h, w = image.shape[:2]
    scale = size / min(h, w)
    if scale == 1:
        return image
    new_size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return resize(image, new_size)


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
