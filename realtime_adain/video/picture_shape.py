"""The shape and size of a video's pictures: the width:height of a stored pixel (`pixel_aspect`,
`codec_aspect`), the square-pixel size a picture is shown at (`square_pixel_size`), and the
picture size a decoder may allocate (`check_picture_size` before any picture is decoded,
`bound_decoder` for those after).

Apart from the reader (reader.py) because `video` and `live` size and bound their pictures alike,
and none of this demuxes a file or keeps time.
"""

from __future__ import annotations

import math
import re
from fractions import Fraction
from pathlib import Path

import av

from realtime_adain.errors import UserError
from realtime_adain.picture_sizes import MAX_DECODE_BYTES
from realtime_adain.notes import note

# Sample aspect ratios seen in real files run from 8:9 (DVD) to 2:1 (anamorphic lenses); one
# outside this range is taken for a broken header (it would inflate every frame), not obeyed.
PLAUSIBLE_PIXEL_ASPECT = (Fraction(1, 4), Fraction(4))


def pixel_aspect(stream: av.video.stream.VideoStream, name: str = "the video") -> Fraction:
    """The width:height of one stored pixel (the container's sample aspect ratio, else the
    codec's), 1 when unset or implausible (with a note naming `name`)."""
    for value in (stream.sample_aspect_ratio, stream.codec_context.sample_aspect_ratio):
        if value:
            aspect = Fraction(value)
            if PLAUSIBLE_PIXEL_ASPECT[0] <= aspect <= PLAUSIBLE_PIXEL_ASPECT[1]:
                return aspect
            note(f"{name}: ignoring its sample aspect ratio {aspect} (outside 1:4..4:1): pixels taken as square",
                 once=True)
            return Fraction(1)
    return Fraction(1)


def square_pixel_size(width: int, height: int, aspect: Fraction) -> tuple[int, int]:
    """(width, height) with square pixels for stored pixels of `aspect`: the side that grows is
    stretched (1440x1080 at 4:3 -> 1920x1080, 720x480 at 8:9 -> 720x540), so no pixel is lost, to
    the length `_stretched` rounds it to."""
    if aspect == 1:
        return width, height
    if aspect > 1:
        return _stretched(width, width * aspect, height), height
    return width, _stretched(height, height / aspect, width)


def _stretched(stored: int, length: Fraction, other: int) -> int:
    """The `stored` side stretched to `length`: kept where that moves it less than half a pixel
    (137x77 at 15468:15473, 77.02 high, came out 78 lines, 1.3 % off its shape); else rounded to an
    even length beside an even `other` side (720x480 at 32:27 -> 854x480, not 853: an odd size is
    written yuv444p, which browsers and phones do not play), to the nearest pixel beside an odd one
    (which is written yuv444p whatever this side is); never further off the shape than `stored`."""
    if abs(length - stored) < Fraction(1, 2):
        return stored
    side = 2 * round(length / 2) if other % 2 == 0 else round(length)
    return side if abs(side - length) <= abs(stored - length) else stored


# A picture of the video may have as many pixels, shown with square pixels, as fit in the 1 GiB
# of samples `image` lets a picture decode to (picture_sizes.MAX_DECODE_BYTES) at `picture_bytes` a
# pixel: at least this many (the decoded picture, a GIF's BGRA canvas, and its RGB(A) copy), so
# 16384x8192; 8K (7680x4320) is a quarter of it. A 1 KB GIF whose screen says 16000x16000 was
# decoded whole (7 GB, 90 s) before anything looked at its size.
PICTURE_BYTES = 8


