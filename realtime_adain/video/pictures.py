"""Decoded pictures as the network sees them: an `av.VideoFrame` turned into upright (H, W, 3)
uint8 RGB with square pixels (its colour tags read, HDR and wide gamut mapped to SDR BT.709, float
samples as `image` reads them, alpha over white), and the facts that takes (display matrix, EXIF
orientation, pixel aspect, the picture size a decoder may allocate, alpha, closed captions).

Apart from the reader (reader.py) because `video` and `live` convert their frames alike, and none
of this demuxes a file or keeps time.
"""

from __future__ import annotations

import math
import re
import struct
import warnings
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Sequence

import av
from av.sidedata.sidedata import Type as SideDataType
from av.video.reformatter import ColorRange, Interpolation, VideoReformatter
import numpy as np

from realtime_adain import limits
from realtime_adain.errors import UserError
from realtime_adain.ffmpeg_stills import EXR_FORMATS, exr_rgb
from realtime_adain.hdr_stills import HdrTags, colour_tags, converted
from realtime_adain.picture_sizes import MAX_DECODE_BYTES
from realtime_adain.pillow_stills import pillow_orientation, open_with_pillow
from realtime_adain.rgb8 import over_white, to_rgb8
from realtime_adain.video.hdr import (HDR_TRANSFERS, RGB_MATRIX, SRGB, UNSPECIFIED, WIDE_GAMUT, ToneMap, needs_mapping,
                                      side_data)
from realtime_adain.notes import collected, note
from realtime_adain.video.streams import has_decoder

DISPLAYMATRIX = SideDataType.DISPLAYMATRIX
# WebM's VP8/VP9 alpha travels beside the picture (a BlockAdditional; the stream's alpha_mode tag
# says so), which FFmpeg's own vp8/vp9 decoders ignore: libvpx's decoders read it (yuva420p).
ALPHA_DECODERS = {"vp8": "libvpx", "vp9": "libvpx-vp9"}
# Decoders that leave the matrix unspecified where their pictures are BT.601 (FFmpeg's
# AVCOL_SPC_BT470BG) by definition: libvpx's VP8 (RFC 6386 9.2), as FFmpeg's own vp8 decoder says.
BT601_DECODERS = frozenset({"libvpx"})
BT601_MATRIX = 5
FULL_CHROMA = Interpolation.BILINEAR | Interpolation.FULL_CHR_H_INT  # (swscale's default scaler, chroma in full)
# Pixel formats of float samples (gbrpf32le, gbrapf16le, grayf32le...: OpenEXR, Radiance, PFM;
# rgbf32le, rgbaf32le: TIFF).
FLOAT_SAMPLES = re.compile(r"f(16|32)(le|be)$")
# Decoders whose float samples are linear light, as `image` reads their files (`still_decoders._linear_light`):
# OpenEXR and Radiance by their specifications, PFM (and its half-float PHM) in practice.
LINEAR_DECODERS = frozenset({"exr", "hdr", "pfm", "phm"})
# Float pixel formats of one plane of interleaved samples, read in place (`float_plane`).
PACKED_FLOATS = frozenset({"rgbf32le", "rgbaf32le", "grayf32le"})


@dataclass(frozen=True)
class Colour:
    """How the input's YUV maps to RGB; the output is converted back and tagged the same way."""

    colorspace: int
    color_range: int
    color_primaries: int
    color_trc: int

    @classmethod
    def of(cls, frame: av.VideoFrame, codec: str | None = None) -> "Colour":
        """`frame`'s colour tags, decoded by `codec`; pictures stored as RGB, a palette or grey
        have the RGB matrix whatever the decoder says (`stored_as_rgb`), VP8's BT.601 where
        libvpx leaves it unspecified (`BT601_DECODERS`)."""
        matrix = RGB_MATRIX if stored_as_rgb(frame.format) else frame.colorspace
        if matrix == UNSPECIFIED and codec in BT601_DECODERS:
            matrix = BT601_MATRIX
        return cls(matrix, frame.color_range, frame.color_primaries, frame.color_trc)


