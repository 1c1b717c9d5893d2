"""An encoded still picture's bytes decoded as (H, W, 3) uint8 RGB (`decode_still`, behind
`imageio.decode_image`): which decoder reads which file (OpenCV at the file's own depth; FFmpeg
for JPEG 2000, OpenEXR, PAM, lossless and 12-bit JPEG, JPEG-LS, DPX, SGI, XWD and PHM; Pillow,
`pillow_stills`, where OpenCV has no decoder or misreads; HDR and wide-gamut stills at full depth, `hdr_stills`), each
size checked from its header first, orientation and alpha applied, and what to say of a file
none reads (cut short, a video, an SVG, JPEG XL). Apart from `imageio`, the file side: names,
bytes read safely, masks, styles and writing."""

from __future__ import annotations

import io
import os
import re
import struct
import tempfile

import numpy as np  # (OpenCV: imported where used, so a broken one stops only what needs it)

from realtime_adain.errors import UserError
from realtime_adain.hdr_stills import (HLG, PQ, HdrTags, coded_depth, colour_tags, full_scale, narrow_to_full,
                                       tone_mapped)
from realtime_adain.icc import transform_to_srgb, in_srgb
from realtime_adain.jpeg_headers import check_jpeg, jpeg_without_end
from realtime_adain.native_stderr import native_stderr_captured, readable_line
from realtime_adain.notes import note
from realtime_adain.opencv_headers import (RADIANCE_SIGNATURES, check_bmp, gif_sample_bytes, looks_cut_short,
                                           png_data_short, png_sample_bytes, radiance_sample_bytes, tiff_fields,
                                           tiff_sample_bytes, webp_sample_bytes)
from realtime_adain.picture_sizes import MAX_DECODE_BYTES, MAX_DECODE_PIXELS, too_many_pixels
from realtime_adain.pillow_stills import (RGB_MODES, PillowHeader, alpha_unused, pillow_header, heif_kind,
                                          hidden_default_image, pillow_orientation, pillow_rgb, pillow_samples,
                                          open_with_pillow)
from realtime_adain.rgb8 import floats_to_8bit, over_white, to_rgb8
from realtime_adain.still_headers import exif_orientation, exr_chunks_missing, ffmpeg_still_size, sgi_data_short

# PFM's signatures (colour, grey), each followed by whitespace.
_PFM_SIGNATURES = (b"PF", b"Pf")

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
                    "12-bit JPEG": "mjpeg", "JPEG-LS": "jpegls", "WebP": "webp", "DPX": "dpx", "SGI": "sgi",
                    "XWD": "xwd", "PHM": "phm"}  # (`_ffmpeg_still`, `_ffmpeg_webp`)
# Those FFmpeg decodes to float samples, 12 bytes a pixel (4 grey): linear light (PHM, as a PFM: `_linear_light`).
_FLOAT_KINDS = ("OpenEXR", "PHM")
EXR_FORMATS = ("gbrpf32le", "gbrapf32le", "grayf32le")  # what FFmpeg's EXR decoder gives

_HEIF_INSTALL = 'pip install "realtime-adain[heif]"'

# EXIF orientation -> the same change of the stored pixels as OpenCV's decoder applies.
_ORIENT = {2: lambda a: a[:, ::-1], 3: lambda a: a[::-1, ::-1], 4: lambda a: a[::-1], 5: lambda a: a.swapaxes(0, 1),
           6: lambda a: np.rot90(a, -1), 7: lambda a: a[::-1, ::-1].swapaxes(0, 1), 8: lambda a: np.rot90(a)}


