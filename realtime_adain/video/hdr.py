"""HDR pictures (PQ, HLG) as the SDR BT.709 RGB the network was trained on.

A phone's HDR clip read as plain RGB keeps its HDR code values: over BT.2020 primaries and a PQ
or HLG curve they look washed out (half the saturation), so the network saw a dull picture, and
its output (the style picture's SDR colours) was then tagged HDR and shown too bright and too
saturated. Each HDR picture is instead decoded at 16 bits, linearised, moved to BT.709
primaries, tone-mapped with the ITU-R BT.2390 EETF (the stream's peak becomes SDR white; light
below the curve's knee is kept, brighter light rolls off: HDR reference white, 203 cd/m2 per
BT.2408, lands at 230 of 255 at a 1000 cd/m2 peak, 255 at 203) and encoded for an SDR
display (BT.1886's 2.4 power, display-referred, as FFmpeg's zscale converts). The output is
tagged SDR BT.709 (`sdr_colour`). SDR over wide primaries (BT.2020, Display P3) looked washed
out too: its pictures take the same path without the tone curve.
"""

from __future__ import annotations

import dataclasses
import struct

import av
import cv2
import numpy as np
from av.sidedata.sidedata import Type as SideDataType
from av.video.reformatter import ColorPrimaries

PQ, HLG = 16, 18  # FFmpeg's AVCOL_TRC_SMPTE2084 and AVCOL_TRC_ARIB_STD_B67
HDR_TRANSFERS = (PQ, HLG)
BT709 = 1  # FFmpeg's AVCOL_PRI_BT709, AVCOL_TRC_BT709, AVCOL_SPC_BT709
REFERENCE_WHITE = 203.0  # cd/m2: HDR reference (graphics) white, ITU-R BT.2408: SDR white's light (the EETF's target)
HLG_PEAK = 1000.0  # cd/m2: the nominal display HLG is rendered for (BT.2100's reference OOTF)
DEFAULT_PQ_PEAK = 1000.0  # cd/m2 for a PQ stream that states no content or mastering peak
MAX_PQ_PEAK = 10000.0
BT2020, P3_D65 = 9, 12  # FFmpeg's AVCOL_PRI_BT2020 and AVCOL_PRI_SMPTE432 (Display P3)
WIDE_GAMUT = (BT2020, P3_D65)
UNSPECIFIED = 2  # FFmpeg's AVCOL_PRI_UNSPECIFIED
RGB_MATRIX = 0  # FFmpeg's AVCOL_SPC_RGB: pictures stored as RGB (PNG, gbrp10, FFV1 RGB)
LINEAR = 8  # FFmpeg's AVCOL_TRC_LINEAR (OpenEXR; DPX and PNG files that say so)
SRGB = 13  # FFmpeg's AVCOL_TRC_IEC61966_2_1: the sRGB curve (Display P3's, `hdr_stills.SRGB`)
# Decoders whose frames' side data PyAV 18 must not wrap: FFmpeg 8's PNG decoder names an
# embedded ICC profile (iCCP) in a dictionary on its side data, which PyAV's wrapper takes as its
# own and frees a second time when collected (a segfault, on any PNG with a profile).
NAMED_SIDE_DATA_DECODERS = frozenset({"png", "apng"})


@dataclasses.dataclass(frozen=True)
class Primaries:
    name: str
    to_bt709: np.ndarray  # linear RGB in these primaries -> linear BT.709 RGB
    luma: tuple[float, float, float]  # luminance of linear RGB (HLG's OOTF)


