"""Reading any common image as 8-bit RGB, resizing for processing, and writing atomically.

Two pixel budgets keep a hostile or mistaken input from exhausting memory: OpenCV refuses to
decode an image whose header claims more than MAX_DECODE_PIXELS (checked before it allocates; for
the formats only Pillow decodes, TGA, ICO, PSD, HEIC..., `_pillow_rgb` checks the header the same way),
and `check_pixel_budget` refuses a processing size above a caller-given budget (--max-pixels)
or with a side over MAX_SIDE.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import io
import math
import os
import re
import struct
import sys
import tempfile
import threading
import warnings
from pathlib import Path
from typing import IO, Iterator, NamedTuple

import numpy as np  # (OpenCV: imported where used, so a broken one stops only what needs it)

# 16384 x 16384 (768 MiB as RGB): OpenCV's decode limit, set in realtime_adain/__init__.py because
# OpenCV reads OPENCV_IO_MAX_IMAGE_PIXELS once, when it is loaded.
MAX_DECODE_PIXELS = 1 << 28
# The most bytes a picture's samples may take decoded: an 8-bit RGBA at the pixel limit (a float
# or 16-bit TIFF within the pixel limit took 6.7 GB and 33 s, from a 14 KB file).
MAX_DECODE_BYTES = 4 * MAX_DECODE_PIXELS
MAX_SIDE = 16384  # the longest processing side: far beyond any use, and OpenCV's resize fails soon after

from realtime_adain.atomic import atomic_write_bytes
from realtime_adain.errors import UserError
from realtime_adain.hdr_stills import (HLG, PQ, STRIP_SAMPLES, HdrTags, coded_depth, colour_tags,
                                       full_scale, narrow_to_full, tone_mapped)
from realtime_adain.regular_files import open_regular
from realtime_adain.still_headers import (RADIANCE_SIGNATURES, check_jpeg, exr_chunks_missing, ffmpeg_still_size,
                                          gif_sample_bytes, jpeg_without_end, looks_cut_short, png_data_short,
                                          png_sample_bytes, radiance_sample_bytes, tiff_fields, tiff_sample_bytes,
                                          webp_sample_bytes)
from realtime_adain.notes import STDERR_LOCK, note

# What OpenCV decodes (a folder of inputs takes these) and, of those, what it encodes from RGB:
# PGM/PBM hold grey only, GIF/HDR/PFM/JPEG 2000/AVIF writers are missing or lossy in odd ways.
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".bmp", ".dib", ".tif", ".tiff", ".webp", ".ppm",
                    ".pgm", ".pbm", ".pnm", ".pfm", ".hdr", ".pic", ".sr", ".ras", ".gif", ".jp2", ".avif",
                    ".tga", ".ico", ".psd", ".pcx", ".qoi",  # the last ones Pillow decodes (`_pillow_rgb`),
                    ".heic", ".heif", ".hif",  # these with pillow-heif, the `heif` extra
                    ".exr", ".j2k", ".j2c", ".jpc", ".jpf", ".pam", ".jls")  # these FFmpeg decodes (`_ffmpeg_still`)
WRITABLE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".ppm")
# PFM's signatures (colour, grey), each followed by whitespace.
_PFM_SIGNATURES = (b"PF", b"Pf")


def is_image_path(path: Path) -> bool:
    """An input image's name (folders of inputs are expanded to these)."""
    return path.suffix.lower() in IMAGE_EXTENSIONS


def is_writable_image_path(path: Path) -> bool:
    """An output image's name: a format OpenCV writes in colour."""
    return path.suffix.lower() in WRITABLE_EXTENSIONS


def output_suffix(suffix: str) -> str:
    """The extension of a result named after a source with `suffix`: its own where it can hold
    colour, else .png (a .pgm content gives a .png result, not a refused write at the end)."""
    return suffix if suffix.lower() in WRITABLE_EXTENSIONS else ".png"


# The largest image file read: an uncompressed float RGBA TIFF at the pixel limit is 4 GiB.
MAX_FILE_BYTES = 4 << 30
# The start of a file looked at before it is read whole: no decoder here reads a file that starts
# with this many zero bytes (Pillow's TGA, which has no signature, refuses an image type of 0; its
# PhotoCD looks at bytes 2048 to 2051; FFmpeg's image2 probe can find a JPEG after zeros, but it is
# not used to read files that OpenCV and Pillow refuse, apart from the formats it is named for).
_HEAD_BYTES = 1 << 16


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Any grayscale, RGB(A), 16-bit or CMYK image as (H, W, 3) uint8 RGB."""
    return decode_image(read_image_bytes(path), str(Path(path)))


def read_image_bytes(path: str | os.PathLike) -> np.ndarray:
    """An image file's bytes, as `read_image` decodes them: a caller that hashes them knows the
    picture it decoded is the file of that digest (not one written between a hash and a read)."""
    path = Path(path)
    if not path.is_file():  # (a fifo is never opened: reading it would wait for a writer)
        kind = ("a folder" if path.is_dir() else "a device, fifo or socket") if path.exists() else None
        if kind is None and path.is_symlink():  # (not "no such file": the link is there)
            from realtime_adain.paths import dead_link_is  # (paths imports this module)

            raise UserError(f"{path}: {dead_link_is(path)}")
        raise UserError(f"{path}: {kind + ', not an image file' if kind else 'no such file'}")
    # checked again on the open file: one swapped for a FIFO after the check would block for good
    with open_regular(path, "a device, fifo or socket, not an image file") as handle:
        size = os.fstat(handle.fileno()).st_size
        if size > MAX_FILE_BYTES:  # read whole before its format is known: a 50 GB file would exhaust memory
            raise UserError(f"{path}: {size / 2**30:.1f} GiB is larger than any image read here "
                            f"({MAX_FILE_BYTES >> 30} GiB at most)")
        head = handle.read(_HEAD_BYTES)
        if head and not head.strip(b"\0"):  # (a 3 GB hole was read whole, in 32 s, before it was refused)
            raise UserError(f"{path}: not a readable image (its first {len(head)} bytes are all zero)")
        data = np.empty(max(size, len(head)), np.uint8)  # (np.fromfile: 8 times as slow)
        data[:len(head)] = np.frombuffer(head, np.uint8)
        data = data[:len(head) + handle.readinto(memoryview(data)[len(head):])]  # (one cut meanwhile: what is there)
    if data.size == 0:
        raise UserError(f"{path}: the file is empty")
    return data


def decode_image(data: np.ndarray | bytes, name: str) -> np.ndarray:
    """An encoded image's bytes (a file's, an upload's) as (H, W, 3) uint8 RGB; errors name `name`."""
    data = np.frombuffer(data, np.uint8) if isinstance(data, (bytes, bytearray)) else data
    try:
        return _decode(data, name)
    except MemoryError:  # a 16-bit or float picture near the pixel limit needs several GiB to convert
        raise UserError(f"{name}: not enough memory to decode this image") from None