def stored_as_rgb(fmt: av.VideoFormat) -> bool:
    """Whether pictures of pixel format `fmt` carry no YUV matrix: RGB, a palette or grey. The
    TIFF, OpenEXR, QuickTime Animation, raw bgr24, Ut Video and GIF decoders leave their matrix
    unspecified (PNG's says RGB): taken as such, their output was converted with BT.601 and left
    untagged, where a PNG sequence of the same frames gave BT.709 tagged so (`encoding.yuv_colour`).
    Grey has no matrix either: its output is converted as an RGB picture's."""
    colours = [part for part in fmt.components if not part.is_alpha]
    return fmt.is_rgb or fmt.has_palette or len(colours) == 1


def float_samples(frame: av.VideoFrame) -> bool:
    """Whether `frame` holds float samples (`FLOAT_SAMPLES`)."""
    return bool(FLOAT_SAMPLES.search(frame.format.name))


def linear_light(frame: av.VideoFrame, codec: str | None = None) -> bool:
    """Whether `frame`, decoded by `codec`, holds linear light: float samples of `LINEAR_DECODERS`
    (any decoder's, where it is not known), which `image` encodes with the sRGB curve
    (`ffmpeg_stills.exr_rgb`). Fed raw, the network saw a dark, contrasty picture. Other float pictures
    (a float TIFF) are display-referred, as `image` reads them (`display_floats`): taken as
    linear, one of 0.5 read 188, not 128, and one stored 0..255 read white. Integer pictures
    tagged linear keep their values: the DPX decoder reports the file's transfer code, and
    FFmpeg's DPX encoder (as many writers) writes "linear" over display-referred values, which
    read right as they are (`hdr.sdr_colour` tags such output BT.709)."""
    return float_samples(frame) and (codec is None or codec in LINEAR_DECODERS)


def display_matrix(frame: av.VideoFrame, codec: str | None = None) -> tuple[int, ...] | None:
    """The frame's display matrix (FFmpeg's 9 int32s: 16.16 a, b, u, c, d, v, ...), None without
    one or where PyAV cannot read its side data (`hdr.side_data`, `codec` its decoder: FFmpeg 8's
    pictures, whose EXIF orientation `picture_facts` reads instead); its `rotation`, read apart,
    still turns it."""
    data = side_data(frame, codec).get(DISPLAYMATRIX)
    return struct.unpack("=9i", data[:36]) if data is not None else None