BT2020_LUMA = (0.2627, 0.6780, 0.0593)
# What HDR pictures are stored over: BT.2020 (ITU-R BT.2087's matrix), Display P3, or BT.709.
# Untagged primaries are taken as BT.2020, which every HDR standard names.
PRIMARIES = {
    BT2020: Primaries("BT.2020", np.array([[1.6605, -0.5876, -0.0728], [-0.1246, 1.1329, -0.0083],
                                           [-0.0182, -0.1006, 1.1187]], np.float32), BT2020_LUMA),
    P3_D65: Primaries("Display P3", np.array([[1.2249, -0.2249, 0.0], [-0.0421, 1.0421, 0.0],
                                              [-0.0196, -0.0786, 1.0983]], np.float32), (0.2290, 0.6917, 0.0793)),
    BT709: Primaries("BT.709", np.eye(3, dtype=np.float32), (0.2126, 0.7152, 0.0722)),
}
GAIN_STEPS = 4096  # the tone curve's table, over the fourth root of light (fine in the shadows)
CODE_BITS = 12  # HDR code values are looked up at 12 bits (PQ's own step below visibility; 10-bit video)
CODE_STEPS = 1 << CODE_BITS
# A picture is converted this many pixels at a time: its float32 work (58 bytes a pixel) stays
# in the processor's cache and no longer grows with the picture, which --max-pixels does not
# bound (it counts the processing size). Whole, one 8K picture's RSS grew 3.1 GiB (now 0.36), a
# 4K one's 777 MiB (now 96); a 1080p picture converts in 25-27 ms against 45-49 whole, the same
# output (tools/bench_tone_map.py, docs/BENCHMARKS.md).
STRIP_PIXELS = 1 << 16

# SMPTE ST 2084 constants.
_M1, _M2 = 2610 / 16384, 2523 / 4096 * 128
_C1, _C2, _C3 = 3424 / 4096, 2413 / 4096 * 32, 2392 / 4096 * 32
# ARIB STD-B67 (HLG) constants.
_A = 0.17883277
_B, _C = 1 - 4 * _A, 0.5 - _A * np.log(4 * _A)


def primaries_assumed(tag: int) -> str:
    """What the description adds for primaries taken as BT.2020 (untagged, or tagged with ones no
    HDR standard uses, such as BT.470M or film): the tag, so a user sees what was assumed."""
    if tag in PRIMARIES:
        return ""
    if tag == UNSPECIFIED:
        return "; its primaries are not tagged, so taken as BT.2020"
    try:
        name = ColorPrimaries(tag).name
    except ValueError:  # (a reserved number)
        name = f"number {tag}"
    return f"; its primaries are tagged {name}, which HDR does not use, so taken as BT.2020"


def needs_mapping(transfer: int, primaries: int) -> bool:
    """Whether pictures of this transfer and primaries are converted by `ToneMap` (and the output
    tagged BT.709, `sdr_colour`): HDR, or SDR over wider primaries than BT.709's (BT.2020,
    Display P3: read as plain RGB, washed out too, a third less saturated)."""
    return transfer in HDR_TRANSFERS or primaries in WIDE_GAMUT


def sdr_colour(colour):
    """The colour description an HDR or wide-gamut input's output is converted to and tagged
    with (a `Colour` with BT.709 primaries and transfer, and matrix where it is YUV; its range
    kept, and the sRGB curve, which such pictures are converted on as `image` converts them:
    `pictures.PictureConverter`); other inputs' own. RGB-coded input keeps its RGB matrix, for the writer to write as it writes SDR
    RGB (BT.709 at limited range: it was full-range yuvj420p). Linear-light input reaches the
    network display-referred (`float_pictures.linear_light`), so its output's transfer is BT.709: tagged
    linear, a player that obeys the tag reads its values as linear light (brighter, washed out)."""
    if colour is not None and colour.color_trc == LINEAR:
        colour = dataclasses.replace(colour, color_trc=BT709)
    if colour is None or not needs_mapping(colour.color_trc, colour.color_primaries):
        return colour
    matrix = colour.colorspace if colour.colorspace == RGB_MATRIX else BT709
    transfer = SRGB if colour.color_trc == SRGB else BT709
    return dataclasses.replace(colour, colorspace=matrix, color_primaries=BT709, color_trc=transfer)


