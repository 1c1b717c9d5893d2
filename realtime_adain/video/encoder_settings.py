"""The video encoder's settings (`EncodeSettings`: --codec, --crf, --bitrate, --pix-fmt and the
container): the default encoder per container, the options each encoder is opened with, and the
quality and bitrate options refused where an encoder has no use for them. The pixel format is
pixel_formats.py's, the time base time_bases.py's; encoder_check.py tries the whole before any work.
"""

from __future__ import annotations

import dataclasses
import functools
import os
from dataclasses import dataclass
from fractions import Fraction

import av

from realtime_adain import limits
from realtime_adain.errors import UserError, as_given
from realtime_adain.video.framing import Framing, check_picture_size, encoder_framing
from realtime_adain.video.stream_copy import slotted_by_decode_time

# The option that sets constant-quality mode, for the encoders that have one.
QUALITY_OPTION = {
    "libx264": "crf", "libx264rgb": "crf", "libx265": "crf", "libvpx": "crf", "libvpx-vp9": "crf",
    "libaom-av1": "crf", "libsvtav1": "crf", "h264_nvenc": "cq", "hevc_nvenc": "cq", "av1_nvenc": "cq",
}
# The worst (highest) constant quality each accepts; 0 is the best. x264 would clamp silently.
QUALITY_MAX = {"libvpx": 63, "libvpx-vp9": 63, "libaom-av1": 63, "libsvtav1": 63}  # the others: 51
# Encoders whose lowest quantizer by default (option, value) is above the best qualities: VP8's is 4,
# and libvpx refused --crf 0 to 3 ("CQ level 0 must be between minimum and maximum quantizer").
# Lowered to a --crf below it, as `ffmpeg -qmin 0 -crf 0` does.
QUALITY_FLOOR = {"libvpx": ("qmin", 4)}
# Encoders that take --crf and --bitrate together (constrained quality: the quality, capped at the
# bitrate). The others would ignore one (x264 and x265 drop the bitrate) or fail to open (SVT-AV1).
# VP8's --crf is always constrained: without --bitrate, at libvpx's default 256 kbit/s, as `ffmpeg
# -c:v libvpx -crf 10` encodes it.
CRF_WITH_BITRATE = frozenset({"libvpx", "libvpx-vp9", "libaom-av1", "h264_nvenc", "hevc_nvenc", "av1_nvenc"})
# A quality that keeps painted textures crisp (x264's own default, 23, smears brush strokes).
DEFAULT_CRF = 18
# The video encoder when none is named: H.264, except where the container holds no H.264 (WebM:
# VP9, as `ffmpeg -i in out.webm` picks; the next ones if this FFmpeg lacks libvpx-vp9).
DEFAULT_CODEC = "libx264"
CONTAINER_CODECS = {"webm": ("libvpx-vp9", "libaom-av1", "libsvtav1", "libvpx"), "gif": ("gif",)}
# GIF: 256 colours a frame. Each frame gets a palette of its own colours (FFmpeg's palettegen and
# paletteuse, one frame at a time); swscale's one fixed palette (`rgb8`) lost 11 to 14 dB of PSNR.
# Ordered (Bayer) dithering: no banding in skies, a pattern that stays still from frame to frame
# (error diffusion crawls) and compresses better (docs/video.md has the figures).
PALETTE_ENCODERS = frozenset({"gif"})
PALETTE_FILTERS = (("palettegen", "stats_mode=single"), ("paletteuse", "new=1:dither=bayer:bayer_scale=4"))
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
            raise UserError(f"--crf {as_given(self.crf)} is outside {codec}'s range 0 (best) to {worst}")
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
            floor, lowest = QUALITY_FLOOR.get(codec, ("", 0))
            if int(options[option]) < lowest:
                options[floor] = options[option]
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
