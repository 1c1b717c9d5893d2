"""Decoded sound converted to the encoder's sample format, layout and rate even where the input's
change mid-stream (`SoundConverter`), each frame timed in its samples.

Kept apart from `sound_decoding.py`, which decodes the input's sound, and `output_streams.py`,
which decides what is re-encoded: this is the step between decoder and encoder, used by
`copied_streams.py` for re-encoded streams and by `sound_kinds.py` for copied sound that changes
kind.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Callable

import av

from realtime_adain.notes import note


def _sound_format(frame: av.AudioFrame) -> tuple[str, str, int]:
    return frame.format.name, frame.layout.name, frame.sample_rate


class SoundConverter:
    """Decoded frames of one input audio stream in its encoder's sample format, layout and rate.

    Broadcast captures and joined files change these mid-stream (48 kHz to 44.1 kHz, 2.0 to 5.1 for
    an ad break, 16 to 24 bits). The encoder's own resampler (PyAV's) is set up by the first frame:
    a later frame of another kind raised "Frame does not match AudioResampler setup" (a traceback),
    or, where it passes frames through (PCM, FLAC), was written as if of the first kind (half speed,
    noise). Here a resampler is made for each run of frames alike, the one before emptied first;
    the encoder keeps the first kind, as `ffmpeg` keeps its output's (noted once)."""

    def __init__(self, context: av.audio.codeccontext.AudioCodecContext, index: int,
                 say: Callable[[str], None] = note) -> None:
        self.target = (context.format.name, context.layout.name, context.sample_rate)
        self.index = index
        self.say = say  # gives a note (the writer's: named by the input)
        self.source: tuple[str, str, int] | None = None  # the kind of frames the resampler takes
        self.resampler: av.AudioResampler | None = None
        self.noted = False
        self.next_pts: tuple[int, int] | None = None  # (sample rate, where the latest frame ends in its samples)

    def convert(self, frame: av.AudioFrame | None) -> list[av.AudioFrame]:
        """`frame` in the encoder's kind (None: what the resampler still holds, at the end)."""
        if frame is None:
            return self.resampler.resample(None) if self.resampler else []
        self._time_in_samples(frame)
        kind, done = _sound_format(frame), []
        if self.resampler is not None and kind != self.source:
            done = self.resampler.resample(None)
            self._note_change(kind)
            self.resampler = None
        if self.resampler is None:
            fmt, layout, rate = self.target
            self.resampler, self.source = av.AudioResampler(format=fmt, layout=layout, rate=rate), kind
        return done + self.resampler.resample(frame)

    def _time_in_samples(self, frame: av.AudioFrame) -> None:
        """Time `frame` in its samples (1/rate), where the last one ended if that is within one
        tick of its own time, as `ffmpeg` times decoded sound. An AVI times ADPCM by its blocks, MP3
        by its frames, a .mkv in milliseconds: the encoder's frames (1152 samples of MP2, 1024 of
        AAC) were each given the time of the input frame they began in, rounded to its ticks: two
        MP2 frames at one time, AAC frames 1152 and 576 or 1008 and 1056 samples apart."""
        rate, time_base = frame.sample_rate, frame.time_base
        if frame.pts is None or not rate or not time_base:
            return
        tick = Fraction(time_base) * rate  # one tick of the input's time base, in samples
        pts = math.floor(frame.pts * tick + Fraction(1, 2))
        if self.next_pts is not None and self.next_pts[0] == rate and abs(pts - self.next_pts[1]) <= max(1, tick):
            pts = self.next_pts[1]
        frame.pts, frame.time_base = pts, Fraction(1, rate)
        self.next_pts = (rate, pts + frame.samples)

    def _note_change(self, kind: tuple[str, str, int]) -> None:
        if not self.noted:
            was, target = self.source, self.target
            self.say(f"stream #{self.index}: the sound changes mid-stream ({was[2]} Hz {was[1]} {was[0]} to "
                 f"{kind[2]} Hz {kind[1]} {kind[0]}); all of it is encoded as {target[2]} Hz {target[1]}, "
                 "as FFmpeg converts it")
        self.noted = True