def pq_to_nits(signal: np.ndarray) -> np.ndarray:
    power = np.power(np.clip(signal, 0, 1), 1 / _M2)
    return MAX_PQ_PEAK * np.power(np.maximum(power - _C1, 0) / (_C2 - _C3 * power), 1 / _M1)


def nits_to_pq(nits: np.ndarray) -> np.ndarray:
    power = np.power(np.clip(nits / MAX_PQ_PEAK, 0, 1), _M1)
    return np.power((_C1 + _C2 * power) / (1 + _C3 * power), _M2)


def hlg_to_scene(signal: np.ndarray) -> np.ndarray:
    """HLG's inverse OETF: scene light in [0, 1]."""
    signal = np.clip(signal, 0, 1)
    return np.where(signal <= 0.5, signal ** 2 / 3, (np.exp((signal - _C) / _A) + _B) / 12)


def bt2390_eetf(nits: np.ndarray, source_peak: float, target_peak: float) -> np.ndarray:
    """ITU-R BT.2390's EETF (black at zero): light up to a knee kept, the rest up to
    `source_peak` rolled off in PQ's perceptual scale to end at `target_peak`."""
    if source_peak <= target_peak:
        return np.minimum(nits, target_peak)
    source_pq = float(nits_to_pq(np.float64(source_peak)))
    relative = np.minimum(nits_to_pq(nits) / source_pq, 1.0)
    max_lum = float(nits_to_pq(np.float64(target_peak))) / source_pq
    knee = 1.5 * max_lum - 0.5
    t = np.clip((relative - knee) / (1 - knee), 0, 1)
    spline = ((2 * t ** 3 - 3 * t ** 2 + 1) * knee + (t ** 3 - 2 * t ** 2 + t) * (1 - knee)
              + (-2 * t ** 3 + 3 * t ** 2) * max_lum)
    return pq_to_nits(np.where(relative < knee, relative, spline) * source_pq)


def side_data(frame: av.VideoFrame, codec: str | None = None) -> dict[SideDataType, bytes]:
    """`frame`'s side data by kind, where PyAV can read it safely; none for a frame of a
    `NAMED_SIDE_DATA_DECODERS` decoder (`codec`: the stream's), nor where one kind is newer than
    PyAV knows (it wraps all at once and fails: FFmpeg 8 attaches a picture's EXIF as kind 31)."""
    if codec in NAMED_SIDE_DATA_DECODERS:
        return {}
    try:
        return {entry.type: bytes(entry) for entry in frame.side_data}
    except ValueError:
        return {}


def stated_peak(frame: av.VideoFrame, codec: str | None = None) -> float | None:
    """The brightest light a PQ stream says it holds (cd/m2): its content light level (MaxCLL),
    else its mastering display's peak; None when it states neither, or when its side data cannot
    be read (`side_data`: a PNG's, whose peak `image` does not read either)."""
    entries = side_data(frame, codec)
    light_level = entries.get(SideDataType.CONTENT_LIGHT_LEVEL, b"")
    if len(light_level) >= 8 and struct.unpack_from("<I", light_level)[0]:
        return float(struct.unpack_from("<I", light_level)[0])
    mastering = entries.get(SideDataType.MASTERING_DISPLAY_METADATA, b"")
    if len(mastering) >= 88:
        numerator, denominator = struct.unpack_from("<2i", mastering, 72)
        if struct.unpack_from("<i", mastering, 84)[0] and denominator > 0 and numerator > 0:
            return numerator / denominator
    return None


def power(values: np.ndarray, exponent: float, out: np.ndarray | None = None) -> np.ndarray:
    """`values` (float32, >= 0) ** `exponent` through OpenCV's vectorised log and exp: a third of
    cv2.pow's time for a fractional exponent. Zero stays zero (within 1e-12 ** exponent)."""
    floor = (1e-12,) * 4 if values.ndim == 3 else 1e-12  # (a bare number is a Scalar for the first channel only)
    out = cv2.max(values, floor, dst=out)
    return cv2.exp(cv2.multiply(cv2.log(out, dst=out), exponent, dst=out), dst=out)


