"""The time bases and frame rates of the output's video: the muxer's stream (`muxer_time_base`),
the encoder's (`encoder_time_base`: the input's where it takes it, one frame at a standard or 16-bit
rate where not, AVI's and GIF's frame counts) and the rate an encoder is told (`encoder_rate`).
"""

from __future__ import annotations

import functools
from fractions import Fraction

import av

from realtime_adain.video.pixel_formats import encoder_opens

# Containers that count frames (AVI; GIF, in centiseconds, the same way): their streams are timed in
# the encoder's time base, one frame at a rate (`encoder_time_base`, `muxer_time_base`).
FRAME_COUNTING_FORMATS = frozenset({"avi", "gif"})
# The finest frame rate an AVI is written at (one index entry per frame slot).
AVI_MAX_RATE = 240
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
    return tuple(r for r in listed if encoder_opens(codec, formats[0], 64, 64, (), None, r)) or tuple(listed)


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


def muxer_time_base(fmt: str, encoder: Fraction, given: Fraction) -> Fraction:
    """The time base a `fmt` container's video stream is given: the encoder's `encoder` where the
    container counts frames (`FRAME_COUNTING_FORMATS`), else the input's `given`, which keeps every
    timestamp (the muxer may still choose its own: Matroska's 1 ms)."""
    return encoder if fmt in FRAME_COUNTING_FORMATS else given
