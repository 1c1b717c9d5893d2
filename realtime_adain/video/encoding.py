"""The output's video stream and its encoder: chosen and opened for the input's pictures (their
size fitted to what the encoder takes: `framing.py`; pixel format, time base, colour tags, GIF's
palettes), and RGB frames converted to what it takes and encoded (`VideoEncoder`); how YUV output
is converted and tagged (`yuv_colour`). `writer.py` times the frames and muxes the packets.
"""

from __future__ import annotations

import dataclasses
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Iterable

import av
from av.video.reformatter import VideoReformatter

from realtime_adain.errors import UserError
from realtime_adain.video.encoder_settings import (PALETTE_ENCODERS, PALETTE_FILTERS, EncodeSettings,
                                                   check_bitrate_picture)
from realtime_adain.video.pixel_formats import choose_pix_fmt
from realtime_adain.video.time_bases import encoder_rate, encoder_time_base, muxer_time_base
from realtime_adain.video.framing import check_picture_size, encoder_framing
from realtime_adain.video.pictures import BT601_MATRIX, Colour
from realtime_adain.video.probing import threads_refused, threads_refused_error

if TYPE_CHECKING:
    from realtime_adain.video.writer import VideoFormatOut

# FFmpeg's AVColorSpace and AVColorRange values (frame.colorspace, frame.color_range).
RGB_MATRIX, BT709_MATRIX, UNSPECIFIED_MATRIX, SMPTE170M_MATRIX, LIMITED_RANGE, FULL_RANGE = 0, 1, 2, 6, 1, 2
# Encoders of JPEG pictures: BT.601 at full range by definition (decoders read them so, whatever
# the tags say).
JPEG_CODECS = frozenset({"mjpeg", "ljpeg"})
# Where a full-range picture decodes as full range (`holds_full_range`): codecs whose bitstream
# states the range (H.264, HEVC, VP9, AV1, DNxHD), in any container; others where the container
# states it (Matroska's Colour element, MP4's colr box; not MOV's, AVI or MPEG-TS), except codecs
# whose decoders read limited range whatever the container says (MPEG-1/2, VP8, ProRes).
RANGE_STATING_CODECS = frozenset({"h264", "hevc", "vp9", "av1", "dnxhd"})
RANGE_STATING_FORMATS = frozenset({"matroska", "webm", "mp4"})
# The MP4 and MOV muxer's flag that writes its colr box (the matrix; MP4's the range too) whatever
# the tags: without it the box is written only where primaries, transfer and matrix are all known:
# full range tagged for range alone (a phone's clip) was read as limited, stretched, and FFV1's or
# MPEG-4's BT.709 from RGB input (primaries unknown) as BT.601, colours shifted.
WRITE_COLR = "write_colr"
COLR_FORMATS = frozenset({"mp4", "mov"})
LIMITED_RANGE_CODECS = frozenset({"mpeg1video", "mpeg2video", "vp8", "prores"})
# Where the output states its matrix (`states_matrix`): codecs whose bitstream does (H.264, HEVC,
# VP9, AV1, MPEG-2, ProRes), in any container; others where the container does (Matroska's Colour
# element, the colr box: `WRITE_COLR`), except VP8, BT.601 by definition whatever the container says
# (RFC 6386; FFmpeg's decoder reads it so). Elsewhere (AVI, MPEG-TS: FFV1, MPEG-4, MPEG-1, raw
# video, HuffYUV, ...) untagged YUV is read as BT.601 (FFmpeg's scaler's default): encoded BT.709
# there, an RGB input's colours came back shifted (mean 3.5, max 17 levels).
MATRIX_STATING_CODECS = frozenset({"h264", "hevc", "vp9", "av1", "mpeg2video", "prores"})
MATRIX_STATING_FORMATS = frozenset({"matroska", "webm", *COLR_FORMATS})
BT601_CODECS = frozenset({"vp8"})
# Matrices read as BT.601: BT470BG and SMPTE170M (the same one), and unspecified (read as it).
BT601_MATRICES = frozenset({BT601_MATRIX, SMPTE170M_MATRIX, UNSPECIFIED_MATRIX})


def holds_full_range(codec: str, fmt: str) -> bool:
    """Whether pictures encoded by encoder `codec` into container `fmt` decode as full range when
    written so (`RANGE_STATING_CODECS`)."""
    name = av.Codec(codec, "w").canonical_name
    return name in RANGE_STATING_CODECS or (fmt in RANGE_STATING_FORMATS and name not in LIMITED_RANGE_CODECS)


def states_matrix(codec: str, fmt: str) -> bool:
    """Whether pictures encoded by encoder `codec` into container `fmt` decode with the matrix they
    are tagged with (`MATRIX_STATING_CODECS`); elsewhere they are read as BT.601."""
    name = av.Codec(codec, "w").canonical_name
    return name not in BT601_CODECS and (name in MATRIX_STATING_CODECS or fmt in MATRIX_STATING_FORMATS)