@dataclasses.dataclass
class _Work:
    """Arrays reused from strip to strip and picture to picture: freshly allocated ones are
    mapped and zero-filled by the C library on each call, 40 % of the time (measured)."""

    codes: np.ndarray
    light: np.ndarray
    moved: np.ndarray
    planes: tuple[np.ndarray, ...]
    plane: np.ndarray
    scale: np.ndarray
    index: np.ndarray
    gain: np.ndarray

    @classmethod
    def of(cls, height: int, width: int) -> "_Work":
        def plane(dtype=np.float32) -> np.ndarray:
            return np.empty((height, width), dtype)
        return cls(np.empty((height, width, 3), np.uint16), np.empty((height, width, 3), np.float32),
                   np.empty((height, width, 3), np.float32), (plane(), plane(), plane()), plane(), plane(),
                   plane(np.int32), plane())

    def rows(self, count: int) -> "_Work":
        """The first `count` rows of each array (a picture's last, shorter strip)."""
        if count == self.plane.shape[0]:
            return self
        values = (getattr(self, field.name) for field in dataclasses.fields(self))
        return _Work(*(tuple(a[:count] for a in value) if isinstance(value, tuple) else value[:count]
                       for value in values))


class ToneMap:
    """One stream's HDR pictures to SDR BT.709 RGB (uint8), on the peak stated with its first
    HDR picture (kept for the whole stream, so brightness does not pump with per-picture data)."""

    def __init__(self, frame: av.VideoFrame | None = None, *, codec: str | None = None, transfer: int = PQ,
                 primaries: int = BT2020, peak: float | None = None) -> None:
        """From `frame`'s tags and side data (`codec`: its decoder, `side_data`), or (a still
        picture's, `hdr_stills`) from the `transfer`, `primaries` and PQ `peak` its container states."""
        if frame is not None:
            transfer, primaries = frame.color_trc, frame.color_primaries
            peak = stated_peak(frame, codec) if transfer == PQ else None
        self.transfer = transfer
        self.hdr = transfer in HDR_TRANSFERS  # else SDR over wide primaries: only the gamut is converted
        self.primaries = PRIMARIES.get(primaries, PRIMARIES[BT2020])
        self._assumed = primaries_assumed(primaries) if self.hdr else ""
        self._luma = np.array([self.primaries.luma], np.float32)
        if not self.hdr:
            peak = REFERENCE_WHITE
        elif self.transfer == HLG:
            peak = HLG_PEAK
        else:
            peak = peak or DEFAULT_PQ_PEAK
        self.peak = float(np.clip(peak, REFERENCE_WHITE, MAX_PQ_PEAK))
        codes = np.arange(CODE_STEPS, dtype=np.float64) / (CODE_STEPS - 1)
        if self.transfer == HLG:  # scene light; the OOTF (which needs luminance) follows in __call__
            self._linear = hlg_to_scene(codes).astype(np.float32)
        elif self.hdr:
            self._linear = pq_to_nits(codes).astype(np.float32)
        else:  # SDR display light (BT.1886's 2.4 power) with white at reference white: only clipped
            self._linear = (codes ** 2.4 * REFERENCE_WHITE).astype(np.float32)
        # Gain for the brightest channel m, tabled over (m / (2 peak)) ** 0.25: after the move to
        # BT.709 primaries saturated colours exceed the peak; the EETF holds them at the target.
        self._gain_scale = 1 / (2 * self.peak)
        steps = (np.arange(GAIN_STEPS, dtype=np.float64) / (GAIN_STEPS - 1)) ** 4 / self._gain_scale
        mapped = bt2390_eetf(steps, self.peak, REFERENCE_WHITE)
        with np.errstate(invalid="ignore", divide="ignore"):
            gain = np.where(steps > 0, mapped / steps, 1.0)
        self._gain = (gain / REFERENCE_WHITE).astype(np.float32)  # and to SDR's [0, 1]
        self._work: _Work | None = None

    @property
    def description(self) -> str:
        if not self.hdr:
            return f"SDR over {self.primaries.name}"
        if self.transfer == HLG:
            return f"HLG over {self.primaries.name}{self._assumed}"
        return f"PQ over {self.primaries.name}, peak {self.peak:.0f} cd/m2{self._assumed}"

    def __call__(self, rgb48: np.ndarray) -> np.ndarray:
        """(H, W, 3) uint16 HDR code values -> (H, W, 3) uint8 SDR BT.709 RGB, `STRIP_PIXELS`
        at a time (see there)."""
        height, width = rgb48.shape[:2]
        if width == 1:  # OpenCV takes a one-pixel plane for a Scalar (its result 4x1): converted 2 wide
            return np.ascontiguousarray(self(np.repeat(rgb48, 2, axis=1))[:, :1])
        shown = np.empty((height, width, 3), np.uint8)
        rows = max(1, STRIP_PIXELS // width)
        work = self._work_for(min(rows, height), width)
        for top in range(0, height, rows):
            strip = rgb48[top:top + rows]
            self._strip(strip, work.rows(strip.shape[0]), shown[top:top + rows])
        return shown

    def _strip(self, rgb48: np.ndarray, work: _Work, shown: np.ndarray) -> None:
        """Rows of HDR code values into `shown`'s rows. (OpenCV calls on whole planes where
        numpy's would broadcast or stride: a third of the time.)"""
        np.right_shift(rgb48, 16 - CODE_BITS, out=work.codes)
        np.take(self._linear, work.codes, out=work.light)
        scale = None
        if self.transfer == HLG:  # BT.2100's OOTF: display light = peak * Ys ** (gamma - 1) * scene light,
            scale = cv2.transform(work.light, self._luma, dst=work.scale)  # applied below with the gain
            power(scale, 1.2 + 0.42 * np.log10(HLG_PEAK / 1000) - 1, out=scale)
            cv2.multiply(scale, HLG_PEAK, dst=scale)
        moved = cv2.transform(work.light, self.primaries.to_bt709, dst=work.moved)  # (linear: the OOTF's scale may follow)
        cv2.threshold(moved, 0, 0, cv2.THRESH_TOZERO, dst=moved)  # outside BT.709's gamut: clipped
        red, green, blue = cv2.split(moved, work.planes)
        brightest = cv2.max(cv2.max(red, green, dst=work.plane), blue, dst=work.plane)
        if scale is not None:
            cv2.multiply(brightest, scale, dst=brightest)
        position = cv2.min(cv2.multiply(brightest, self._gain_scale, dst=brightest), 1.0, dst=brightest)
        position = cv2.sqrt(cv2.sqrt(position, dst=position), dst=position)
        cv2.multiply(position, GAIN_STEPS - 1, dst=position)
        np.copyto(work.index, cv2.add(position, 0.5, dst=position), casting="unsafe")  # (rounded)
        gain = np.take(self._gain, work.index, out=work.gain)
        if scale is not None:
            cv2.multiply(gain, scale, dst=gain)
        cv2.multiply(moved, cv2.merge([gain, gain, gain], work.light), dst=moved)
        cv2.min(moved, (1.0, 1.0, 1.0, 1.0), dst=moved)  # (a bare 1.0: red only)
        cv2.convertScaleAbs(power(moved, 1 / 2.4, out=moved), dst=shown, alpha=255)  # BT.1886's inverse, 8 bits

    def _work_for(self, height: int, width: int) -> _Work:
        if self._work is None or self._work.plane.shape != (height, width):
            self._work = _Work.of(height, width)
        return self._work