def decode_still(data: np.ndarray, name: str) -> np.ndarray:
    import cv2

    check_jpeg(data, name, MAX_DECODE_PIXELS)  # (before any decoder: OpenCV, Pillow and FFmpeg each read every scan)
    check_bmp(data, name, MAX_DECODE_PIXELS)
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
        decoded = pillow_rgb(data, name)  # OpenCV scales only an ASCII 8-bit one by its maxval: a 10-bit
        if decoded is not None:  # PPM read nearly black, a binary one of maxval 100 dark
            return decoded
    # (OpenCV decodes at the file's own depth)
    stated = (tiff_sample_bytes(data) or png_sample_bytes(data) or radiance_sample_bytes(data) or gif_sample_bytes(data)
              or webp_sample_bytes(data))
    if not stated and bytes(data[:10]).startswith(RADIANCE_SIGNATURES):  # (its size unknown: not decoded)
        raise UserError(f"{name}: not a readable image (a Radiance header without the size line OpenCV reads)")
    if stated and stated[0] * stated[1] > MAX_DECODE_PIXELS:
        raise UserError(f"{name}: {stated[0]}x{stated[1]} is {too_many_pixels()}")
    if stated and stated[0] * stated[1] * stated[2] > MAX_DECODE_BYTES:
        raise UserError(f"{name}: {stated[0]}x{stated[1]} at {stated[2]} bytes a pixel is more than the "
                        f"{MAX_DECODE_BYTES >> 30} GiB of samples an image may decode to")
    if hidden_default_image(data):  # (an APNG's fallback picture, which OpenCV decodes: its first frame instead)
        decoded = pillow_rgb(data, name)
        if decoded is not None:
            return decoded
    # ANYDEPTH|ANYCOLOR keeps 16-bit and float samples and, unlike IMREAD_UNCHANGED, applies the
    # EXIF orientation (JPEG, TIFF, PNG, WebP), as the video reader applies rotation. An AVIF's
    # orientation is its irot/imir boxes' instead (MIAF: EXIF's is ignored), and an animation's
    # EXIF is not applied by OpenCV: both applied below (`_orientation_applied_here`).
    own_orientation = _orientation_applied_here(data)
    if _bmp_16_bit(data):  # OpenCV widens its 5-bit channels by shifting (white read 248); Pillow replicates bits
        decoded = pillow_rgb(data, name)
        if decoded is not None:
            return decoded
    flags = cv2.IMREAD_COLOR if _misread_at_depth(data, name) else _decode_flags(own_orientation)
    without_end = jpeg_without_end(data, name)  # (bytes to decode, and whether more may be missing)
    with native_stderr_captured() as native:
        image, failure = _opencv_decode(data, flags)
        if image is None and failure == "not a readable image" and without_end:
            image, failure = _opencv_decode(without_end[0], flags)  # (OpenCV refuses one: browsers show it)
    if image is None and failure == "not a readable image":
        if png_data_short(data):  # (Pillow reads one, its missing rows black)
            raise UserError(f"{name}: {failure} ({_CUT_SHORT[looks_cut_short(data) or 'PNG data']})")
        image = pillow_rgb(data, name)  # TGA, ICO, PSD, 16-bit BMP, 16-bit CMYK TIFF: OpenCV has no decoder
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
                  next((readable_line(line) for line in native if readable_line(line)), ""))
        shown = f" ({detail[:120]})" if detail and failure == "not a readable image" else ""
        raise UserError(f"{name}: {failure}{shown}")
    if (without_end and without_end[1]) or any("premature end" in line.lower() for line in native):  # (libjpeg's)
        note(f"{name}: {_JPEG_CUT_SHORT}", once=True)
    image = _oriented(image, own_orientation)
    if image.shape[0] * image.shape[1] > MAX_DECODE_PIXELS:  # when OpenCV was loaded before us
        raise UserError(f"{name}: {image.shape[1]}x{image.shape[0]} is {too_many_pixels()}")
    decoded = pillow_rgb(data, name) if image.dtype == np.int32 else None  # a 32-bit integer TIFF: as
    if decoded is not None:  # its PIL image reads (`_integer_levels`); it was refused
        return decoded
    if image.dtype not in (np.uint8, np.uint16, np.float32, np.float64):
        raise UserError(f"{name}: unsupported sample type {image.dtype} (8- or 16-bit unsigned, or float, are read)")
    depth = (coded_depth(data) or 10) if image.dtype == np.uint16 and bytes(data[4:8]) == b"ftyp" else 16
    full_scale(image, depth)  # (a 10- or 12-bit AVIF: its samples were read as 16-bit ones, nearly black)
    header = pillow_header(data)  # (after OpenCV's size check: Pillow may read more than the header)
    alpha = _alpha(data, header, image.shape[:2], depth) if header.has_alpha and header.format != "TIFF" else None
    if alpha is not None and alpha_unused(header.format, alpha):  # (a BMP's all-zero alpha: opaque)
        alpha, header = None, header._replace(has_alpha=False)
    if (header.mode == "LAB" or (header.mode == "CMYK" and transform_to_srgb(header.profile, "CMYK"))
            or (header.has_alpha and (header.format == "TIFF" or alpha is None))):
        # OpenCV converts CMYK naively and Lab wrongly (LittleCMS does it), premultiplies a TIFF's
        # colours by its alpha, and drops the alpha of grey TIFFs and of 1-bit/grey PNG transparency
        managed = pillow_rgb(data, name)
        if managed is not None:
            return managed
    linear = _linear_light(bytes(data[:10]))
    # (a CMYK one's profile is applied above, by Pillow; a grey one's is not applied, though Chromium applies it)
    profile = header.profile if header.mode in RGB_MODES else None
    return over_white(in_srgb(to_rgb8(image, linear=linear, name=name), profile), alpha, name)


