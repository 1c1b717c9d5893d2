"""What the output containers and encoders take: extensions, quality options, pixel formats,
codecs per container, time bases and sample rates. `check_encoder` refuses what cannot work
before any frame is processed; `VideoWriter` (writer.py) follows the same rules. The picture
sizes each encoder takes, and how frames are fitted to them, are framing.py's.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import io
import os
import re
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Iterator, Sequence

import av

from realtime_adain import limits
from realtime_adain.errors import UserError
from realtime_adain.video.framing import Framing, check_picture_size, encoder_framing, least_picture
from realtime_adain.notes import note

# Output containers by file extension (explicit, so an unknown extension is a clear error).
CONTAINER_FORMATS = {
    ".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska", ".webm": "webm",
    ".avi": "avi", ".ts": "mpegts", ".m2ts": "mpegts", ".mts": "mpegts",  # (.m2ts: Blu-ray's 192-byte packets)
    ".gif": "gif",
}
# The option that sets constant-quality mode, for the encoders that have one.
QUALITY_OPTION = {
    "libx264": "crf", "libx264rgb": "crf", "libx265": "crf", "libvpx-vp9": "crf", "libaom-av1": "crf",
    "libsvtav1": "crf", "h264_nvenc": "cq", "hevc_nvenc": "cq", "av1_nvenc": "cq",
}
# The worst (highest) constant quality each accepts; 0 is the best. x264 would clamp silently.
QUALITY_MAX = {"libvpx-vp9": 63, "libaom-av1": 63, "libsvtav1": 63}  # the others: 51
# Encoders that take --crf and --bitrate together (constrained quality: the quality, capped at the
# bitrate). The others would ignore one (x264 and x265 drop the bitrate) or fail to open (SVT-AV1).
CRF_WITH_BITRATE = frozenset({"libvpx-vp9", "libaom-av1", "h264_nvenc", "hevc_nvenc", "av1_nvenc"})
# A quality that keeps painted textures crisp (x264's own default, 23, smears brush strokes).
DEFAULT_CRF = 18
PREFERRED_PIX_FMTS = ("yuv420p", "yuv444p")
# The video encoder when none is named: H.264, except where the container holds no H.264 (WebM:
# VP9, as `ffmpeg -i in out.webm` picks; the next ones if this FFmpeg lacks libvpx-vp9).
DEFAULT_CODEC = "libx264"
CONTAINER_CODECS = {"webm": ("libvpx-vp9", "libaom-av1", "libsvtav1", "libvpx"), "gif": ("gif",)}
# Options of a container's muxer: a GIF loops forever, as people expect one shared to do (FFmpeg's
# default too; said here, not left to it). An AVI's timestamps are not moved by FFmpeg: its video's
# decode times are its display times, none before zero (no B-frames: `IN_DISPLAY_ORDER`), and a
# shift taken from the sound would move the pictures a slot on after the first one (copied AAC's
# priming before zero).
MUXER_OPTIONS = {"gif": {"loop": "0"}, "avi": {"avoid_negative_ts": "disabled"}}
# GIF: 256 colours a frame. Each frame gets a palette of its own colours (FFmpeg's palettegen and
# paletteuse, one frame at a time); swscale's one fixed palette (`rgb8`) lost 11 to 14 dB of PSNR.
# Ordered (Bayer) dithering: no banding in skies, a pattern that stays still from frame to frame
# (error diffusion crawls) and compresses better (docs/video.md has the figures).
PALETTE_ENCODERS = frozenset({"gif"})
PALETTE_FILTERS = (("palettegen", "stats_mode=single"), ("paletteuse", "new=1:dither=bayer:bayer_scale=4"))
# Browsers show a GIF frame of a shorter delay (centiseconds) for `GIF_DELAY_SHOWN` cs: a 60 fps
# clip, its delays 2, 1, 2, 2, 1, 2 cs, plays 2.8 times slower there. An input GIF's such frames
# are read so (video/frame_times.py `gif_delays_as_shown`).
GIF_SHORTEST_SHOWN = 2
GIF_DELAY_SHOWN = 10
# A GIF frame's longest delay: 16 bits of centiseconds (655.35 s). FFmpeg's muxer cuts a longer gap
# to it (every later frame early) and wraps a longer last frame (800 s played 144.64 s).
GIF_LONGEST_DELAY = 65535
# A longer time is the frame shown again every longest delay, up to a day of repeats in a file (131
# frames): a damaged timestamp years ahead wrote 152,000 (256 MB at 32x24). Past that, cut as FFmpeg cuts it.
GIF_MOST_REPEATS = 24 * 3600 * 100 // GIF_LONGEST_DELAY
# The lowest --bitrate taken, in bits per second: below it no encoder makes a picture (x264 counts
# kbit/s and fails on 0), and "--bitrate 4" or "800" is a missing k or M.
MIN_BITRATE = 10_000
# The highest: 10 Gbit/s, above any encoder's (FFmpeg's bit_rate is a C long: 10**30 overflowed).
MAX_BITRATE = 10_000_000_000
# Encoders that print to stderr themselves, not through FFmpeg's log (which PyAV keeps silent, as
# this tool says what went wrong in one line of its own): silenced too. x265 by a parameter (its
# "x265 [info]" lines, some 40 an encoder); SVT-AV1 reads SVT_LOG as it starts (0: fatal only).
QUIET_OPTIONS = {"libx265": {"x265-params": "log-level=none"}}
QUIET_ENVIRONMENT = {"libsvtav1": ("SVT_LOG", "0")}
# Options for a container that stores no display times, only a picture a frame slot in decode order
# (AVI: `slotted_by_decode_time`): no B-frames, so decode order is display order and each picture's
# slot is its time. With x264's B-frames every picture was shown two frames late (as `ffmpeg -i
# in.mp4 out.avi` shows it). FFmpeg's generic `bf` reaches every encoder that has B-frames (x264,
# x265, MPEG-4 Part 2, MPEG-2, NVENC, QSV, VAAPI); MPEG-2's low-delay flag says so in the stream,
# without which its decoder held each picture a frame.
IN_DISPLAY_ORDER = {"bf": "0"}
LOW_DELAY_OPTIONS = {"mpeg2video": {"flags": "+low_delay"}}
# Encoders whose streams cannot say they hold no B-frames: FFmpeg's decoder holds each picture a
# frame, so in an AVI (no display times) every picture after the first shows a frame late.
ALWAYS_REORDERED = frozenset({"mpeg1video"})
# DNxHD's encoder opens only at the sizes and bitrates of DNxHD's table (1920x1080 at 36M, ...):
# `--codec dnxhd` failed for every clip ("Invalid argument"). Without --bitrate it is DNxHR, any
# size from 256x120, as editors export it: HQ, HQX for 10-bit 4:2:2, 444 for 4:4:4 (the --pix-fmt).
DNXHR_PROFILES = {"yuv422p10le": "dnxhr_hqx", "yuv444p10le": "dnxhr_444", "gbrp10le": "dnxhr_444"}
DNXHR_DEFAULT = "dnxhr_hq"
# Encoders whose bitrate is their profile's, not one given (DNxHR's HQ, DV's 25 Mbit/s): --bitrate
# made classic DNxHD, which opens only at its table's sizes and rates ("Invalid argument").
PROFILE_BITRATE = {"dnxhd": "DNxHR's profile sets it: HQ, or HQX for --pix-fmt yuv422p10le, 444 for yuv444p10le",
                   "dvvideo": "DV's format sets it: 25 Mbit/s, 50 for --pix-fmt yuv422p, 100 in HD",
                   # Lossy encoders of a fixed quality: the same bytes at --bitrate 100k and 50M (ignored).
                   **dict.fromkeys(("prores_ks", "prores", "prores_aw"), "ProRes's profile sets it"),
                   **dict.fromkeys(("cfhd", "amv", "cljr", "asv1", "asv2", "jpeg2000", "libwebp"),
                                   "its quality is fixed")}
LOSSLESS_BITRATE = "it is lossless: the pictures set it"  # (FFV1, PNG, raw...: a --bitrate was ignored)
# Pixel formats an encoder writes and FFmpeg's decoder reads none of (every frame "Not yet implemented").
UNREAD_PIX_FMTS = {"jpeg2000": frozenset({"yuv440p10le", "yuv440p12le"})}


@functools.lru_cache(maxsize=None)
def _encoder_name(codec: str) -> str:
    """FFmpeg's name of the encoder `codec` names (a format's, `h264`: its default encoder);
    `codec` itself where there is none (`check_encoder` says so)."""
    try:
        return av.Codec(codec, "w").name
    except (av.codec.codec.UnknownCodecError, ValueError):
        return codec


def _fixed_bitrate(codec: str) -> str | None:
    """Why encoder `codec` takes no bitrate (`PROFILE_BITRATE`, or lossless only), or None where it takes one."""
    found = av.Codec(codec, "w")
    return PROFILE_BITRATE.get(found.name) or (LOSSLESS_BITRATE if found.lossless and not found.lossy else None)


def default_codec(fmt: str) -> str:
    """The video encoder for a `fmt` container when none is named (`DEFAULT_CODEC`, VP9 for WebM)."""
    for name in CONTAINER_CODECS.get(fmt, ()):
        if name in av.codecs_available:
            return name
    return DEFAULT_CODEC


@dataclass
class EncodeSettings:
    codec: str | None = None  # None: the container's default (`default_codec`), set by `for_container`
    crf: int | None = None
    bitrate: int | None = None  # bits per second; wins over the default CRF
    pix_fmt: str | None = None  # None: yuv420p, or yuv444p when a dimension is odd
    container: str | None = None  # the output's muxer name, set by `for_container` (AVI: no B-frames)

    @property
    def encoder(self) -> str:
        """The encoder's own name (`DEFAULT_CODEC` where none was named and no container is known):
        `--codec h264` is libx264, and `hevc` libx265. Named so, they took none of the settings kept
        per encoder (x264's CRF 23, not 18; --crf refused; x265's log on stderr)."""
        return _encoder_name(self.codec or DEFAULT_CODEC)

    def for_container(self, fmt: str) -> "EncodeSettings":
        """These settings for a `fmt` container: the encoder named, else the container's default."""
        return dataclasses.replace(self, codec=self.codec or default_codec(fmt), container=fmt)

    def codec_options(self) -> dict[str, str]:
        codec = self.encoder
        if codec in PALETTE_ENCODERS:
            check_palette_options(self)
        option = QUALITY_OPTION.get(codec)
        fixed = _fixed_bitrate(codec)
        if self.crf is not None and option is None:
            raise UserError(f"encoder {codec} has no constant-quality (CRF) mode; "
                            + (f"leave --crf out ({fixed})" if fixed else "use --bitrate"))
        worst = QUALITY_MAX.get(codec, 51)
        if self.crf is not None and not 0 <= self.crf <= worst:
            raise UserError(f"--crf {self.crf} is outside {codec}'s range 0 (best) to {worst}")
        if self.crf is not None and self.bitrate is not None and codec not in CRF_WITH_BITRATE:
            raise UserError(f"encoder {codec} takes --crf or --bitrate, not both (it would ignore one)")
        if self.bitrate is not None and self.bitrate <= 0:
            raise UserError("--bitrate must be positive, e.g. 800k or 4M")
        if self.bitrate is not None and self.bitrate < MIN_BITRATE:
            raise UserError(f"--bitrate {self.bitrate} is below the least taken, {MIN_BITRATE // 1000}k "
                            "(bits per second: e.g. 800k or 4M)")
        if self.bitrate is not None and self.bitrate > MAX_BITRATE:
            raise UserError(f"--bitrate {self.bitrate} is above the most taken, {MAX_BITRATE // 1_000_000}M")
        if codec in QUIET_ENVIRONMENT:
            os.environ.setdefault(*QUIET_ENVIRONMENT[codec])  # (the user's own setting wins)
        if self.bitrate is not None and fixed:
            raise UserError(f"--bitrate: {codec} has no bitrate setting ({fixed}); leave --bitrate out")
        options = dict(QUIET_OPTIONS.get(codec, {}))
        if codec == "dnxhd":  # (DNxHD proper opens only at its table's sizes, rates and bitrates)
            options["profile"] = DNXHR_PROFILES.get(self.pix_fmt or "", DNXHR_DEFAULT)
        if limits.pools_reduced:  # `ulimit -u` leaves no room for an encoder's threads (x264 failed to open)
            options["threads"] = "1"
        if self.container and slotted_by_decode_time(self.container):
            options.update(IN_DISPLAY_ORDER, **LOW_DELAY_OPTIONS.get(codec, {}))
        if option is not None and not (self.crf is None and self.bitrate is not None):
            options[option] = str(DEFAULT_CRF if self.crf is None else self.crf)
        return options