def picture_bytes(pix_fmt: str | None) -> int:
    """Bytes a pixel of a picture decoded to `pix_fmt` takes: the picture and a copy as large (a
    float one's planes to convert; its RGB(A) copy), at least `PICTURE_BYTES`. At 8, a 1.8 MB
    float TIFF of 16384x8192 took 6.2 GB and 3 minutes (12 bytes a pixel, and its copies)."""
    if not pix_fmt:
        return PICTURE_BYTES
    return max(PICTURE_BYTES, 2 * -(-av.VideoFormat(pix_fmt).padded_bits_per_pixel // 8))


def stored_pixels_allowed(aspect: Fraction, pixel_bytes: int = PICTURE_BYTES) -> int:
    """The most stored pixels a picture of pixels of `aspect`, of `pixel_bytes` each, may have:
    the 1 GiB of samples once stretched to square ones (`square_pixel_size`: up to 4 times as many)."""
    return math.floor(MAX_DECODE_BYTES // pixel_bytes / max(aspect, 1 / aspect))


def check_picture_size(stream: av.video.stream.VideoStream, aspect: Fraction, path: Path | str) -> None:
    """Refuse a video whose stated picture size is over `stored_pixels_allowed` (at its pixel
    format's `picture_bytes`), before any picture is decoded: FFmpeg's decoders allocate the whole
    stated picture (a GIF's screen, a PNG's or an H.264 SPS's size) and the reader converts it,
    whatever --size asks for later."""
    _check_stated(stream.codec_context.width, stream.codec_context.height, aspect,
                  picture_bytes(stream.codec_context.pix_fmt), path)


def _check_stated(width: int, height: int, aspect: Fraction, pixel_bytes: int, path: Path | str) -> None:
    """`check_picture_size`'s refusal of stated `width` x `height` pictures of `pixel_bytes`."""
    if width * height > stored_pixels_allowed(aspect, pixel_bytes):
        shown = square_pixel_size(width, height, aspect)
        stretched = f" ({shown[0]}x{shown[1]} with square pixels)" if shown != (width, height) else ""
        raise UserError(f"{path}: its video states {width}x{height} pictures{stretched}: {over_decode_limit(pixel_bytes)}")


# A YUV4MPEG2 (.y4m) header's colour tag -> FFmpeg's pixel format (4:2:0 where none is stated).
_Y4M_FORMATS = {b"mono": "gray", b"mono16": "gray16", b"444alpha": "yuva444p"}


def check_stated_y4m(name) -> None:
    """Refuse, as `check_picture_size` does, a YUV4MPEG2 file (`name`) whose header states pictures
    over the limit. Called where FFmpeg did not open it: it refuses a stated size over its own limit
    ("Picture size 50000x50000 is invalid", in its log) and said only "Device or resource busy"."""
    try:
        with open(name, "rb") as file:  # (a path only: not a pattern's, a device's or a URL's)
            head = file.read(256).split(b"\n", 1)[0]
    except (OSError, TypeError, ValueError):
        return
    fields = head.split(b" ")
    if fields[0] != b"YUV4MPEG2":
        return
    stated = {field[:1]: field[1:] for field in fields[1:] if field}
    try:
        width, height = int(stated.get(b"W", b"")), int(stated.get(b"H", b""))
        aspect = Fraction(*map(int, stated.get(b"A", b"1:1").split(b":"))) if stated.get(b"A") != b"0:0" else 1
    except (ValueError, ZeroDivisionError, TypeError):
        return
    low, high = PLAUSIBLE_PIXEL_ASPECT
    colour = stated.get(b"C", b"420").decode("ascii", "replace")
    layout = re.fullmatch(r"(4\d\d)(?:jpeg|paldv|mpeg2|p(\d+))?", colour)  # (420jpeg, 422, 444p10, ...)
    pix_fmt = _Y4M_FORMATS.get(colour.encode(), f"yuv{layout[1]}p{layout[2] or ''}" if layout else None)
    try:
        pixel_bytes = picture_bytes(pix_fmt)
    except ValueError:  # (a tag FFmpeg has no format of)
        pixel_bytes = PICTURE_BYTES
    _check_stated(width, height, Fraction(aspect) if low <= aspect <= high else Fraction(1), pixel_bytes, name)


def over_decode_limit(pixel_bytes: int) -> str:
    """Why a stated picture size is refused, said after it: the limit at `pixel_bytes` a pixel."""
    pixels = MAX_DECODE_BYTES // pixel_bytes
    half = math.isqrt(pixels // 2)  # (a 2:1 picture of that many)
    return (f"at {pixel_bytes} bytes a pixel, more than the {MAX_DECODE_BYTES >> 30} GiB of samples a picture may "
            f"decode to ({pixels} pixels, {2 * half}x{half})")


def bound_decoder(decoder: av.codec.context.CodecContext, aspect: Fraction) -> None:
    """Have FFmpeg refuse a picture over `stored_pixels_allowed` (at the stream's `picture_bytes`)
    before it allocates it (its max_pixels): one larger than the stream states (a new size
    mid-stream, a header that lies) is skipped, not decoded and converted whole."""
    allowed = stored_pixels_allowed(aspect, picture_bytes(decoder.pix_fmt))
    decoder.options = {**decoder.options, "max_pixels": str(allowed)}


def codec_aspect(stream: av.video.stream.VideoStream) -> Fraction:
    """The sample aspect ratio the decoder last read from the stream (PyAV's frames do not carry
    theirs), 1 when unset."""
    return Fraction(stream.codec_context.sample_aspect_ratio or 1)
