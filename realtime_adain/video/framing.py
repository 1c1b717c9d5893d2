"""What picture sizes an encoder accepts and how frames are fitted to them: the least picture
(`LEAST_PICTURE`), sizes an encoder crashes or hangs on (`check_picture_size`), sizes in steps
(CineForm, AMV, AccuPak, LCL's zlib: padded), the fixed sizes of H.261 and H.263 and DV's broadcast
formats with their rates, pixel formats and pixel aspects (scaled in). `encoder_framing` says how,
as a `Framing` the writer scales and pads by. Kept apart from containers.py, encoder_settings.py,
pixel_formats.py and time_bases.py, which choose the container, encoder, pixel format and timing:
these are each encoder's own rules for the picture.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING

import av
import numpy as np

from realtime_adain.errors import UserError
from realtime_adain.picture_sizes import resize

if TYPE_CHECKING:
    from realtime_adain.video.encoder_settings import EncodeSettings

# A GIF's largest side: its sizes are 16-bit fields.
GIF_MAX_SIDE = 65535
# The least picture size an encoder takes (the encoder is tried at no less; a smaller one is refused).
# CineForm: 32 lines, and 48 columns, the least FFmpeg's decoder reads back (narrower 4:2:2 was
# "Invalid lowpass width": its wavelet's third level under 3 pixels); widths in 16s (`encoder_framing`).
# Snow: 4x4 (smaller failed on the first frame, "Invalid argument": a traceback). Resolume DXV: 5
# lines (at 4 or fewer FFmpeg 8's decoder, PyAV's, refused every frame: "Invalid data found").
LEAST_PICTURE = {"dnxhd": (256, 120), "cfhd": (48, 32), "snow": (4, 4), "dxv": (1, 5)}
# Encoders that take only widths and heights in steps of so many pixels (CineForm's wavelet: widths
# in 16s; AMV: rows of 16; AccuPak: groups of 4 across); any other refused to open or failed on the
# first frame ("Experimental feature": a traceback). Pictures are padded to them (`encoder_framing`).
# LCL's zlib: rows of 4-byte steps, else FFmpeg before 6 (Debian 12's) read none ("Decoded size differs").
SIZE_STEPS = {"cfhd": (16, 1), "amv": (1, 16), "cljr": (4, 1), "zlib": (4, 1)}
# CineForm 4:2:2 (its default) at an odd number of 16s across and 1 to 8 lines past a multiple of 16
# (1008x50, 134x100 at --size 100, 1008x1080) was written, then every frame refused by FFmpeg's
# decoder ("Invalid data found"): at such heights its widths go in 32s (`_size_steps`).
CINEFORM_WIDE_STEP = 32
# DV holds only its broadcast formats (libavcodec/dv_profile.c): FFmpeg's encoder refused every
# other size ("Invalid argument"). By rate: width, height, pixel formats (the first by default:
# DV25; yuv422p is DV50 or DVCPRO HD), pixel aspect at 4:3 (None: 16:9 only) and at 16:9.
NTSC_RATE = Fraction(30000, 1001)
DV_FORMATS = (
    (Fraction(25), 720, 576, ("yuv420p", "yuv411p", "yuv422p"), Fraction(16, 15), Fraction(64, 45)),
    (Fraction(25), 1440, 1080, ("yuv422p",), None, Fraction(4, 3)),
    (NTSC_RATE, 720, 480, ("yuv411p", "yuv422p"), Fraction(8, 9), Fraction(32, 27)),
    (NTSC_RATE, 1280, 1080, ("yuv422p",), None, Fraction(3, 2)),
    (Fraction(50), 960, 720, ("yuv422p",), None, Fraction(4, 3)),
    (Fraction(60000, 1001), 960, 720, ("yuv422p",), None, Fraction(4, 3)),
)
# Pictures at least this wide for their height go into 16:9 DV (between 4:3 and 16:9).
DV_WIDE_FROM = Fraction(14, 9)
# Encoders of a few picture sizes only (CIF's; pixels as `FIXED_SIZE_PIXEL`): H.261 QCIF and CIF,
# H.263 from sub-QCIF to 16CIF. Every other size was "cannot open encoder h263: Invalid argument".
FIXED_SIZES = {"h261": ((176, 144), (352, 288)),
               "h263": ((128, 96), (176, 144), (352, 288), (704, 576), (1408, 1152))}
CIF_PIXEL = Fraction(12, 11)
# How wide their pixels are shown: H.263's header says 12:11; H.261's says nothing, and AVI (the one
# container here that holds it) keeps no aspect, so players show its pixels square (a 4:3 picture
# scaled for 12:11 pixels was shown 11:9, 8% too narrow).
FIXED_SIZE_PIXEL = {"h261": Fraction(1), "h263": CIF_PIXEL}


def least_picture(codec: str, width: int, height: int) -> tuple[int, int]:
    """`width`x`height`, grown to the least picture encoder `codec` takes (`LEAST_PICTURE`): the
    size an encoder is tried at."""
    least = LEAST_PICTURE.get(av.Codec(codec, "w").name, (1, 1))
    return max(width, least[0]), max(height, least[1])


def check_picture_size(codec: str, width: int, height: int) -> None:
    """Refuse a picture size an encoder is known to crash or hang on (found by trial; it would take
    the process with it): x265 corrupts its heap on pictures 33 to 48 pixels wide and 16 to 31
    high, whatever the pixel format ("corrupted size vs. prev_size", aborted; `ffmpeg` aborts the
    same); SVT-AV1 never returns from its flush when one side is over 64 and the other 24 or less.
    And a GIF's sides, 16-bit fields, and pictures under an encoder's least (`LEAST_PICTURE`)."""
    name = av.Codec(codec, "w").name
    least = LEAST_PICTURE.get(name)
    if least and (width < least[0] or height < least[1]):
        why = f"it takes pictures of {least[0]}x{least[1]} and larger"
    elif name == "libx265" and 33 <= width <= 48 and 16 <= height <= 31:
        why = "x265 crashes on pictures 33 to 48 pixels wide and 16 to 31 high"
    elif name == "libsvtav1" and max(width, height) > 64 and min(width, height) <= 24:
        why = "SVT-AV1 hangs on a side of 24 pixels or less beside one over 64"
    elif name == "gif" and max(width, height) > GIF_MAX_SIDE:
        raise UserError(f"gif cannot encode {width}x{height} pictures (a GIF's sides are at most {GIF_MAX_SIDE} "
                        "pixels): use --size with --no-keep-size, or another format")
    else:
        return
    raise UserError(f"{name} cannot encode {width}x{height} pictures ({why}): use another --codec, e.g. libx264")


@dataclass(frozen=True)
class Framing:
    """Pictures put into the frames of an encoder that takes only some sizes: each scaled to `inner`
    (width, height), centred on black in a frame of `size`, its pixels shown `sar` wide (the
    picture keeps its shape), at the encoder's `rate` (None: the input's timing) in `pix_fmt`
    (None: `choose_pix_fmt`'s); `said` tells the user how."""

    size: tuple[int, int]
    inner: tuple[int, int]
    sar: Fraction
    said: str
    rate: Fraction | None = None
    pix_fmt: str | None = None

    def fit(self, image: np.ndarray) -> np.ndarray:
        """`image` (RGB) as the encoder's frames hold it: scaled to `inner`, centred on black."""
        inner = resize(image, self.inner)
        (width, height), (inner_width, inner_height) = self.size, self.inner
        if (inner_width, inner_height) == (width, height):
            return inner
        framed = np.zeros((height, width, 3), np.uint8)
        top, left = (height - inner_height) // 2, (width - inner_width) // 2
        framed[top:top + inner_height, left:left + inner_width] = inner
        return framed


def encoder_framing(settings: EncodeSettings, width: int, height: int, rate: Fraction | None) -> Framing | None:
    """How `width`x`height` pictures at `rate` fps go into the encoder's frames where it does not
    take them as they are (DV, CineForm); None where it does. A UserError where none fits."""
    name = av.Codec(settings.encoder, "w").name
    if name == "dvvideo":
        return _dv_framing(settings.pix_fmt, width, height, rate)
    if name in FIXED_SIZES:  # (always: H.263 shows even a picture of one of its sizes 12:11 wide)
        sizes, pixel = FIXED_SIZES[name], FIXED_SIZE_PIXEL[name]
        frame = next((size for size in sizes if size[0] >= width and size[1] >= height), sizes[-1])
        inner = _fitted(width, height, frame, pixel)
        listed = ", ".join(f"{w}x{h}" for w, h in sizes)
        return Framing(frame, inner, pixel,
                       f"{name} encodes only {listed}" + (" (pixels 12:11 wide)" if pixel != 1 else "")
                       + f": the {width}x{height} pictures are scaled into {frame[0]}x{frame[1]}"
                       + (", black bars filling the rest" if inner != frame else ""))
    steps = _size_steps(name, height)
    stored = (-(-width // steps[0]) * steps[0], -(-height // steps[1]) * steps[1])
    if stored != (width, height):  # (padded, not stretched: AVI keeps no pixel aspect)
        sides = " and ".join(f"{side}s in multiples of {step}" for side, step in zip(("width", "height"), steps)
                             if step > 1)
        return Framing(stored, (width, height), Fraction(1),
                       f"{name} encodes {sides}: the {width}x{height} pictures are stored {stored[0]}x{stored[1]}, "
                       "black bars filling the rest")
    return None


def _size_steps(name: str, height: int) -> tuple[int, int]:
    """The steps of widths and heights encoder `name` stores pictures `height` high in
    (`SIZE_STEPS`; CineForm's widths in 32s at the heights its decoder needs them, `CINEFORM_WIDE_STEP`)."""
    if name == "cfhd" and 1 <= height % 16 <= 8:
        return CINEFORM_WIDE_STEP, 1
    return SIZE_STEPS.get(name, (1, 1))


def _dv_framing(pix_fmt: str | None, width: int, height: int, rate: Fraction | None) -> Framing:
    """The DV format at `rate` (and taking `pix_fmt`, where given) whose height is nearest `height`,
    with the picture scaled into it at its shape, black beside or above and below (as `ffmpeg
    -target pal-dv` pads), its pixel aspect 4:3 or 16:9, whichever is nearer the picture's. (An HD
    clip with --pix-fmt yuv420p was refused, "leave --pix-fmt out for DV25", which gave DVCPRO HD.)"""
    at_rate = [dv for dv in DV_FORMATS if rate and abs(Fraction(rate) / dv[0] - 1) < Fraction(1, 1000)]
    if not at_rate:
        rates = {}
        for dv in DV_FORMATS:
            rates.setdefault(f"{float(dv[0]):.4g}", []).append(f"{dv[1]}x{dv[2]}")
        held = "; ".join(f"{r} fps ({', '.join(sizes)})" for r, sizes in rates.items())
        shown = f"{float(rate):.4g} fps" if rate else "of no known rate"
        raise UserError(f"dvvideo: DV holds {held}; this video is {shown}: use another --codec "
                        "(e.g. prores_ks, dnxhd)")
    taking = [dv for dv in at_rate if not pix_fmt or pix_fmt in dv[3]]
    if not taking:
        takes = "; ".join(f"DV at {dv[1]}x{dv[2]} takes {', '.join(dv[3])}" for dv in at_rate)
        raise UserError(f"--pix-fmt {pix_fmt}: {takes}; leave --pix-fmt out")
    dv_rate, dv_width, dv_height, pix_fmts, narrow, wide = min(taking, key=lambda dv: (abs(dv[2] - height), -dv[2]))
    is_wide = narrow is None or Fraction(width, height) >= DV_WIDE_FROM
    sar = wide if is_wide else narrow
    inner = _fitted(width, height, (dv_width, dv_height), sar)
    said = (f"dvvideo: DV holds only its broadcast sizes: the {width}x{height} pictures are scaled into "
            f"{dv_width}x{dv_height} at {float(dv_rate):.4g} fps, shown {'16:9' if is_wide else '4:3'}"
            + (", black bars filling the rest" if inner != (dv_width, dv_height) else ""))
    return Framing((dv_width, dv_height), inner, sar, said, dv_rate, pix_fmt or pix_fmts[0])


def _fitted(width: int, height: int, frame: tuple[int, int], sar: Fraction) -> tuple[int, int]:
    """The size a `width`x`height` picture (square pixels) is scaled to, to fill as much of a
    `frame` of pixels `sar` wide as it can at its shape (the rest is black)."""
    aspect, shown = Fraction(width, height), sar * frame[0] / frame[1]
    if aspect >= shown:
        return frame[0], min(frame[1], _even(frame[1] * shown / aspect))
    return min(frame[0], _even(frame[0] * aspect / shown)), frame[1]


def _even(value: Fraction) -> int:
    """`value` rounded to an even number of pixels, at least 2 (4:2:0 halves each side)."""
    return max(2, 2 * round(value / 2))
