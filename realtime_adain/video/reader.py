"""Decoding a video file into upright RGB frames, in presentation order, with their timestamps.

The reader demuxes every stream in one pass and yields, in file order, either a `Frame` (a decoded
video frame as uint8 RGB, rotated as the display matrix says it is shown) or an `av.Packet` of
another stream (audio, subtitles) for the writer to copy. Keeping one ordered stream of items
keeps the output interleaved like the input.
"""

from __future__ import annotations

import dataclasses
import errno
import heapq
import itertools
import math
import operator
import os
import re
import shlex
import struct
import warnings
from collections import deque
from concurrent.futures import Future
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence

import av
from av.sidedata.sidedata import Type as SideDataType
from av.video.reformatter import ColorRange, Interpolation, VideoReformatter
import numpy as np

from realtime_adain import limits
from realtime_adain.errors import UserError
from realtime_adain.hdr_stills import HdrTags, colour_tags, converted
from realtime_adain.imageio import (EXR_FORMATS, MAX_DECODE_BYTES, _orientation, exr_rgb, is_animated_webp,
                                    open_with_pillow, over_white, to_rgb8)
from realtime_adain.times import format_time
from realtime_adain.video.deinterlace import check_mode as check_deinterlace, deinterlaced
from realtime_adain.video.formats import GIF_DELAY_SHOWN, GIF_SHORTEST_SHOWN
from realtime_adain.video.hdr import (HDR_TRANSFERS, RGB_MATRIX, SRGB, UNSPECIFIED, WIDE_GAMUT, ToneMap, needs_mapping,
                                      sdr_colour, side_data)
from realtime_adain.notes import collected, note
from realtime_adain.video.opening import open_input
from realtime_adain.video.sequence import DEFAULT_FRAMERATE, check_framerate, ffmpeg_name, find_sequence
from realtime_adain.video.streams import (has_decoder, is_cover_art, main_video_stream, note_left_out,
                                          passthrough_streams, same_program)
from realtime_adain.video.landing import READ_THROUGH_BYTES, StreamLanding
from realtime_adain.video.clocks import (ClusterTimes, ClustersAtOneTime, SeekedIntoStill, SlotTimes, SoundClock,
                                         StuckClock, clock_stands_still, lands_in_still_sound)
from realtime_adain.video.timestamps import Segment, TimestampShift

# What a folder given as input is searched for (a file named on its own is opened whatever its
# name): Blu-ray and AVCHD (.m2ts, .mts), DVD (.vob), camcorders (.dv, .mod, .tod), broadcast
# (.mxf, .m2t), old web and phone formats (RealVideo .rm/.rmvb, Ogg Media .ogm), lossless
# interchange (.y4m, .nut), and bare elementary streams as security recorders and drones export
# them (.h264, .264, .hevc, .h265, .m1v, .ivf).
VIDEO_EXTENSIONS = (".mp4", ".mov", ".m4v", ".mkv", ".webm", ".avi", ".mpg", ".mpeg", ".ts", ".mts",
                    ".wmv", ".flv", ".3gp", ".ogv", ".m2ts", ".m2t", ".m2v", ".vob", ".dv", ".mod", ".tod",
                    ".mxf", ".3g2", ".asf", ".f4v", ".divx", ".qt", ".y4m", ".nut", ".rm", ".rmvb", ".ogm",
                    ".h264", ".264", ".hevc", ".h265", ".265", ".m1v", ".ivf")
# Extensions that name sound as often as video (Ogg: Vorbis songs, Theora clips): a folder's file
# is taken when it holds a moving picture (not just cover art).
MIXED_EXTENSIONS = (".ogg",)
# Demuxers that read still images (plus every "*_pipe" one, e.g. png_pipe, jpeg_pipe).
IMAGE_FORMATS = ("image2",)
# Decoded frames held back to put their timestamps in order. The decoder returns pictures in
# display order, but some files attach decode-order timestamps to them (packed B-frames in AVI,
# some MP4s): 1, 2, 3, 5, 4, ... Real files are off by at most a few frames; 8 YUV frames is small.
REORDER_WINDOW = 8
# Packets of the other streams held until the video reaches them (`HeldPackets`), at most this
# many bytes in a whole run: a file whose sound is stored far ahead of its pictures lets the
# oldest go early (a --frames preview holds them all: what starts after its end is dropped).
HELD_BYTES = 32 << 20
# Packets of the other streams read one after another go on together, as a list (a run) of at
# most this many as read (those a frame lets go of, as one): a GoPro's telemetry is a million
# packets of a few bytes, and a step through each generator for each was most of a read over it.
RUN_PACKETS = 256
# An av.Packet costs about this much memory however few bytes it carries: each held counts as at
# least this many bytes against `HELD_BYTES` (a GoPro's telemetry: a million packets of 5 bytes).
PACKET_BYTES = 512
# Video packets held since the latest keyframe, at most this many bytes, to decode the last frames
# again without frame threads where those threads lost them (`VideoReader._lost_at_end`).
TAIL_BYTES = 64 << 20
TAIL_PICTURES = 64  # an image sequence's latest pictures held so (`TailPackets`)
# FFmpeg's AV_CODEC_FLAG_OUTPUT_CORRUPT: the decoder gives the frames it concealed (see `Recovery`).
OUTPUT_CORRUPT = int(av.codec.context.Flags.output_corrupt)
# FFmpeg's AV_CODEC_FLAG_UNALIGNED: a crop the stream states (an H.264 SPS's) is applied whole;
# without it FFmpeg applies only as much of a left crop as keeps the planes aligned (16 columns
# cropped away were shown: 128x80 came out 144x80).
UNALIGNED = int(av.codec.context.Flags.unaligned)
DECODER_FLAGS = OUTPUT_CORRUPT | UNALIGNED
# A declared frame count is believed only up to this many times what the declared duration holds
# at the average rate: a header written before the frames were (an AVI written to a pipe) carries
# a placeholder (2**30).
PLAUSIBLE_FRAMES = 2
DISPLAYMATRIX = SideDataType.DISPLAYMATRIX
# Seconds of video packets after the last picture that decodes, said apart from damage
# (`VideoReader._note_damage`): another codec's pictures joined on, not a few flipped bytes.
UNDECODED_END_SECONDS = Fraction(1, 4)
# An average frame rate above the guessed one by more than this is a header's claim, not the
# timestamps' (`plausible_rate`); below it, rounding (an MP4's 2997/100 for 30000/1001).
DECLARED_RATE_SLACK = Fraction(101, 100)
# A segment (--start) is read from the keyframe before this much ahead of its start: sound a
# muxer stored before the pictures it plays under is read too.
SEEK_MARGIN = Fraction(1)
# Codecs FFmpeg names and opens but decodes no picture of here, with what to do instead (`no_pictures`).
NO_PICTURES = {
    "prores_raw": "FFmpeg decodes no pictures from ProRes RAW (prores_raw) here; convert it with the camera "
                  "maker's software first (to ProRes 422/4444 or another codec FFmpeg decodes)",
}
# Formats whose timestamps may jump (`TimestampShift`) that a late --start still seeks, by byte
# position where the timeline is found to run on without a jump up to there (`StreamLanding`):
# MPEG-TS (.ts, .m2ts, .mts) and MPEG-PS (.mpg, .vob).
BYTE_SEEKED_FORMATS = frozenset({"mpegts", "mpeg"})
# How much further before the start a TS or PS with subtitles or data is read from, when seeked
# (`VideoReader._seek_by_position`): a DVB subtitle shown at the start is stored when it begins.
LASTING_LEAD = Fraction(30)
# How far past a preview's or segment's end (in video packets' decode time, seconds; and at most
# `HELD_BYTES` read) the file is read on for the sound of its last pictures, which a muxer may
# store after later pictures (MPEG-PS: 0.7 s later; `VideoReader._stored_later`).
LATE_SOUND_SECONDS = 10
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
# Decoders whose float samples are linear light, as `image` reads their files (`imageio._linear_light`):
# OpenEXR and Radiance by their specifications, PFM (and its half-float PHM) in practice.
LINEAR_DECODERS = frozenset({"exr", "hdr", "pfm", "phm"})
# Float pixel formats of one plane of interleaved samples, read in place (`float_plane`).
PACKED_FLOATS = frozenset({"rgbf32le", "rgbaf32le", "grayf32le"})


class SeekMissed(Exception):
    """The first picture after a seek comes after the segment's start: the file's index cannot be
    trusted (an AVI without one, damage); the file is read again from its beginning."""


def is_video_path(path: Path) -> bool:
    suffix = path.suffix.lower()
    return suffix in VIDEO_EXTENSIONS or (suffix in MIXED_EXTENSIONS and has_moving_picture(path))


def has_moving_picture(path: Path) -> bool:
    """Whether FFmpeg finds a video stream other than cover art in `path` (False if unreadable)."""
    try:
        with open_input(ffmpeg_name(path)) as container:
            return any(not is_cover_art(s) for s in container.streams.video)
    except (av.error.FFmpegError, UnicodeDecodeError, OSError):
        return False


@dataclass
class Frame:
    """One decoded frame: `image` is (H, W, 3) uint8 RGB, upright; pts/duration in the stream's time base."""

    image: np.ndarray
    pts: int | None
    duration: int
    index: int
    motion: Future | None = None  # the stabiliser's Motion to the previous frame, estimated ahead


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
    untagged, where a PNG sequence of the same frames gave BT.709 tagged so (`writer.yuv_colour`).
    Grey has no matrix either: its output is converted as an RGB picture's."""
    colours = [part for part in fmt.components if not part.is_alpha]
    return fmt.is_rgb or fmt.has_palette or len(colours) == 1


def float_samples(frame: av.VideoFrame) -> bool:
    """Whether `frame` holds float samples (`FLOAT_SAMPLES`)."""
    return bool(FLOAT_SAMPLES.search(frame.format.name))