def _decode(data: np.ndarray, name: str) -> np.ndarray:
    import cv2

    check_jpeg(data, name, MAX_DECODE_PIXELS)  # (before any decoder: OpenCV, Pillow and FFmpeg each read every scan)
    tags = colour_tags(data, name)
    if tags is not None:
        hdr = _hdr_still(data, name, tags)
        if hdr is not None:
            return hdr
    decoded = _ffmpeg_still(data, name)
    if decoded is not None:
        return decoded
    maxval = _PNM_HEADER.match(bytes(data[:1024]))  # (a header longer than that, of comments: Pillow reads it)
    if bytes(data[:2]) in _PNM_MAGICS and not (maxval and int(maxval[1]) in (255, 65535)):
        decoded = _pillow_rgb(data, name)  # OpenCV scales only an ASCII 8-bit one by its maxval: a 10-bit
        if decoded is not None:  # PPM read nearly black, a binary one of maxval 100 dark
            return decoded
    # (OpenCV decodes at the file's own depth)
    stated = (tiff_sample_bytes(data) or png_sample_bytes(data) or radiance_sample_bytes(data) or gif_sample_bytes(data)
              or webp_sample_bytes(data))
    if not stated and bytes(data[:10]).startswith(RADIANCE_SIGNATURES):  # (its size unknown: not decoded)
        raise UserError(f"{name}: not a readable image (a Radiance header without the size line OpenCV reads)")
    if stated and stated[0] * stated[1] > MAX_DECODE_PIXELS:
        raise UserError(f"{name}: {stated[0]}x{stated[1]} is {_too_many_pixels()}")
    if stated and stated[0] * stated[1] * stated[2] > MAX_DECODE_BYTES:
        raise UserError(f"{name}: {stated[0]}x{stated[1]} at {stated[2]} bytes a pixel is more than the "
                        f"{MAX_DECODE_BYTES >> 30} GiB of samples an image may decode to")
    # ANYDEPTH|ANYCOLOR keeps 16-bit and float samples and, unlike IMREAD_UNCHANGED, applies the
    # EXIF orientation (JPEG, TIFF, PNG, WebP), as the video reader applies rotation. An AVIF's
    # orientation is its irot/imir boxes' instead (MIAF: EXIF's is ignored), applied below.
    avif_orientation = _avif_orientation(data)
    if _bmp_16_bit(data):  # OpenCV widens its 5-bit channels by shifting (white read 248); Pillow replicates bits
        decoded = _pillow_rgb(data, name)
        if decoded is not None:
            return decoded
    flags = cv2.IMREAD_COLOR if _misread_at_depth(data, name) else _decode_flags(avif_orientation)
    without_end = jpeg_without_end(data, name)  # (bytes to decode, and whether more may be missing)
    with _native_stderr_captured() as native:
        image, failure = _opencv_decode(data, flags)
        if image is None and failure == "not a readable image" and without_end:
            image, failure = _opencv_decode(without_end[0], flags)  # (OpenCV refuses one: browsers show it)
    if image is None and failure == "not a readable image":
        if png_data_short(data):  # (Pillow reads one, its missing rows black)
            raise UserError(f"{name}: {failure} ({_CUT_SHORT[looks_cut_short(data) or 'PNG data']})")
        image = _pillow_rgb(data, name)  # TGA, ICO, PSD, 16-bit BMP, 16-bit CMYK TIFF: OpenCV has no decoder
        if image is None:
            image = _ffmpeg_webp(data, name)
        if image is not None:
            return image
        unsupported = _unsupported_format(data)
        if unsupported:
            raise UserError(f"{name}: {unsupported}")
    if image is None:
        cut = looks_cut_short(data) if failure == "not a readable image" else None
        detail = (_CUT_SHORT[cut] if cut else
                  next((_readable(line) for line in native if _readable(line)), ""))
        shown = f" ({detail[:120]})" if detail and failure == "not a readable image" else ""
        raise UserError(f"{name}: {failure}{shown}")
    if (without_end and without_end[1]) or any("premature end" in line.lower() for line in native):  # (libjpeg's)
        note(f"{name}: {_JPEG_CUT_SHORT}", once=True)
    image = _oriented(image, avif_orientation)
    if image.shape[0] * image.shape[1] > MAX_DECODE_PIXELS:  # when OpenCV was loaded before us
        raise UserError(f"{name}: {image.shape[1]}x{image.shape[0]} is {_too_many_pixels()}")
    decoded = _pillow_rgb(data, name) if image.dtype == np.int32 else None  # a 32-bit integer TIFF: as
    if decoded is not None:  # its PIL image reads (`_integer_levels`); it was refused
        return decoded
    if image.dtype not in (np.uint8, np.uint16, np.float32, np.float64):
        raise UserError(f"{name}: unsupported sample type {image.dtype} (8- or 16-bit unsigned, or float, are read)")
    depth = (coded_depth(data) or 10) if image.dtype == np.uint16 and bytes(data[4:8]) == b"ftyp" else 16
    full_scale(image, depth)  # (a 10- or 12-bit AVIF: its samples were read as 16-bit ones, nearly black)
    header = _header(data)  # (after OpenCV's size check: Pillow may read more than the header)
    alpha = _alpha(data, header, image.shape[:2], depth) if header.has_alpha and header.format != "TIFF" else None
    if (header.mode == "LAB" or (header.mode == "CMYK" and _transform_to_srgb(header.profile, "CMYK"))
            or (header.has_alpha and (header.format == "TIFF" or alpha is None))):
        # OpenCV converts CMYK naively and Lab wrongly (LittleCMS does it), premultiplies a TIFF's
        # colours by its alpha, and drops the alpha of grey TIFFs and of 1-bit/grey PNG transparency
        managed = _pillow_rgb(data, name)
        if managed is not None:
            return managed
    linear = _linear_light(bytes(data[:10]))
    # (a CMYK one's profile is applied above, by Pillow; a grey one's is not applied, though Chromium applies it)
    profile = header.profile if header.mode in _RGB_MODES else None
    return over_white(in_srgb(to_rgb8(image, linear=linear, name=name), profile), alpha, name)


def _linear_light(head: bytes) -> bool:
    """Whether a file starting with `head` holds linear light: Radiance (its specification) and PFM
    (HDRShop's HDR format; GIMP loads it as linear floats), as OpenEXR (`_ffmpeg_still`) and as
    `video` reads all three (`video.reader.linear_light`); others are display-referred. A PFM was
    read without the sRGB curve, darker than the same file in `video`."""
    return head.startswith(RADIANCE_SIGNATURES) or (head[:2] in _PFM_SIGNATURES and head[2:3].isspace())


def _hdr_still(data: np.ndarray, name: str, tags: HdrTags) -> np.ndarray | None:
    """An HDR or wide-gamut AVIF, HEIF or PNG picture (`hdr_stills`) decoded at full depth and
    converted as such video is (tone-mapped, moved to BT.709 primaries), grey or colour, alpha
    over white, with a note; a narrow-range PNG expanded; None where it does not decode so (the
    8-bit path then reads it, or says why it cannot)."""
    import cv2

    alpha = None
    if _heif_kind(bytes(data[:16])):
        samples = _heif_samples(data, name)  # (its alpha, if any, is its last channel)
    else:
        avif_orientation = _avif_orientation(data)  # (as in `_decode`: irot/imir, not EXIF)
        with _native_stderr_captured():  # (OpenCV's log of a damaged file: the 8-bit path says why)
            samples, _ = _opencv_decode(data, _decode_flags(avif_orientation))
        if samples is None:  # (an AVIF OpenCV cannot read: its coded data before its `meta`, or no libavif)
            samples = _pillow_samples(data, name)
        else:
            samples = _oriented(samples, avif_orientation)
            if samples.ndim == 3:
                samples = cv2.cvtColor(samples, cv2.COLOR_BGR2RGB)
            header = _header(data)  # ANYCOLOR drops alpha: read as the 8-bit path reads it, oriented
            alpha = _alpha(data, header, samples.shape[:2], tags.depth or 10) if header.has_alpha else None
        if samples is not None and samples.dtype == np.uint16:
            full_scale(samples, tags.depth or 10)
    if samples is None:
        return None
    if samples.shape[0] * samples.shape[1] > MAX_DECODE_PIXELS:
        raise UserError(f"{name}: {samples.shape[1]}x{samples.shape[0]} is {_too_many_pixels()}")
    samples = samples if samples.ndim == 3 else samples[..., None]  # grey (a monochrome AVIF or HEIF, a grey PNG)
    if samples.shape[2] in (2, 4):
        alpha = samples[..., -1].astype(np.float32) / np.iinfo(samples.dtype).max
    colour = samples[..., :3] if samples.shape[2] >= 3 else np.repeat(samples[..., :1], 3, axis=2)
    if not tags.full_range:  # (a PNG's RGB: its alpha is full range)
        colour = narrow_to_full(np.ascontiguousarray(colour))
    if not tags.converted:  # (narrow-range BT.709 SDR)
        return over_white(to_rgb8(cv2.cvtColor(colour, cv2.COLOR_RGB2BGR)), alpha, name)
    if colour.dtype == np.uint8:  # (8-bit HDR or wide gamut: widened, each byte repeated)
        colour = colour.astype(np.uint16) * 257
    rgb, description = tone_mapped(colour, tags)
    if tags.transfer in (PQ, HLG):
        note(f"{name}: an HDR picture ({description}): tone-mapped to SDR BT.709 as read (the network and "
             f"the style are SDR)", once=True)
    else:
        note(f"{name}: a wide-gamut picture ({description}): converted to BT.709 primaries as read",
             once=True)
    return over_white(rgb, alpha, name)


