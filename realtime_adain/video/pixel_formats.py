"""The pixel format a video encoder is given (`choose_pix_fmt`): --pix-fmt checked, or the
default (yuv420p, yuv444p at odd sizes, the closest format the encoder opens with), and raw video's
formats each container reads back as written.
"""

from __future__ import annotations

import functools
import io
from fractions import Fraction
from typing import Iterator, Sequence

import av

from realtime_adain.errors import UserError, as_given
from realtime_adain.video.encoder_settings import PALETTE_ENCODERS, EncodeSettings, check_palette_options
from realtime_adain.video.framing import least_picture

PREFERRED_PIX_FMTS = ("yuv420p", "yuv444p")
# Pixel formats an encoder writes and FFmpeg's decoder reads none of (every frame "Not yet implemented").
UNREAD_PIX_FMTS = {"jpeg2000": frozenset({"yuv440p10le", "yuv440p12le"})}


@functools.lru_cache(maxsize=None)
def _halved_sides(pix_fmt: str) -> tuple[str, ...]:
    """The sides ("width", "height") that `pix_fmt` stores some plane of at less than full
    resolution: both for 4:2:0 and NV12, the width for 4:2:2. Told at 16x16: at 1x1 even a 4:2:0
    chroma plane rounds up to one pixel."""
    components = av.VideoFormat(pix_fmt, 16, 16).components
    return tuple(side for side, halved in (("width", any(c.width != 16 for c in components)),
                                           ("height", any(c.height != 16 for c in components))) if halved)


def _fits(pix_fmt: str, width: int, height: int) -> bool:
    """Whether `pix_fmt` holds `width`x`height` pictures exactly: even along each side it halves
    (4:2:2 holds an odd height; --pix-fmt yuv422p10le was refused for it, naming yuv444p, which
    CineForm does not take)."""
    return not any(size % 2 for side, size in (("width", width), ("height", height)) if side in _halved_sides(pix_fmt))


def pix_fmt_likeness(name: str, wanted: str) -> tuple:
    """How far pixel format `name` is from `wanted` (smaller is closer): colour or grey first, then
    a palette, RGB or YUV, chroma resolution, bit depth, alpha."""
    a, b = av.VideoFormat(name, 16, 16), av.VideoFormat(wanted, 16, 16)

    def grey(f: av.VideoFormat) -> bool:
        return len([c for c in f.components if not c.is_alpha]) < 3 and not f.has_palette

    def chroma(f: av.VideoFormat) -> tuple[int, int]:
        planes = [c for c in f.components if c.is_chroma]
        return (planes[0].width, planes[0].height) if planes else (16, 16)

    return (grey(a) != grey(b), a.has_palette != b.has_palette, a.is_rgb != b.is_rgb, chroma(a) != chroma(b),
            abs(a.components[0].bits - b.components[0].bits), any(c.is_alpha for c in a.components))


@functools.lru_cache(maxsize=None)
def encoder_opens(codec: str, pix_fmt: str, width: int, height: int, options: tuple[tuple[str, str], ...],
           bit_rate: int | None, rate: Fraction = Fraction(25)) -> bool:
    """Whether encoder `codec` opens for `pix_fmt` at `width`x`height` and `rate` fps (tried, nothing kept)."""
    context = av.CodecContext.create(codec, "w")
    context.width, context.height, context.pix_fmt = width, height, pix_fmt
    context.time_base = 1 / rate
    context.options = dict(options)
    if bit_rate:
        context.bit_rate = bit_rate
    try:
        context.open()
    except av.error.FFmpegError:
        return False
    return True


# Raw video (no list of formats: it takes any) is tried in these common ones; a container stores
# only some of them under a tag it reads back as the same format (`_raw_reads_back`).
RAW_PIX_FMTS = ("yuv420p", "yuv444p", "yuv422p", "uyvy422", "yuyv422", "nv12", "rgb24", "bgr24", "rgba", "bgra",
                "argb", "abgr", "gray")


@functools.lru_cache(maxsize=None)
def _raw_reads_back(fmt: str, pix_fmt: str) -> bool:
    """Whether a `fmt` container reads raw `pix_fmt` video back as `pix_fmt`. Each keeps a table of
    tags: MOV has none for yuv420p (unplayable), AVI files yuv444p under bgr24's (false colours),
    Matroska refuses rgb24. Written and read in memory, one 16x16 frame."""
    buffer = io.BytesIO()
    try:
        with av.open(buffer, "w", format=fmt) as out:
            stream = out.add_stream("rawvideo", rate=25)
            stream.width, stream.height, stream.pix_fmt = 16, 16, pix_fmt
            for packet in stream.encode(av.VideoFrame(16, 16, pix_fmt)):
                out.mux(packet)
        buffer.seek(0)
        with av.open(buffer) as back:
            return back.streams.video[0].codec_context.pix_fmt == pix_fmt
    except (av.error.FFmpegError, ValueError, IndexError):
        return False