def check_palette_options(settings: EncodeSettings) -> None:
    """Refuse the options a palette encoder (GIF) has no use for: its quality is the palette's,
    made for each frame, and its pixels are palette indices."""
    why = "its 256 colours a frame come from a palette made for each frame"
    if settings.crf is not None:
        raise UserError(f"--crf: GIF has no quality setting ({why}); leave it out")
    if settings.bitrate is not None:
        raise UserError(f"--bitrate: GIF has no bitrate setting ({why}); leave it out")
    if settings.pix_fmt not in (None, "pal8"):
        raise UserError(f"--pix-fmt {settings.pix_fmt}: GIF is always pal8 ({why}); leave it out")


# Encoders whose bitrate mode (--bitrate) takes pictures of (width, height) and larger only, where
# their CRF mode takes smaller ones: SVT-AV1's ("Forced Max Height must be at least 64"), which
# was said as "does not open for 64x36 yuv420p pictures ...: use another --codec".
LEAST_BITRATE_PICTURE = {"libsvtav1": (64, 64)}


def check_bitrate_picture(settings: EncodeSettings, width: int, height: int) -> None:
    """Refuse --bitrate where the encoder's bitrate mode takes no `width`x`height` pictures."""
    least = LEAST_BITRATE_PICTURE.get(settings.encoder) if settings.bitrate is not None else None
    if least and (width < least[0] or height < least[1]):
        raise UserError(f"{settings.encoder} cannot encode {width}x{height} pictures at a --bitrate (its bitrate mode "
                        f"takes pictures of {least[0]}x{least[1]} and larger): use --crf instead")


