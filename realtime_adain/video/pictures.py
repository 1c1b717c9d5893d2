"""Decoded pictures as the network sees them: an `av.VideoFrame` turned into upright (H, W, 3)
uint8 RGB with square pixels (`frame_to_rgb`: its colour tags read, HDR and wide gamut mapped to
SDR BT.709, float samples as `image` reads them, alpha over white), by one `PictureConverter` a
stream, and how its YUV maps to RGB (`Colour`). The facts that takes are read apart: its
orientation (picture_orientation.py), pixel shape and the size a decoder may allocate
(picture_shape.py), float samples (float_pictures.py), alpha and captions (picture_extras.py),
and what a picture file states (picture_file_facts.py).

Apart from the reader (reader.py) because `video` and `live` convert their frames alike, and none
of this demuxes a file or keeps time.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
from av.video.reformatter import ColorRange, Interpolation, VideoReformatter
import numpy as np

from realtime_adain import limits
from realtime_adain.ffmpeg_stills import EXR_FORMATS, exr_rgb
from realtime_adain.hdr_stills import HdrTags, converted
from realtime_adain.rgb8 import over_white
from realtime_adain.video.hdr import HDR_TRANSFERS, RGB_MATRIX, SRGB, UNSPECIFIED, WIDE_GAMUT, ToneMap, needs_mapping
from realtime_adain.notes import note
from realtime_adain.video.float_pictures import PACKED_FLOATS, display_floats, float_plane, float_samples, linear_light
from realtime_adain.video.picture_extras import has_alpha
from realtime_adain.video.picture_file_facts import picture_facts, stated_colour
from realtime_adain.video.picture_orientation import Orientation, orientation, upright
from realtime_adain.video.picture_shape import square_pixel_size

# Decoders that leave the matrix unspecified where their pictures are BT.601 (FFmpeg's
# AVCOL_SPC_BT470BG) by definition: libvpx's VP8 (RFC 6386 9.2), as FFmpeg's own vp8 decoder says.
BT601_DECODERS = frozenset({"libvpx"})
BT601_MATRIX = 5
FULL_CHROMA = Interpolation.BILINEAR | Interpolation.FULL_CHR_H_INT  # (swscale's default scaler, chroma in full)


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


PNG_DECODERS = ("png", "apng")  # FFmpeg's: they read a PNG's colour chunks (`PictureConverter.primaries_for`)


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


def is_yuv(frame: av.VideoFrame) -> bool:
    """Whether `frame` holds luma and two chroma planes (not RGB, grey, a palette, or CIE XYZ)."""
    form = frame.format
    return not (form.is_rgb or form.has_palette or form.is_bayer or form.name.startswith("xyz")) and len(
        form.components) >= 3


def frame_to_rgb(frame: av.VideoFrame, converter: PictureConverter, aspect: Fraction = Fraction(1),
                 turned: Orientation | None = None) -> np.ndarray:
    """A decoded frame as a viewer sees it: square pixels (for stored pixels of `aspect`, see
    `picture_shape.pixel_aspect`), upright (display matrix; `turned`: the stream's, else the frame's own), (H,
    W, 3) RGB converted with the input's colour range, HDR pictures as SDR (`hdr`). `converter`
    is the stream's, reused across its frames (a picture's EXIF orientation: `picture_facts`)."""
    width, height = square_pixel_size(frame.width, frame.height, aspect) if aspect != 1 else (None, None)
    alpha = converter.has_alpha(frame) and not float_samples(frame)  # (float samples': composited by `converter`)
    rgb = converter.rgb(frame, width, height, alpha)
    if alpha:  # transparent areas over white, as `realtime-adain image` reads them (not their hidden colour)
        rgb = over_white(np.ascontiguousarray(rgb[..., :3]), rgb[..., 3])
    return upright(rgb, *(turned or converter.facts.turned or orientation(frame, converter.codec)))


def note_tone_mapped(name: str, tone_map: ToneMap) -> None:
    if not tone_map.hdr:
        note(f"{name}: wide-gamut video ({tone_map.description}): each picture is converted to BT.709 as read (the "
             f"network and the style are BT.709), and the output is BT.709", once=True)
        return
    note(f"{name}: HDR video ({tone_map.description}): each picture is tone-mapped to SDR BT.709 as read (the "
         f"network and the style are SDR), and the output is SDR BT.709", once=True)