def _known_pix_fmt(name: str) -> av.VideoFormat:
    """The pixel format `name`, refused unless FFmpeg knows it and it holds pixels in memory (not
    "cuda" or "vaapi": frames here are made on the CPU)."""
    try:
        found = av.VideoFormat(name)
    except ValueError:
        raise UserError(f"--pix-fmt {as_given(name)}: not a pixel format FFmpeg knows (e.g. yuv420p, yuv444p, "
                        "yuv420p10le, rgb24)") from None
    if not found.components:
        raise UserError(f"--pix-fmt {name}: a hardware surface format, not one frames are encoded from here")
    return found


def choose_pix_fmt(settings: EncodeSettings, width: int, height: int, container: str | None = None) -> str:
    """The requested pixel format, checked; or yuv420p, falling back to yuv444p for odd sizes.

    4:2:0 cannot represent an odd width or height exactly, nor 4:2:2 an odd width (H.264 crops in
    steps of two pixels), so odd sizes get full-resolution chroma and keep their exact size. Where
    the encoder takes neither, or will not open with it (MJPEG lists yuv420p but takes only
    yuvj420p at the usual range), the closest format with which it opens (`pix_fmt_likeness`), as FFmpeg
    picks one. One rule for both: a format that does not hold the size exactly (its colour planes
    rounded up) is written only where the encoder takes none that does (MPEG-4 Part 2: 4:2:0 only),
    named or not: --pix-fmt yuv420p was refused where leaving it out wrote yuv420p.
    Raw video, which takes any, gets one the `container` (a muxer name) reads back as written.
    """
    codec = settings.encoder
    if av.Codec(codec, "w").name in PALETTE_ENCODERS:
        check_palette_options(settings)
        return "pal8"
    unread = UNREAD_PIX_FMTS.get(av.Codec(codec, "w").name, frozenset())
    supported = [f.name for f in av.Codec(codec, "w").video_formats or [] if f.name not in unread]
    if settings.pix_fmt:
        _known_pix_fmt(settings.pix_fmt)
        if settings.pix_fmt in unread:
            raise UserError(f"--pix-fmt {settings.pix_fmt}: FFmpeg's {codec} decoder reads no {settings.pix_fmt} "
                            "(\"Not yet implemented\"): use another --pix-fmt, or leave it out")
        if supported and settings.pix_fmt not in supported:
            more = f" and {len(supported) - 12} more: `ffmpeg -h encoder={codec}` lists them" if len(supported) > 12 else ""
            raise UserError(f"encoder {codec} does not take pixel format {settings.pix_fmt} "
                            f"(it takes {', '.join(supported[:12])}{more})")
        if not _fits(settings.pix_fmt, width, height):
            held = sorted((name for name in supported or ["yuv444p"]
                           if av.VideoFormat(name).components and _fits(name, width, height)),
                          key=lambda n: pix_fmt_likeness(n, settings.pix_fmt))
            if held:  # (none: written as it is, as the default below writes one)
                sides = " and ".join(_halved_sides(settings.pix_fmt))
                raise UserError(f"pixel format {settings.pix_fmt} needs an even {sides}, the output is "
                                f"{width}x{height}: use --pix-fmt {held[0]} (or leave --pix-fmt out)")
        if not supported and container and not _raw_reads_back(container, settings.pix_fmt):
            kept = [name for name in RAW_PIX_FMTS if _raw_reads_back(container, name)]
            raise UserError(f"--pix-fmt {settings.pix_fmt}: the {container} container does not store raw video "
                            f"in that format (it stores {', '.join(kept) or 'none of the usual ones'})")
        return settings.pix_fmt
    fitting = [name for name in PREFERRED_PIX_FMTS if _fits(name, width, height)]
    if not supported and container:
        wanted = fitting[0]
        raw = sorted((name for name in RAW_PIX_FMTS if _fits(name, width, height)),
                     key=lambda n: (n != wanted, pix_fmt_likeness(n, wanted)))
        return next((name for name in raw if _raw_reads_back(container, name)), wanted)
    if not supported:
        return fitting[0]
    wanted = fitting[0]
    exact = [name for name in fitting if name in supported]
    software = [name for name in supported if av.VideoFormat(name).components]  # (not "cuda": frames on a GPU)
    near = sorted((name for name in software if _fits(name, width, height)), key=lambda n: pix_fmt_likeness(n, wanted))
    candidates = (list(dict.fromkeys(exact + near)) or sorted(software, key=lambda n: pix_fmt_likeness(n, wanted))
                  or supported)
    return next(opening_pix_fmts(settings, candidates, width, height), candidates[0])  # none opens: opening says why


def opening_pix_fmts(settings: EncodeSettings, names: Sequence[str], width: int, height: int) -> Iterator[str]:
    """The pixel formats among `names`, in order, with which the encoder opens at this size."""
    options = tuple(sorted(settings.codec_options().items()))
    probe = least_picture(settings.encoder, min(width, 64), min(height, 64))  # (small: SVT-AV1 allocates it all)
    return (name for name in names if encoder_opens(settings.encoder, name, *probe, options, settings.bitrate))