def yuv_colour(colour: Colour, pix_fmt: str = "", codec: str = "", fmt: str = "") -> Colour:
    """How YUV output is converted and tagged for an input of `colour`: the input's own, except
    that RGB-coded input (the "RGB" matrix: PNG, TIFF, EXR, GIF, libx264rgb, grey, whatever the
    decoder says: `pictures.stored_as_rgb`) gets BT.709 at limited range,
    as a YUV stream cannot carry the RGB matrix (tagged so, players and zscale refuse or misread it);
    full range becomes limited where the output cannot state it (`holds_full_range`: written full,
    a phone's video came out of MPEG-2 in .ts, ProRes or .avi stretched, 6 read 0 and 249 read
    255), and a matrix other than BT.601 becomes BT.601 where the output cannot state it
    (`states_matrix`: AVI, MPEG-TS, VP8), as decoders read it there; a JPEG pixel format
    (`yuvj420p`) is full range by definition, and so is grey (`gray`, `gray10le`, `ya8`: FFmpeg's
    scaler writes it so; `ffmpeg -pix_fmt gray` tags it `pc`), and a JPEG picture
    (MJPEG) BT.601 (converted with BT.709, red came back as (210, 0, 29) for (230, 20, 30))."""
    if colour.colorspace == RGB_MATRIX:
        colour = dataclasses.replace(colour, colorspace=BT709_MATRIX, color_range=LIMITED_RANGE)
    if colour.color_range == FULL_RANGE and codec and not holds_full_range(codec, fmt):
        colour = dataclasses.replace(colour, color_range=LIMITED_RANGE)
    if colour.colorspace not in BT601_MATRICES and codec and not states_matrix(codec, fmt):
        colour = dataclasses.replace(colour, colorspace=BT601_MATRIX)
    if pix_fmt.startswith(("yuvj", "gray", "ya")):  # (FFmpeg's scaler writes grey at full range, whatever
        colour = dataclasses.replace(colour, color_range=FULL_RANGE)  # is asked: tagged limited, it showed too bright)
    if codec in JPEG_CODECS:
        colour = dataclasses.replace(colour, colorspace=BT601_MATRIX, color_range=FULL_RANGE)
    return colour


class PaletteFrames:
    """RGB frames to 256-colour ones, each with a palette made of its own colours (FFmpeg's
    palettegen and paletteuse filters, `PALETTE_FILTERS`), one frame in, one frame out."""

    def __init__(self, width: int, height: int, time_base: Fraction) -> None:
        self.graph = av.filter.Graph()
        source = self.graph.add_buffer(width=width, height=height, format="rgb24", time_base=time_base)
        split = self.graph.add("split")
        (gen, gen_args), (use, use_args) = PALETTE_FILTERS
        palette, mapped = self.graph.add(gen, gen_args), self.graph.add(use, use_args)
        sink = self.graph.add("buffersink")
        source.link_to(split)
        split.link_to(mapped, 0, 0)  # the picture ...
        split.link_to(palette, 1, 0)
        palette.link_to(mapped, 0, 1)  # ... and its own palette
        mapped.link_to(sink)
        self.graph.configure()

    def convert(self, frame: av.VideoFrame | None) -> list[av.VideoFrame]:
        """`frame` in palette colours (None: what the filters still hold, at the end)."""
        self.graph.push(frame)
        done = []
        while True:
            try:
                done.append(self.graph.vpull())
            except (av.error.BlockingIOError, av.error.EOFError):
                return done


def another_codec(name: str) -> str:
    """What to change where encoder `name` refuses the pictures, as words after an error."""
    return ": use another --codec" + (", e.g. libx264" if name != "libx264" else " (or --size)")


def movie_timescale(time_base: Fraction, tracks: Iterable[av.stream.Stream] = ()) -> int:
    """The MP4/MOV movie time scale for a video stream of `time_base` beside the other `tracks`: the
    video track's own (the muxer takes its denominator, doubled up to 10000), doubled on to at
    least twice each other track's. The muxer writes each track's delay (an empty edit) in the
    movie's scale rounded down, and FFmpeg reads it back to the nearest tick of the track: at
    1 ms, the default, 1024/12288 s (83.33 ms) was written as 83 ms and read back 4 ticks early,
    every picture with it; at the video's 1/12800, sound from 20992/44100 s as 6092 ticks, read
    back 3 samples early. Twice a track's scale loses less than half of its tick."""
    scale = time_base.denominator
    while scale < 10000:
        scale *= 2
    others = [track_timescale(track) for track in tracks]
    while others and scale < 2 * max(others) and scale * 2 <= 2**31 - 1:
        scale *= 2
    return min(scale, 2**31 - 1)


def track_timescale(stream: av.stream.Stream) -> int:
    """The time scale the MP4/MOV muxer gives `stream`'s track: a sound's sample rate, else its time base's."""
    rate = stream.codec_context.sample_rate if stream.type == "audio" and stream.codec_context else 0
    return rate or (stream.time_base.denominator if stream.time_base else 1)


