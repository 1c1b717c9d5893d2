"""The stylized frames as the video encoder gets them (`FrameTiming`): timed in its time base
(moved a tick on where they do not increase, counted in the slots of a coarser one, dropped where
a fixed rate's slots crowd), and GIF's (shown again over a pause longer than a delay holds, dropped
in a centisecond already taken); their packets go to `VideoPackets`.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Callable

import av
import numpy as np

from realtime_adain.times import format_time
from realtime_adain.video.carried_timing import rescale
from realtime_adain.video.closing import LatePackets
from realtime_adain.video.containers import GIF_LONGEST_DELAY, GIF_MOST_REPEATS, GIF_SHORTEST_SHOWN
from realtime_adain.video.encoding import VideoEncoder
from realtime_adain.video.video_packets import VideoPackets


class FrameTiming:
    """The frames written to `encoder`'s stream of `container`, their times in `input_time_base`;
    subtitle cues `late` are muxed as the pictures reach their end; `note` says a line of this input."""

    def __init__(self, container: av.container.OutputContainer, encoder: VideoEncoder, input_time_base: Fraction,
                 packets: VideoPackets, late: LatePackets, note: Callable[[str], None]) -> None:
        self.container, self._encoder, self.video = container, encoder, encoder.stream
        self.input_time_base = input_time_base
        self._packets, self._late, self._note = packets, late, note
        self.frames_written = 0
        self._last_pts: int | None = None
        self._shifted = False  # a timestamp was moved to keep them increasing (noted once)
        self._moved_on = False  # the latest frame was moved a slot on (`_drop_crowded_frame`)
        self._crowded = False  # frames were dropped from a fixed rate's slots (noted once)
        self._fast = False  # GIF frames closer than browsers show them, or dropped (`_note_fast_gif`, once)
        self._held: av.VideoFrame | None = None  # the last GIF frame in palette colours (repeated over long gaps)
        self._repeats = 0  # GIF frames written again to span a long time (at most GIF_MOST_REPEATS)
        self._cut = False  # a GIF frame's time was cut, past the repeats (noted once)
        self._last_duration = 0  # the last frame's duration (encoder time base)
        self._first_pts: int | None = None  # the first frame's timestamp (encoder time base)
        # Where the first frame ends (input time base) and its slot (encoder time base): later frames'
        # slots are counted from there (`_in_slots`).
        self._slot_anchor: tuple[int, int] | None = None

    def finish(self) -> None:
        """Encode what the palette filters and the encoder still hold (the last GIF frame shown to
        its end first) and mux it, as the file is finished."""
        if self._encoder.palette:
            self._encode_video(None)
        if self._last_pts is not None:
            self._hold_gif_frame(self._last_pts + self._last_duration)
        self._packets.mux(self._encoder.encoded(None), self._first_pts, self._last_pts, last=True)

    def write_frame(self, image: np.ndarray, pts: int | None, duration: int) -> None:
        """Encode one (H, W, 3) uint8 RGB frame at `pts` (input time base)."""
        image = np.ascontiguousarray(self._encoder.framing.fit(image) if self._encoder.framing else image)
        frame = self._encoder.in_pix_fmt(av.VideoFrame.from_ndarray(image, format="rgb24"))
        encoder_tb = self.video.codec_context.time_base
        if encoder_tb != self.input_time_base:  # an encoder that takes only some time bases (MPEG-2)
            pts = self._in_slots(pts, duration, encoder_tb) if pts is not None else None
            duration = max(1, rescale(duration, self.input_time_base, encoder_tb)) if duration else duration
        if pts is None:  # some AVI files carry no timestamps: continue from the previous frame
            pts = 0 if self._last_pts is None else self._last_pts + max(duration, 1)
        elif self._last_pts is not None and pts <= self._last_pts and self._gif:
            self._drop_gif_frame()  # one frame a centisecond: moving it a tick on would delay all later ones
            return
        elif self._last_pts is not None and pts <= self._last_pts and encoder_tb != self.input_time_base and self._moved_on:
            self._drop_crowded_frame(encoder_tb)  # moved on again, it would be two slots late, and all after it
            return
        elif self._last_pts is not None and pts <= self._last_pts:  # the muxer refuses it (EINVAL)
            if not self._shifted and encoder_tb == self.input_time_base:  # (else rounded onto one slot: a slot on is right)
                self._note(f"frame timestamps that do not increase (at {format_time(pts * encoder_tb)} in the "
                           "output); moving them one tick later")
            self._shifted = self._moved_on = True
            pts = self._last_pts + self._muxer_tick(encoder_tb)
        else:
            self._moved_on = False
        gap = None if self._last_pts is None else pts - self._last_pts
        if self._gif and gap is not None and gap < GIF_SHORTEST_SHOWN:
            self._note_fast_gif()
        # In the encoder's time base (the input's where it takes it); the muxer may use another
        # (Matroska: 1 ms).
        frame.pts, frame.duration, frame.time_base = pts, duration, encoder_tb
        self._hold_gif_frame(pts)
        self._last_pts, self._last_duration = pts, duration
        if self._late.held_cues:
            self._late.mux_cues(self.pictures_end())
        if self._first_pts is None:
            self._first_pts = pts
        self._packets.durations[pts] = duration
        self._encode_video(frame)
        self.frames_written += 1

    def _in_slots(self, pts: int, duration: int, encoder_tb: Fraction) -> int:
        """`pts` (input time base) in frame slots of a coarser `encoder_tb` (AVI, MPEG-2's standard
        rates), counted from where the first frame ends (at least a slot after its own): the same
        rounding for every later frame. Each rounded on its own, a 23.976 fps .mkv (milliseconds)
        starting half a frame in (21 ms, after 48 kHz AAC's priming) had times either side of a
        slot's middle (2.49, 3.50 frames), two frames in one slot now and then, and a frame in 24
        dropped as if the rate rose. Not from the first frame's start: after --start it is shown
        from zero (`Segment.moved`), its own time earlier; counted from there the next ones sat at
        0.504, 1.488, 2.496 slots, and 4 frames in 15 were dropped from an AVI. Its end is the
        input's own time (`duration` 0: its start). GIF's centiseconds are no frame slots: counted
        from its first frame's start (a 60 fps clip's frames, 1.67 cs, rounded as their times)."""
        if self._slot_anchor is None:
            slot = rescale(pts, self.input_time_base, encoder_tb)
            after = max(1, rescale(duration, self.input_time_base, encoder_tb)) if duration and not self._gif else 0
            self._slot_anchor = (pts + duration if after else pts, slot + after)
            return slot
        at, slot = self._slot_anchor
        return slot + rescale(pts - at, self.input_time_base, encoder_tb)

    def _muxer_tick(self, encoder_tb: Fraction) -> int:
        """One tick of the container's time base, in ticks of `encoder_tb`: a frame moved one
        encoder tick (1/90000 s) later landed on the same millisecond as the one before in a
        .mkv, which stores milliseconds (two frames at one time)."""
        muxer_tb = Fraction(self.video.time_base) if self.video.time_base else Fraction(encoder_tb)
        return max(1, math.ceil(muxer_tb / Fraction(encoder_tb)))

    @property
    def _gif(self) -> bool:
        return self.container.format.name == "gif"

    def _encode_video(self, frame: av.VideoFrame | None) -> None:
        """Encode `frame` (in palette colours first, for GIF; None: what the palette filters hold)
        and mux its packets."""
        for out in self._encoder.palette.convert(frame) if self._encoder.palette else [frame]:
            self._held = out if self._encoder.palette else None
            self._packets.mux(self._encoder.encoded(out), self._first_pts, self._last_pts)

    def _hold_gif_frame(self, until: int) -> None:
        """Show the last GIF frame again every `GIF_LONGEST_DELAY` centiseconds until `until`: a
        longer delay does not fit its 16 bits (the muxer cut a longer pause short, wrapped a last
        frame's). Each repeat is one more frame in the file (a whole picture: its palette is its own),
        so there are at most `GIF_MOST_REPEATS`; then the time is cut (noted), as the muxer cuts it."""
        if not self._gif or self._held is None or self._last_pts is None:
            return
        while until - self._last_pts > GIF_LONGEST_DELAY:
            if self._repeats >= GIF_MOST_REPEATS:
                if not self._cut:
                    self._note(f"a GIF frame is shown for {(until - self._last_pts) / 100:.0f} s: a delay holds "
                               "655.35 s, and past a day of repeated frames the rest is cut (later frames come that "
                               "much sooner)")
                self._cut = True
                return
            self._repeats += 1
            pts = self._last_pts + GIF_LONGEST_DELAY
            self._held.pts = pts
            self._packets.durations[pts] = min(until - pts, GIF_LONGEST_DELAY)
            self._packets.mux(self._encoder.encoded(self._held), self._first_pts, self._last_pts)
            self._last_pts = pts

    def _drop_crowded_frame(self, encoder_tb: Fraction) -> None:
        """Leave out a frame that lands in a slot already taken, twice running, of an output timed
        in whole frames (AVI; MPEG-2's standard rates): the input runs faster there than the rate
        read from its start (MPEG-TS segments of 25 and 50 fps joined). Moving each a slot on, a
        second of 50 fps became two in a 25 fps AVI (the sound out of sync); FFmpeg drops them."""
        if not self._crowded:
            self._note(f"the video runs faster than the output's {float(1 / encoder_tb):g} fps in places (its frame "
                       "rate changes mid-stream?); frames there are dropped to keep the timing, as FFmpeg drops them")
        self._crowded = True

    def _drop_gif_frame(self) -> None:
        """Leave out a frame GIF cannot time after the previous one."""
        self._note_fast_gif()

    def _note_fast_gif(self) -> None:
        """Say once what an input faster than a GIF shows costs: both effects in one line (a 240 fps
        clip has both, and got two notes)."""
        if not self._fast:
            self._note("the input runs faster than 50 fps and GIF times frames in centiseconds: web browsers show a "
                       "frame of under 2 cs for 10 cs (the GIF plays slower there), and a frame in the same "
                       "centisecond as the one before (over 100 fps) is dropped, as FFmpeg drops it; convert the "
                       "input to 25 fps first")
        self._fast = True

    def pictures_end(self) -> Fraction | None:
        """Where the pictures written so far stop showing (seconds; None: none written)."""
        if self._last_pts is None:
            return None
        return (self._last_pts + self._last_duration) * Fraction(self.video.codec_context.time_base)