def _linear_light(head: bytes) -> bool:
    """Whether a file starting with `head` holds linear light: Radiance (its specification) and PFM
    (HDRShop's HDR format; GIMP loads it as linear floats), as OpenEXR (`_ffmpeg_still`) and as
    `video` reads all three (`video.pictures.linear_light`); others are display-referred. A PFM was
    read without the sRGB curve, darker than the same file in `video`."""
    return head.startswith(RADIANCE_SIGNATURES) or (head[:2] in _PFM_SIGNATURES and head[2:3].isspace())


def _hdr_still(data: np.ndarray, name: str, tags: HdrTags) -> np.ndarray | None:
    """An HDR or wide-gamut AVIF, HEIF or PNG picture (`hdr_stills`) decoded at full depth and
    converted as such video is (tone-mapped, moved to BT.709 primaries), grey or colour, alpha
    over white, with a note; a narrow-range PNG expanded; None where it does not decode so (the
    8-bit path then reads it, or says why it cannot)."""
    import cv2

    alpha = None
    if heif_kind(bytes(data[:16])):
        samples = _heif_samples(data, name)  # (its alpha, if any, is its last channel)
    elif hidden_default_image(data):  # (an APNG's fallback picture, which OpenCV decodes: Pillow reads the
        samples = pillow_samples(data, name)  # first frame shown instead, at 8 bits, its alpha the last channel)
    else:
        own_orientation = _orientation_applied_here(data)  # (as in `decode_still`: an AVIF's irot/imir)
        with native_stderr_captured():  # (OpenCV's log of a damaged file: the 8-bit path says why)
            samples, _ = _opencv_decode(data, _decode_flags(own_orientation))
        if samples is None:  # (an AVIF OpenCV cannot read: its coded data before its `meta`, or no libavif)
            samples = pillow_samples(data, name)
        else:
            samples = _oriented(samples, own_orientation)
            if samples.ndim == 3:
                samples = cv2.cvtColor(samples, cv2.COLOR_BGR2RGB)
            header = pillow_header(data)  # ANYCOLOR drops alpha: read as the 8-bit path reads it, oriented
            alpha = _alpha(data, header, samples.shape[:2], tags.depth or 10) if header.has_alpha else None
        if samples is not None and samples.dtype == np.uint16:
            full_scale(samples, tags.depth or 10)
    if samples is None:
        return None
    if samples.shape[0] * samples.shape[1] > MAX_DECODE_PIXELS:
        raise UserError(f"{name}: {samples.shape[1]}x{samples.shape[0]} is {too_many_pixels()}")
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
    """A JPEG 2000, OpenEXR, PAM, lossless or 12-bit JPEG, JPEG-LS, DPX, SGI, XWD or PHM picture
    decoded by FFmpeg (PyAV, loaded for these only) as uint8 RGB, its size checked from its header
    first (an SGI's data too, each RLE row's runs within the file; a one-row SGI read as the
    dimension-2 one it is laid out as; a JPEG without its end marker with a note: FFmpeg says nothing
    of one cut short); None for other formats (OpenCV's
    libjpeg read neither JPEG-LS, FFmpeg's lossless JPEGs nor 12-bit ones; Pillow read one's narrow
    YCbCr as full range, 62 levels off). OpenCV took a JPEG
    2000's YCbCr components (FFmpeg's libopenjpeg writes them) as RGB and its 10- or 12-bit
    samples as 16-bit ones, and refused subsampled ones; it has no OpenEXR decoder here; it read a
    PAM's red as blue, its alpha as colour, unscaled by its maxval. An EXR's linear light is
    encoded with the sRGB curve, clipped above 1 (as ImageMagick shows it, and Radiance pictures
    here), its premultiplied colour over white, and so is a PHM's (FFmpeg's half-float PFM, its rows
    in FFmpeg's order, top first, as FFmpeg writes them). The whole file is one packet to the decoder (no
    demuxer's parser, which cut a .jp2 at a codestream inside a metadata box: the codestream
    decoded was not the one whose size was checked)."""
    stated = ffmpeg_still_size(data, name)
    if stated is None:
        return None
    kind, size = stated
    if size is None:
        raise UserError(f"{name}: a damaged {kind} image (its header states no size)")
    if size[0] * size[1] > MAX_DECODE_PIXELS:
        raise UserError(f"{name}: {size[0]}x{size[1]} is {too_many_pixels()}")
    # FFmpeg decodes an EXR to float planes, 12 bytes a pixel or more: a 441-byte one took 4.4 GB
    if kind in _FLOAT_KINDS and size[0] * size[1] * 12 > MAX_DECODE_BYTES:
        raise UserError(f"{name}: {size[0]}x{size[1]} at 12 bytes a pixel is more than the "
                        f"{MAX_DECODE_BYTES >> 30} GiB of samples an image may decode to")
    # (FFmpeg allocates the picture before it finds the data missing, and reads bytes past the end as zeros)
    if kind == "SGI" and (sgi_data_short(data) or _sgi_rows_cut_short(data)):
        raise UserError(f"{name}: not a readable image (a {size[0]}x{size[1]} SGI picture whose file is shorter "
                        f"than its header says its data is: cut short?)")
    if kind == "SGI" and bytes(data[4:6]) == b"\0\1":  # one row (dimension 1), which FFmpeg refuses: its
        data = np.concatenate([data[:4], np.frombuffer(b"\0\2", np.uint8), data[6:]])  # layout is dimension 2's
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
    FFmpeg as uint8 RGB, turned as its EXIF orientation says (`still_headers.exif_orientation`:
    FFmpeg leaves that to its caller; OpenCV's decode applies it); None where FFmpeg refuses a kind
    another decoder may read."""
    rgb = _ffmpeg_rgb(data, name, kind)
    return None if rgb is None else _oriented(rgb, exif_orientation(data, name))


def _ffmpeg_rgb(data: np.ndarray, name: str, kind: str) -> np.ndarray | None:
    """`_ffmpeg_decoded`'s picture as FFmpeg decodes it, its stored pixels unturned."""
    import av

    try:
        decoder = av.CodecContext.create(_FFMPEG_DECODERS[kind], "r")
        frame = next(iter([*decoder.decode(av.Packet(bytes(data))), *decoder.decode(None)]))
        if frame.width * frame.height > MAX_DECODE_PIXELS:  # (an EXR's display window: checked too)
            raise UserError(f"{name}: {frame.width}x{frame.height} is {too_many_pixels()}")
        alpha = any(component.is_alpha for component in frame.format.components)
        if kind in _FLOAT_KINDS:
            missing, count = exr_chunks_missing(data, name) if kind == "OpenEXR" else (0, 0)
            if missing:
                note(f"{name}: {missing} of its {count} blocks of pixels are not in the file (cut short?); "
                     f"their rows read black", once=True)
            return exr_rgb(frame.reformat(format="gbrapf32le" if alpha else "gbrpf32le")
                            if frame.format.name not in EXR_FORMATS else frame)
        # (any depth, grey, YCbCr or palette, to 8 or 16 bits by FFmpeg)
        wide = any(component.bits > 8 for component in frame.format.components)
        if frame.format.name.endswith("be") and not wide:  # packed 15- or 16-bit big-endian RGB (an XWD's):
            frame = frame.reformat(format="gbrp")  # FFmpeg 8's swscale swapped its bytes going to 8-bit RGB
        samples = frame.to_ndarray(format=("bgra64le" if alpha else "bgr48le") if wide else
                                   "bgra" if alpha else "bgr24")
    except UserError:
        raise
    except (av.FFmpegError, StopIteration, ValueError) as exc:
        if kind in ("JPEG 2000", "lossless JPEG", "WebP"):  # (OpenCV's OpenJPEG or libjpeg, then Pillow,
            return None  # may read it; a WebP, read by them before, is then said to be unreadable)
        reason = (getattr(exc, "strerror", None) or str(exc)).strip() or "no picture in it"
        raise UserError(f"{name}: a damaged or unsupported {kind} image ({reason[:200]})") from None
    opacity = samples[..., 3].astype(np.float32) / np.iinfo(samples.dtype).max if alpha else None
    profile = pillow_header(data).profile if kind == "JPEG 2000" else None
    return over_white(in_srgb(to_rgb8(samples), profile), opacity, name)


def _sgi_rows_cut_short(data: np.ndarray) -> bool:
    """Whether an RLE SGI (its tables there: `sgi_data_short`) has a row that runs past the file's
    end: FFmpeg read the missing bytes as zeros, a file cut by a byte or two with no word, a run's
    value black. Only the rows whose stated length runs past the end are read, as FFmpeg reads them
    (runs until the row is full): a writer's length may be too long, and FFmpeg does not use it."""
    return _sgi_rows_walked(data)[0]


def _sgi_rows_walked(data: np.ndarray) -> tuple[bool, int]:
    """`_sgi_rows_cut_short`'s answer, and the runs it read to find it: at most `_sgi_walk_budget`.
    Rows may start anywhere in one shared data area, so reading each whole took pixels x channels
    steps of a tiny file (a 90 KB 8192x8192 one: 27 s); an honest file's rows do not overlap (those
    that share their data share their start, read once), so past the budget they do, and the
    check stops there: not cut short (FFmpeg reads such rows within the file). The rows are read
    together, a run of each at a time (`_sgi_runs_read`): as many steps as the widest row has runs."""
    head = bytes(data[:12])
    if head[2] != 1:  # (verbatim: `sgi_data_short` checks its samples)
        return False, 0
    width, height, channels = struct.unpack(">HHH", head[6:12])
    rows, sample = height * channels, head[3]
    tables = np.frombuffer(bytes(data[512:512 + 8 * rows]), ">u4").astype(np.int64)
    starts, lengths = tables[:rows], tables[rows:]
    at = np.unique(starts[starts + lengths > data.size])
    budget, runs, left = _sgi_walk_budget(data.size, at.size, sample), 0, np.full(at.size, width, np.int64)
    while at.size:
        if runs + at.size > budget:  # (rows that overlap)
            return False, runs
        runs += at.size
        if at.max() + sample > data.size:  # (a run's count missing)
            return True, runs
        at, left, cut_short = _sgi_runs_read(data, at, left, sample)
        if cut_short:
            return True, runs
    return False, runs


def _sgi_walk_budget(size: int, rows: int, sample: int) -> int:
    """The most runs `rows` RLE rows that do not overlap can hold in a file of `size` bytes: each
    run but a row's last (a zero count, or one past the end) takes at least two samples."""
    return size // (2 * sample) + rows


def _sgi_runs_read(data: np.ndarray, at: np.ndarray, left: np.ndarray,
                   sample: int) -> tuple[np.ndarray, np.ndarray, bool]:
    """The run at byte `at` of each SGI RLE row with `left` samples to set, its count within the
    file, read as FFmpeg decodes it (a count, then that many samples or one repeated, each
    `sample` bytes, big-endian; a zero count ends the row, as does its last sample): where the
    rows that go on have their next run and the samples they have left, and whether a row that
    ended has samples past the file's end."""
    control = data[at + (sample - 1)].astype(np.int64)
    count = control & 0x7F
    at = at + sample * (1 + np.where(control & 0x80, count, 1))
    left = left - count
    ended = (count == 0) | (left <= 0)
    if not ended.any():
        return at, left, False
    return at[~ended], left[~ended], bool((at[ended & (count > 0)] > data.size).any())


def exr_rgb(frame) -> np.ndarray:
    """An EXR's or PHM's float frame (planes G, B, R, A, or Y) as uint8 RGB, read from FFmpeg's
    planes in place (`floats_to_8bit`): copied whole, a 38 KB EXR stating a 8000x8000 display
    window took 5.5 GiB."""
    planes = [np.frombuffer(plane, np.float32, count=frame.height * (plane.line_size // 4))
              .reshape(frame.height, plane.line_size // 4)[:, :frame.width] for plane in frame.planes]
    colour = [planes[2], planes[0], planes[1]] if len(planes) >= 3 else planes[:1] * 3
    return floats_to_8bit(colour, linear=True, alpha=planes[3] if len(planes) == 4 else None)


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


def _decode_flags(own_orientation: int | None) -> int:
    """OpenCV's flags: samples at their depth, colour or grey, the EXIF orientation applied
    except where `_oriented` applies `own_orientation` (`_orientation_applied_here`)."""
    import cv2

    ignore = cv2.IMREAD_IGNORE_ORIENTATION if own_orientation else 0
    return cv2.IMREAD_ANYDEPTH | cv2.IMREAD_ANYCOLOR | ignore


def _oriented(image: np.ndarray, orientation: int | None) -> np.ndarray:
    """Stored pixels turned and mirrored as EXIF `orientation` says: an AVIF's irot/imir boxes
    (`_avif_orientation`), an animation's EXIF, a still FFmpeg decodes its EXIF."""
    if not orientation or orientation not in _ORIENT:
        return image
    return np.ascontiguousarray(_ORIENT[orientation](image))


def _orientation_applied_here(data: np.ndarray) -> int | None:
    """The orientation, as EXIF numbers it, that `_oriented` applies to OpenCV's decode of `data`
    (OpenCV then told to ignore EXIF's): an AVIF's (`_avif_orientation`), an animated PNG's or
    WebP's EXIF, which OpenCV does not apply to an animation's first frame as it does to a still's
    (an animated phone picture was read sideways; Pillow turns both); None for other files."""
    head = bytes(data[:30])
    if not (head.startswith(b"\x89PNG\r\n\x1a\n") or is_animated_webp(head)):
        return _avif_orientation(data)
    try:
        with open_with_pillow(data) as header:  # (as `pillow_header` reads it, which orients the alpha)
            animated = header.format == "WEBP" or header.get_format_mimetype() == "image/apng"
            return pillow_orientation(header) if animated else None
    except Exception:  # noqa: BLE001 - a damaged file: OpenCV's decode says why
        return None


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
            raise UserError(f"{name}: {width}x{height} is {too_many_pixels()}")
        return np.asarray(heif)
    except UserError:
        raise
    except Exception as exc:  # noqa: BLE001 - libheif's errors: a damaged or unsupported file
        reason = next(iter(str(exc).strip().splitlines()), "") or type(exc).__name__
        raise UserError(f"{name}: a damaged or unsupported {heif_kind(bytes(data[:16]))} image "
                        f"({reason[:200]})") from None


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
    kind = heif_kind(head)
    if kind:  # (with pillow-heif, `pillow_rgb` has said what is wrong)
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


def _alpha(data: np.ndarray, header: PillowHeader, shape: tuple[int, ...], depth: int = 16) -> np.ndarray | None:
    """The image's alpha (0..1 float32, (H, W) as decoded and oriented), None if it cannot be had;
    16-bit samples hold `depth` bits (an AVIF's 10 or 12)."""
    import cv2

    with native_stderr_captured():
        stored = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)  # keeps alpha, ignores the orientation
    if stored is None or stored.ndim != 3 or stored.shape[2] not in (2, 4):
        return None
    alpha = _ORIENT.get(header.orientation, lambda a: a)(stored[..., -1])
    if alpha.shape != tuple(shape):
        return None
    full = {np.dtype(np.uint8): 255.0, np.dtype(np.uint16): float((1 << depth) - 1)}.get(alpha.dtype, 1.0)
    return np.clip(alpha.astype(np.float32) / full, 0.0, 1.0)


def _decode_failure(exc: Exception) -> str:
    text = str(exc)
    if "MAX_IMAGE_PIXELS" in text or "validateInputImageSize" in text:
        return f"the image is {too_many_pixels()}"
    if "alloc" in text.lower():
        return "not enough memory to decode this image"
    return "not a readable image"