class VideoEncoder:
    """The output's video stream in `container` for pictures as `spec` says, its encoder opened with
    `settings` (`stream`; `framing`: how frames are fitted to the sizes it takes; `palette`: GIF's
    palettes; `colour`: how YUV output is converted and tagged), and the frames it is given
    converted and encoded, what it refuses said in one line naming `path`."""

    def __init__(self, container: av.container.OutputContainer, settings: EncodeSettings, spec: VideoFormatOut,
                 path: Path) -> None:
        self.container, self.path = container, path
        self._reformatter = VideoReformatter()  # one RGB -> YUV converter for the stream, not one per frame
        self.stream = self._add_video(settings, spec)

    def _add_video(self, settings: EncodeSettings, spec: VideoFormatOut) -> av.video.stream.VideoStream:
        check_picture_size(settings.codec, spec.width, spec.height)
        self.framing = encoder_framing(settings, spec.width, spec.height, spec.frame_rate)
        width, height = self.framing.size if self.framing else (spec.width, spec.height)
        check_bitrate_picture(settings, width, height)
        if self.framing:  # (said by `VideoWriter._open`)
            settings = dataclasses.replace(settings, pix_fmt=self.framing.pix_fmt or settings.pix_fmt)
        stream = self.container.add_stream(settings.codec, rate=encoder_rate(settings.codec, spec.frame_rate))
        stream.width, stream.height = width, height
        stream.pix_fmt = choose_pix_fmt(settings, width, height, self.container.format.name)
        encoder_tb = (1 / self.framing.rate if self.framing and self.framing.rate else
                      encoder_time_base(settings.codec, spec.time_base, spec.frame_rate, self.container.format.name,
                                        spec.base_rate))
        if self.framing:  # (DV's stream says it too: AVI, whose stream's aspect PyAV cannot set, keeps it)
            stream.codec_context.sample_aspect_ratio = self.framing.sar
        stream.time_base = muxer_time_base(self.container.format.name, encoder_tb, spec.time_base)
        stream.codec_context.time_base = encoder_tb
        stream.options = settings.codec_options()
        if settings.bitrate:
            stream.bit_rate = settings.bitrate
        self.palette = (PaletteFrames(spec.width, spec.height, encoder_tb)
                        if av.Codec(settings.codec, "w").name in PALETTE_ENCODERS else None)
        self.rgb_output = av.VideoFormat(stream.pix_fmt).is_rgb or self.palette is not None
        self.colour = (yuv_colour(spec.colour, stream.pix_fmt, settings.encoder, self.container.format.name)
                       if spec.colour and not self.rgb_output else None)
        if self.colour:
            ctx = stream.codec_context
            ctx.colorspace, ctx.color_range = self.colour.colorspace, self.colour.color_range
            ctx.color_primaries, ctx.color_trc = self.colour.color_primaries, self.colour.color_trc
        if self.colour and self.container.format.name in COLR_FORMATS:
            flags = self.container.options.get("movflags")
            self.container.options["movflags"] = f"{flags}+{WRITE_COLR}" if flags else WRITE_COLR
        return stream

    def in_pix_fmt(self, frame: av.VideoFrame) -> av.VideoFrame:
        """An RGB `frame` in the encoder's pixel format and colours. FFmpeg's scaler runs threads:
        where none can start (EAGAIN) that is said, not taken for a failure to write."""
        try:
            if self.colour:
                converted = self._reformatter.reformat(frame, format=self.stream.pix_fmt,
                                                       dst_colorspace=self.colour.colorspace,
                                                       dst_color_range=self.colour.color_range)
                # (encoders that tag from the frame, not the codec context: prores_ks wrote "unknown")
                converted.color_primaries, converted.color_trc = self.colour.color_primaries, self.colour.color_trc
                return converted
            if self.palette is None and self.stream.pix_fmt != "rgb24":
                return self._reformatter.reformat(frame, format=self.stream.pix_fmt)
        except av.error.FFmpegError as exc:
            raise self._refused(exc, "converting pictures") from None
        return frame

    def encoded(self, frame: av.VideoFrame | None) -> list[av.Packet]:
        """The encoder's packets for `frame` (None: the last ones), its refusal said in one line."""
        try:
            return self.stream.encode(frame)
        except av.error.FFmpegError as exc:
            if isinstance(exc, MemoryError):  # (said by the job, as any shortage of memory)
                raise
            raise self._refused(exc, "encoding pictures") from None

    def _refused(self, exc: av.error.FFmpegError, doing: str) -> UserError:
        """`exc`, raised while `doing` (converting or encoding pictures), as one line naming the
        encoder: a rule of one found only then (a size or format it opened for, then refused;
        rgb24 to pal8, for which swscale makes no palette) was a traceback."""
        if threads_refused(exc):
            return threads_refused_error(self.path, exc, doing)
        context = self.stream.codec_context
        return UserError(f"{self.path}: encoder {context.codec.name} refused a {context.width}x{context.height} "
                         f"{context.pix_fmt} picture ({exc.strerror or exc}){another_codec(context.codec.name)}")