def _ffmpeg_still(data: np.ndarray, name: str) -> np.ndarray | None:
    """A JPEG 2000, OpenEXR, PAM, lossless or 12-bit JPEG or JPEG-LS picture decoded by FFmpeg (PyAV,
    loaded for these only) as uint8 RGB, its size checked from its header first (a JPEG without its
    end marker with a note: FFmpeg says nothing of one cut short); None for other formats (OpenCV's
    libjpeg read neither JPEG-LS, FFmpeg's lossless JPEGs nor 12-bit ones; Pillow read one's narrow
    YCbCr as full range, 62 levels off). OpenCV took a JPEG
    2000's YCbCr components (FFmpeg's libopenjpeg writes them) as RGB and its 10- or 12-bit
    samples as 16-bit ones, and refused subsampled ones; it has no OpenEXR decoder here; it read a
    PAM's red as blue, its alpha as colour, unscaled by its maxval. An EXR's linear light is
    encoded with the sRGB curve, clipped above 1 (as ImageMagick shows it, and Radiance pictures
    here), its premultiplied colour over white. The whole file is one packet to the decoder (no
    demuxer's parser, which cut a .jp2 at a codestream inside a metadata box: the codestream
    decoded was not the one whose size was checked)."""
    stated = ffmpeg_still_size(data, name)
    if stated is None:
        return None
    kind, size = stated
    if size is None:
        raise UserError(f"{name}: a damaged {kind} image (its header states no size)")
    if size[0] * size[1] > MAX_DECODE_PIXELS:
        raise UserError(f"{name}: {size[0]}x{size[1]} is {_too_many_pixels()}")
    # FFmpeg decodes an EXR to float planes, 12 bytes a pixel or more: a 441-byte one took 4.4 GB
    if kind == "OpenEXR" and size[0] * size[1] * 12 > MAX_DECODE_BYTES:
        raise UserError(f"{name}: {size[0]}x{size[1]} at 12 bytes a pixel is more than the "
                        f"{MAX_DECODE_BYTES >> 30} GiB of samples an image may decode to")
    decoded = _ffmpeg_decoded(data, name, kind)
    if decoded is not None and jpeg_without_end(data, name):  # (FFmpeg says nothing of one cut short)
        note(f"{name}: {_JPEG_CUT_SHORT}", once=True)
    return decoded


def _ffmpeg_webp(data: np.ndarray, name: str) -> np.ndarray | None:
    """A still WebP that libwebp (OpenCV's and Pillow's) refuses but FFmpeg plays, decoded by
    FFmpeg; None where it is not one or FFmpeg refuses it too. Such files: a RIFF size field
    smaller than the file, a VP8X canvas smaller than its frame, an ICCP or other chunk before the
    frame without a VP8X header. A VP8 or VP8L frame is at most 16383 pixels a side, within the
    pixel limit, so no size is checked before decoding (the frame's own is checked after)."""
    head = bytes(data[:16])
    if head[:4] != b"RIFF" or head[8:12] != b"WEBP" or is_animated_webp(bytes(data[:30])):
        return None
    return _ffmpeg_decoded(data, name, "WebP")


def _ffmpeg_decoded(data: np.ndarray, name: str, kind: str) -> np.ndarray | None:
    """`data`, a still of `kind` (a key of `_FFMPEG_DECODERS`) whose size was checked, decoded by
    FFmpeg as uint8 RGB; None where FFmpeg refuses a kind another decoder may read."""
    import av

    try:
        decoder = av.CodecContext.create(_FFMPEG_DECODERS[kind], "r")
        frame = next(iter([*decoder.decode(av.Packet(bytes(data))), *decoder.decode(None)]))
        if frame.width * frame.height > MAX_DECODE_PIXELS:  # (an EXR's display window: checked too)
            raise UserError(f"{name}: {frame.width}x{frame.height} is {_too_many_pixels()}")
        alpha = any(component.is_alpha for component in frame.format.components)
        if kind == "OpenEXR":
            missing, count = exr_chunks_missing(data, name)
            if missing:
                note(f"{name}: {missing} of its {count} blocks of pixels are not in the file (cut short?); "
                     f"their rows read black", once=True)
            return exr_rgb(frame.reformat(format="gbrapf32le" if alpha else "gbrpf32le")
                            if frame.format.name not in EXR_FORMATS else frame)
        # (any depth, grey, YCbCr or palette, to 8 or 16 bits by FFmpeg)
        wide = any(component.bits > 8 for component in frame.format.components)
        samples = frame.to_ndarray(format=("bgra64le" if alpha else "bgr48le") if wide else
                                   "bgra" if alpha else "bgr24")
    except UserError:
        raise
    except (av.FFmpegError, StopIteration, ValueError) as exc:
        if kind in ("JPEG 2000", "lossless JPEG", "WebP"):  # (OpenCV's OpenJPEG or libjpeg, then Pillow, may
            return None  # read it; a WebP, read by them before, is then said to be unreadable)
        reason = (getattr(exc, "strerror", None) or str(exc)).strip() or "no picture in it"
        raise UserError(f"{name}: a damaged or unsupported {kind} image ({reason[:200]})") from None
    opacity = samples[..., 3].astype(np.float32) / np.iinfo(samples.dtype).max if alpha else None
    profile = _header(data).profile if kind == "JPEG 2000" else None
    return over_white(in_srgb(to_rgb8(samples), profile), opacity, name)