def linear_light(frame: av.VideoFrame, codec: str | None = None) -> bool:
    """Whether `frame`, decoded by `codec`, holds linear light: float samples of `LINEAR_DECODERS`
    (any decoder's, where it is not known), which `image` encodes with the sRGB curve
    (`imageio.exr_rgb`). Fed raw, the network saw a dark, contrasty picture. Other float pictures
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
    at all. Other angles go to the nearest quarter turn (`note_odd_turn` says so)."""
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
# of samples `image` lets a picture decode to (imageio.MAX_DECODE_BYTES) at `picture_bytes` a
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
    """What the picture at `path` says as `image` reads it (`imageio._orientation`; Pillow, as
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
            return PictureFacts(exif_orientation(_orientation(picture)),
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


def decoder_threads(decoder: av.video.stream.VideoStream | av.codec.context.CodecContext, live: bool = False) -> None:
    """Frame and slice threads in the decoder (slice threads alone for a `live` feed: each frame
    thread holds a frame back, 15 frames, 0.6 s, on 16 cores, unseen in the HUD's latency), or one
    thread where `ulimit -u` leaves no room for them (`limits.pools_reduced`): FFmpeg's threads
    took what room there was, and `live`'s source was lost, or a good file was said to have no frames."""
    decoder.thread_type = "SLICE" if live else "AUTO"
    if limits.pools_reduced:
        decoder.thread_count = 1


def decoded_or_damage(decode: Callable[[av.Packet | None], list[av.VideoFrame]],
                      packet: av.Packet | None) -> list[av.VideoFrame] | av.FFmpegError:
    """The frames `decode` gives for `packet`, or the error where the decoder rejects it as damaged,
    for the caller to skip it (FFmpeg's tools conceal it and play on): `video` and `live` alike.
    Threads FFmpeg could not start (`threads_refused`) are no damage: raised."""
    try:
        return decode(packet)
    except MemoryError:  # (PyAV's ENOMEM is an FFmpegError too)
        raise
    except av.FFmpegError as exc:
        if threads_refused(exc):
            raise
        return exc


def pictures_read_with(format_name: str, path: Path, first: Path | None = None) -> tuple[Path | None, Path | None]:
    """(`picture`, `colour_from`) of a `PictureConverter` for a stream of `format_name` read from
    `path` (`first`: an image sequence's first picture): pictures (a picture file, a sequence, a raw
    MJPEG file) are read with their first picture's facts and colour, an APNG with its colour; a
    clip with neither (`video` and `live` alike)."""
    if format_name == "apng":
        return None, path
    return (first or path, None) if is_picture_format(format_name) else (None, None)


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
        as `image` reads an EXR (`imageio.exr_rgb`: the sRGB curve, its alpha composited over
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
    reads a float TIFF (`imageio.to_rgb8`: 0..1, or 0..255 where its values say so, with a note
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


def note_colour_change(name: str, first: Colour, now: Colour) -> None:
    """Say that the colour description changes mid-stream (broadcast SDR joined to HDR, BT.601 to
    BT.709): each picture is read to RGB with its own matrix and range, and the output, tagged as
    the first picture is, holds them right; a change of transfer or primaries (SDR to HDR PQ) is
    not converted: such pictures keep their values, shown as the first's kind (FFmpeg too)."""
    names = ("matrix", "range", "primaries", "transfer")
    changed = [f"{label} {a} to {b}" for label, a, b in zip(names, dataclasses.astuple(first), dataclasses.astuple(now))
               if a != b]
    if {first.color_trc, now.color_trc} & set(HDR_TRANSFERS):
        kept = "HDR pictures are tone-mapped to SDR BT.709 as read, so both kinds show right"
    elif now.color_primaries != first.color_primaries or now.color_trc != first.color_trc:
        kept = "each picture's matrix and range are converted, its primaries and transfer are not (a slight shift)"
    else:
        kept = "every picture is converted with its own, so colours stay right"
    note(f"{name}: the colour description changes mid-stream ({', '.join(changed)}, FFmpeg's numbers); the output "
         f"is tagged as the first picture; {kept}", once=True)


def note_tone_mapped(name: str, tone_map: ToneMap) -> None:
    if not tone_map.hdr:
        note(f"{name}: wide-gamut video ({tone_map.description}): each picture is converted to BT.709 as read (the "
             f"network and the style are BT.709), and the output is BT.709", once=True)
        return
    note(f"{name}: HDR video ({tone_map.description}): each picture is tone-mapped to SDR BT.709 as read (the "
         f"network and the style are SDR), and the output is SDR BT.709", once=True)


def note_odd_turn(name: str, rotation: float) -> None:
    """Say that a display rotation (`frame.rotation`, counter-clockwise degrees) that is not a
    quarter turn is applied as the nearest quarter turn (`upright`): it was done without a word."""
    applied = round(rotation / 90) % 4 * 90
    if abs((rotation - applied + 180) % 360 - 180) >= 1:
        done = f"turned {applied} degrees counter-clockwise" if applied else "left unturned"
        note(f"{name}: the display rotation is {rotation:g} degrees counter-clockwise, not a quarter turn; the "
             f"pictures are {done} (the nearest quarter turn)", once=True)


def note_turn_change(name: str, first: Orientation, now: Orientation) -> None:
    """Say that the display matrix changes mid-stream (a phone turned while recording, clips joined):
    every frame is turned as the first is, as FFmpeg turns them; turning each its own way made
    frames of another shape, squeezed into the first one's."""
    note(f"{name}: the display rotation changes mid-stream, from {round(first[0]) % 360} to {round(now[0]) % 360} "
         "degrees; every frame is turned as the first one is (one stream keeps one shape)", once=True)


def codec_aspect(stream: av.video.stream.VideoStream) -> Fraction:
    """The sample aspect ratio the decoder last read from the stream (PyAV's frames do not carry
    theirs), 1 when unset."""
    return Fraction(stream.codec_context.sample_aspect_ratio or 1)


def note_aspect_change(name: str, first: Fraction, now: Fraction) -> None:
    """Say that the stored pixels change shape mid-stream (clips joined into one MPEG-TS): every
    frame keeps the first frame's, as `ffmpeg` keeps it (later frames show stretched, in its output
    as in ours); resampling each to its own shape would still end at the output's size."""
    note(f"{name}: the pixel shape (sample aspect ratio) changes mid-stream, from {first.numerator}:"
         f"{first.denominator} to {now.numerator}:{now.denominator}; every frame keeps the first frame's, "
         "as FFmpeg keeps it", once=True)


def is_picture_format(name: str) -> bool:
    """Whether FFmpeg's demuxer `name` reads pictures (a JPEG, a PNG, or such pictures one after another)."""
    return name in IMAGE_FORMATS or name.endswith("_pipe")


def plausible_rate(stream: av.video.stream.VideoStream) -> Fraction | None:
    """The stream's average frame rate, unless it is faster than the rate FFmpeg guesses from its
    timestamps (its r_frame_rate: a grid every timestamp lands on, so no more frames a second fit
    in): then a header's claim the timestamps contradict, and the guessed rate is the one, as
    `ffmpeg -i` takes it. An FLV's metadata said 30 fps over frames 83 ms apart (a .mkv of it
    declared 30); FFmpeg 8 reads DV with an average of one frame per tick of its 1/60000 time
    base (60000 fps, where ffprobe 5.1 says 25: an MP4 muxer refused to finish a timecode track
    at that rate). Slower than guessed is a variable rate (12, 30 and 20 fps mixed: the grid is
    60), where the average is the better guess."""
    average, guessed = stream.average_rate, stream.guessed_rate
    if has_no_timestamps(stream.container) and stream.codec_context.framerate:
        return Fraction(stream.codec_context.framerate)  # a bare stream: FFmpeg 8's average is its 25 default
    if average and guessed and average > guessed * DECLARED_RATE_SLACK:
        return guessed
    return average or guessed


def has_no_timestamps(container: av.container.InputContainer) -> bool:
    """Whether the format stores no timestamps (a bare H.264, HEVC or MPEG-1/2 video stream): the
    ones FFmpeg's parser makes up are guesses (MPEG-1 started 0, 0.08, 0.12, ...; MPEG-2 at one
    frame, not zero), and FFmpeg 8 gives the stream its raw demuxer's default rate, 25."""
    return bool(container.format.flags & av.format.Flags.no_timestamps.value)


def error_reason(exc: BaseException) -> str:
    """FFmpeg's or the OS's reason for a failure, as one short line."""
    text = getattr(exc, "strerror", None) or str(exc)
    return text.strip().splitlines()[0][:160] if text.strip() else type(exc).__name__


def threads_refused(exc: BaseException) -> bool:
    """Whether FFmpeg failed with EAGAIN: a decoder or scaler could not start its threads
    (pthread_create), not damage. Under `ulimit -u`, or a memory limit the threads' stacks do not
    fit in, every packet failed to open the decoder: "241 damaged video packets skipped", then "the
    video has no frames"; or the scaler failed as "corrupt video data after 8 frames"."""
    return isinstance(exc, av.error.FFmpegError) and exc.errno == errno.EAGAIN


def threads_refused_error(path: Path, exc: BaseException, doing: str = "decoding") -> UserError:
    """The one line for `threads_refused` while `doing` (decoding, converting pictures): the limit to raise."""
    return UserError(f"{path}: FFmpeg cannot start its threads for {doing} ({error_reason(exc)}): the limit on "
                     "processes and threads is reached (raise `ulimit -u`), or memory for their stacks is short "
                     "(raise `ulimit -v`, or lower `ulimit -s`)")


def refuse_animated_webp(path: Path) -> None:
    """Refuse an animated WebP in one line that says how to convert it: FFmpeg 8.1 decodes none of
    its frames ("1 damaged video packet skipped", then "the video has no frames"; `live` retried
    it for 15 s). An unreadable file is left to the opening to report. The command takes the path
    as given (it named the file alone: run elsewhere, not found), shell-quoted as arguments (a
    quote in the name broke the code's quoting), and writes the GIF beside it; `disposal=2`
    clears each frame before the next (without it a transparent WebP's moving parts left trails)."""
    try:
        with open(path, "rb") as handle:
            animated = is_animated_webp(handle.read(32))
    except OSError:
        return
    if animated:
        gif = path.with_suffix(".gif") if path.suffix.lower() != ".gif" else path.with_suffix(".converted.gif")
        paths = f"{shlex.quote(str(path))} {shlex.quote(str(gif))}"  # (never the input: a WebP named .gif)
        raise UserError(f"{path}: an animated WebP, which FFmpeg cannot decode: convert it first, e.g. to a GIF "
                        f"(every frame and delay) with Pillow: python3 -c \"import sys; from PIL import Image; "
                        f"Image.open(sys.argv[1]).save(sys.argv[2], save_all=True, disposal=2)\" {paths}")


def gif_delays_as_shown(items: Iterator[av.VideoFrame | av.Packet], name: str) -> Iterator[av.VideoFrame | av.Packet]:
    """A GIF's frames (time base 1/100 s) with a delay under `GIF_SHORTEST_SHOWN` centiseconds
    timed `GIF_DELAY_SHOWN`, as browsers show them (and FFmpeg 5's demuxer timed them); the later
    frames move on by the difference. FFmpeg 8 makes a delay of 0 the default 10 cs but keeps 1 cs:
    a GIF of 1 cs frames, which plays at 10 fps, came out at 100 fps."""
    shift = 0
    for item in items:
        if isinstance(item, av.VideoFrame) and item.pts is not None:
            item.pts += shift
            if item.duration is not None and 0 < item.duration < GIF_SHORTEST_SHOWN:
                note(f"{name}: frames with delays under {GIF_SHORTEST_SHOWN} centiseconds are shown for "
                     f"{GIF_DELAY_SHOWN}, as browsers show them", once=True)
                shift += GIF_DELAY_SHOWN - item.duration
                item.duration = GIF_DELAY_SHOWN
        yield item


def no_pictures(stream: av.video.stream.VideoStream, packets: int, damaged: int) -> str:
    """Why a video stream whose `packets` (read; `damaged` of them rejected) decoded to no
    picture gave none, as a clause: a codec FFmpeg knows but decodes nothing of here (ProRes
    RAW: FFmpeg 8's decoder takes its packets and gives nothing, no error), a stream without
    packets, packets all rejected (a picture size FFmpeg refuses, a GIF's logical screen of
    20000x20000, a codec's variant it cannot decode), or a decoder that gave nothing from them."""
    name = stream.codec_context.name
    if name in NO_PICTURES:
        return NO_PICTURES[name]
    if not packets:
        return "its video stream holds no packets (no picture data at all)"
    plural = "s" if packets > 1 else ""
    if damaged >= packets:
        return (f"its {packets} video packet{plural} do{'' if plural else 'es'} not decode as {name} "
                "(a picture size or variant FFmpeg refuses, or damage)")
    return f"the decoder gave no pictures from {name} ({packets} video packet{plural} read)"


def mp4_without_index(path: Path) -> bool:
    """Whether `path` is an ISO media file (MP4, MOV: a first box `ftyp`, or `mdat`/`wide`/`free`
    as QuickTime writes them) whose top-level boxes hold no `moov`, the index that says where
    each frame is. A recorder writes it last: FFmpeg says only "moov atom not found"."""
    try:
        with path.open("rb") as file:
            size = path.stat().st_size
            offset, first = 0, True
            while offset + 8 <= size:
                file.seek(offset)
                header = file.read(16)
                length, kind = struct.unpack(">I", header[:4])[0], header[4:8]
                if first and kind not in (b"ftyp", b"mdat", b"wide", b"free"):
                    return False
                if kind == b"moov":
                    return False
                if length == 1 and len(header) == 16:  # a 64-bit size follows
                    length = struct.unpack(">Q", header[8:16])[0]
                if length == 0:  # to the end of the file
                    break
                if length < 8:
                    return False  # not a box: some other format
                offset, first = offset + length, False
            return not first
    except OSError:
        return False


class VideoReader:
    """An opened input: its video stream, the streams to pass through, and its first frame.

    Opening decodes up to the first video frame, so a file that is not a video, or has no
    decodable frame, fails here with a `UserError` before anything is written.
    """

    def __init__(self, path: str | os.PathLike, max_frames: int = 0, deinterlace: str = "auto",
                 framerate: Fraction | None = None, start: Fraction = Fraction(0),
                 duration: Fraction | None = None) -> None:
        """`max_frames` > 0 stops after that many frames (a preview of the start); `deinterlace`:
        which frames are deinterlaced (video/deinterlace.py: auto, on, off, film); `framerate`: an image
        sequence's (`render/%04d.png`, video/sequence.py; None: 25, as FFmpeg); `start` and
        `duration` (seconds): only that segment, moved to start at zero (`Segment`; `max_frames`
        counts from its start)."""
        self.path = Path(path)
        self.max_frames = max_frames
        self.deinterlace = check_deinterlace(deinterlace)
        self.sequence = find_sequence(self.path)
        if self.sequence is not None:
            self.sequence.note_gap()
        if self.sequence is None and not self.path.is_file():
            raise UserError(f"{self.path}: no such file")
        if self.sequence is None and self.path.stat().st_size == 0:
            raise UserError(f"{self.path}: the file is empty")
        if self.sequence is None:
            refuse_animated_webp(self.path)
        try:
            self._open(framerate, start, duration, seek=True)
        except (SeekMissed, SeekedIntoStill):  # (the container is closed)
            self._open(framerate, start, duration, seek=False)
        self.first_frame: Frame = self._first
        self.height, self.width = self.first_frame.image.shape[:2]  # as displayed (after rotation)

    def _open(self, framerate: Fraction | None, start: Fraction, duration: Fraction | None, seek: bool) -> None:
        """Open the file and decode up to its (segment's) first frame; `seek`: to the keyframe
        before the segment's start where the file can be trusted to seek (`_seek`)."""
        try:
            # Latin-1 tags: FFmpeg plays them
            self._options = self._sequence_options(framerate)  # (again for `_lost_at_end`)
            self.container = open_input(self._opened_name, **self._options)
        except (av.error.FFmpegError, UnicodeDecodeError) as exc:
            if mp4_without_index(self.path):
                raise UserError(f"{self.path}: an MP4/MOV without its index (no moov box): a recording that was not "
                                "finished, or a file cut short; nothing can read its frames (recorders that write "
                                "fragmented MP4, .mkv or .ts leave a playable file when stopped abruptly)") from None
            raise UserError(f"{self.path}: not a readable video ({error_reason(exc)})") from None
        max_frames = self.max_frames
        try:
            # One picture is an image; pictures one after another (a raw MJPEG stream, .mjpeg) are a
            # clip, as FFmpeg plays them: told apart by a second frame.
            picture = is_picture_format(self.container.format.name)
            self.stream = main_video_stream(self.container, self.path.name)
            self.decoder = alpha_decoder(self.stream) or self.stream.codec_context  # (`_decoded` uses it)
            first = self.sequence.file(self.sequence.start) if self.sequence else None
            self._converter = PictureConverter(self.path.name, self.decoder.name,
                                               *pictures_read_with(self.container.format.name, self.path, first))
            decoder_threads(self.decoder)
            self.decoder.flags |= DECODER_FLAGS  # damaged frames are concealed, not dropped; crops applied whole
            carried, unknown = passthrough_streams(self.container, self.stream, self.path.name)
            self.passthrough = same_program(self.container, self.stream, carried, self.path.name)
            # Input index -> why no output carries it (`job.stream_reports`), as the notes say.
            kept = {s.index for s in self.passthrough}
            self.left_out: dict[int, str] = {
                **unknown, **note_left_out(self.container, self.stream, self.path.name),
                **{s.index: "another program's (a broadcast channel's, or a playlist variant's)"
                   for s in carried if s.index not in kept},
                **{s.index: f"another video stream (#{self.stream.index} is the one stylized)"
                   for s in self.container.streams.video
                   if s.index != self.stream.index and s.index not in kept and not is_cover_art(s)}}
            if (self.stream.metadata.get("alpha_mode") == "1" and self.decoder is self.stream.codec_context
                    and self.stream.codec_context.name in ("vp8", "vp9")):  # (Matroska tags any codec's alpha so)
                note_transparency_left_out(self.path.name)  # WebM's alpha, which this FFmpeg (no libvpx) cannot read
            self.cover_art = is_cover_art(self.stream)
            self.rotation, self.colour = 0, None  # set from the first decoded frame
            self.captions = False  # whether a decoded picture carried closed captions (`note_captions_left_out`)
            self.pixel_aspect = pixel_aspect(self.stream, self.path.name)  # frames are resampled to square pixels
            check_picture_size(self.stream, self.pixel_aspect, self.path)
            bound_decoder(self.decoder, self.pixel_aspect)
            self.damaged = 0  # video packets the decoder rejected (skipped)
            self.video_packets = 0  # video packets read (with data): none decoding to a picture is said apart
            self.undecoded: tuple[Fraction, Fraction] | None = None  # (last picture, last packet) where they differ (s)
            self._tail_end: int | None = None  # where the video's packets stop showing (`TailPackets.end`)
            self.shift = TimestampShift(self.container, self.path.name)  # timestamps from zero, across splices
            self.sound_clock = SoundClock(self.container, self.passthrough, self.path.name)  # (before the shift)
            # (before it too, on the file's own times: pictures all at one time, a Matroska cluster's damaged time)
            self.stuck_clock = StuckClock(self.stream, self.path) if self._stores_times else None
            self.slot_times = SlotTimes.of(self.container, self.stream)  # (an AVI's reordered pictures)
            matroska = self.container.format.name.startswith("matroska")
            self.cluster_times = ((ClustersAtOneTime.of(self.path, self.stream) or ClusterTimes(self.path.name))
                                  if matroska else None)
            self.segment = Segment(self.stream.time_base, start, duration)
            self._dropped = 0  # frames decoded before the segment's start (after the seek, if any)
            self._before = BeforeStart(self._decode_from(), TAIL_BYTES)  # packets before it, not decoded
            self.seen_end: Fraction | None = None  # where the latest decoded picture stops showing (s)
            self.finished = False  # whether the file was read to its end (not stopped at a preview's or segment's)
            self.streams_given: set[int] = set()  # the pass-through streams a packet was given of (`runs`)
            self.seeked = seek and self._seek()
            self._frame_limit = max(max_frames, 2) if picture and max_frames else max_frames
            self._items = self._demux()
            self._lookahead: list[Frame | av.Packet] = []
            wanted = 2 if picture else 1
            for item in self._items:
                self._lookahead.append(item)
                if isinstance(item, Frame) and (wanted := wanted - 1) == 0:
                    break
            frames = [item for item in self._lookahead if isinstance(item, Frame)]
            if not frames and self._landed_wrong():
                raise SeekMissed
            if not frames and self.segment.start and self.seen_end is not None:
                raise UserError(f"{self.path}: --start {format_time(self.segment.start)} is at or past the end of "
                                f"the video, which lasts {format_time(self.seen_end)}")
            if not frames:
                raise UserError(f"{self.path}: the video has no frames" + self._none_decoded())
            if picture and len(frames) == 1 and not self.skipped:
                raise UserError(f"{self.path}: this is an image, not a video (use `realtime-adain image`)")
            if picture and max_frames == 1:  # the second picture was only looked at (pipes hold no sound)
                self._lookahead, self._items = [frames[0]], iter(())
        except BaseException:
            self.container.close()
            raise
        self._first = frames[0]

    def _seek(self) -> bool:
        """Jump to the keyframe `SEEK_MARGIN` before the segment's start (as `ffmpeg -ss` before
        `-i` does), where seeking can be trusted: a file (not a pipe) with timestamps (not a bare
        H.264 or MPEG-2 stream), not pictures; a format whose timestamps may jump (MPEG-TS,
        MPEG-PS: `TimestampShift` follows them from the start) only by byte position where they
        do not (`_seek_by_position`). Whether it landed before the start is checked on the first
        picture (`SeekMissed`). Returns whether it seeked."""
        target = self.segment.start - SEEK_MARGIN
        if (target <= 0 or self.sequence is not None or is_picture_format(self.container.format.name)
                or has_no_timestamps(self.container) or self.cover_art or not self.path.is_file()):
            return False
        if self.shift.splices:
            return self._seek_by_position(target)
        if isinstance(self.cluster_times, ClustersAtOneTime):
            return False  # (its index puts every cluster at one time: read from the start)
        sound = [s for s in self.passthrough if s.type == "audio"]
        if self.stuck_clock is not None and clock_stands_still(self.container, [self.stream, *sound]):
            raise SeekMissed  # (its index puts every picture, or every sound packet, at one time: read from the start)
        timestamp = math.floor((target - self.shift.offset) / self.time_base)
        if sound and lands_in_still_sound(self.path, self.stream.index, [s.index for s in sound], timestamp):
            raise SeekMissed  # (its sound's clock stands still there: placed only by the sound before it)
        try:
            self.container.seek(timestamp, backward=True, stream=self.stream)
        except av.error.FFmpegError:
            raise SeekMissed from None
        return True

    def _seek_by_position(self, target: Fraction) -> bool:
        """Seek an MPEG-TS or MPEG-PS (a broadcast's or camcorder's, hours long) to a keyframe
        before `target` by its byte position, where `StreamLanding` finds the timeline running on
        without a jump from the file's start to there: the timestamps there are then the ones a
        read from the start gives them. Elsewhere (another format whose timestamps jump, a
        splice before the start, a start near the beginning) the file is read through."""
        if self.container.format.name not in BYTE_SEEKED_FORMATS or self.deinterlace == "film":
            return False  # (inverse telecine reads its cadence from every frame: `_decode_from`)
        rate = self.container.bit_rate  # (bits a second, on average; 0: not known)
        if rate and rate * target < 8 * READ_THROUGH_BYTES:  # (`target`: seconds from the file's start)
            return False  # (near the start at that rate: not opened again to look)
        if any(s.type in CUT_TYPES for s in self.passthrough):
            target -= LASTING_LEAD  # (a subtitle shown from before the start is stored before it)
        try:
            with open_input(ffmpeg_name(self.path)) as probed:
                if SoundClock.untimed_in(probed, self.passthrough):
                    return False  # (its sound is timed from the file's start: read through)
                position = StreamLanding(probed, probed.streams[self.stream.index], self.shift.offset).find(target)
        except (av.error.FFmpegError, IndexError):
            return False
        if position is None:
            return False
        try:
            self.container.seek(position, unsupported_byte_offset=True)
        except av.error.FFmpegError:
            raise SeekMissed from None
        return True

    @property
    def _opened_name(self) -> str:
        """What FFmpeg opens: the file, or an image sequence's pattern as image2 reads it."""
        return ffmpeg_name(self.sequence.ffmpeg_pattern if self.sequence is not None else self.path)

    def _sequence_options(self, framerate: Fraction | None) -> dict:
        """How FFmpeg opens an image sequence (nothing for a file): from its first number, at `framerate`."""
        if self.sequence is None:
            return {}
        if self.path.suffix.lower() in VIDEO_EXTENSIONS:
            raise UserError(f"{self.path}: a numbered pattern reads pictures (PNG, JPEG, TIFF, ...) as one clip, "
                            "not video files: give the videos themselves, or their folder")
        return self.sequence.open_arguments(DEFAULT_FRAMERATE if framerate is None else check_framerate(framerate))

    @property
    def output_colour(self) -> Colour | None:
        """How the output's pictures are converted and tagged: as the first picture is, or SDR
        BT.709 where it is HDR (tone-mapped as read); pictures read on their stated curve
        (`PictureConverter.stated_for`) on the sRGB curve, as `image` reads them."""
        colour = self.colour
        if colour is not None:
            colour = dataclasses.replace(colour, color_primaries=self._converter.primaries_for(colour.color_primaries))
        if colour is not None and self._converter.stated_for(colour.color_trc, colour.color_primaries):
            colour = dataclasses.replace(colour, color_trc=SRGB)
        return sdr_colour(colour)

    @property
    def time_base(self) -> Fraction:
        return self.stream.time_base

    @property
    def frame_rate(self) -> Fraction | None:
        """None for cover art: its stream's only rate is its time base's (90000 fps)."""
        return None if self.cover_art else plausible_rate(self.stream)

    @property
    def expected_frames(self) -> int:
        """Frames to come, from the container's index (0 when the format does not store it, or
        states an implausible count: `declared_frames`), within the segment at the frame rate."""
        declared = self.segment.frames(self.declared_frames, self.frame_rate)
        if self.deinterlace == "film" and not self.max_frames:
            return 0  # inverse telecine gives fewer than the index counts: as many as decimate finds
        return min(declared, self.max_frames) if self.max_frames else declared

    @property
    def declared_frames(self) -> int:
        """The stream's frame count as the container states it, 0 when it does not or when the
        count is implausible: more than `PLAUSIBLE_FRAMES` times what the stream's (else the
        file's) duration holds at the average rate, or no duration at all to weigh it against. An
        AVI written to a pipe states 2**30 frames (its header's placeholder), and a whole file
        was refused as "truncated: only 24 of 1073741824 frames decode"."""
        declared = self.stream.frames or 0
        if self.stream.duration:
            seconds = self.stream.duration * self.time_base
        elif self.container.duration:
            seconds = Fraction(self.container.duration, 1_000_000)
        else:
            return 0
        rate = self.frame_rate
        if not declared or not rate or declared > PLAUSIBLE_FRAMES * seconds * rate + 1:
            return 0
        return declared

    def cover_duration(self) -> int:
        """How long cover art shows, in the stream's time base: the file's duration (at least one tick)."""
        seconds = Fraction(self.container.duration or 0, 1_000_000)
        return max(1, round(seconds / self.time_base))

    def chapters(self) -> list[dict]:
        """The file's chapters, on the timeline from zero (`TimestampShift`), within the segment
        and moved with it, as PyAV gives them."""
        shifted = []
        for chapter in self.container.chapters():
            shift = self.shift.start_ticks(Fraction(chapter["time_base"]))
            shifted.append({**chapter, "start": max(0, chapter["start"] + shift), "end": max(0, chapter["end"] + shift)})
        return self.segment.chapters(shifted)

    def items(self) -> Iterator[Frame | av.Packet]:
        """Every frame and pass-through packet, in file order; raises UserError on corrupt data."""
        for item in self.runs():
            if isinstance(item, list):
                yield from item
            else:
                yield item

    def runs(self) -> Iterator[Frame | list[av.Packet]]:
        """`items`, with packets that come one after another as lists (`RUN_PACKETS`), and
        their streams noted in `streams_given`."""
        given = self.streams_given
        lookahead, self._lookahead = self._lookahead, []
        for item in itertools.chain(lookahead, self._items):
            if isinstance(item, list):
                given.update(packet.stream.index for packet in item)
            yield item

    def _demux(self) -> Iterator[Frame | list[av.Packet]]:
        """Frames and runs of packets (`runs`)."""
        index = 0
        timeline = Timeline(REORDER_WINDOW, self._last_end)
        # Sound travels with the picture it plays under: a packet leaves after the first frame that
        # ends after it starts. Read as they come, the packets ran about half a second ahead (the
        # decoder's delay and the reorder window), which a preview (--frames) or a Ctrl-C file
        # kept as sound past the last picture.
        held = HeldPackets(self.stream.time_base, limit=0 if self.max_frames else HELD_BYTES)
        # (`_decode` reads it; at a preview's or segment's end, `_stored_later`)
        self._source = self._timed(self._packets())
        segment = self.segment
        ends = self.max_frames or segment.end is not None  # a preview or a segment: subtitles cut at its end
        shown = ShownUntil(self.stream.time_base) if ends else None
        last: tuple[int | None, int] = (None, 0)  # the latest frame given, on the segment's timeline
        first_aspect = codec_aspect(self.stream)  # before decoding: the decoder runs ahead of the frames given
        turned: Orientation | None = None  # the first frame's (its picture's EXIF: `picture_facts`), for every frame
        first_turn: Orientation | None = None  # the first frame's own, to tell a change by
        codec = self._converter.codec
        turn_noted = colour_noted = False
        try:
            pictures = deinterlaced(self._decode(), self.deinterlace, self.path.name, rate=self.frame_rate)
            for item in timeline.order(self._retimed(pictures)):
                if isinstance(item, list):
                    if not segment.whole:
                        item = [packet for packet in item if not segment.ended(packet)]
                    yield from as_run(segment.packets(held.extend(item)))
                    continue
                decoded, pts, duration = item
                if self.cover_art:  # (no timestamp) shown from the start to the end of the sound
                    pts, duration = segment.shift_ticks, max(1, self.cover_duration() - segment.shift_ticks)
                elif pts is not None and pts < 0:
                    pts, duration = self._from_zero(pts, duration)
                if self.seeked and self.seen_end is None and (pts is None or pts * self.time_base > segment.start):
                    raise SeekMissed  # the seek went past the start: frames would be missing
                if self.seeked and index == 0 and self.cluster_times is not None and self.cluster_times.stretches:
                    raise SeekMissed  # a Matroska cluster's time went back after the seek: its index misplaced it
                if pts is None:  # (PES headers without timestamps in an MPEG-TS): after the one before
                    pts, duration = self._after_last(duration)
                self.seen_end = (pts + (duration or 0)) * self.time_base
                if segment.ends_before(pts, duration):  # (not converted to RGB: most of a late start's frames)
                    self._dropped += 1
                    released = segment.packets(held.before(pts, duration))
                    # (one that shows past the segment's start is held, as if before its first picture)
                    yield from as_run(shown.after(released, 0, 0) if shown else released)
                    continue
                if segment.is_after(pts):
                    end = math.ceil(segment.end / self.time_base)
                    yield from as_run(shown.after(self._stored_later(held, segment, end), *last))
                    released = segment.packets(held.before(end, 0))
                    yield from as_run(shown.after(released, *last))
                    yield from as_run(shown.cut(*last))
                    return
                released = segment.packets(held.before(pts, duration))
                pts, duration = segment.moved(pts, duration)
                if index == 0:
                    self.rotation, self.colour = decoded.rotation, Colour.of(decoded, codec)
                    first_turn = orientation(decoded, codec)
                    turned = self._converter.facts.turned or first_turn
                    note_odd_turn(self.path.name, decoded.rotation)
                    if see_through(decoded, self._converter):
                        note_transparency_left_out(self.path.name, shown_over_white=True)
                elif not colour_noted and Colour.of(decoded, codec) != self.colour:
                    note_colour_change(self.path.name, self.colour, Colour.of(decoded, codec))
                    colour_noted = True
                if index and not turn_noted and orientation(decoded, codec) != first_turn:
                    note_turn_change(self.path.name, first_turn, orientation(decoded, codec))
                    turn_noted = True
                if not self.captions and has_captions(decoded, codec):
                    self.captions = True
                    note_captions_left_out(self.path.name)
                if first_aspect is not None and codec_aspect(self.stream) != first_aspect:
                    note_aspect_change(self.path.name, first_aspect, codec_aspect(self.stream))
                    first_aspect = None  # said once
                yield Frame(frame_to_rgb(decoded, self._converter, self.pixel_aspect, turned), pts, duration, index)
                index += 1
                last = (pts, duration)
                yield from as_run(shown.after(released, pts, duration) if shown else released)
                if index == self._frame_limit:
                    if shown:
                        end = pts + (duration or 0) + segment.shift_ticks  # (on the file's timeline, as held)
                        yield from as_run(shown.after(self._stored_later(held, segment, end), pts, duration))
                        yield from as_run(shown.after(segment.packets(held.before(end, 0)), pts, duration))
                        yield from as_run(shown.cut(pts, duration))
                    return
            # The sound after the last picture (a preview's or a segment's too, if the file ended)
            yield from as_run(segment.packets(held.before(None, 0)))
            if shown:
                yield from as_run(shown.after([], None, 0))
        except av.error.FFmpegError as exc:  # the frames still held for reordering did decode
            if threads_refused(exc):
                raise threads_refused_error(self.path, exc) from None
            good = index + len(timeline.frames)
            raise UserError(f"{self.path}: corrupt video data after {good} frames ({error_reason(exc)})") from None
        if not index and self._landed_wrong():
            # (before the notes on what was read: the file is read again from its start, which says
            # its own; a Matroska whose later clusters all say 0 said its reordering twice)
            raise SeekMissed
        self.finished = True
        if index or self.skipped:  # (none decoded: the error says why, in one line)
            self._note_damage()
        self.shift.note_jumps()
        if self.cluster_times is not None:
            self.cluster_times.note_repairs()
        if timeline.reordered and self.slot_times is None:  # (timed by their slots: FFmpeg's order, see SlotTimes)
            count = timeline.reordered
            note(f"{self.path.name}: {count} frame timestamp{'s were' if count > 1 else ' was'} out of order; "
                 "put back in order (the timing is kept)")
        declared = self.declared_frames
        if 0 < index + self.skipped < declared and self._ends_early(timeline.end, self.seeked or self.passed_over > 0):
            # (said, not refused: FFmpeg plays what decodes; a half-downloaded MP4 was stylized to its end, then lost)
            note(f"{self.path.name}: only {index + self.skipped} of the {declared} frames its index states decode: "
                 "the file looks cut short or damaged (what decodes is stylized, as FFmpeg plays it)")
        tagged = self._tagged_end() if not declared and timeline.end is not None else None
        if tagged is not None and timeline.end + self._one_frame < tagged:  # (a tag, not an index: said, not refused)
            note(f"{self.path.name}: its pictures end at {format_time(timeline.end * self.time_base)} of the "
                 f"{format_time(tagged * self.time_base)} its video track states: the file looks cut short "
                 "(what decodes is stylized)")

    def _landed_wrong(self) -> bool:
        """Whether a seek that gave no frame landed where the file cannot be read from: nothing
        at all after it, or a Matroska that lasts past the start, whose index led to damaged
        cluster times."""
        if not self.seeked:
            return False
        return self.seen_end is None or (self.cluster_times is not None and bool(self.container.duration)
                                         and Fraction(self.container.duration, 1_000_000) > self.segment.start)

    def _stored_later(self, held: "HeldPackets", segment: Segment, end: int) -> Iterator[av.Packet]:
        """Read on past the last picture kept (which stops showing at `end`, video ticks on the
        file's timeline) for the sound that plays under it but is stored after later pictures, into
        `held`; gives what `held` lets go early (over its limit), moved onto the segment's timeline.
        An MPEG-PS stores its MP2 sound 0.7 s after the pictures: `--frames 13` (0.44 s) kept 0.12 s
        of it. Stops once every sound stream has a packet from `end` on, or the video's packets
        are `LATE_SOUND_SECONDS` past it (the sound ended early), or `HELD_BYTES` were read; video
        packets are not decoded."""
        end_seconds = end * self.time_base
        waiting = {s.index for s in self.passthrough if s.type == "audio"}
        if not waiting:
            return
        read = 0
        for packet in self._source:
            read += packet.size
            if read > HELD_BYTES:
                return
            self.shift.apply(packet)
            at = packet.pts if packet.pts is not None else packet.dts
            if at is None or not packet.time_base or not packet.size:
                continue
            if packet.stream is self.stream:
                if (packet.dts if packet.dts is not None else at) * packet.time_base > end_seconds + LATE_SOUND_SECONDS:
                    return
                continue
            if at * packet.time_base >= end_seconds:
                waiting.discard(packet.stream.index)
                if not waiting:
                    return
                continue
            if not packet.is_discard:
                yield from segment.packets(held.add(packet))

    def _last_end(self, pts: int, step: int | None) -> int | None:
        """Where the last picture (at `pts`, `step` after the one before it; None: the only one)
        stops showing at least, where the file says (stream time base, on the timeline from zero),
        once every packet decoded; None elsewhere.
        An MP4's or MOV's last video sample (in decode order) ends at its pts plus its duration.
        That duration is all that holds a variable-rate clip's closing still, and with B-frames
        that sample is not the last picture shown, which the decoder gives its own sample's
        duration (a GIF's 2 s hold made into an MP4 read back as 0.04 s). FFmpeg's MP4 muxer ends
        the edit list there too. The other samples' durations are the steps between decode times
        (one before a pause spans it); a file cut short ends where its pictures do.
        An AVI's packet lasts one slot, but the slots after a picture may be empty (`ffmpeg -c
        copy` of variable-rate video into AVI puts a picture every other slot: the output lasted
        1.98 s of 2 s). Its last picture lasts to the stream's stated end where that is after it
        and within an average picture's time (the stated duration over the pictures), else the
        step between the pictures before, as in FFmpeg's output (a file cut short states an end
        FFmpeg guessed from its bytes, before its last picture, which kept one slot), at most an
        average picture's time: the step into a variable-rate clip's last picture may be a pause
        (an AVI without its index held its last picture 2 s)."""
        if self.container.format.name == "avi" and self.undecoded is None:
            stated = self._stated_end()
            average = math.ceil(self.stream.duration / self.video_packets) if self.stream.duration else None
            if stated is not None and 0 < stated - pts <= average:
                return stated
            return None if step is None else pts + min(step, average or step)
        if not self.container.format.name.startswith("mov,") or self.undecoded is not None:
            return None
        return self._tail_end

    def _none_decoded(self) -> str:
        """Why a video gave no frames (`no_pictures`), after "no frames"; nothing where the file
        was not read to its end (a segment's start past it says so itself)."""
        return f": {no_pictures(self.stream, self.video_packets, self.damaged)}" if self.finished else ""

    def _note_damage(self) -> None:
        """Say how many video packets were skipped; packets timed well past the last picture are
        said apart: not damage FFmpeg conceals, but pictures it cannot decode at all (MPEG-TS
        segments joined with another codec on the same stream: H.264, then MPEG-2, whose keyframe
        the H.264 decoder made a green last frame of)."""
        if self.undecoded is not None and self.undecoded[1] - self.undecoded[0] > UNDECODED_END_SECONDS:
            shown, packets = self.undecoded
            rejected = f", {self.damaged} rejected" if self.damaged else ""
            note(f"{self.path.name}: the pictures stop at {float(shown):.2f} s but the video's packets go on to "
                 f"{float(packets):.2f} s{rejected}: they do not decode as {self.stream.codec_context.name} (another "
                 "codec joined on, or damage); the output ends there, as FFmpeg's does")
        elif self.damaged:
            note(f"{self.path.name}: {self.damaged} damaged video packet{'s' if self.damaged > 1 else ''} "
                 "skipped (FFmpeg conceals them the same way)")

    def _from_zero(self, pts: int, duration: int) -> tuple[int, int]:
        """(pts, duration) of a frame that starts before the timeline's zero, shown from zero
        instead, as `ffmpeg -i in out.mp4` shows it. The file's start time is where its first
        packets start; FFmpeg reads some files' start from their sound alone (ASF with B-frames:
        the pictures' own times are made up later), and the first picture came 40 ms before it:
        an MP4 hid it behind its edit list (one frame lost)."""
        note(f"{self.path.name}: a picture starts {float(-pts * self.time_base):.3f} s before the file's "
             "start time; it is shown from the start, as FFmpeg shows it", once=True)
        return 0, max(1, pts + (duration or 0))

    def _retimed(self, items: Iterator[av.VideoFrame | av.Packet]) -> Iterator[av.VideoFrame | av.Packet]:
        """`items`, with the frames of a stream that stores no timestamps (`has_no_timestamps`)
        timed from zero by their durations (the codec's frame rate, pulldown included), as
        `ffmpeg -i in.h264 out.mp4` times them; and a GIF's frames as browsers time them
        (`gif_delays_as_shown`). An image sequence's pictures keep their times: image2 flags no
        timestamps, but times each picture by its number, so one that does not decode leaves its
        place empty (numbered pictures out keep the input's numbers; a video holds the picture
        before longer, as `ffmpeg -i 'f_%04d.png' out.mp4` does)."""
        if self.container.format.name == "gif":
            yield from gif_delays_as_shown(items, self.path.name)
            return
        if not has_no_timestamps(self.container) or self.sequence is not None:
            yield from items
            return
        clock, one_frame = 0, self._one_frame  # (a bare stream is decoded from its start: `_decode_from`)
        for item in items:
            if isinstance(item, av.VideoFrame):
                item.pts = clock
                clock += item.duration or one_frame
            yield item

    @property
    def _one_frame(self) -> int:
        """One frame's duration at the stream's rate (25 fps if it has none), in video ticks."""
        return max(1, round(1 / ((self.frame_rate or Fraction(25)) * self.time_base)))

    def _after_last(self, duration: int | None) -> tuple[int, int]:
        """(pts, duration) for a frame without a timestamp, in a format that stores them: shown
        when the frame before stops (from zero if it is the first), for its own duration or one
        frame at the stream's rate, as FFmpeg's tools time it. A video whose packets carry none
        (an MPEG-TS's PES headers without them) made --frames fail with a traceback."""
        at = 0 if self.seen_end is None else round(self.seen_end / self.time_base)
        return at, duration or self._one_frame

    def _decode(self) -> Iterator[av.VideoFrame | list[av.Packet]]:
        """Decoded video frames and runs of the pass-through streams' packets (lists of up to
        `RUN_PACKETS`, read one after another), in file order: a run goes on before the next
        video packet is decoded, so none is left inside when a frame is given. A video packet the
        decoder rejects as damaged is skipped, as FFmpeg's tools conceal it and play on (counted
        in `damaged`, noted at the end)."""
        recovery, tail, cut = Recovery(), TailPackets(TAIL_BYTES, self.sequence is not None), CutSound()
        last = None  # the highest timestamp of a frame given so far
        run: list[av.Packet] = []
        apply, video = self.shift.apply, self.stream
        for packet in self._source:
            apply(packet)
            if packet.stream is not video:
                # (the flush packet at the end carries nothing; cover art has no timestamps, only its picture)
                if packet.dts is not None or (packet.size and is_cover_art(packet.stream)):
                    cut.keep(packet, run)
                    if len(run) >= RUN_PACKETS:
                        yield run
                        run = []
                continue
            if run:
                yield run
                run = []
            tail.add(packet)
            self.video_packets += 1 if packet.size else 0
            for frame in self._decoded(self._before.ready(packet), recovery, tail):
                if frame.pts is not None:
                    last = frame.pts if last is None else max(last, frame.pts)
                tail.given()
                yield frame
        if run:
            yield run
        for frame in self._decoded(self._before.rest(), recovery, tail):  # (a file ended without its flush)
            if frame.pts is not None:
                last = frame.pts if last is None else max(last, frame.pts)
            tail.given()
            yield frame
        for frame in self._lost_at_end(tail, last):
            last = frame.pts
            yield frame
        if last is not None and tail.top is not None and tail.top > last:
            self.undecoded = last * self.time_base, tail.top * self.time_base
        self._tail_end = tail.end

    def _decoded(self, packets: list[av.Packet], recovery: "Recovery", tail: "TailPackets") -> Iterator[av.VideoFrame]:
        """The frames `packets` (video) decode to, those `recovery` shows; a damaged packet is counted."""
        for packet in packets:
            try:
                frames = decoded_or_damage(self.decoder.decode, packet)
            except av.error.FFmpegError as exc:  # (the one it passes on: threads FFmpeg could not start)
                raise threads_refused_error(self.path, exc) from None
            if isinstance(frames, av.error.FFmpegError):  # InvalidData mostly; DV's partial last frame: EPERM
                self.damaged += 1
                tail.damaged += 1
                tail.damaged_since_frame += 1
                continue
            yield from (frame for frame in frames if recovery.keep(frame))

    @property
    def passed_over(self) -> int:
        """The video packets before the segment's start never decoded (`BeforeStart`)."""
        return self._before.passed

    @property
    def skipped(self) -> int:
        """The pictures before the segment's start: decoded and dropped, or never decoded (a
        packet each)."""
        return self._dropped + self.passed_over

    def _decode_from(self) -> Fraction | None:
        """From when (seconds on the timeline, a video packet's decode time) the video is decoded:
        `SEEK_MARGIN` before the segment's start, where the frames' times come from their
        timestamps (an image sequence's: its picture numbers, `_retimed`); None (from the beginning) for
        a bare stream (timed by its decoded frames' durations: pulldown, fields), a GIF (by its
        delays), cover art, and inverse telecine (its cadence is read from every frame)."""
        if (not self.segment.start or (has_no_timestamps(self.container) and self.sequence is None)
                or self.container.format.name == "gif" or self.cover_art or self.deinterlace == "film"):
            return None
        return self.segment.start - SEEK_MARGIN

    def _packets(self) -> Iterator[av.Packet]:
        """The packets of the video and pass-through streams (PyAV's demux, with its empty packet
        per stream at the end, which flushes the decoder). A stream that appears mid-file (MPEG-TS:
        a new PID in a damaged program table) made PyAV's end-of-file loop fail with an IndexError
        (a traceback, the output lost) after the flush packets of the streams asked for: that ends
        the file as it would have ended. An image sequence ends at the first missing number: its
        demuxer would fail on the gap (`within_run`). Data the
        demuxer cannot read (InvalidDataError) or does not implement (PatchWelcomeError) ends the
        file too, as FFmpeg's tools end it there and keep what came before, with a note: an SMJPEG's
        end tag, a recording's garbled tail, a chained Ogg's second part (a file cut short of its
        declared frames is still refused, see `items`)."""
        packets = self.container.demux([self.stream, *self.passthrough])
        if self.sequence:
            packets = within_run(packets, self.stream, self.sequence.run)
        last: av.Packet | None = None
        while True:
            try:
                packet = next(packets)
            except (StopIteration, IndexError):  # (only PyAV's code runs inside `next`)
                return
            except av.error.BlockingIOError:
                if self.sequence:
                    raise
                # MPEG-TS: 64 KB without a sync byte (a stretch of zeros: a disk's hole, a capture's
                # lost signal) is EAGAIN, said as threads FFmpeg could not start; FFmpeg's tools read
                # on from there. Each costs 64 KB of the file: bounded by its size.
                note(f"{self.path.name}: bytes that hold no packets were skipped, as FFmpeg skips them", once=True)
                packets = self.container.demux([self.stream, *self.passthrough])
                continue
            except (av.error.InvalidDataError, av.error.PatchWelcomeError) as exc:
                at = (f" at {float(last.pts * last.time_base):.2f} s" if last is not None and last.pts is not None
                      and last.time_base else "")
                note(f"{self.path.name}: data it cannot read ends the file{at} ({error_reason(exc)}); the pictures "
                     "and sound before it are kept, as FFmpeg keeps them", once=True)
                yield flush_packet(self.stream)
                return
            last = packet if packet.size else last
            yield packet

    @property
    def _stores_times(self) -> bool:
        """Whether the pictures' times are the file's own (not made up: a bare stream's, an image
        sequence's numbers, cover art's none)."""
        return not (has_no_timestamps(self.container) or self.sequence is not None or self.cover_art)

    def _timed(self, packets: Iterator[av.Packet]) -> Iterator[av.Packet]:
        """`packets` with the times repaired that the file stores wrong or not at all, before
        `TimestampShift`: an AVI's reordered pictures (`SlotTimes`), pictures at one time (`StuckClock`), a Matroska cluster's time gone back (`ClusterTimes`),
        sound without times or at one time (`SoundClock`); an MP4's sound cut where its edit list ends
        it (`edit_list_ends`)."""
        packets = edit_list_ends(self.container, self.passthrough, packets)
        if self.slot_times is not None:
            packets = self.slot_times.packets(packets)
        if self.stuck_clock is not None:
            packets = self.stuck_clock.packets(packets, seeked=self.seeked)
        if self.cluster_times is not None:
            packets = self.cluster_times.packets(packets)
        return self.sound_clock.packets(packets, seeked=self.seeked)

    def _lost_at_end(self, tail: "TailPackets", last: int | None) -> Iterator[av.VideoFrame]:
        """The last frames, where frame threads lost them. At the end of the file the decoder
        reports a damaged packet among the last ones (one per thread) as it drains, and PyAV stops
        draining there: the frames the other threads held were lost (up to one per CPU core, and
        the file was refused as truncated), where `ffmpeg` keeps them. When a packet since the
        latest keyframe shows a later timestamp than the last frame, those packets are decoded
        again without frame threads (which report damage at its packet) and the later frames
        are given; a damaged last packet costs that one decode of a GOP. An image sequence's
        pictures each decode alone: those after the last frame given are decoded again, and the
        damage counted since that frame was theirs (two damaged last pictures were noted as one)."""
        if last is None or tail.top is None or tail.top <= last or not tail.packets:
            return
        # none decoded (another codec joined on): their "frames" are noise; in an image sequence every
        # picture is a keyframe, and the damage counted may be an earlier picture's, reported as it drained
        if tail.damaged >= len(tail.packets) and self.sequence is None:
            return
        try:
            with open_input(self._opened_name, **self._options) as again:
                stream = again.streams[self.stream.index]
                context = alpha_decoder(stream) or stream.codec_context  # (the decoder `_decoded` used)
                context.thread_type = "SLICE"
                bound_decoder(context, self.pixel_aspect)
                context.flags |= DECODER_FLAGS
                recovery, flush, damaged = Recovery(), av.Packet(), 0
                flush.time_base = self.stream.time_base
                packets = tail.packets
                counted = tail.damaged
                if self.sequence is not None:
                    packets = [packet for packet in packets if packet.pts is None or packet.pts > last]
                    counted = tail.damaged_since_frame
                for packet in [*packets, flush]:
                    try:
                        frames = context.decode(packet)
                    except MemoryError:
                        raise
                    except av.error.FFmpegError:
                        damaged += 1
                        if damaged > counted:  # one the frame threads did not report before they stopped
                            self.damaged += 1
                        continue
                    for frame in frames:
                        if recovery.keep(frame) and frame.pts is not None and frame.pts > last:
                            last = frame.pts
                            yield frame
        except (av.error.FFmpegError, IndexError):  # the file read again differs: nothing more to give
            return

    def _ends_early(self, end: int | None, seeked: bool = False) -> bool:
        """Whether the frames that decoded stop before the stream's declared end. AVI files count
        dropped frames (empty chunks: the previous picture stays) in their index, so fewer frames
        than declared is not enough: a file is truncated only when its pictures end early. After a
        seek (`seeked`) the frames before it were not counted: only their times tell."""
        stated = self._stated_end()
        if end is None or stated is None:
            return not seeked  # nothing but the frame count to go by
        one_frame = 1 / (self.frame_rate * self.time_base) if self.frame_rate else 1
        return end + one_frame < stated

    def _stated_end(self) -> int | None:
        """Where the stream's declared duration ends (ticks, where the shift put its start); None: not declared."""
        if not self.stream.duration:
            return None
        return (self.stream.start_time or 0) + self.shift.start_ticks(self.time_base) + self.stream.duration

    def _tagged_end(self) -> int | None:
        """Where a Matroska's video track ends (ticks, on the shifted timeline), from the DURATION
        tag FFmpeg's and mkvmerge's muxers write per track: Matroska states no track duration or
        frame count, and a file cut short (a download stopped) gave a shorter output without a
        word. FFmpeg writes the track's end (10:00:01 for a second starting at 10 h); a muxer that
        wrote the length instead only under-states it. None elsewhere, or for a tag unread or 0
        (a recording never finished holds its placeholder). Only a note comes of it: a tag is no
        index, and another tool may have left a stale one."""
        from realtime_adain.times import check_time

        if ("matroska" not in self.container.format.name or self.shift.jumps
                or not isinstance(self.cluster_times, ClusterTimes) or self.cluster_times.stretches):
            return None  # (times repaired or joined: the pictures' end is no longer the file's)
        try:
            seconds = check_time(str(self.stream.metadata.get("DURATION", "")), "DURATION", positive=True)
        except (UserError, ValueError):  # (a tag is the file's text: anything)
            return None
        return round(seconds / self.time_base) + self.shift.start_ticks(self.time_base)

    def close(self) -> None:
        self.container.close()

    def __enter__(self) -> "VideoReader":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def as_run(packets: Iterable[av.Packet]) -> Iterator[list[av.Packet]]:
    """`packets` as one run (a list; none where there are none)."""
    run = packets if isinstance(packets, list) else list(packets)
    if run:
        yield run


class BeforeStart:
    """Video packets before a segment's start (`until`, seconds on the timeline), held instead of
    decoded: the pictures they make are dropped, and decoding them (the hour before a late
    --start in a broadcast recording that cannot be seeked) was most of the run. The packets since
    the keyframe before the latest one are held (an open GOP's first pictures refer to the GOP
    before), and decoded once a packet reaches `until`, or the file ends (its last pictures tell
    its length: "--start is past the end"), or they pass `limit` bytes (a stream whose keyframes
    are far apart is decoded from there on, as before). Packets before the first keyframe count
    as a GOP (a file whose demuxer flags no keyframes is held until the limit, then decoded); a
    packet without a timestamp is decoded with those held (its frame is timed by theirs)."""

    def __init__(self, until: Fraction | None, limit: int) -> None:
        self.until = until  # None: decoding has begun
        self.limit = limit
        self.gops: deque[list[av.Packet]] = deque()
        self.size = 0
        self.passed = 0  # packets never decoded

    def ready(self, packet: av.Packet) -> list[av.Packet]:
        """The video packets to decode now that `packet` was read (after `TimestampShift.apply`)."""
        if self.until is None:
            return [packet]
        at = packet.dts if packet.dts is not None else packet.pts
        # (a packet without a timestamp is timed by the frames before it: those are decoded)
        reached = at is None or (packet.time_base and at * packet.time_base >= self.until)
        if not packet.size or reached or self.size + packet.size > self.limit:
            return [*self.rest(), packet]
        if packet.is_keyframe or not self.gops:
            self.gops.append([])
            if len(self.gops) > 2:
                dropped = self.gops.popleft()
                self.passed += len(dropped)
                self.size -= sum(p.size for p in dropped)
        self.gops[-1].append(packet)
        self.size += packet.size
        return []

    def rest(self) -> list[av.Packet]:
        """The packets still held, to decode at the end of the file (and nothing held from then on)."""
        held = [p for gop in self.gops for p in gop]
        self.until, self.gops, self.size = None, deque(), 0
        return held


class Recovery:
    """Which decoded frames are shown. The decoder runs with `OUTPUT_CORRUPT`: FFmpeg 8's HEVC
    decoder otherwise drops every frame that refers to a damaged one, up to the next keyframe (a
    few flipped bytes lost two seconds, and the file was refused as truncated), where the `ffmpeg`
    5 CLI plays them concealed. Frames flagged corrupt before the first clean one are not shown:
    the pictures before a cut stream's first keyframe, which FFmpeg does not show either."""

    def __init__(self) -> None:
        self.clean = False

    def keep(self, frame: av.VideoFrame) -> bool:
        self.clean = self.clean or not frame.is_corrupt
        return self.clean


def edit_list_ends(container: av.container.InputContainer, streams: Iterable[av.stream.Stream],
                   packets: Iterator[av.Packet]) -> Iterator[av.Packet]:
    """`packets`, with an MP4/MOV sound track's packet that runs past the track's end (its edit
    list: the stream's start plus duration) cut to end there, as FFmpeg 5's demuxer cut it.
    FFmpeg 8's gives that packet all its samples (AAC's 1024 where 994 play), and the output's
    edit list then played 29 samples of the encoder's padding that `ffmpeg -c copy` does not.
    (`CutSound` is the edit list's start.)"""
    ends = {}
    if container.format.name.startswith("mov"):
        ends = {stream.index: (stream.start_time or 0) + stream.duration for stream in streams
                if stream.type == "audio" and stream.duration and stream.start_time is not None}
    for packet in packets:
        end = ends.get(packet.stream.index) if ends else None
        if end is not None and packet.pts is not None and packet.duration and packet.pts < end < packet.pts + packet.duration:
            packet.duration = end - packet.pts
        yield packet


class CutSound:
    """Audio packets an MP4 edit list cuts away (flagged discard): `ffmpeg -ss 1 -i in.mp4 -c copy`
    keeps the GOP before the cut, and its sound. Players skip that sound; copied, it put a second
    of it before the first picture of a .mkv (which has no edit list). The last one before the
    sound that plays is kept: the decoder needs it (AAC's priming frame, MP3's bit reservoir),
    and an MP4 hides it again."""

    def __init__(self) -> None:
        self.held: dict[int, av.Packet] = {}  # stream index -> its latest packet cut away

    def keep(self, packet: av.Packet, run: list[av.Packet]) -> None:
        """Put the packets to pass on now that `packet` was read at the end of `run`."""
        if packet.stream.type != "audio":
            run.append(packet)
            return
        if packet.is_discard:
            self.held[packet.stream.index] = packet
            return
        before = self.held.pop(packet.stream.index, None)
        if before is not None:
            run.append(before)
        run.append(packet)


class TailPackets:
    """The video packets since the latest keyframe (while they fit in `limit` bytes), and the
    highest timestamp among them: what `VideoReader._lost_at_end` decodes again. For an image
    sequence (`pictures`: each packet a whole picture) the latest packets that fit, keyframes or not."""

    def __init__(self, limit: int, pictures: bool = False) -> None:
        self.limit, self.pictures = limit, pictures
        self.packets: list[av.Packet] = []
        self.size = 0
        self.whole = False  # whether `packets` starts at a keyframe
        self.damaged = 0  # packets since that keyframe the decoder rejected
        self.damaged_since_frame = 0  # packets rejected since the latest frame was given (`given`)
        self.top: int | None = None
        self.end: int | None = None  # the latest packet's pts + duration (decode order)

    def given(self) -> None:
        self.damaged_since_frame = 0

    def add(self, packet: av.Packet) -> None:
        if not packet.size or packet.is_discard:  # the flush packet; one decoded only to be dropped (edit list)
            return
        if packet.is_keyframe and not self.pictures:
            self.packets, self.size, self.whole, self.damaged = [], 0, True, 0
        if self.pictures:
            self.whole = True
            # (frame threads lose one picture per thread at most: a few are enough to hold)
            while self.packets and (self.size + packet.size > self.limit or len(self.packets) >= TAIL_PICTURES):
                self.size -= self.packets.pop(0).size
        if self.whole:
            self.packets.append(packet)
            self.size += packet.size
            if self.size > self.limit:
                self.packets, self.size, self.whole = [], 0, False
        if packet.pts is not None:
            self.top = packet.pts if self.top is None else max(self.top, packet.pts)
            self.end = packet.pts + (packet.duration or 0)


class HeldPackets:
    """Packets of the other streams held until the video reaches them, so that sound leaves with
    the pictures it plays under: a run that stops after `max_frames` drops what starts after the
    last frame's end, and a run stopped by Ctrl-C writes no sound past its last picture (the
    decoder's delay and the reorder window would otherwise let about half a second more through).
    Held per stream, in the order read, with their starts: a frame lets go of the first of each
    stream up to the first that starts after it, compared in whole ticks. (Every packet was looked
    at again at every frame, in Fractions, while held: ten times each, a minute for a million
    packets of telemetry.)"""

    def __init__(self, video_time_base: Fraction, limit: int = 0) -> None:
        """`limit` > 0: hold at most that many bytes (`PACKET_BYTES` a packet at least); the
        oldest packets go on beyond it."""
        self.video_time_base = video_time_base
        self.limit = limit
        self.streams: dict[int, deque[tuple[int, int | None, av.Packet]]] = {}  # index -> (number read, start, packet)
        self._time_bases: dict[int, Fraction] = {}  # stream index -> its packets' time base
        self._placed: set[int] = set()  # the streams whose packets have one (start times compared)
        self.read = 0  # packets held so far (their order)
        self.size = 0

    def add(self, packet: av.Packet) -> list[av.Packet]:
        """Hold `packet`; returns the oldest held packets, to go on now, while over `limit` bytes."""
        return self.extend((packet,))

    def extend(self, packets: Iterable[av.Packet]) -> list[av.Packet]:
        """Hold `packets` (a run, in the order read); returns the oldest held packets, to go on
        now, while over `limit` bytes. (A million packets pass here: kept to plain look-ups.)"""
        streams, time_bases, placed = self.streams, self._time_bases, self._placed
        read, size = self.read, self.size
        for packet in packets:
            index = packet.stream.index
            start = packet.pts
            if start is None:
                start = packet.dts
            if index not in placed:
                if start is not None and index not in time_bases:
                    time_bases[index] = packet.time_base
                    if time_bases[index]:
                        placed.add(index)
                if index not in placed:
                    start = None  # (no time base: cannot be placed, goes with the next frame)
            held = streams.get(index)
            if held is None:
                held = streams[index] = deque()
            held.append((read, start, packet))
            read += 1
            bytes_ = packet.size
            size += bytes_ if bytes_ > PACKET_BYTES else PACKET_BYTES
        self.read, self.size = read, size
        overflow = []
        while self.limit and self.size > self.limit:
            oldest = min((held for held in self.streams.values() if held), key=lambda held: held[0][0])
            overflow.append(oldest.popleft()[2])
            self.size -= max(overflow[-1].size, PACKET_BYTES)
        return overflow

    def before(self, pts: int | None, duration: int) -> list[av.Packet]:
        """The held packets that start before the frame at `pts` (video time base) ends, in the
        order read; all of them where that cannot be told (`pts` None: no timestamps, or the end
        of the file). A packet that starts later holds back those after it in its own stream."""
        end = None if pts is None else (pts + (duration or 0)) * self.video_time_base
        released = []
        for index, held in self.streams.items():
            first = None if end is None or index not in self._placed else math.ceil(end / self._time_bases[index])
            while held and (first is None or held[0][1] is None or held[0][1] < first):
                released.append(held.popleft())
        if len(self.streams) > 1:
            released.sort(key=operator.itemgetter(0))
        size = self.size
        for _, _, packet in released:
            bytes_ = packet.size
            size -= bytes_ if bytes_ > PACKET_BYTES else PACKET_BYTES
        self.size = size
        return [packet for _, _, packet in released]


# Packets that last a while and are cut at a preview's or segment's end (`ShownUntil`); sound is
# not cut (its packets are a few milliseconds).
CUT_TYPES = frozenset({"subtitle", "data"})
# The most subtitle and data packets a preview holds that show past its pictures (`ShownUntil`).
HELD_SHOWING = 4096


class ShownUntil:
    """A preview's (`max_frames`) subtitles that may show past its last picture. Each is held
    until a picture ends after it; those still held at the preview's end are cut to end with it,
    so the file lasts as long as its pictures (`ffmpeg -frames:v` keeps a subtitle whole: a 0.5 s
    preview lasted 1.9 s, the rest of its first line). Held ones go after the pictures they
    outlast: a line's few seconds at most, which muxers interleave. Data packets that last (a
    GoPro's telemetry, a second each) are cut the same way: an MP4 lasts as long as its longest track.

    A stream's packets go on in the order read: those after a held one wait behind it (a short
    line released before a long one that began earlier went out first, and the muxer moved the
    long one to start after it). At most `limit` packets are held: beyond, the oldest of the
    stream holding the most go on whole (a hostile file's thousands of lines that last hours)."""

    def __init__(self, video_time_base: Fraction, limit: int = HELD_SHOWING) -> None:
        self.video_time_base = video_time_base
        self.limit = limit
        self.held: dict[int, deque[tuple[Fraction | None, av.Packet]]] = {}  # stream index -> (end, packet)
        self.count = 0  # packets held

    @staticmethod
    def _end(packet: av.Packet) -> Fraction | None:
        """When `packet` (a subtitle with a duration) stops showing, in seconds; None: not known."""
        if packet.stream.type not in CUT_TYPES or not packet.duration or packet.pts is None or not packet.time_base:
            return None
        return (packet.pts + packet.duration) * Fraction(packet.time_base)

    def after(self, released: Iterator[av.Packet], pts: int | None, duration: int) -> Iterator[av.Packet]:
        """`released` packets, less the subtitles that show past the frame at `pts` (video time
        base) and those behind them in their stream, with the held ones that end within it; all
        of them where that cannot be told."""
        end = None if pts is None else (pts + (duration or 0)) * self.video_time_base
        for packet in released:
            shows_until = self._end(packet)
            queue = self.held.get(packet.stream.index)
            if queue or (end is not None and shows_until is not None and shows_until > end):
                self.held.setdefault(packet.stream.index, deque()).append((shows_until, packet))
                self.count += 1
            else:
                yield packet
        for queue in self.held.values():
            while queue and (end is None or queue[0][0] is None or queue[0][0] <= end):
                yield queue.popleft()[1]
                self.count -= 1
        while self.count > self.limit:
            yield max(self.held.values(), key=len).popleft()[1]
            self.count -= 1

    def cut(self, pts: int | None, duration: int) -> Iterator[av.Packet]:
        """The held subtitles, each cut to end with the last frame, at `pts` lasting `duration`
        (one that ends before it, held behind another, keeps its own end)."""
        for queue in self.held.values():
            for shows_until, packet in queue:
                if pts is not None and shows_until is not None:
                    end = (pts + (duration or 0)) * self.video_time_base
                    packet.duration = max(1, min(packet.duration, math.floor(end / Fraction(packet.time_base)) - packet.pts))
                yield packet
        self.held, self.count = {}, 0


def flush_packet(stream: av.stream.Stream) -> av.Packet:
    """An empty packet of `stream`: decoded, it gives the frames the decoder (its threads) still
    holds, where a file is ended before PyAV's own end (an image sequence's gap, an unreadable end)."""
    flush = av.Packet()
    flush.stream = stream
    flush.time_base = stream.time_base  # the frames it gives take their time base from it
    return flush


def within_run(packets: Iterator[av.Packet], stream: av.stream.Stream, run: int) -> Iterator[av.Packet]:
    """`packets` up to `stream`'s `run`-th picture, then its flush: an image sequence ends at its
    first gap, where image2 (which found the last file by bisection) would fail (ENOENT) or open
    whatever is named like the next frame."""
    for packet in packets:
        yield packet
        if packet.stream is stream and packet.size:
            run -= 1
            if not run:
                yield flush_packet(stream)
                return


# Closed captions (EIA-608/CEA-708) carried in the pictures (H.264/HEVC/MPEG-2 user data), as decoded.
CAPTIONS = SideDataType.A53_CC
CAPTIONS_LEFT_OUT = "closed captions in the video are not kept"


def has_captions(frame: av.VideoFrame, codec: str | None = None) -> bool:
    """Whether a decoded picture carries closed captions; a frame whose side data cannot be read
    (`hdr.side_data`) is taken as carrying none."""
    return CAPTIONS in side_data(frame, codec)


def note_captions_left_out(name: str) -> None:
    """Say that the pictures' closed captions are dropped: PyAV cannot give an encoded picture
    side data (`ffmpeg` passes them to libx264, which writes them again); `--json` lists them
    with the streams (`job.with_captions`)."""
    note(f"{name}: {CAPTIONS_LEFT_OUT}", once=True)


def see_through(frame: av.VideoFrame, converter: PictureConverter) -> bool:
    """Whether a picture has pixels that are not opaque. Only the first picture is looked at: a
    pixel format with alpha does not mean transparency (FFmpeg's GIF decoder gives every GIF as
    bgra; screen recorders write opaque PNG and ProRes 4444)."""
    if not converter.has_alpha(frame):
        return False
    return bool(frame.reformat(format="rgba").to_ndarray()[..., 3].min() < 255)


def note_transparency_left_out(name: str, shown_over_white: bool = False) -> None:
    """The network sees RGB (`ffmpeg -i in.webm out.mp4` drops the alpha channel as well);
    `shown_over_white`: the alpha was decoded, and composited (`frame_to_rgb`)."""
    how = ("transparent areas are shown over white, as `realtime-adain image` shows them, and the pictures "
           "stylized" if shown_over_white else "the pictures are stylized")
    note(f"{name}: its transparency (alpha channel) is left out: {how} and written opaque", once=True)


class Timeline:
    """Decoded frames with timestamps that increase: each frame waits in a small window and takes
    the smallest timestamp there (the pictures' order is the decoder's, which is right).

    Frames without a timestamp keep None (`VideoReader._after_last` times them). A
    frame lasts until the next one shows: the decoder's durations follow decode order (an MP4's
    are its decode-time steps), so after B-frames a frame could be given the length of a gap it
    is not next to (a 10-minute pause made a 601 s clip a 1199 s MP4)."""

    def __init__(self, window: int, last_end: Callable[[int, int | None], int | None] | None = None) -> None:
        """`last_end`: asked once the frames are all in, with the last frame's timestamp and the
        step to it from the frame before, where the file says it stops showing
        (`VideoReader._last_end`): the last frame lasts at least until then."""
        self.window = window
        self.last_end = last_end
        self.frames: deque[av.VideoFrame] = deque()
        self.stamps: list[int] = []  # a heap: the timestamps of the frames held
        self.highest: int | None = None  # the highest timestamp seen
        self.end: int | None = None  # where the latest frame stops showing
        self.step: int | None = None  # the latest step from one frame to the next
        self.reordered = 0  # frames whose timestamp came out of order

    def order(
        self, items: Iterator[av.VideoFrame | list[av.Packet]]
    ) -> Iterator[tuple[av.VideoFrame, int | None, int] | list[av.Packet]]:
        """(frame, timestamp, duration) in the decoder's (display) order, timestamps sorted within
        the window; runs of other streams' packets pass straight through."""
        for item in items:
            if isinstance(item, list):
                yield item
                continue
            self.frames.append(item)
            if item.pts is not None:
                if self.highest is not None and item.pts < self.highest:  # (a repeated one is not out of
                    self.reordered += 1  # order: the writer says that, and moves it a tick on)
                else:
                    self.highest = item.pts
                heapq.heappush(self.stamps, item.pts)
            if len(self.frames) > self.window:
                yield self._pop()
        while self.frames:
            frame, pts, duration = self._pop()
            if not self.frames and pts is not None and self.last_end:
                end = self.last_end(pts, self.step)
                if end is not None and end > self.end:
                    duration, self.end = end - pts, end
            yield frame, pts, duration

    def _pop(self) -> tuple[av.VideoFrame, int | None, int]:
        frame = self.frames.popleft()
        pts = heapq.heappop(self.stamps) if frame.pts is not None else None
        duration = frame.duration
        if pts is not None:
            # the next frame shown (the last keeps its own; so does one before a frame without a
            # timestamp, which is shown after it: `VideoReader._after_last`)
            if self.stamps and self.stamps[0] > pts and self.frames and self.frames[0].pts is not None:
                duration = self.step = self.stamps[0] - pts
            self.end = pts + (duration or 0)
        return frame, pts, duration
