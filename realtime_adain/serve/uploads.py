"""Style images uploaded by a client: limited in bytes and pixels, decoded by our own reader.

The byte limit is enforced while reading the request (aiohttp's client_max_size), the pixel
limit from the image header before any decoding (so a small file that claims a huge image is
refused without allocating it), and the decoding itself is `imageio.decode_image`, the same
safe decoder every command reads files with (from memory: no temporary file).
"""

from __future__ import annotations

import hashlib
import io
import struct
import warnings

import numpy as np

from realtime_adain.errors import UserError
from realtime_adain.imageio import decode_image


class UploadRefused(Exception):
    """Answered with `status` and `{"error": message}`."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def header_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from the image header when Pillow knows the format, without decoding.

    Each format's header parser is tried as `Image.open` tries them, but called directly:
    `Image.open` refuses a decompression bomb without saying its size (the limit here is far lower)."""
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover - Pillow comes with torchvision
        return None
    Image.init()
    for name in Image.ID:
        factory, accept = Image.OPEN[name]
        try:
            accepted = accept is None or accept(data[:16])  # a string: a warning, not this format
            if accepted and not isinstance(accepted, str):
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    with factory(io.BytesIO(data), "") as image:
                        return image.size
        except (SyntaxError, IndexError, TypeError, struct.error):  # not this format (as Image.open takes it)
            continue
        except Exception:  # a damaged header: the reader decides
            return None
    return None  # not a format Pillow knows: the reader decides


def decode(data: bytes, max_bytes: int, max_pixels: int) -> tuple[np.ndarray, str]:
    """The upload as (H, W, 3) uint8 RGB and the SHA-256 of its bytes."""
    if len(data) > max_bytes:
        raise UploadRefused(413, f"the image is {len(data)} bytes, more than the {max_bytes} allowed")
    if not data:
        raise UploadRefused(400, "the upload is empty")
    size = header_size(data)
    if size is not None and size[0] * size[1] > max_pixels:
        raise UploadRefused(413, f"the image is {size[0]}x{size[1]}, more than the {max_pixels} pixels allowed")
    try:
        image = decode_image(data, "the upload")
    except UserError as exc:
        raise UploadRefused(400, str(exc)) from None
    if image.shape[0] * image.shape[1] > max_pixels:
        raise UploadRefused(413, f"the image is {image.shape[1]}x{image.shape[0]}, more than the {max_pixels} pixels allowed")
    return image, hashlib.sha256(data).hexdigest()