def framed_picture(settings: EncodeSettings, width: int, height: int, rate: Fraction | None) -> Framing | None:
    """How `width`x`height` pictures at `rate` fps go into the encoder's frames (`encoder_framing`),
    once a size it crashes on (`check_picture_size`) or takes no --bitrate at is refused."""
    check_picture_size(settings.encoder, width, height)
    framing = encoder_framing(settings, width, height, rate)
    check_bitrate_picture(settings, *(framing.size if framing else (width, height)))
    return framing


def container_format(path: Path) -> str:
    try:
        return CONTAINER_FORMATS[path.suffix.lower()]
    except KeyError:
        # (the words `-o x.png` gets; `--ext png` too, less the numbered pictures, which hold one result)
        raise UserError(f"{path}: unknown video format '{path.suffix}' (written: {' '.join(CONTAINER_FORMATS)})") from None


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


def _likeness(name: str, wanted: str) -> tuple:
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
def _opens(codec: str, pix_fmt: str, width: int, height: int, options: tuple[tuple[str, str], ...],
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
        raise UserError(f"--pix-fmt {name}: not a pixel format FFmpeg knows (e.g. yuv420p, yuv444p, "
                        "yuv420p10le, rgb24)") from None
    if not found.components:
        raise UserError(f"--pix-fmt {name}: a hardware surface format, not one frames are encoded from here")
    return found


def choose_pix_fmt(settings: EncodeSettings, width: int, height: int, container: str | None = None) -> str:
    """The requested pixel format, checked; or yuv420p, falling back to yuv444p for odd sizes.

    4:2:0 cannot represent an odd width or height exactly, nor 4:2:2 an odd width (H.264 crops in
    steps of two pixels), so odd sizes get full-resolution chroma and keep their exact size. Where
    the encoder takes neither, or will not open with it (MJPEG lists yuv420p but takes only
    yuvj420p at the usual range), the closest format with which it opens (`_likeness`), as FFmpeg
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
                          key=lambda n: _likeness(n, settings.pix_fmt))
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
                     key=lambda n: (n != wanted, _likeness(n, wanted)))
        return next((name for name in raw if _raw_reads_back(container, name)), wanted)
    if not supported:
        return fitting[0]
    wanted = fitting[0]
    exact = [name for name in fitting if name in supported]
    software = [name for name in supported if av.VideoFormat(name).components]  # (not "cuda": frames on a GPU)
    near = sorted((name for name in software if _fits(name, width, height)), key=lambda n: _likeness(n, wanted))
    candidates = list(dict.fromkeys(exact + near)) or sorted(software, key=lambda n: _likeness(n, wanted)) or supported
    return next(_opening(settings, candidates, width, height), candidates[0])  # none opens: opening says why


def _opening(settings: EncodeSettings, names: Sequence[str], width: int, height: int) -> Iterator[str]:
    """The pixel formats among `names`, in order, with which the encoder opens at this size."""
    options = tuple(sorted(settings.codec_options().items()))
    probe = least_picture(settings.encoder, min(width, 64), min(height, 64))  # (small: SVT-AV1 allocates it all)
    return (name for name in names if _opens(settings.encoder, name, *probe, options, settings.bitrate))


# FFmpeg's MPEG-TS muxer keeps no list of the codecs it holds (FFmpeg's query lists only its
# defaults, MPEG-2 video and MP2) and takes any codec, writing one it has no stream type for as
# private data that no player decodes. These are the ones it gives a stream type
# (libavformat/mpegtsenc.c); anything else is re-encoded (audio) or dropped (subtitles), and a
# video encoder outside it is refused.
MPEG_TS_CODECS = frozenset({
    "mpeg1video", "mpeg2video", "mpeg4", "h264", "hevc", "vc1", "dirac", "cavs",
    "mp2", "mp3", "aac", "aac_latm", "ac3", "eac3", "dts", "truehd", "opus", "s302m",
    "dvb_subtitle", "dvb_teletext",
})


def container_holds(fmt: str, names: set[str], supported: set[str]) -> bool:
    """Whether a `fmt` container holds a codec known by any of `names`; `supported` is FFmpeg's
    list for it (exact for every other container written here)."""
    return bool(names & (MPEG_TS_CODECS if fmt == "mpegts" else supported))


def is_adts_aac(stream: av.stream.Stream) -> bool:
    """AAC with no extradata: ADTS headers on every packet (as MPEG-TS carries it), or, rarely, no
    decoder configuration at all (`sound.RawAacFraming` gives its packets ADTS headers)."""
    return stream.codec_context.codec.canonical_name == "aac" and not stream.codec_context.extradata


# The output containers that keep ADTS AAC's headers on every packet (MPEG-TS): the others strip
# them (FFmpeg's aac_adtstoasc) and keep the first one's configuration, once, in the track's header.
ADTS_KEEPING_FORMATS = frozenset({"mpegts"})
# ADTS's sampling frequency index -> Hz (ISO 14496-3).
ADTS_RATES = (96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350)


def adts_kind(data: bytes) -> tuple[int, int, int] | None:
    """(profile, sample rate, channel configuration) an ADTS header gives; None where `data` does
    not start with one."""
    if len(data) < 7 or data[0] != 0xFF or data[1] & 0xF6 != 0xF0 or (data[2] >> 2) & 0xF >= len(ADTS_RATES):
        return None
    return data[2] >> 6, ADTS_RATES[(data[2] >> 2) & 0xF], (data[2] & 1) << 2 | data[3] >> 6


def adts_header(kind: tuple[int, int, int], payload: int) -> bytes:
    """The 7-byte ADTS header (no CRC) of a raw AAC frame of `payload` bytes of `kind` (`adts_kind`)."""
    profile, rate, channels = kind
    length = 7 + payload
    return bytes((0xFF, 0xF1, profile << 6 | ADTS_RATES.index(rate) << 2 | channels >> 2,
                  (channels & 3) << 6 | length >> 11, length >> 3 & 0xFF, (length & 7) << 5 | 0x1F, 0xFC))


# FFmpeg's MOV muxer writes a track's language only as one of QuickTime's old Macintosh codes (its
# table names them in ISO 639-2, mixing the B and T forms) and drops any other: `ffmpeg -c copy`
# into .mov lost German as "deu", Dutch as "nld", Chinese as "zho". The same language under the
# name the table gives it (MP4 and Matroska keep either).
MOV_LANGUAGE_NAMES = {"deu": "ger", "nld": "dut", "ell": "gre", "isl": "ice", "zho": "chi", "fre": "fra",
                      "swe": "sve", "nob": "nor", "cym": "wel", "eus": "baq", "msa": "may", "cze": "ces",
                      "slo": "slk", "rum": "ron"}


def language_for(fmt: str, tags: dict[str, str]) -> dict[str, str]:
    """`tags` with the language named as the `fmt` muxer keeps it (`MOV_LANGUAGE_NAMES`)."""
    language = tags.get("language")
    if fmt != "mov" or language not in MOV_LANGUAGE_NAMES:
        return tags
    return {**tags, "language": MOV_LANGUAGE_NAMES[language]}


# Dispositions that say whom a track is for or what it is (FFmpeg's names), in words. (Forced:
# subtitles shown though subtitles are off, for the dialogue in another language.)
TRACK_ROLES = {"comment": "commentary", "hearing_impaired": "hearing impaired", "visual_impaired": "visual impaired",
               "original": "original language", "dub": "dubbed", "descriptions": "descriptions",
               "captions": "captions", "lyrics": "lyrics", "karaoke": "karaoke", "clean_effects": "clean effects",
               "forced": "forced"}
# The roles a container's muxer writes, by stream kind, where it drops some (a track so flagged,
# written with the FFmpeg PyAV carries and read back): WebM's writes default and forced alone, and
# a WebVTT track's captions or descriptions in its codec ID; a commentary track came out plain.
# MOV's and AVI's write none; MP4's no original, lyrics, karaoke or clean effects; MPEG-TS's what
# its descriptors say of sound (hearing or visual impaired, clean effects) and of DVB subtitles.
MP4_ROLES = frozenset({"comment", "hearing_impaired", "visual_impaired", "dub", "descriptions", "captions", "forced"})
WRITTEN_ROLES = {"webm": {"audio": frozenset({"forced"}),
                          "subtitle": frozenset({"captions", "descriptions", "forced"})}, "mov": {}, "avi": {},
                 "mp4": {"audio": MP4_ROLES, "subtitle": MP4_ROLES},
                 "mpegts": {"audio": frozenset({"hearing_impaired", "visual_impaired", "clean_effects"}),
                            "subtitle": frozenset({"hearing_impaired"})}}
# The track tags a container's muxer drops (read back so): AVI's keeps a title and no language,
# MPEG-TS's a language and no title. (MOV and MP4 keep a title as the track's name.)
DROPPED_TAGS = {"avi": ("language",), "mpegts": ("title",)}
# ... and those Matroska writes for every kind of track (the hint to keep the rest).
MATROSKA_ROLES = frozenset({"comment", "hearing_impaired", "visual_impaired", "original", "dub", "forced"})


def dropped_roles(fmt: str, stream: av.stream.Stream) -> tuple[str, str] | None:
    """(the roles, in words; where they are kept) a `fmt` output cannot mark `stream` as; None:
    it marks every role `stream` has."""
    written = WRITTEN_ROLES.get(fmt)
    if written is None:
        return None
    kept = written.get(stream.type, frozenset())
    dropped = [name for name in TRACK_ROLES
               if name not in kept and stream.disposition & av.stream.Disposition[name]]
    if not dropped:
        return None
    hint = " (use .mkv to keep it)" if MATROSKA_ROLES.issuperset(dropped) else ""
    return " or ".join(TRACK_ROLES[name] for name in dropped), hint


def dropped_tags(fmt: str, stream: av.stream.Stream) -> list[str]:
    """The tags of `stream` (title, language; not "und", which says nothing) a `fmt` output drops
    (`DROPPED_TAGS`)."""
    return [key for key in DROPPED_TAGS.get(fmt, ()) if stream.metadata.get(key) not in (None, "", "und")]


# The muxers that write no track for a stream that got no packet (MP4's and MOV's: a track of no
# samples is left out); the others (Matroska, WebM, AVI, MPEG-TS) write it, empty.
EMPTY_TRACKS_LEFT_OUT = frozenset({"mp4", "mov"})

# Containers that hold attached files (fonts, pictures): Matroska only (WebM is its subset without).
ATTACHING_FORMATS = frozenset({"matroska"})


# AVI's quirks, all here (the writer asks the functions below):
# - It counts frames: its streams are timed in the encoder's time base, one frame at a rate
#   (`encoder_time_base`; GIF, in centiseconds, the same way: `FRAME_COUNTING_FORMATS`).
# - Its muxer takes ADTS AAC only under a tag no demuxer reads back as audio, and refuses sound in
#   frames of unknown size (`holds_copy`, `unframed_in_avi`).
# - MP3 and AC-3 copied from a template keep the input's block align, which it writes as a fixed
#   sample size (`copied_into_encoder_stream`).
# - It times sound by counting samples or frames from the file's start (no edit list, unlike MOV):
#   a gap in the sound, a late start too, is filled with silence (`fills_gaps`, `sound_from_zero`).
FRAME_COUNTING_FORMATS = frozenset({"avi", "gif"})
# The finest frame rate an AVI is written at (one index entry per frame slot).
AVI_MAX_RATE = 240
# Audio codecs whose AVI stream is made by their encoder (see `copied_into_encoder_stream`).
AVI_FRAMED_AUDIO = frozenset({"mp3", "ac3"})
# Block-aligned ADPCM (WAV's and AVI's, 4 bits a sample): each packet is one block of a fixed
# number of samples, which the extradata states first (wSamplesPerBlock); per channel, a block's
# header takes these bytes and holds these samples (`adpcm_block_bytes`).
ADPCM_BLOCK_HEADERS = {"adpcm_ms": (7, 2), "adpcm_ima_wav": (4, 1)}
# The block sizes FFmpeg's ADPCM encoders make: powers of two from 32 to 8192 bytes.
ADPCM_BLOCK_SIZES = frozenset(2 ** power for power in range(5, 14))


# Containers that time PCM by counting its samples (one fixed duration per sample), so that a gap
# in the timestamps closes up: MOV and AVI. (MP4 gets no PCM: see `holds_copy`.)
SAMPLE_COUNTING_FORMATS = frozenset({"mov", "avi"})
# A shorter gap is left, as FFmpeg's `aresample=async` leaves it (its min_hard_comp): timestamps
# jitter by a packet or so (MPEG-PS stamps some DVD PCM packets 10 ms late; Matroska rounds to 1 ms).
SHORTEST_GAP = Fraction(1, 10)
# ... and the longest: a damaged timestamp three hours on made a 388 KB file's .avi 2 GB of silence
# (held in memory at once); a dropout is seconds, a late start tens of seconds.
LONGEST_FILLED_GAP = Fraction(60)
SILENCE_CHUNK_S = 1  # silence is written a second at a time


@functools.lru_cache(maxsize=None)
def pcm_sample_bytes(codec: str) -> int | None:
    """Bytes a sample of a PCM encoder takes, from its name's bits (pcm_s16le: 2); None for any
    other codec. Asked for each copied packet, so worked out once per name."""
    bits = re.fullmatch(r"pcm_[suf](\d+)(le|be)?", codec)
    return int(bits[1]) // 8 if bits else None


def fills_gaps(fmt: str, codec: str) -> bool:
    """Whether gaps in `codec` sound are filled with silence in a `fmt` container: PCM where the
    container counts samples (`SAMPLE_COUNTING_FORMATS`). The sound after a second missing played a
    second early, out of sync to the end (as `ffmpeg -c copy` leaves it)."""
    return fmt in SAMPLE_COUNTING_FORMATS and codec.startswith("pcm_")


def sound_from_zero(fmt: str) -> bool:
    """Whether a `fmt` container plays every sound stream from the file's start, whatever its first
    timestamp: AVI (counted, with no edit list; MOV's shifts the start). A sound that starts 5 s
    after the picture played from the first picture, as in `ffmpeg -i in.mkv out.avi`; it is
    preceded by silence (and any later gap filled), for re-encoded sound and copied PCM."""
    return fmt == "avi"


def slotted_by_decode_time(fmt: str) -> bool:
    """Whether a `fmt` muxer puts each video packet in the frame slot its decode time names, writing
    empty chunks for the slots skipped: AVI. A picture is shown in its slot, whatever its display
    time (the file stores none), so it is encoded without B-frames (`IN_DISPLAY_ORDER`)."""
    return fmt == "avi"


def muxer_time_base(fmt: str, encoder: Fraction, given: Fraction) -> Fraction:
    """The time base a `fmt` container's video stream is given: the encoder's `encoder` where the
    container counts frames (`FRAME_COUNTING_FORMATS`), else the input's `given`, which keeps every
    timestamp (the muxer may still choose its own: Matroska's 1 ms)."""
    return encoder if fmt in FRAME_COUNTING_FORMATS else given


def copied_into_encoder_stream(fmt: str, stream: av.stream.Stream) -> bool:
    """Whether `stream`'s packets are copied into a stream made by their own encoder (opened, never
    fed), not one from the input's template: MP3, AC-3 and block-aligned ADPCM into AVI. From a
    template MP3 and AC-3 keep the input's block align (an AVI's MP3 has 576 or 1152, its frame),
    which the AVI muxer writes as a fixed sample size: every reader then timed the packets by bytes
    (eight 72-byte MP3 packets to one frame's time: "non monotonically increasing dts", sound out of
    place). FFmpeg clears it for these two when copying; PyAV cannot, and an encoder's parameters
    have none. ADPCM from its template has no frame size, so AVI timed its blocks by the byte at the
    bit rate the input states, loosely (FFmpeg 5 states 128 kbit/s for 88.7: `ffmpeg -c copy` put
    0.55 s of sound over 0.38 s), and a NUT's, which keeps no block align, got blocks of one byte
    that no decoder read; its encoder's stream states its block (`adpcm_block_bytes`) and samples."""
    return (fmt == "avi" and stream.type == "audio"
            and (stream.codec_context.codec.canonical_name in AVI_FRAMED_AUDIO or bool(adpcm_block_bytes(stream))))


def adpcm_block_bytes(stream: av.stream.Stream) -> int | None:
    """The bytes of each block of block-aligned ADPCM `stream` (`ADPCM_BLOCK_HEADERS`), from the
    samples per block its extradata states, where its encoder makes blocks of that size
    (`ADPCM_BLOCK_SIZES`); None for other sound, which that encoder's stream would misstate."""
    context = stream.codec_context
    header = ADPCM_BLOCK_HEADERS.get(context.codec.name)
    extradata = context.extradata or b""
    if header is None or len(extradata) < 2:
        return None
    header_bytes, header_samples = header
    samples = int.from_bytes(extradata[:2], "little")
    block = context.channels * (header_bytes + (samples - header_samples) // 2)
    return block if block in ADPCM_BLOCK_SIZES else None


def unframed_in_avi(stream: av.stream.Stream) -> bool:
    """Whether `stream` is sound in frames whose size FFmpeg has not found (it decodes the first
    packets within the first 5 s of a file: a sound that starts later has none), other than PCM and
    what an encoder's stream carries (`copied_into_encoder_stream`: MP3, AC-3, ADPCM). The AVI
    muxer then counts such a stream in samples as if they were frames, filling each packet's
    "skipped frames" with empty chunks, and refuses the packet once 60000 are skipped ("Invalid
    argument": a video whose AAC starts 5 s in failed). It is re-encoded."""
    context = stream.codec_context
    return (stream.type == "audio" and not context.frame_size and not context.codec.name.startswith("pcm_")
            and not copied_into_encoder_stream("avi", stream))


# Audio FFmpeg's MP4 muxer writes but browsers and QuickTime do not play from an MP4: Vorbis (object
# type 0xDD, an Ogg codec; Theora and Vorbis .ogv files gave a silent .mp4). PCM is kept out too
# (`holds_copy`).
MP4_UNPLAYED_AUDIO = frozenset({"vorbis"})


def holds_copy(fmt: str, stream: av.stream.Stream, supported: set[str]) -> bool:
    """Whether a `fmt` container holds `stream`'s packets copied as they are. By codec (a decoder
    may be named otherwise: mp3float, dca), except ADTS AAC into AVI: its muxer takes that only
    under a tag no demuxer reads back as audio (converting needs a bitstream filter's first
    packet before the header is written), or audio of unknown frame size (`unframed_in_avi`); and
    PCM into MP4: FFmpeg 8 writes it as ISO 23003-5
    `ipcm`, which browsers, QuickTime and FFmpeg before 6 do not play (it is re-encoded to AAC, as
    `ffmpeg -i in.mov out.mp4` does; .mov and .mkv keep it), and `MP4_UNPLAYED_AUDIO` the same way."""
    if fmt == "avi" and (is_adts_aac(stream) or unframed_in_avi(stream)):
        return False
    codec = stream.codec_context.codec
    if fmt == "mp4" and (codec.name.startswith("pcm_") or codec.canonical_name in MP4_UNPLAYED_AUDIO):
        return False
    return container_holds(fmt, {stream.codec_context.name, stream.codec_context.codec.canonical_name}, supported)


def muxer_accepts(fmt: str, stream: av.stream.Stream) -> bool:
    """Whether a `fmt` muxer writes a header holding `stream` copied: some refuse a codec they list
    only then (MOV: Opus and FLAC are MP4's; MP4: TrueHD is experimental), and PyAV refuses one
    the muxer does not list with a ValueError (BMP cover art into MP4). Tried in memory."""
    try:
        with av.open(io.BytesIO(), "w", format=fmt) as probe:
            probe.add_stream_from_template(stream)
            probe.start_encoding()
    except (av.error.FFmpegError, ValueError):
        return False
    return True


# The highest frame rate an encoder is told: SVT-AV1 refuses to open above 240 fps.
MOST_FRAME_RATE = {"libsvtav1": Fraction(240)}
# MPEG-4 Part 2 and its H.263 kin store the time base in 16 bits (MPEG-TS's 1/90000 is refused).
SIXTEEN_BIT_TIME_BASE = frozenset({"mpeg4", "h263", "h263p", "msmpeg4", "msmpeg4v2", "wmv1", "wmv2", "flv"})


def encoder_time_base(codec: str, time_base: Fraction, frame_rate: Fraction | None, fmt: str = "",
                      base_rate: Fraction | None = None) -> Fraction:
    """The input's time base where the encoder and the `fmt` container take it, which keeps every
    frame's timestamp; else one frame at the encoder's nearest frame rate (MPEG-1/2 take only
    their standard rates) or at the input's rate: for the 16-bit kind, and for AVI, which counts
    frames (at the input's 1/90000 its index held 90000 entries a second, nearly all empty).
    AVI takes the input's `base_rate` (FFmpeg's r_frame_rate: every timestamp lands on one of its
    slots, so variable timing survives; 12, 30 and 2 fps mixed: 60) where it is no finer than
    `AVI_MAX_RATE`, else the average `frame_rate`. Timestamps are then rounded to it."""
    encoder = av.Codec(codec, "w")
    if fmt == "gif":  # each frame's delay is stored in centiseconds
        return Fraction(1, 100)
    rate = Fraction(frame_rate) if frame_rate else Fraction(25)
    if fmt == "avi" and not encoder.frame_rates:
        if base_rate and rate <= Fraction(base_rate) <= AVI_MAX_RATE:
            rate = Fraction(base_rate)
        return one_frame_16_bit(rate)
    if encoder.frame_rates:
        return 1 / min(_standard_rates(encoder.name), key=lambda r: abs(r - rate))
    if encoder.name in SIXTEEN_BIT_TIME_BASE and Fraction(time_base).denominator > 65535:
        return one_frame_16_bit(rate)
    return Fraction(time_base)


@functools.lru_cache(maxsize=None)
def _standard_rates(codec: str) -> tuple[Fraction, ...]:
    """The frame rates encoder `codec` lists and opens at: MPEG-1 lists Xing's 5, 10, 12 and 15 fps
    and refuses them unless told to break the standard (a 0.5 fps clip was "does not open")."""
    listed = [Fraction(r) for r in av.Codec(codec, "w").frame_rates]
    formats = [f.name for f in av.Codec(codec, "w").video_formats or []] or ["yuv420p"]
    return tuple(r for r in listed if _opens(codec, formats[0], 64, 64, (), None, r)) or tuple(listed)


def encoder_rate(codec: str, rate: Fraction | None) -> Fraction | None:
    """The frame rate encoder `codec` is told (its rate control's; timestamps keep the time base):
    `rate`, or its most (`MOST_FRAME_RATE`): SVT-AV1 did not open for a 1000 fps clip."""
    most = MOST_FRAME_RATE.get(av.Codec(codec, "w").name)
    return min(Fraction(rate), most) if most and rate else rate


def one_frame_16_bit(rate: Fraction) -> Fraction:
    """One frame at `rate`, as a time base of 16-bit terms. A rate under one frame in 65535 s (a
    damaged header's 1/1000000000 fps) rounded to 0, and the output failed with a ZeroDivisionError:
    it is one frame in 65535 s (the timestamps, rounded to it, keep the frames that far apart)."""
    return 1 / max(rate.limit_denominator(65535), Fraction(1, 65535))


# FFmpeg tells MPEG-TS by its content, and took a file of 5 to 10 packets (a few frames of MPEG-2 or
# MPEG-4 Part 2, a few pixels wide or flat: a 2x2 clip of 2 to 5 frames, 16x16 of 1 to 3) for an
# MPEG program stream: "could not find codec parameters" (`ffmpeg` writes such files too). A
# shorter file is padded to this many with null packets (PID 0x1FFF, which demuxers skip).
TS_LEAST_PACKETS = 11
TS_PACKET_SIZE = 188
TS_NULL_PACKET = bytes((0x47, 0x1F, 0xFF, 0x10)) + b"\xff" * (TS_PACKET_SIZE - 4)


def pad_short_ts(path: Path) -> None:
    """Pad a finished MPEG-TS file of fewer than `TS_LEAST_PACKETS` packets with null packets, so
    that it is read as MPEG-TS. (.m2ts's 192-byte packets come 32 at a time: never that short.)"""
    if CONTAINER_FORMATS.get(path.suffix.lower()) != "mpegts":
        return
    size = path.stat().st_size
    if size % TS_PACKET_SIZE == 0 and size < TS_LEAST_PACKETS * TS_PACKET_SIZE:
        with path.open("ab") as file:
            file.write(TS_NULL_PACKET * (TS_LEAST_PACKETS - size // TS_PACKET_SIZE))


# Where audio has to be re-encoded (the container cannot hold its codec, or its muxer refuses it),
# a lossless codec where the container holds one, so the sound loses nothing more: PCM stays PCM
# of its depth (DVD's and Blu-ray's big-endian kinds become little-endian: same samples) in these
# containers, a lossless codec MOV's muxer refuses (FLAC: it was made AAC) becomes PCM there, and
# other sound becomes FLAC in Matroska. Elsewhere the container's default (AAC in MP4 and MOV, as
# `ffmpeg -i in out.mp4` makes it: PCM in an MP4 is `ipcm`, see `holds_copy`; for lossy sound in
# MOV, ALAC would make a lossy track of a few kbit/s ten times larger).
PCM_CONTAINERS = frozenset({"matroska", "mov"})
# The containers whose PCM track states its channels in any order (MOV's `chan` atom lists them).
# PCM whose channels come in another order than FFmpeg's (`sound.decoder_layout`: 7.1 from a .mov as
# FL FR FC LFE SL SR BL BR) is re-encoded into the others, as PCM in FFmpeg's order (`reordered`):
# copied into .mkv or .avi, which state none, 7.1's side and back channels traded speakers.
ORDER_STATING_FORMATS = frozenset({"mov"})
LOSSLESS_AUDIO = {"matroska": "flac"}
# Where the default codec takes two channels at most (AVI's MP3, MPEG-TS's MP2), sound of more is
# re-encoded to AC-3, which the container holds and which keeps up to 5.1: DTS or E-AC-3 5.1 into
# .avi, and 5.1 PCM into .ts, were mixed down to stereo (as `ffmpeg -i in.mkv out.avi` and `out.ts`
# do). Broadcast MPEG-TS carries its 5.1 as AC-3.
SURROUND_AUDIO = {"avi": "ac3", "mpegts": "ac3"}
# Decoded sample formats that hold no more than 16 bits (else FLAC gets 24).
SIXTEEN_BIT_FORMATS = frozenset({"u8", "u8p", "s16", "s16p"})


def reencoded_audio(fmt: str, stream: av.stream.Stream, channels: int, default: str,
                    supported: set[str], reordered: bool = False) -> tuple[str, str | None]:
    """(codec, sample format; None: the encoder's first) that an input audio `stream` of `channels`
    channels is re-encoded to in a `fmt` container whose codecs are `supported` and whose default
    is `default` (see `LOSSLESS_AUDIO`, `SURROUND_AUDIO`); `reordered`: PCM re-encoded only to put
    its channels in FFmpeg's order (`ORDER_STATING_FORMATS`), which stays PCM wherever the container
    holds it (AVI too)."""
    context = stream.codec_context
    decoded = context.format.name if context.format else ""
    pcm_source = context.codec.name.startswith("pcm_")
    # (a codec FFmpeg calls lossless and not lossy: DTS and WavPack are both; Matroska gets FLAC, below)
    lossless = context.codec.lossless and not context.codec.lossy and fmt not in LOSSLESS_AUDIO
    if (pcm_source or lossless) and (fmt in PCM_CONTAINERS or reordered) and decoded:
        # (a lossless codec's bit rate is its compressed one, so no depth is read from it: 32 bits for s32)
        pcm = _pcm_codec(decoded, context.bit_rate if pcm_source else 0, context.sample_rate, channels)
        if pcm in supported:
            return pcm, None
    lossless_codec = LOSSLESS_AUDIO.get(fmt)
    if lossless_codec and lossless_codec in supported and lossless_codec in av.codecs_available:
        wide = context.codec.lossless and decoded not in SIXTEEN_BIT_FORMATS  # (a lossy source: 16 bits hold it)
        return lossless_codec, "s32" if wide else "s16"
    surround = SURROUND_AUDIO.get(fmt)
    if channels > 2 and surround and container_holds(fmt, {surround}, supported) and surround in av.codecs_available:
        return surround, None
    return default, None


def _pcm_codec(decoded: str, bit_rate: int, rate: int, channels: int) -> str:
    """Little-endian PCM of the depth of PCM decoded as `decoded`: 32-bit samples carry 20 or 24
    bits (DVD, Blu-ray) or 32; the stream's bit rate tells which (unknown: 32, losing nothing)."""
    packed = decoded.rstrip("p")
    if packed in ("flt", "dbl"):
        return "pcm_f32le" if packed == "flt" else "pcm_f64le"
    if packed != "s32":
        return {"u8": "pcm_u8", "s64": "pcm_s64le"}.get(packed, "pcm_s16le")
    bits = bit_rate / (rate * channels) if bit_rate and rate and channels else 32
    return "pcm_s24le" if bits <= 24 else "pcm_s32le"


# Channel layouts by channel count, tried in turn for re-encoded audio the encoder takes not as it is.
LAYOUTS = {1: "mono", 2: "stereo", 3: "2.1", 4: "quad", 5: "5.0", 6: "5.1", 7: "6.1", 8: "7.1"}


@functools.lru_cache(maxsize=None)
def audio_opens(codec: str, layout: str, rate: int) -> bool:
    """Whether audio encoder `codec` opens for `layout` (a name FFmpeg parses) at `rate` Hz."""
    try:
        context = av.CodecContext.create(codec, "w")
        context.layout, context.sample_rate = layout, rate
        context.format = av.Codec(codec, "w").audio_formats[0]
        context.time_base = Fraction(1, rate)
        context.open()
    except (av.error.FFmpegError, av.codec.codec.UnknownCodecError, ValueError):  # (ValueError: a layout name)
        return False
    return True


def encodable_layout(codec: str, layout: av.AudioLayout, rate: int) -> av.AudioLayout:
    """`layout` (native order) if the audio encoder `codec` takes it, else the layout it takes with
    the most channels up to `layout`'s (PyAV's resampler mixes down): MP2 and MP3 take mono and
    stereo only, AC-3 up to 5.1; as `ffmpeg` picks one (5.1 into MP2: stereo)."""
    most = max(1, min(layout.nb_channels, max(LAYOUTS)))
    for name in dict.fromkeys([layout.name] + [LAYOUTS[count] for count in range(most, 0, -1)]):
        if audio_opens(codec, name, rate):
            return av.AudioLayout(name)
    return layout  # none opens: starting the encoder says why


def encodable_rate(codec: str, rate: int) -> int:
    """`rate` if the audio encoder `codec` takes it, else the lowest rate it takes above it (the
    highest below, if none is above): MP2 takes no 8 kHz, Opus no 44.1 kHz. PyAV resamples."""
    rates = av.Codec(codec, "w").audio_rates
    if not rates or rate in rates:
        return rate
    above = [r for r in rates if r > rate]
    return min(above) if above else max(rates)


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
        raise UserError(f"--codec: unknown video encoder '{settings.codec}' (e.g. libx264, libx265, h264_nvenc, "
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
            works = next(_opening(settings, sorted(supported, key=lambda n: _likeness(n, settings.pix_fmt)), width, height), None)
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
