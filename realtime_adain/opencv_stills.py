"""OpenCV's decode of a still (`opencv_decode`: a Radiance picture from a temporary file of ours;
what to say when it fails), its flags (`decode_flags`), the files it misreads at their own depth
(`misread_at_depth`: read as 8-bit colour instead; `bmp_16_bit`: Pillow reads those), and the
alpha it drops at ANYCOLOR, read apart and oriented (`opencv_alpha`). Apart from
`still_decoders`, which picks the decoder for each file."""

from __future__ import annotations

import os
import tempfile

import numpy as np  # (OpenCV: imported where used, so a broken one stops only what needs it)

from realtime_adain.errors import UserError
from realtime_adain.native_stderr import native_stderr_captured
from realtime_adain.opencv_names import opencv_name
from realtime_adain.opencv_headers import RADIANCE_SIGNATURES, radiance_as_opencv_reads
from realtime_adain.picture_sizes import too_many_pixels
from realtime_adain.pillow_stills import PillowHeader
from realtime_adain.still_orientation import ORIENT, oriented
from realtime_adain.tiff_layouts import tiff_layout
from realtime_adain.writable_folders import NO_TEMPORARY_FOLDER, no_temporary_folder


def opencv_decode(data: np.ndarray, flags: int) -> tuple[np.ndarray | None, str]:
    """OpenCV's decode, and what to say if it fails. A Radiance picture is read from a temporary
    file of ours, removed whatever happens: imdecode copies one to /tmp/__opencv_temp.* and left
    that copy behind when it raised (a size over its limit; a server's uploads filled /tmp). Its
    size line is rewritten where OpenCV reads no other, and the picture turned after
    (`radiance_as_opencv_reads`)."""
    import cv2

    try:
        if bytes(data[:10]).startswith(RADIANCE_SIGNATURES):  # (its size line as OpenCV reads it, turned after)
            standard, orientation = radiance_as_opencv_reads(data)
            image = _imread_copy(standard, flags)
            return (None if image is None else oriented(image, orientation)), "not a readable image"
        return cv2.imdecode(data, flags), "not a readable image"
    except cv2.error as exc:  # the size check before decoding, or an allocation that failed
        return None, _decode_failure(exc)
    except OSError as exc:  # (no room for the copy, or no temporary folder)
        if no_temporary_folder(exc):
            return None, f"cannot be decoded without a temporary copy: {NO_TEMPORARY_FOLDER}"
        return None, f"cannot be decoded: its temporary copy could not be written ({exc.strerror or exc})"


def _imread_copy(data: np.ndarray, flags: int) -> np.ndarray | None:
    """OpenCV's decode of `data` from a temporary file, removed after."""
    import cv2

    handle, path = tempfile.mkstemp(prefix="realtime-adain-radiance-", suffix=".hdr")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(memoryview(np.ascontiguousarray(data)))
        with opencv_name(path) as name:  # (under a $TMPDIR named in bytes that are not UTF-8: OpenCV crashed)
            return cv2.imread(name, flags)
    finally:
        os.unlink(path)


def misread_at_depth(data: np.ndarray, name: str) -> bool:
    """Whether OpenCV misreads the file at its own depth and colour (IMREAD_ANYDEPTH|ANYCOLOR) but
    reads it right as 8-bit colour (IMREAD_COLOR): an OS/2 BMP (a 12-byte header), read as grey,
    and a TIFF of 16-bit samples stored as separate colour planes, read as the picture three times
    over in its top third. A TIFF that neither reads right is refused: float planes, half floats,
    and those `TiffLayout.refusal` names (16-bit Lab, float grey and alpha, ...)."""
    if bytes(data[:2]) == b"BM" and bytes(data[14:18]) == b"\x0c\0\0\0":
        return True
    layout = tiff_layout(data)
    if layout is None:
        return False
    bits, formats = layout.bits, layout.formats
    if 3 in formats and 16 in bits:
        raise UserError(f"{name}: a TIFF of 16-bit (half) float samples cannot be read here; "
                        f"save it as 32-bit float or 16-bit integer samples")
    if refusal := layout.refusal():
        raise UserError(f"{name}: {refusal}")
    if not layout.planar or layout.samples < 2 or max(bits) <= 8:
        return False
    if 3 in formats:
        raise UserError(f"{name}: a TIFF of float samples stored as separate colour planes cannot be read here; "
                        f"save it with its samples interleaved (contiguous)")
    return True


def bmp_16_bit(data: np.ndarray) -> bool:
    """Whether the file is a Windows BMP of 16 bits a pixel (5-5-5 or 5-6-5)."""
    head = bytes(data[:30])
    return (len(head) == 30 and head[:2] == b"BM" and int.from_bytes(head[14:18], "little") >= 40
            and int.from_bytes(head[28:30], "little") == 16)


def decode_flags(own_orientation: int | None) -> int:
    """OpenCV's flags: samples at their depth, colour or grey, the EXIF orientation applied
    except where `oriented` applies `own_orientation` (`orientation_applied_here`)."""
    import cv2

    ignore = cv2.IMREAD_IGNORE_ORIENTATION if own_orientation else 0
    return cv2.IMREAD_ANYDEPTH | cv2.IMREAD_ANYCOLOR | ignore


def opencv_alpha(data: np.ndarray, header: PillowHeader, shape: tuple[int, ...], depth: int = 16) -> np.ndarray | None:
    """The image's alpha ((H, W) as decoded and oriented: uint8 0..255 from 8- or 16-bit samples,
    else 0..1 float32), None if it cannot be had; 16-bit samples hold `depth` bits (an AVIF's 10 or
    12). 8 bits, not float: a float copy beside the whole decode took an RGBA PNG to 4 times
    its samples (the colour is 8-bit after: the blend differs by a level at most)."""
    import cv2

    with native_stderr_captured():
        stored = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)  # keeps alpha, ignores the orientation
    if stored is None or stored.ndim != 3 or stored.shape[2] not in (2, 4):
        return None
    alpha = ORIENT.get(header.orientation, lambda a: a)(stored[..., -1])
    return alpha_levels(alpha, depth) if alpha.shape == tuple(shape) else None


def alpha_levels(alpha: np.ndarray, depth: int = 16) -> np.ndarray:
    """An alpha channel as decoded (a view of the picture's samples) as `opencv_alpha` gives it:
    a copy, uint8 from 8- or `depth`-bit samples, else 0..1 float32."""
    import cv2

    if alpha.dtype == np.uint16:
        return cv2.convertScaleAbs(np.ascontiguousarray(alpha), alpha=255.0 / ((1 << depth) - 1))  # (rounded)
    return alpha.copy() if alpha.dtype == np.uint8 else np.clip(alpha.astype(np.float32), 0.0, 1.0)


def _decode_failure(exc: Exception) -> str:
    text = str(exc)
    if "MAX_IMAGE_PIXELS" in text or "validateInputImageSize" in text:
        return f"the image is {too_many_pixels()}"
    if "alloc" in text.lower():
        return "not enough memory to decode this image"
    return "not a readable image"
