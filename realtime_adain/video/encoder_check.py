"""`check_encoder`: the video encoder tried before any frame is processed, as the writer will open
it, and refused in one line where it is unknown, cannot open here, or the container cannot hold its
video (the container that can suggested). `VideoWriter` (writer.py) follows the same rules.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import io
import os
from fractions import Fraction
from pathlib import Path

import av

from realtime_adain.errors import UserError, one_line, quoted
from realtime_adain.notes import note
from realtime_adain.video.containers import CONTAINER_FORMATS, container_format
from realtime_adain.video.encoder_settings import QUIET_ENVIRONMENT, QUIET_OPTIONS, EncodeSettings, framed_picture
from realtime_adain.video.framing import encoder_framing, least_picture
from realtime_adain.video.pixel_formats import choose_pix_fmt, opening_pix_fmts, pix_fmt_likeness
from realtime_adain.video.stream_copy import container_holds, slotted_by_decode_time
from realtime_adain.video.time_bases import encoder_rate, encoder_time_base

# Encoders whose streams cannot say they hold no B-frames: FFmpeg's decoder holds each picture a
# frame, so in an AVI (no display times) every picture after the first shows a frame late.
ALWAYS_REORDERED = frozenset({"mpeg1video"})
# The container suggested for an encoder the one asked for cannot hold: the first that can.
# Codecs made for QuickTime, whose files are .mov (`--codec prores_ks -o x.mp4` was told to try .mkv).
QUICKTIME_CODECS = frozenset({"prores", "prores_ks", "prores_aw", "prores_videotoolbox", "qtrle", "dnxhd", "hap"})
HINT_ORDER = (".mkv", ".mov", ".mp4", ".m4v", ".avi", ".webm", ".ts", ".m2ts", ".mts", ".gif")


def _holds_video(fmt: str, codec: av.Codec) -> bool:
    """Whether a `fmt` container holds `codec`'s video: its muxer lists it (PyAV adds no stream of
    another: Ut Video or HuffYUV in Matroska, which `ffmpeg` writes as VFW FourCCs, is a ValueError
    there) and writes its header (`_header_takes`)."""
    with av.open(io.BytesIO(), "w", format=fmt) as probe:
        listed = container_holds(fmt, {codec.name, codec.canonical_name}, probe.supported_codecs)
    return listed and _header_takes(fmt, codec.name)


@functools.lru_cache(maxsize=None)
def _header_takes(fmt: str, codec: str) -> bool:
    """Whether a `fmt` muxer writes its header with a stream of encoder `codec`: MOV lists VP8, VP9
    and AV1, then refuses them ("cannot start encoding (Invalid argument)", once the model had
    loaded; VP9 and AV1 are MP4's). Tried in memory at 64x64; an encoder that does not open there
    (DV, H.263) is taken at the muxer's word."""
    if codec in QUIET_ENVIRONMENT:
        os.environ.setdefault(*QUIET_ENVIRONMENT[codec])
    formats = [f.name for f in av.Codec(codec, "w").video_formats or [] if f.components] or ["yuv420p"]
    probe = av.open(io.BytesIO(), "w", format=fmt)
    try:
        stream = probe.add_stream(codec, rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 64, formats[0]
        stream.options = dict(QUIET_OPTIONS.get(codec, {}))
        try:
            stream.codec_context.open()
        except av.error.FFmpegError:
            return True
        try:
            probe.start_encoding()
        except av.error.FFmpegError:
            return False
        return True
    finally:
        with contextlib.suppress(av.error.FFmpegError):
            probe.close()


def check_encoder(settings: EncodeSettings, output: Path, width: int | None = None, height: int | None = None,
                  rate: Fraction | None = None, time_base: Fraction | None = None,
                  base_rate: Fraction | None = None) -> None:
    """Fail before any work if the encoder is unknown, can't open here, or the container refuses it.
    Tried at 64x64, or at an input's output size `width`x`height` (a folder run was refused halfway:
    x265 opens for no 8x5 pictures), as the writer opens it: framed (`framed_picture`), at `rate`
    (None: 25 fps) in the time base it gets from the input's `time_base` and `base_rate`
    (`encoder_time_base`: MPEG-1/2 a standard rate)."""
    fmt = container_format(output)
    if settings.codec is not None and not settings.codec.strip():
        raise UserError("--codec: an empty encoder name (leave it out for the default)")
    settings = settings.for_container(fmt)
    try:
        codec = av.Codec(settings.codec, "w")
    except (av.codec.codec.UnknownCodecError, ValueError):
        raise UserError(f"--codec: unknown video encoder {quoted(one_line(settings.codec))} (e.g. libx264, libx265, h264_nvenc, "
                        "ffv1)") from None
    if codec.type != "video":
        article = "an" if codec.type[0] in "aeiou" else "a"
        raise UserError(f"--codec: '{settings.codec}' is {article} {codec.type} encoder, not a video encoder")
    if not _holds_video(fmt, codec):
        others = [ext for ext, other in CONTAINER_FORMATS.items() if other != fmt and _holds_video(other, codec)]
        if others:
            best = ".mov" if settings.codec in QUICKTIME_CODECS and ".mov" in others else min(others, key=HINT_ORDER.index)
        hint = f" (try {best})" if others else ""
        raise UserError(f"{output.suffix} files cannot hold {settings.codec} video{hint}")
    rate = Fraction(rate or 25)
    sized = width is not None and height is not None
    width, height = (width, height) if sized else (64, 64)
    framing = framed_picture(settings, width, height, rate) if sized else encoder_framing(settings, width, height, rate)
    if framing is not None:
        (width, height), rate = framing.size, framing.rate or rate
        settings = dataclasses.replace(settings, pix_fmt=framing.pix_fmt or settings.pix_fmt)
    context = av.CodecContext.create(codec)
    context.width, context.height = width, height = least_picture(codec.name, width, height)
    context.pix_fmt = choose_pix_fmt(settings, width, height, fmt)
    context.time_base = (1 / rate if framing and framing.rate
                         else encoder_time_base(codec.name, Fraction(time_base or 1 / rate), rate, fmt, base_rate))
    context.framerate = encoder_rate(codec.name, rate)
    context.options = settings.codec_options()
    if settings.bitrate:
        context.bit_rate = settings.bitrate
    try:
        context.open()
    except av.error.FFmpegError as exc:
        hint = " (NVENC needs an NVIDIA GPU and driver)" if "nvenc" in settings.codec else ""
        if settings.pix_fmt and not hint:  # (MJPEG takes yuv444p only as yuvj444p): the closest that opens
            supported = [f.name for f in codec.video_formats or [] if f.name != settings.pix_fmt and f.components]
            works = next(opening_pix_fmts(settings, sorted(supported, key=lambda n: pix_fmt_likeness(n, settings.pix_fmt)),
                                          width, height), None)
            if works or not sized:  # (at an input's size where none opens, the size is at fault: x265 at 16x10)
                hint = f" with --pix-fmt {settings.pix_fmt}" + (f" (try {works})" if works else "")
        if sized and not hint:  # (in the writer's words)
            from realtime_adain.video.encoding import another_codec

            raise UserError(f"encoder {codec.name} does not open for {width}x{height} {context.pix_fmt} pictures "
                            f"({exc.strerror or exc}){another_codec(codec.name)}") from None
        raise UserError(f"cannot open encoder {settings.codec}{hint}: {exc.strerror or exc}") from None
    if slotted_by_decode_time(fmt) and settings.codec in ALWAYS_REORDERED:
        note(f"{settings.codec} in {output.suffix}: players show each picture after the first a frame late (the stream "
             f"cannot say it has no B-frames, and {output.suffix} stores no display times); .mkv, .ts or another "
             "--codec, keeps the times", once=True)