def upright(image: np.ndarray, rotation: float, matrix: Sequence[int] | None = None) -> np.ndarray:
    """The picture as the display matrix shows it: `rotation` is counter-clockwise degrees (PyAV's
    `frame.rotation`), `matrix` the matrix itself, which also tells a mirror (a front camera's
    recording): turned and flipped as FFmpeg's CLI (fftools/ffmpeg_filter.c) does. A mirror
    read as its rotation alone came out upside down (an hflip is "180 degrees"), and a vflip not
    at all. Other angles go to the nearest quarter turn (`picture_notes.note_odd_turn` says so)."""
    theta = -round(rotation)  # clockwise degrees, in [0, 360) as FFmpeg's get_rotation puts it
    theta -= 360 * math.floor(theta / 360 + 0.9 / 360)
    m = matrix or (0,) * 9
    if abs(theta - 90) < 1:
        shown = image.transpose(1, 0, 2) if m[3] > 0 else np.rot90(image, -1)  # transpose cclock_flip / clock
    elif abs(theta - 180) < 1:
        shown = image[:, ::-1] if matrix is None or m[0] < 0 else image  # hflip
        shown = shown[::-1] if matrix is None or m[4] < 0 else shown  # vflip
    elif abs(theta - 270) < 1:
        shown = np.rot90(image, -1)[::-1] if m[3] < 0 else np.rot90(image, 1)  # transpose clock_flip / cclock
    elif abs(theta) > 1:
        shown = np.rot90(image, round(rotation / 90) % 4)
    else:
        shown = image[::-1] if m[4] < 0 else image  # vflip
    return np.ascontiguousarray(shown) if shown is not image else image


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
    an even length (720x480 at 32:27 -> 854x480, not 853: odd sizes are written yuv444p, which
    browsers and phones do not play; at most a pixel's aspect error, 0.04 % there)."""
    if aspect == 1:
        return width, height
    if aspect > 1:
        return _even_over(width * aspect, width), height
    return width, _even_over(height / aspect, height)


def _even_over(length: float, stored: int) -> int:
    """`length` rounded to an even number, and not below the `stored` side it stretches."""
    return max(2 * round(length / 2), stored + stored % 2)


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
    width, height = stream.codec_context.width, stream.codec_context.height
    pixel_bytes = picture_bytes(stream.codec_context.pix_fmt)
    if width * height > stored_pixels_allowed(aspect, pixel_bytes):
        shown = square_pixel_size(width, height, aspect)
        stretched = f" ({shown[0]}x{shown[1]} with square pixels)" if shown != (width, height) else ""
        pixels = MAX_DECODE_BYTES // pixel_bytes
        half = math.isqrt(pixels // 2)  # (a 2:1 picture of that many)
        raise UserError(f"{path}: its video states {width}x{height} pictures{stretched}: at {pixel_bytes} bytes "
                        f"a pixel, more than the {MAX_DECODE_BYTES >> 30} GiB of samples a picture may decode to "
                        f"({pixels} pixels, {2 * half}x{half})")


def bound_decoder(decoder: av.codec.context.CodecContext, aspect: Fraction) -> None:
    """Have FFmpeg refuse a picture over `stored_pixels_allowed` (at the stream's `picture_bytes`)
    before it allocates it (its max_pixels): one larger than the stream states (a new size
    mid-stream, a header that lies) is skipped, not decoded and converted whole."""
    allowed = stored_pixels_allowed(aspect, picture_bytes(decoder.pix_fmt))
    decoder.options = {**decoder.options, "max_pixels": str(allowed)}


Orientation = tuple[float, "tuple[int, ...] | None"]  # (frame.rotation, display_matrix(frame))


def orientation(frame: av.VideoFrame, codec: str | None = None) -> Orientation:
    """How `frame`, decoded by `codec`, is turned for display (see `upright`)."""
    return frame.rotation, display_matrix(frame, codec)


def exif_orientation(number: int) -> Orientation | None:
    """The (rotation, matrix) FFmpeg gives a picture of EXIF orientation `number` (its
    av_exif_orientation_to_matrix: turned clockwise, then for 2, 4, 5 and 7 mirrored left to
    right); None for 1 (as stored) and numbers out of range."""
    if not 2 <= number <= 8:
        return None
    clockwise = math.radians((0, 180, 180, 90, 90, -90, -90)[number - 2])
    cos, sin = round(math.cos(clockwise)), round(math.sin(clockwise))
    mirror = -1 if number in (2, 4, 5, 7) else 1
    a, b, c, d = cos * mirror, sin, -sin * mirror, cos  # (av_display_rotation_set, av_display_matrix_flip)
    return -math.degrees(math.atan2(b, a)), (a << 16, b << 16, 0, c << 16, d << 16, 0, 0, 0, 1 << 30)


@dataclass(frozen=True)
class PictureFacts:
    """What a picture file says that FFmpeg 8's frames of it do not let PyAV tell (`picture_facts`)."""

    turned: Orientation | None = None  # its EXIF orientation (FFmpeg's matrix: `display_matrix`)
    alpha_ignored: bool = False  # a 32-bit BMP (BI_RGB) whose fourth byte FFmpeg takes for alpha


PNG_DECODERS = ("png", "apng")  # FFmpeg's: they read a PNG's colour chunks (`PictureConverter.primaries_for`)


def picture_facts(path: Path | None) -> PictureFacts:
    """What the picture at `path` says as `image` reads it (`pillow_stills.pillow_orientation`; Pillow, as
    OpenCV and browsers, leaves a BI_RGB BMP's fourth byte out): an image sequence's pictures are
    turned as its first is. FFmpeg 8 turns EXIF into a display matrix beside side data PyAV
    cannot read (`hdr.side_data`): a mirrored photo came out turned instead (2: upside down, 4:
    as stored). Nothing where `path` is None or Pillow cannot read it; Pillow's warnings (a
    corrupt EXIF) are not printed: FFmpeg's reading of the file, or its error, says what counts."""
    if path is None:
        return PictureFacts()
    try:
        with warnings.catch_warnings(action="ignore"), open_with_pillow(
                np.memmap(path, np.uint8, mode="r")) as picture:  # (its header read, not GiBs)
            return PictureFacts(exif_orientation(pillow_orientation(picture)),
                                picture.format == "BMP" and "A" not in picture.mode)
    except Exception:  # noqa: BLE001 - a file Pillow cannot read: FFmpeg's reading stands
        return PictureFacts()


def stated_colour(path: Path | None) -> HdrTags | None:
    """The colour the picture at `path` states as `image` reads it (`hdr_stills.colour_tags`): an
    image sequence's pictures are read as its first is. FFmpeg 8 names a PNG's `cHRM` primaries
    but not the curve `image` reads them on (without `gAMA` the sRGB curve; it said unspecified),
    nor `gAMA`'s power but 2.2 and 1.0 (taken as 2.4: up to 157 levels off `image`). None where
    `path` is None or unreadable."""
    if path is None:
        return None
    try:
        with collected():  # (what `image` notes of it: not FFmpeg's reading)
            return colour_tags(np.memmap(path, np.uint8, mode="r"))
    except (OSError, ValueError):  # (an empty file cannot be mapped)
        return None


class PictureConverter:
    """One stream's pictures to RGB: one YUV -> RGB converter reused across frames (not one per
    frame), and for HDR or wide-gamut pictures one tone map (`hdr.ToneMap`), fixed at the first
    such picture (its peak kept; made again only where the transfer or primaries change), said
    in a note naming `name` as each is made (once: a looping `live` file makes its own again).
    `codec`: the stream's decoder, which tells whether float samples are linear light (`linear_light`)
    and whether their side data can be read (`hdr.side_data`). `picture`: a stream of pictures'
    first file (an image sequence's), whose `picture_facts` and `stated_colour` its frames are read
    with; `colour_from`: an animated picture (APNG) whose `stated_colour` they are read with."""

    def __init__(self, name: str, codec: str | None = None, picture: Path | None = None,
                 colour_from: Path | None = None) -> None:
        self.name = name
        self.codec = codec
        self.facts = picture_facts(picture)
        self.stated = stated_colour(picture or colour_from)
        self._png_colour_read = codec in PNG_DECODERS and (picture or colour_from) is not None
        self.reformatter = VideoReformatter()
        self._to_full_yuv = VideoReformatter()  # (its own: one alternating conversions set itself up each frame)
        self.tone_map: ToneMap | None = None
        self._tone_mapped: tuple[int, int] | None = None  # the transfer and primaries it was made for

    def rgb(self, frame: av.VideoFrame, width: int | None, height: int | None, alpha: bool) -> np.ndarray:
        """(H, W, 3 or 4) uint8 RGB(A); HDR and wide-gamut pictures as SDR BT.709; linear light
        as `image` reads an EXR (`ffmpeg_stills.exr_rgb`: the sRGB curve, its alpha composited over
        white, 3 channels), scaled in linear light; other float samples as `image` reads a float
        TIFF (`display_floats`)."""
        threads = 1 if limits.pools_reduced else None  # (swscale's: one a CPU, where `ulimit -u` leaves no room)
        if float_samples(frame):
            if width is None and height is None and frame.format.name in PACKED_FLOATS and not linear_light(
                    frame, self.codec):  # (the TIFF decoder's rgbf32le: read in place)
                return display_floats(float_plane(frame), self.name)
            planes = (frame.format.name if frame.format.name in EXR_FORMATS else
                      "gbrapf32le" if has_alpha(frame) else "gbrpf32le")
            stored = self.reformatter.reformat(frame, format=planes, width=width, height=height, threads=threads)
            if linear_light(frame, self.codec):
                return exr_rgb(stored)
            return display_floats(np.concatenate([float_plane(stored, index) for index in (2, 0, 1, 3)
                                                  if index < len(stored.planes)], axis=2), self.name)
        primaries = self.primaries_for(frame.color_primaries)
        mapped = needs_mapping(frame.color_trc, primaries)
        if mapped and self._tone_mapped != (frame.color_trc, primaries):
            self.tone_map = (ToneMap(frame, codec=self.codec) if primaries == frame.color_primaries else
                             ToneMap(transfer=frame.color_trc, primaries=primaries))
            self._tone_mapped = (frame.color_trc, primaries)
            note_tone_mapped(self.name, self.tone_map)
        if not mapped:
            # (10-bit and deeper YUV: swscale's default put limited range's white at 253 and
            # everything ~2 levels low; full chroma interpolation is within a level of exact)
            over_8_bits = is_yuv(frame) and frame.format.components[0].bits > 8
            return self.reformatter.reformat(frame, format="rgba" if alpha else "rgb24", width=width, height=height,
                                             src_color_range=frame.color_range, threads=threads,
                                             interpolation=FULL_CHROMA if over_8_bits else None).to_ndarray()
        deep_format = "rgba64le" if alpha else "rgb48le"
        if is_yuv(frame):
            deep = self._deep_rgb(frame, width, height, deep_format, threads)
        elif max(part.bits for part in frame.format.components) <= 8:  # (swscale's rgb48 of them: up to 254 off)
            deep = self.reformatter.reformat(frame, format="rgba" if alpha else "rgb24", width=width, height=height,
                                             src_color_range=frame.color_range,
                                             threads=threads).to_ndarray().astype(np.uint16) * 257  # (as `image`)
        else:
            deep = self.reformatter.reformat(frame, format=deep_format, width=width, height=height,
                                             src_color_range=frame.color_range, threads=threads).to_ndarray()
        tags = self.stated_for(frame.color_trc, primaries) or HdrTags(frame.color_trc, primaries, None, None)
        rgb = converted(deep[..., :3], tags, self.tone_map)  # (as `image` converts such a picture)
        return np.dstack([rgb, (deep[..., 3] >> 8).astype(np.uint8)]) if alpha else rgb

    def primaries_for(self, primaries: int) -> int:
        """The primaries a frame stating `primaries` is read with. FFmpeg names a PNG's `cHRM`
        primaries where `image` and browsers do not take them (without `gAMA`, under an `iCCP` or
        `sRGB` chunk, a later `cHRM`: `hdr_stills._png_tags`), 125 levels apart: PNG
        frames said to be wide-gamut have the primaries their picture's `stated` colour has, else
        none stated (read as sRGB)."""
        if not self._png_colour_read or primaries not in WIDE_GAMUT:
            return primaries
        return self.stated.primaries if self.stated is not None else UNSPECIFIED

    def stated_for(self, transfer: int, primaries: int) -> HdrTags | None:
        """The picture's `stated` SDR wide-gamut colour where its frames have its primaries (FFmpeg's
        reading of its curve aside); it is read on it and converted to the sRGB curve."""
        stated = self.stated
        on_its_curve = stated is not None and (stated.transfer == SRGB or stated.gamma is not None)
        if on_its_curve and stated.primaries == primaries and primaries in WIDE_GAMUT and transfer not in HDR_TRANSFERS:
            return stated
        return None

    def has_alpha(self, frame: av.VideoFrame) -> bool:
        """Whether `frame` has alpha as `image` reads its picture (`has_alpha`, less a BI_RGB BMP's fourth byte)."""
        return has_alpha(frame) and not self.facts.alpha_ignored

    def _deep_rgb(self, frame: av.VideoFrame, width: int | None, height: int | None, deep_format: str,
                  threads: int | None) -> np.ndarray:
        """`frame` (`is_yuv`) at `width`x`height` as 16-bit RGB(A), by way of full-range 16-bit
        4:4:4 YUV: this swscale's own YUV to rgb48 garbled 4:2:0 and 4:2:2 pictures of odd width
        (up to 255 levels: an HDR crop's colours smeared) and put limited range's white at 253 or
        254; this way both are within 0.02 of a level. (Its threads gave pictures of odd width
        over ~1280 pixels a different result run to run in the first step: one thread there.)"""
        full = self._to_full_yuv.reformat(
            frame, format="yuva444p16le" if deep_format == "rgba64le" else "yuv444p16le", width=width, height=height,
            src_color_range=frame.color_range, dst_color_range=ColorRange.JPEG,
            threads=1 if (width or frame.width) % 2 else threads)
        full.colorspace = frame.colorspace
        return self.reformatter.reformat(full, format=deep_format, src_color_range=ColorRange.JPEG,
                                         threads=threads).to_ndarray()


def float_plane(frame: av.VideoFrame, index: int = 0) -> np.ndarray:
    """(H, W, samples a pixel) float32 view of plane `index` of `frame` (32-bit floats), its row
    padding left out: no copy of the 12 bytes a pixel or more."""
    plane = frame.planes[index]
    per_pixel = len(frame.format.components) if len(frame.planes) == 1 else 1
    rows = np.frombuffer(plane, np.float32, count=frame.height * (plane.line_size // 4)).reshape(frame.height, -1)
    return rows[:, :frame.width * per_pixel].reshape(frame.height, frame.width, per_pixel)


def display_floats(samples: np.ndarray, name: str) -> np.ndarray:
    """(H, W, 3) uint8 RGB of display-referred float RGB(A) or grey `samples` (H, W, C), as `image`
    reads a float TIFF (`rgb8.to_rgb8`: 0..1, or 0..255 where its values say so, with a note
    naming `name`), its alpha over white."""
    colour = to_rgb8(samples[..., 2::-1] if samples.shape[2] >= 3 else samples[..., 0], name=name)  # (BGR, as OpenCV's)
    return over_white(colour, np.clip(samples[..., 3], 0, 1) if samples.shape[2] == 4 else None, name)


def is_yuv(frame: av.VideoFrame) -> bool:
    """Whether `frame` holds luma and two chroma planes (not RGB, grey, a palette, or CIE XYZ)."""
    form = frame.format
    return not (form.is_rgb or form.has_palette or form.is_bayer or form.name.startswith("xyz")) and len(
        form.components) >= 3


def frame_to_rgb(frame: av.VideoFrame, converter: PictureConverter, aspect: Fraction = Fraction(1),
                 turned: Orientation | None = None) -> np.ndarray:
    """A decoded frame as a viewer sees it: square pixels (for stored pixels of `aspect`, see
    `pixel_aspect`), upright (display matrix; `turned`: the stream's, else the frame's own), (H,
    W, 3) RGB converted with the input's colour range, HDR pictures as SDR (`hdr`). `converter`
    is the stream's, reused across its frames (a picture's EXIF orientation: `picture_facts`)."""
    width, height = square_pixel_size(frame.width, frame.height, aspect) if aspect != 1 else (None, None)
    alpha = converter.has_alpha(frame) and not float_samples(frame)  # (float samples': composited by `converter`)
    rgb = converter.rgb(frame, width, height, alpha)
    if alpha:  # transparent areas over white, as `realtime-adain image` reads them (not their hidden colour)
        rgb = over_white(np.ascontiguousarray(rgb[..., :3]), rgb[..., 3])
    return upright(rgb, *(turned or converter.facts.turned or orientation(frame, converter.codec)))


def has_alpha(frame: av.VideoFrame) -> bool:
    """Whether `frame`'s pixel format has an alpha channel (GIF, APNG, PNG/ProRes 4444/QuickTime
    Animation in MOV: their transparent pixels store any colour, FFmpeg's GIF decoder black), or
    its palette does (a PNG's tRNS: its hidden colours were shown)."""
    if frame.format.name == "pal8" and len(frame.planes) > 1:
        return bool((np.frombuffer(frame.planes[1], np.uint32) >> 24).min() < 255)  # (AARRGGBB words)
    return any(part.is_alpha for part in frame.format.components)


def alpha_decoder(stream: av.video.stream.VideoStream) -> av.codec.context.CodecContext | None:
    """A decoder that reads the alpha `stream` carries beside its pictures (`ALPHA_DECODERS`), so
    `frame_to_rgb` shows transparent areas over white (FFmpeg's vp8/vp9 gave the colour stored
    under them); None: the stream's own decoder is used (no such alpha, or no libvpx here). It
    starts with the stream's colour tags, as FFmpeg's own decoder does: the bitstream states no
    primaries or transfer, the container does (created bare, every Chromium canvas recording's
    output was tagged unknown, and an HDR one was not tone-mapped)."""
    if stream.metadata.get("alpha_mode") != "1" or not has_decoder(stream):
        return None
    name = ALPHA_DECODERS.get(stream.codec_context.name)
    if name is None or name not in av.codecs_available:
        return None
    try:
        decoder = av.CodecContext.create(name, "r")
    except (ValueError, av.error.FFmpegError):  # (UnknownCodecError is a ValueError)
        return None
    for tag in ("colorspace", "color_range", "color_primaries", "color_trc"):
        setattr(decoder, tag, getattr(stream.codec_context, tag))
    return decoder


def note_tone_mapped(name: str, tone_map: ToneMap) -> None:
    if not tone_map.hdr:
        note(f"{name}: wide-gamut video ({tone_map.description}): each picture is converted to BT.709 as read (the "
             f"network and the style are BT.709), and the output is BT.709", once=True)
        return
    note(f"{name}: HDR video ({tone_map.description}): each picture is tone-mapped to SDR BT.709 as read (the "
         f"network and the style are SDR), and the output is SDR BT.709", once=True)


def codec_aspect(stream: av.video.stream.VideoStream) -> Fraction:
    """The sample aspect ratio the decoder last read from the stream (PyAV's frames do not carry
    theirs), 1 when unset."""
    return Fraction(stream.codec_context.sample_aspect_ratio or 1)


# Closed captions (EIA-608/CEA-708) carried in the pictures (H.264/HEVC/MPEG-2 user data), as decoded.
CAPTIONS = SideDataType.A53_CC


def has_captions(frame: av.VideoFrame, codec: str | None = None) -> bool:
    """Whether a decoded picture carries closed captions; a frame whose side data cannot be read
    (`hdr.side_data`) is taken as carrying none."""
    return CAPTIONS in side_data(frame, codec)


def see_through(frame: av.VideoFrame, converter: PictureConverter) -> bool:
    """Whether a picture has pixels that are not opaque. Only the first picture is looked at: a
    pixel format with alpha does not mean transparency (FFmpeg's GIF decoder gives every GIF as
    bgra; screen recorders write opaque PNG and ProRes 4444)."""
    if not converter.has_alpha(frame):
        return False
    return bool(frame.reformat(format="rgba").to_ndarray()[..., 3].min() < 255)
