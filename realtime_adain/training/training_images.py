"""One training image read (`read_training_image`), or why it cannot be used: bounded by its file
size, and by the picture size its header states before a pixel is decoded (`stated_size`), then by
the decoded size; `check_readable` fails before any worker starts when none of a folder's is usable.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np

from realtime_adain.errors import UserError
from realtime_adain.imageio import read_image
from realtime_adain.opencv_headers import png_sample_bytes, radiance_sample_bytes, tiff_sample_bytes, webp_sample_bytes
from realtime_adain.pillow_stills import open_with_pillow
from realtime_adain.regular_files import open_regular
from realtime_adain.still_headers import ffmpeg_still_size

# Shorter sides below this are thumbnails or broken files, not training material.
MIN_IMAGE_SIDE = 64
# The largest image file read: an uncompressed 16-bit RGB TIFF at OpenCV's pixel limit is 1.5 GiB.
MAX_FILE_BYTES = 2 << 30
# The most pixels an image may have to be trained on: 8192x8192, far more than the 512-pixel load
# size needs (a 100-megapixel camera's photos are over it: skipped, said, to be scaled down first).
# A 1 MB PNG of 16384x16384 took 4.5 GB to read, each epoch, in each loader process at once (the
# default 4): enough to have the run killed.
MAX_TRAINING_PIXELS = 1 << 26
HEADER_BYTES = 4 << 20  # what is read to find a picture's stated size (a JPEG's metadata comes first)


def read_training_image(path: Path) -> tuple[np.ndarray | None, str]:
    """(image, "") or (None, why it cannot be used)."""
    try:
        size = path.stat().st_size
    except OSError as exc:  # removed or made unreadable since the scan
        return None, f"cannot read it ({exc.strerror or exc})"
    if size > MAX_FILE_BYTES:  # a huge or sparse file would be read whole into memory
        return None, f"too large a file ({size >> 20} MiB, over {MAX_FILE_BYTES >> 20} MiB)"
    try:
        stated = stated_size(path)
    except HeaderTooLong:
        return None, (f"its size is not stated in its first {HEADER_BYTES >> 20} MiB (metadata that long before "
                      "it?), so it could be any size")
    if stated and stated[0] * stated[1] > MAX_TRAINING_PIXELS:
        return None, too_large(*stated)
    try:
        image = read_image(path)
    except UserError as exc:
        return None, str(exc).removeprefix(f"{path}: ")
    except OSError as exc:
        return None, f"cannot read it ({exc.strerror or exc})"
    except Exception as exc:  # a decoder may fail in its own way on a damaged file
        return None, f"unreadable ({type(exc).__name__})"
    if image.shape[0] * image.shape[1] > MAX_TRAINING_PIXELS:  # (a size no header read here stated)
        return None, too_large(image.shape[1], image.shape[0])
    if min(image.shape[:2]) < MIN_IMAGE_SIDE:
        return None, f"too small ({image.shape[1]}x{image.shape[0]}, under {MIN_IMAGE_SIDE} px)"
    return image, ""


def too_large(width: int, height: int) -> str:
    return f"too large a picture ({width}x{height}, over the {MAX_TRAINING_PIXELS >> 20} megapixels an image is trained on)"


class HeaderTooLong(Exception):
    """A file longer than HEADER_BYTES whose size its first HEADER_BYTES do not state: it is unknown."""


def stated_size(path: Path) -> tuple[int, int] | None:
    """(width, height) as the file's header states it, read without decoding a pixel: by the
    header readers the decoders' own checks use (`header_size`), else by Pillow from the first
    HEADER_BYTES. None where neither can tell and the file is within the bound (damaged, or not an
    image: the decoder says why, and the decoded size is checked). Raises HeaderTooLong where
    the file goes on past the bound: a JPEG of 16000x16000 behind 4.6 MB of metadata, a TIFF of
    16000x16000 whose directory lay 5 MiB in, were decoded (1.8 GB a read, in each loader process)."""
    try:
        with open_regular(path) as handle:  # (a FIFO is not waited on: read_image says what it is)
            head = handle.read(HEADER_BYTES)
            cut = bool(handle.read(1))
            size = header_size(head, FileBytes(handle), str(path)) or pillow_size(head)
    except (OSError, UserError):  # removed, or not a regular file: read_image says so
        return None
    if size is None and cut:
        raise HeaderTooLong
    return size


def header_size(head: bytes, whole: "FileBytes", name: str) -> tuple[int, int] | None:
    """(width, height) from the headers OpenCV and FFmpeg decode by (`opencv_headers`, `still_headers`); None for
    other formats. A TIFF's first directory may lie anywhere in the file
    (libtiff writes it after the pixels): it is read from `whole`, the rest from `head`."""
    data = np.frombuffer(head, np.uint8)
    try:
        ffmpeg = ffmpeg_still_size(data, name)
        stated = ((ffmpeg[1] if ffmpeg else None) or tiff_sample_bytes(whole) or png_sample_bytes(data)
                  or radiance_sample_bytes(data) or webp_sample_bytes(data))
    except Exception:  # noqa: BLE001 - a damaged header (an EXR's of too many attributes): no size stated
        return None
    return (stated[0], stated[1]) if stated else None


class FileBytes:
    """An open file's bytes, read as a slice of them is asked for (`file[a:b]`): what a header
    reader of an array takes, for a header that may lie anywhere in a file of up to 2 GiB."""

    def __init__(self, handle) -> None:  # noqa: ANN001
        self.handle = handle

    def __getitem__(self, part: slice) -> bytes:
        start = part.start or 0
        self.handle.seek(start)
        return self.handle.read(max(0, part.stop - start))


def pillow_size(head: bytes) -> tuple[int, int] | None:
    """(width, height) as Pillow reads it from `head`; None where it cannot (not a format it
    knows, damaged, or a header longer than `head`)."""
    try:
        with open_with_pillow(head) as image:
            return image.size
    except Exception:  # noqa: BLE001 - whatever Pillow's format readers raise on a damaged header
        return None


def check_readable(paths: Sequence[Path], root: str | os.PathLike, what: str) -> None:
    """Fail now, not in a worker, when no file of a directory can be used (usually the first can)."""
    reasons = []
    for path in paths:
        image, why = read_training_image(path)
        if image is not None:
            return
        reasons.append(why)
    if len(paths) == 1:  # ("none of the 1 content images is usable")
        raise UserError(f"{root}: the only {what} image is not usable ({reasons[0]})")
    raise UserError(f"{root}: none of the {len(paths)} {what} images is usable (first: {reasons[0]})")