def exr_rgb(frame) -> np.ndarray:
    """An EXR's float frame (planes G, B, R, A, or Y) as uint8 RGB, read from FFmpeg's planes in
    place (`_floats_to_8bit`): copied whole, a 38 KB EXR stating a 8000x8000 display window took
    5.5 GiB."""
    planes = [np.frombuffer(plane, np.float32, count=frame.height * (plane.line_size // 4))
              .reshape(frame.height, plane.line_size // 4)[:, :frame.width] for plane in frame.planes]
    colour = [planes[2], planes[0], planes[1]] if len(planes) >= 3 else planes[:1] * 3
    return _floats_to_8bit(colour, linear=True, alpha=planes[3] if len(planes) == 4 else None)


def _opencv_decode(data: np.ndarray, flags: int) -> tuple[np.ndarray | None, str]:
    """OpenCV's decode, and what to say if it fails. A Radiance picture is read from a temporary
    file of ours, removed whatever happens: imdecode copies one to /tmp/__opencv_temp.* and left
    that copy behind when it raised (a size over its limit; a server's uploads filled /tmp)."""
    import cv2

    try:
        if bytes(data[:10]).startswith(RADIANCE_SIGNATURES):
            return _imread_copy(data, flags), "not a readable image"
        return cv2.imdecode(data, flags), "not a readable image"
    except cv2.error as exc:  # the size check before decoding, or an allocation that failed
        return None, _decode_failure(exc)
    except OSError as exc:  # (no room for the copy)
        return None, f"cannot be decoded: its temporary copy could not be written ({exc.strerror or exc})"


def _imread_copy(data: np.ndarray, flags: int) -> np.ndarray | None:
    """OpenCV's decode of `data` from a temporary file, removed after."""
    import cv2

    handle, path = tempfile.mkstemp(prefix="realtime-adain-radiance-", suffix=".hdr")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(memoryview(np.ascontiguousarray(data)))
        return cv2.imread(path, flags)
    finally:
        os.unlink(path)


def _misread_at_depth(data: np.ndarray, name: str) -> bool:
    """Whether OpenCV misreads the file at its own depth and colour (IMREAD_ANYDEPTH|ANYCOLOR) but
    reads it right as 8-bit colour (IMREAD_COLOR): an OS/2 BMP (a 12-byte header), read as grey,
    and a TIFF of 16-bit samples stored as separate colour planes, read as the picture three times
    over in its top third. A TIFF that neither reads right is refused: float planes, half floats."""
    if bytes(data[:2]) == b"BM" and bytes(data[14:18]) == b"\x0c\0\0\0":
        return True
    tags = tiff_fields(data, (258, 277, 284, 339))  # bits per sample, samples a pixel, planar layout, sample format
    if tags is None:
        return False
    bits, formats = tags.get(258, (1,)), tags.get(339, (1,))
    if 3 in formats and 16 in bits:
        raise UserError(f"{name}: a TIFF of 16-bit (half) float samples cannot be read here; "
                        f"save it as 32-bit float or 16-bit integer samples")
    if tags.get(284, (1,))[0] != 2 or max(tags.get(277, (1,))) < 2 or max(bits) <= 8:
        return False
    if 3 in formats:
        raise UserError(f"{name}: a TIFF of float samples stored as separate colour planes cannot be read here; "
                        f"save it with its samples interleaved (contiguous)")
    return True


def _bmp_16_bit(data: np.ndarray) -> bool:
    """Whether the file is a Windows BMP of 16 bits a pixel (5-5-5 or 5-6-5)."""
    head = bytes(data[:30])
    return (len(head) == 30 and head[:2] == b"BM" and int.from_bytes(head[14:18], "little") >= 40
            and int.from_bytes(head[28:30], "little") == 16)


def _decode_flags(avif_orientation: int | None) -> int:
    """OpenCV's flags: samples at their depth, colour or grey, the EXIF orientation applied
    except in an AVIF (whose irot/imir `_oriented` applies)."""
    import cv2

    ignore = cv2.IMREAD_IGNORE_ORIENTATION if avif_orientation else 0
    return cv2.IMREAD_ANYDEPTH | cv2.IMREAD_ANYCOLOR | ignore


def _oriented(image: np.ndarray, avif_orientation: int | None) -> np.ndarray:
    """An AVIF's stored pixels turned and mirrored as its irot/imir say (`_avif_orientation`)."""
    if not avif_orientation or avif_orientation not in _ORIENT:
        return image
    return np.ascontiguousarray(_ORIENT[avif_orientation](image))


def _avif_orientation(data: np.ndarray) -> int | None:
    """An AVIF's orientation as EXIF numbers it, from its irot/imir boxes (Pillow's AVIF plugin reads
    them; no pixel is decoded); None for other files, or where Pillow cannot open it (OpenCV's
    reading stands). OpenCV applied the EXIF orientation, which MIAF says to ignore, and not the
    boxes: a phone's portrait AVIF was read sideways, a mirrored one unmirrored."""
    head = bytes(data[:12])
    if head[4:8] != b"ftyp" or head[8:12] not in (b"avif", b"avis"):
        return None
    try:
        with open_with_pillow(data) as header:
            return header.getexif().get(0x0112, 1) if header.format == "AVIF" else None
    except Exception:  # noqa: BLE001 - no AVIF plugin in this Pillow, or a damaged file: OpenCV says
        return None


def _pillow_samples(data: np.ndarray, name: str) -> np.ndarray | None:
    """Pillow's decode (8 bits: its AVIF plugin's) as RGB(A), oriented, its size checked first;
    None where Pillow cannot read the file."""
    from PIL import ImageOps

    try:
        with open_with_pillow(data) as image:
            if image.width * image.height > MAX_DECODE_PIXELS:
                raise UserError(f"{name}: {image.width}x{image.height} is {_too_many_pixels()}")
            image.load()
            image = ImageOps.exif_transpose(image)
            return np.array(image.convert("RGBA" if "A" in image.mode or "transparency" in image.info else "RGB"))
    except UserError:
        raise
    except Exception:  # noqa: BLE001 - not a format Pillow reads, or damaged: the 8-bit path says why
        return None


def _heif_samples(data: np.ndarray, name: str) -> np.ndarray | None:
    """A HEIF picture's RGB(A) at its full depth (pillow-heif scales 10 and 12 bits to 16), its
    size checked before the pixels are decoded; None without pillow-heif."""
    try:
        from pillow_heif import open_heif
    except ImportError:
        return None
    try:
        heif = open_heif(io.BytesIO(bytes(data)), convert_hdr_to_8bit=False)
        width, height = heif.size
        if width * height > MAX_DECODE_PIXELS:
            raise UserError(f"{name}: {width}x{height} is {_too_many_pixels()}")
        return np.asarray(heif)
    except UserError:
        raise
    except Exception as exc:  # noqa: BLE001 - libheif's errors: a damaged or unsupported file
        reason = next(iter(str(exc).strip().splitlines()), "") or type(exc).__name__
        raise UserError(f"{name}: a damaged or unsupported {_heif_kind(bytes(data[:16]))} image "
                        f"({reason[:200]})") from None


def first_frame_only_note(path: Path) -> str | None:
    """What to say when an animated GIF/PNG/WebP or a multi-page TIFF gives only its first
    picture (the rest would be dropped silently); None for one picture."""
    frames = frame_count(path)
    if frames <= 1:
        return None
    unit = "pages" if path.suffix.lower() in (".tif", ".tiff") else "frames"
    return f"{path} has {frames} {unit}; only the first is used"


def frame_count(path: str | os.PathLike) -> int:
    """How many frames (animated GIF, PNG, WebP, AVIF) or pages (TIFF) a file holds; only the first
    is read. 1 for other formats, and for a camera's multi-picture JPEG (its first is the photo)."""
    try:
        with open_with_pillow(Path(path).read_bytes()) as image:
            if (image.format not in ("GIF", "PNG", "WEBP", "AVIF", "TIFF")
                    or image.width * image.height > MAX_DECODE_PIXELS):
                return 1  # (counting a GIF's frames allocates one: a bomb's is not counted)
            return image.n_frames
    except Exception:  # noqa: BLE001 - a file Pillow cannot open or walk: read as one picture
        return 1


# Modes whose pixels an RGB colour profile describes (Pillow's names).
_RGB_MODES = ("RGB", "RGBA", "RGBX", "RGBa", "P", "PA")
_PREMULTIPLIED = {"RGBa": "RGBA", "La": "LA"}  # Pillow's modes of premultiplied alpha, and their straight ones
# Pillow formats never decoded here: EPS runs Ghostscript on the file.
_PILLOW_REFUSED = ("EPS",)
# Signatures of formats neither OpenCV nor Pillow reads here: (prefix, offset, what the error says).
_UNSUPPORTED = ((b"\xff\x0a", 0, "JPEG XL"), (b"\0\0\0\x0cJXL \r\n\x87\n", 0, "JPEG XL"))
# A grey or colour PNM's header (P2, P3, P5, P6): its last number is its maxval, the sample that is white.
_PNM_MAGICS = (b"P2", b"P3", b"P5", b"P6")
_PNM_HEADER = re.compile(rb"P[2356](?:(?:\s|#[^\r\n]*[\r\n])+(\d+)){3}\s")
_JPEG_CUT_SHORT = "the file ends before its picture does (cut short?); the rest of the picture is missing"
_CUT_SHORT = {"JPEG": "the JPEG has no end marker: cut short?", "PNG": "the PNG does not end with its IEND chunk: "
              "cut short?", "WebP": "the WebP is shorter than its header says: cut short?",  # (`looks_cut_short`)
              "PNG data": "the PNG's image data ends before its picture does: cut short?"}  # (`png_data_short`)
_FFMPEG_DECODERS = {"JPEG 2000": "jpeg2000", "OpenEXR": "exr", "PAM": "pam", "lossless JPEG": "mjpeg",
                    "12-bit JPEG": "mjpeg", "JPEG-LS": "jpegls", "WebP": "webp"}  # (`_ffmpeg_still`, `_ffmpeg_webp`)
EXR_FORMATS = ("gbrpf32le", "gbrapf32le", "grayf32le")  # what FFmpeg's EXR decoder gives


# The major brands (in the MP4-style "ftyp" box) of HEIC/HEIF, iPhones' photo format: pillow-heif decodes them.
_HEIF_BRANDS = {b"heic": "HEIC", b"heix": "HEIC", b"hevc": "HEIC", b"heim": "HEIC", b"heis": "HEIC",
                b"hevx": "HEIC", b"mif1": "HEIF", b"msf1": "HEIF"}
_HEIF_INSTALL = 'pip install "realtime-adain[heif]"'


def _heif_kind(head: bytes) -> str | None:
    """"HEIC" or "HEIF" when the file starts as one (None otherwise)."""
    return _HEIF_BRANDS.get(head[8:12]) if head[4:8] == b"ftyp" else None


@functools.lru_cache(maxsize=1)
def _heif_registered() -> bool:
    """Register pillow-heif's opener with Pillow, once, when the first HEIC/HEIF file is met (so a
    run without one never imports it); False when it is not installed."""
    try:
        from pillow_heif import register_heif_opener
    except ImportError:
        return False
    register_heif_opener()  # 10-bit pictures then decode to 8-bit RGB (its default), orientation applied
    return True


def needs_heif_extra(head: bytes) -> bool:
    """Whether a file starting with `head` (16 bytes or more) is a HEIC/HEIF picture that only
    the `heif` extra reads, and it is not installed (`live` then plays it through FFmpeg)."""
    return _heif_kind(head) is not None and not _heif_registered()


def is_animated_webp(head: bytes) -> bool:
    """Whether a file starting with `head` (30 bytes or more) is an animated WebP: an extended
    header (VP8X) whose flags say animation. Pillow reads only its first frame here (`frame_count`
    says so), and FFmpeg 8.1 decodes none of its frames."""
    return head[:4] == b"RIFF" and head[8:16] == b"WEBPVP8X" and len(head) > 20 and bool(head[20] & 0x02)


def _is_video(head: bytes) -> bool:
    """Whether a file that no image decoder read starts as a video container does (MP4/MOV, after
    HEIC/HEIF and AVIF, which share MP4's box: a damaged AVIF is not called a video; Matroska/WebM,
    AVI, MPEG-TS and -PS, FLV, Ogg, ASF)."""
    return ((head[4:8] == b"ftyp" and head[8:12] != b"avif")
            or head.startswith((b"\x1a\x45\xdf\xa3", b"FLV\x01", b"OggS", b"\x00\x00\x01\xba",
                                b"\x30\x26\xb2\x75\x8e\x66\xcf\x11"))
            or (head.startswith(b"RIFF") and head[8:12] == b"AVI ") or (head[:1] == b"\x47" and head[188:189] == b"\x47"))


def _unsupported_format(data: np.ndarray) -> str | None:
    """What to say about a file in a format known but not decodable here (None: not recognised)."""
    head = bytes(data[:1024])
    kind = _heif_kind(head)
    if kind:  # (with pillow-heif, `_pillow_rgb` has said what is wrong)
        return f"{kind} images need pillow-heif: {_HEIF_INSTALL}"
    for signature, offset, kind in _UNSUPPORTED:
        if head[offset:offset + len(signature)] == signature:
            return f"{kind} images cannot be read here; convert it to PNG or JPEG"
    if _is_video(head):
        return "a video or sound file, not an image (`realtime-adain video` stylizes videos)"
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if b"<svg" in text and text.startswith((b"<?xml", b"<!doctype", b"<!--", b"<svg")):
        return "an SVG drawing, not a raster image; export it to PNG first"
    if head.startswith(b"\x1f\x8b"):
        return "a gzip-compressed file (an .svgz drawing?), not an image"
    if head.startswith(b"%PDF"):
        return "a PDF document, not an image; export the page to PNG first"
    return None


def _pillow_rgb(data: np.ndarray, name: str) -> np.ndarray | None:
    """Pillow's decode of the first frame as (H, W, 3) uint8 RGB, colours managed by LittleCMS,
    orientation applied, alpha over white; None where Pillow cannot read the file. The size is
    checked from the header before any pixel is decoded (a bomb is refused, not decoded)."""
    from PIL import ImageOps

    try:
        with open_with_pillow(data) as image:
            if image.format in _PILLOW_REFUSED:
                return None
            if image.width * image.height > MAX_DECODE_PIXELS:
                raise UserError(f"{name}: {image.width}x{image.height} is {_too_many_pixels()}")
            with _native_stderr_captured():  # (libtiff's lines on a damaged TIFF: OpenCV's say why)
                image.load()
            return _pillow_to_rgb(ImageOps.exif_transpose(image), name, image.format)  # (the copy has no format)
    except UserError:
        raise
    except Exception as exc:  # noqa: BLE001 - not a format Pillow reads, or damaged: OpenCV's verdict stands
        kind = _heif_kind(bytes(data[:16]))
        if kind and _heif_registered():  # only pillow-heif reads it: its reason, not "not a readable image"
            reason = next(iter(str(exc).strip().splitlines()), "") or type(exc).__name__
            raise UserError(f"{name}: a damaged or unsupported {kind} image ({reason[:200]})") from None
        return None


def pillow_image_rgb(image) -> np.ndarray:
    """A caller's Pillow image as uint8 RGB, its pixels as `read_image` reads a file of them: 16-bit
    and float grey scaled, alpha over white, an embedded profile applied. Pillow's `convert("RGB")`
    made 16-bit grey white (clipped), float grey black and transparent pixels their hidden colour.
    EXIF orientation stays the caller's (Pillow leaves it; `ImageOps.exif_transpose` applies it)."""
    return _pillow_to_rgb(image)


def _pillow_to_rgb(image, name: str | None = None, file_format: str | None = None) -> np.ndarray:
    """A loaded Pillow image as uint8 RGB: CMYK and Lab through LittleCMS (the embedded CMYK
    profile, else the naive inversion browsers use), 16-bit grey scaled, 32-bit integer grey by its
    values (`_integer_levels`), alpha over white (premultiplied alpha, `RGBa` and `La`, too: its
    colours were taken as they are, black where transparent, and `La` was refused). `file_format`:
    Pillow's name for the file it was read from, where `image` (a copy) no longer says."""
    from PIL import ImageCms

    if image.mode in _PREMULTIPLIED:
        image = image.convert(_PREMULTIPLIED[image.mode])
    profile = image.info.get("icc_profile")
    if image.mode in ("CMYK", "LAB"):
        transform = _transform_to_srgb(bytes(profile), "CMYK") if image.mode == "CMYK" and profile else None
        transform = _lab_to_srgb() if image.mode == "LAB" else transform
        rgb = ImageCms.applyTransform(image, transform) if transform else image.convert("RGB")
        return np.array(rgb)  # writable: torch warns about read-only arrays
    if image.mode in ("I", "I;16", "I;16L", "I;16B", "I;16N", "F"):
        samples = np.asarray(image)
        key = image.info.get("transparency")  # (a grey PNG's tRNS: the sample value that is transparent)
        # (uint8, 1 byte a pixel: a float32 alpha of a 2^28-pixel picture was 1 GiB more)
        alpha = (samples != key).view(np.uint8) * np.uint8(255) if isinstance(key, int) and image.mode != "F" else None
        if image.mode == "I" and (file_format or image.format) not in _SIXTEEN_BIT_I:
            samples = _integer_levels(samples, name)
        elif image.mode != "F":
            samples = np.clip(samples, 0, 65535).astype(np.uint16)
        return over_white(to_rgb8(samples, name=name), alpha, name)
    profile = bytes(profile) if profile and image.mode in _RGB_MODES else None
    alpha = None
    if "A" in image.mode or "transparency" in image.info:
        image = image.convert("RGBA")
        alpha = np.asarray(image)[..., 3].astype(np.float32) / 255.0
    return over_white(in_srgb(np.array(image.convert("RGB")), profile), alpha, name)


def _integer_levels(samples: np.ndarray, name: str | None) -> np.ndarray:
    """32-bit integer grey (Pillow's mode "I": `convert("I")` of an 8-bit picture, an int32 array,
    a 32-bit integer TIFF), whose scale no file states, told by its values as float samples' is
    (`_floats_out_of_255`): none outside 0..255, 8-bit levels (read as 16-bit, an ordinary
    picture came out nearly black); else 16-bit, those below 0 or above 65535 clipped (as float
    highlights are: there is no white to scale by), with the picture's `name` a note saying which."""
    low, high = (int(samples.min()), int(samples.max())) if samples.size else (0, 0)
    if low >= 0 and high <= 255:
        if name is not None:
            note(f"{name}: its 32-bit integer samples are read as 8-bit levels (none is above 255)", once=True)
        return samples.astype(np.uint8)
    if name is not None and (low < 0 or high > 65535):
        note(f"{name}: its 32-bit integer samples run from {low} to {high}: read as 16-bit levels, "
             f"those outside 0..65535 clipped", once=True)
    return np.clip(samples, 0, 65535).astype(np.uint16)


# Pillow formats whose mode "I" pictures hold 16-bit levels: a PNM of maxval over 255, which Pillow
# scales to 0..65535 (`_integer_levels` would take a dark one as 8-bit).
_SIXTEEN_BIT_I = ("PPM",)


# EXIF orientation -> the same change of the stored pixels as OpenCV's decoder applies.
_ORIENT = {2: lambda a: a[:, ::-1], 3: lambda a: a[::-1, ::-1], 4: lambda a: a[::-1], 5: lambda a: a.swapaxes(0, 1),
           6: lambda a: np.rot90(a, -1), 7: lambda a: a[::-1, ::-1].swapaxes(0, 1), 8: lambda a: np.rot90(a)}


class _Header(NamedTuple):
    """What OpenCV's decode leaves out, from the file's header (read by Pillow)."""

    profile: bytes | None = None  # an embedded ICC profile
    has_alpha: bool = False  # RGBA, grey+alpha, or a palette with a transparent entry
    orientation: int = 1  # EXIF orientation, which OpenCV applies to the colour
    mode: str = ""  # Pillow's name for the pixels' layout: "RGB", "CMYK", "LAB", "L", ...
    format: str = ""  # Pillow's name for the file format: "PNG", "TIFF", ...


class _BufferStream(io.RawIOBase):
    """A read-only file over a buffer's bytes, without the copy io.BytesIO makes: each Pillow
    open of a file (its header, then its pixels) took as much memory again as the file."""

    def __init__(self, data: np.ndarray | bytes):
        super().__init__()
        self._view = memoryview(np.ascontiguousarray(data) if isinstance(data, np.ndarray) else data).cast("B")
        self._at = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._at

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        self._at = max(0, offset + (0, self._at, len(self._view))[whence])
        return self._at

    def readinto(self, buffer) -> int:
        piece = self._view[self._at:self._at + len(buffer)]
        memoryview(buffer).cast("B")[:len(piece)] = piece
        self._at += len(piece)
        return len(piece)


def open_with_pillow(data: np.ndarray | bytes):
    """`PIL.Image.open` of the bytes without its pixel limit (179 MP, below MAX_DECODE_PIXELS: a
    large panorama lost its profile and alpha), which callers check before decoding. Raises as
    Image.open does (UnidentifiedImageError for an unknown format)."""
    from PIL import Image, UnidentifiedImageError

    Image.init()
    stream = io.BufferedReader(_BufferStream(data))
    prefix = stream.read(16)
    if _heif_kind(prefix):
        _heif_registered()
    for kind in Image.ID:  # as Image.open tries each format, less its _decompression_bomb_check
        factory, accept = Image.OPEN[kind]
        try:
            accepted = accept is None or accept(prefix)
            if accepted and not isinstance(accepted, str):  # a string: a warning, not this format
                stream.seek(0)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    return factory(stream, "")
        except (SyntaxError, IndexError, TypeError, struct.error):  # not this format
            continue
    raise UnidentifiedImageError("cannot identify image file")


def _header(data: np.ndarray) -> _Header:
    try:
        with _native_stderr_captured(), open_with_pillow(data) as header:
            # (`La`, premultiplied grey: its alpha was dropped, OpenCV reading it as grey)
            has_alpha = "A" in header.mode or header.mode in _PREMULTIPLIED or "transparency" in header.info
            profile = header.info.get("icc_profile")
            return _Header(bytes(profile) if profile else None, has_alpha,
                           _orientation(header) if has_alpha else 1, header.mode, header.format or "")
    except Exception:  # noqa: BLE001 - a format or file Pillow cannot open: OpenCV's decode stands
        return _Header()


def _orientation(image) -> int:
    """The EXIF orientation of an opened Pillow image, read from its header: Pillow's PNG getexif()
    decodes the whole picture looking for an eXIf chunk after the pixels."""
    from PIL import Image

    if image.format != "PNG":
        return image.getexif().get(0x0112, 1)
    exif = Image.Exif()
    if image.info.get("exif"):
        exif.load(image.info["exif"])
    return exif.get(0x0112, 1)


def _alpha(data: np.ndarray, header: _Header, shape: tuple[int, ...], depth: int = 16) -> np.ndarray | None:
    """The image's alpha (0..1 float32, (H, W) as decoded and oriented), None if it cannot be had;
    16-bit samples hold `depth` bits (an AVIF's 10 or 12)."""
    import cv2

    with _native_stderr_captured():
        stored = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)  # keeps alpha, ignores the orientation
    if stored is None or stored.ndim != 3 or stored.shape[2] not in (2, 4):
        return None
    alpha = _ORIENT.get(header.orientation, lambda a: a)(stored[..., -1])
    if alpha.shape != tuple(shape):
        return None
    full = {np.dtype(np.uint8): 255.0, np.dtype(np.uint16): float((1 << depth) - 1)}.get(alpha.dtype, 1.0)
    return np.clip(alpha.astype(np.float32) / full, 0.0, 1.0)


# What reading a picture's transparent areas over white means for it (`over_white`'s note): a
# mask's (`read_mask`) is what it selects, not its result's lack of transparency.
_OVER_WHITE_MEANS = contextvars.ContextVar("over_white_means", default="results have no transparency")


def over_white(rgb: np.ndarray, alpha: np.ndarray | None, name: str | None = None) -> np.ndarray:
    """(H, W, 3) uint8 composited over white by `alpha` (0..1 float, or uint8 0..255 as a video
    frame's): transparent areas read as viewers show them, not as whatever colour (often black)
    they store. With the picture's `name`, a note says so (results have no alpha)."""
    full = 255 if alpha is not None and alpha.dtype == np.uint8 else 1.0
    if alpha is None or alpha.min() >= full:
        return rgb
    if name is not None:
        note(f"{name}: its transparent areas are read as over white ({_OVER_WHITE_MEANS.get()})", once=True)
    out = np.empty_like(rgb)
    for top in range(0, rgb.shape[0], 512):  # in bands: float copies of a whole large picture take GiBs
        weight = alpha[top:top + 512, :, None] / np.float32(full)
        band = rgb[top:top + 512].astype(np.float32) * weight + 255.0 * (1.0 - weight) + 0.5
        out[top:top + 512] = band.astype(np.uint8)
    return out


def in_srgb(rgb: np.ndarray, profile: bytes | None) -> np.ndarray:
    """`rgb` converted to sRGB from the file's embedded RGB colour `profile` (Adobe RGB, Display P3
    from phones, ProPhoto): OpenCV ignores profiles, so such pictures came out dull. LittleCMS
    (Pillow's ImageCms) does the conversion, perceptual intent."""
    transform = _transform_to_srgb(profile) if profile else None
    if transform is None:
        return rgb
    from PIL import Image, ImageCms

    return np.array(ImageCms.applyTransform(Image.fromarray(rgb), transform))


@functools.lru_cache(maxsize=16)
def _transform_to_srgb(profile: bytes | None, mode: str = "RGB"):
    """A cached LittleCMS transform from a `mode` ("RGB" or "CMYK") `profile` to sRGB (None: a
    profile of another colour space, an sRGB one, or unreadable: the pixels are used as they are)."""
    from PIL import ImageCms

    if not profile:
        return None
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(profile))
        if source.profile.xcolor_space.strip() != mode:
            return None
        transform = ImageCms.buildTransform(source, ImageCms.createProfile("sRGB"), mode, "RGB")
        if mode == "RGB" and _changes_nothing(transform):
            return None  # sRGB already (most cameras' JPEGs): 0.25 s a 12 MP photo saved
        return transform
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        return None


def _changes_nothing(transform) -> bool:
    """Whether an RGB transform leaves every colour of a 17-level cube within two levels: by what
    it does, not by its profile's name ("GIMP built-in Linear sRGB" said sRGB and was not
    converted: its pictures came out far too dark)."""
    from PIL import Image, ImageCms

    levels = np.minimum(np.arange(17) * 16, 255).astype(np.uint8)
    cube = np.stack(np.meshgrid(levels, levels, levels, indexing="ij"), axis=-1).reshape(17, 289, 3)
    out = np.asarray(ImageCms.applyTransform(Image.fromarray(np.ascontiguousarray(cube)), transform))
    return int(np.abs(out.astype(np.int16) - cube).max()) <= 2


@functools.lru_cache(maxsize=1)
def _lab_to_srgb():
    """CIE L*a*b* (D50, as ICC and Photoshop's Lab TIFFs define it) to sRGB."""
    from PIL import ImageCms

    return ImageCms.buildTransform(ImageCms.createProfile("LAB"), ImageCms.createProfile("sRGB"), "LAB", "RGB")


@contextlib.contextmanager
def _native_stderr_captured() -> Iterator[list[str]]:
    """libpng and libjpeg print warnings and errors straight to the process's stderr; collect them
    (as lines) so a bad file is one line of ours and a harmless warning is not shown at all.
    On the main thread, or one `capturing_here` (fd 2 is shared: another thread's output must not
    be taken; our own line writers wait on STDERR_LOCK meanwhile)."""
    lines: list[str] = []
    if threading.current_thread() is not threading.main_thread() and not getattr(_capture, "here", False):
        yield lines
        return
    with STDERR_LOCK:
        sys.stderr.flush()
        saved = os.dup(2)
        try:
            with _stderr_sink() as sink:
                os.dup2(sink.fileno(), 2)
                try:
                    yield lines
                finally:
                    os.dup2(saved, 2)
                    sink.seek(0)
                    lines += sink.read(4096).decode(errors="replace").splitlines()
        finally:
            os.close(saved)


def _stderr_sink() -> IO[bytes]:
    """A file for `_native_stderr_captured` to collect lines in: in memory where the system allows
    (Linux's memfd), as a temporary file elsewhere. A temporary file alone made every decode need a
    writable $TMPDIR: in a container with a read-only root and one writable output volume, `image`
    and `video` stopped with "No usable temporary directory found"."""
    if hasattr(os, "memfd_create"):
        try:
            return os.fdopen(os.memfd_create("realtime-adain-native-stderr", os.MFD_CLOEXEC), "w+b")
        except OSError:  # (a kernel without memfd)
            pass
    return tempfile.TemporaryFile()


_capture = threading.local()


@contextlib.contextmanager
def capturing_here() -> Iterator[None]:
    """Within it, this thread (not the main one) catches the native libraries' lines as the main
    thread does: `live`'s rescan, whose decoder printed "libpng error: ..." lines between the log's
    and left out the "cut short" note the first scan gives. The other threads' writers of that
    session take STDERR_LOCK."""
    _capture.here = True
    try:
        yield
    finally:
        _capture.here = False


_LOG_PREFIX = re.compile(r"^\[\s*\w+:\d+@[\d.]+\]\s+global\s+\S+\s+\S+\s+")  # "[ERROR:0@1.3] global loadsave.cpp:1390 imdecode_ "
_CV_ERROR = re.compile(r"OpenCV\([^)]*\) \S+: error: \([^)]*\) ")  # "OpenCV(5.0.0) /io/.../bitstrm.cpp:59: error: (-2:...) "


def _readable(line: str) -> str:
    """A native library's log line as the words that say what is wrong (no log prefix, no source path)."""
    line = _CV_ERROR.sub("", _LOG_PREFIX.sub("", line.strip()))
    return re.sub(r"^im(?:decode|read)_\('[^']*'\): ", "", line).strip()  # (imread_: `_imread_copy`'s file)


def _too_many_pixels() -> str:
    return f"larger than the {MAX_DECODE_PIXELS} pixels an image may have (OPENCV_IO_MAX_IMAGE_PIXELS)"


def _decode_failure(exc: Exception) -> str:
    text = str(exc)
    if "MAX_IMAGE_PIXELS" in text or "validateInputImageSize" in text:
        return f"the image is {_too_many_pixels()}"
    if "alloc" in text.lower():
        return "not enough memory to decode this image"
    return "not a readable image"


def to_rgb8(image: np.ndarray, linear: bool = False, name: str | None = None) -> np.ndarray:
    """Normalise an OpenCV-decoded array (BGR order, any depth or channel count) to uint8 RGB.

    Float samples are 0..1 (values above 1 are highlights, clipped), or 0..255 as some TIFF
    writers store them (`_floats_out_of_255`; with the picture's `name`, a note says that
    reading). `linear` (Radiance, PFM, OpenEXR): linear light, always 0..1-based, encoded with the
    sRGB curve.
    """
    import cv2

    if image.dtype == np.uint16:
        image = cv2.convertScaleAbs(image, alpha=255.0 / 65535.0)  # rounded, with no float copy (GiBs near the limit)
    elif image.dtype in (np.float32, np.float64):
        why = None if linear else _floats_out_of_255(image)
        scale = 1.0 if why is None else 1 / 255
        if why is not None and name is not None:
            note(f"{name}: its float samples are read as 0..255, not 0..1 ({why})", once=True)
        channels = [image] if image.ndim == 2 else [image[..., channel] for channel in range(min(3, image.shape[2]))]
        image = _floats_to_8bit(channels, linear, scale=scale)
    elif image.dtype != np.uint8:
        raise UserError(f"unsupported image sample type {image.dtype}")
    if image.ndim == 3 and image.shape[2] == 4:  # IMREAD_ANYCOLOR drops alpha; kept for callers decoding otherwise
        image = image[..., :3]
    if image.dtype != np.uint8:
        image = (np.clip(image, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    if image.ndim == 2 or image.shape[2] == 1:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def _floats_out_of_255(image: np.ndarray) -> str | None:
    """Why float samples are taken as stored 0..255, not 0..1 (None: 0..1). Bright (the 99th
    percentile above 16) and either most of the lit samples above 1, or the brightest exactly 255
    (8-bit white, clipped). By the bright end alone, a 0..1 photo whose sky was stored at 20 (HDR
    highlights, 7 % of it) read 255 times too dark, nearly black; a 0..255 picture mostly black (a
    logo on black) is told by its lit samples, a dark one with a few white stars by its 255."""
    if not image.size:
        return None
    sample = image[::max(1, image.shape[0] // 256), ::max(1, image.shape[1] // 256)].astype(np.float32)
    sample = np.nan_to_num(sample, nan=0.0, posinf=0.0, neginf=0.0)
    if not np.percentile(sample, 99) > 16.0:
        return None
    lit = sample[sample > 0]
    if lit.size and np.median(lit) > 1.0:
        return "most of its lit samples are above 1"
    with np.errstate(invalid="ignore"):
        return "its brightest are 255, white in 8 bits" if np.nanmax(image) == 255.0 else None


def _floats_to_8bit(channels: list[np.ndarray], linear: bool, scale: float = 1.0,
                    alpha: np.ndarray | None = None) -> np.ndarray:
    """(H, W) float channels -> (H, W, C) uint8, as `to_rgb8` says (times `scale`; premultiplied
    colour over white by `alpha`), `STRIP_SAMPLES` at a time: a copy of the whole picture at each
    step took 5.5 GiB for 64 MP. NaN is 0, +inf 1 (a half float's overflow: a highlight, white)."""
    height, width = channels[0].shape
    out = np.empty((height, width, len(channels)), np.uint8)
    rows = max(1, STRIP_SAMPLES // max(1, width * len(channels)))
    for top in range(0, height, rows):
        strip = np.stack([channel[top:top + rows] for channel in channels], axis=-1).astype(np.float32, copy=False)
        np.nan_to_num(strip, copy=False, nan=0.0)  # (infinities: the largest floats, clipped below)
        if scale != 1.0:
            strip *= np.float32(scale)
        if alpha is not None:
            strip += 1.0 - np.clip(np.nan_to_num(alpha[top:top + rows], nan=0.0), 0.0, 1.0)[..., None]
        np.clip(strip, 0.0, 1.0, out=strip)
        if linear:
            strip = np.where(strip <= 0.0031308, 12.92 * strip, 1.055 * np.power(strip, 1 / 2.4) - 0.055)
        out[top:top + rows] = strip * 255.0 + 0.5
    return out


def read_mask(path: str | os.PathLike) -> np.ndarray:
    """A grayscale mask as (H, W) bool: True (white) selects the first style (the mean of its
    channels at least 128), worked out in strips of integer sums: the mean as one float64 array
    took 2 GiB and 13 s for a 16000x16000 mask (a 277 KB PNG). Its transparent areas are white,
    and a note says what they select."""
    said = _OVER_WHITE_MEANS.set("so they select the first style: a mask is read by its grey, not its transparency")
    try:
        rgb = read_image(path)
    finally:
        _OVER_WHITE_MEANS.reset(said)
    mask = np.empty(rgb.shape[:2], bool)
    rows = max(1, STRIP_SAMPLES // max(1, 3 * rgb.shape[1]))
    for top in range(0, rgb.shape[0], rows):
        strip = rgb[top:top + rows]
        total = strip[..., 0].astype(np.uint16)
        total += strip[..., 1]
        total += strip[..., 2]
        np.greater_equal(total, 3 * 128, out=mask[top:top + rows])
    return mask


def mask_labels(mask: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Per-pixel style indices at `shape` (h, w): 0 where the mask is white, 1 where black."""
    import cv2

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


def read_style(path: Path, style_size: int | None, option: str = "--style-size") -> np.ndarray:
    """A style image as it is stored, refused where it is too large at `style_size` (`check_style`)."""
    image = read_image(path)
    check_style(path, image, style_size, option=option)
    return image


def check_style(path: Path, image: np.ndarray, style_size: int | None, max_pixels: int | None = None,
                option: str = "--style-size", budget_option: str | None = None) -> None:
    """Refuse (one line naming it) a style image that encoded at `style_size` would be over
    `style_budget` or MAX_SIDE a side: a strip 1 pixel high at 512 is 512x102400, tens of GB of
    features (`live` was OOM-killed, `bench video` ran 9 minutes to the OOM killer)."""
    check_pixel_budget(path, *image.shape[:2], style_size, style_budget(max_pixels), option, budget_option)


def resize(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize (H, W, C) uint8 to `size` = (width, height): area filter down, bicubic up."""
    import cv2

    if (image.shape[1], image.shape[0]) == tuple(size):
        return image
    shrinking = size[0] * size[1] < image.shape[0] * image.shape[1]
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_CUBIC)


# The most pixels a side these formats hold (WebP's 14-bit sizes; libjpeg's limit): OpenCV's encoders
# refuse more with native error lines on stderr and a failure that gives no reason.
ENCODE_MAX_SIDE = {".webp": 16383, ".jpg": 65500, ".jpeg": 65500}


def check_encodable(path: Path, width: int, height: int) -> None:
    """Refuse a picture of width x height that `path`'s format cannot hold (ENCODE_MAX_SIDE):
    commands call it with a result's size before any work, so a batch is not stopped halfway."""
    limit = ENCODE_MAX_SIDE.get(path.suffix.lower())
    if limit and max(width, height) > limit:
        raise UserError(f"{path}: a {path.suffix.lstrip('.').upper()} image holds at most {limit} pixels a side, "
                        f"this one is {width}x{height} (write .png or .tif)")


def write_image(path: str | os.PathLike, rgb: np.ndarray) -> None:
    """Encode by the extension and write via a temporary file, so no half-written image remains."""
    import cv2

    path = Path(path)
    check_encodable(path, rgb.shape[1], rgb.shape[0])
    ok, encoded = cv2.imencode(path.suffix or ".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    if not ok:
        raise UserError(f"{path}: cannot encode an image with extension '{path.suffix}'")
    atomic_write_bytes(path, encoded.tobytes())
