"""Input timestamps moved onto one timeline that starts at zero, as the FFmpeg CLI moves them.

Files rarely start at zero: MPEG-TS and program streams start at about 1.4 s (the muxer's delay),
broadcast and HLS captures at any hour, a cut Matroska file where it was cut. Copied as they are,
the output began with that much nothing (an MP4 "empty edit": 11 s of black before a 1 s clip).
And stream formats that allow it (MPEG-TS, MPEG-PS: FFmpeg's TS_DISCONT flag) jump: segments
concatenated from a playlist each carry their own clock, and a jump back reads as a 33-bit wrap,
so the muxer was asked for a 26-hour gap, or refused the packets. `TimestampShift` does what
`ffmpeg -i in out` does by default: subtract the file's start time from every stream, and in such
formats treat a jump of more than `JUMP_SECONDS` from where an audio or video stream was heading,
or back by more than `STEP_BACK`, as a splice, continuing from there. Streams keep their time
bases; every stream moves by the same amount, so sound stays in sync. A `Segment` (--start,
--duration) then keeps a part of that timeline and moves it to zero, every stream alike.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Iterable, Iterator

import av

from realtime_adain.video.notes import note

# FFmpeg's -dts_delta_threshold: a decode timestamp this far from the predicted one is a splice;
# so is one that goes back by more than STEP_BACK (joined segments that each start near 1.4 s).
JUMP_SECONDS = 10
STEP_BACK = Fraction(1, 10)
# Streams whose timestamps tell a splice (as in FFmpeg): subtitles may be minutes apart.
SPLICED_TYPES = ("audio", "video")
MICROSECONDS = Fraction(1, 1_000_000)  # AV_TIME_BASE: container.start_time's unit
# A frame shown for less than this of a segment (from its start) is not its first: Matroska's
# millisecond put the next frame at the same time (`Segment.ends_before`).
SLIVER = Fraction(1, 1000)


class TimestampShift:
    """Shifts every packet's timestamps in place (`apply`), before decoding or copying."""

    def __init__(self, container: av.container.InputContainer, name: str) -> None:
        self.name = name  # the file's, for the note
        self.splices = bool(container.format.flags & av.format.Flags.ts_discont.value)
        self.offset = -Fraction(container.start_time or 0) * MICROSECONDS  # seconds added to every time
        self.start_offset = self.offset  # before any splice: what moves the file's own start (chapters, duration)
        self._next: dict[int, Fraction] = {}  # stream index -> where its next dts is expected (output seconds)
        self._last: dict[int, Fraction] = {}  # stream index -> its latest dts (output seconds)
        self._shown: dict[int, Fraction] = {}  # stream index -> where its latest picture stops showing (output seconds)
        self.jumps = 0  # splices found (a stream each: audio and video may jump at different packets)

    def note_jumps(self) -> None:
        """Say that the timeline was joined across splices (once, when the whole file was read)."""
        if self.jumps:
            note(f"{self.name}: the timestamps jump (segments joined together); "
                 "the timeline continues across them, as FFmpeg does")

    def ticks(self, time_base: Fraction) -> int:
        """The current offset in ticks of `time_base`."""
        return round(self.offset / time_base)

    def start_ticks(self, time_base: Fraction) -> int:
        """The offset before any splice in ticks of `time_base`: where the file's start went."""
        return round(self.start_offset / time_base)

    def _after_shown(self, packet: av.Packet, tb: Fraction) -> None:
        """Move the timeline on, after a splice, so that `packet` (the new segment's first) is shown
        no earlier than the segment before it stops showing. Continuing decode times alone gives
        the new segment the old one's reorder delay: 25 fps joined to 50 fps with B-frames put the
        first 50 fps picture at the last 25 fps one's time (two frames at one time: the muxer
        moved one a tick, and `ffmpeg -i out.mp4` then said "non monotonically increasing dts")."""
        shown = self._shown.get(packet.stream.index)
        if packet.pts is not None and shown is not None and packet.pts * tb + self.offset < shown:
            self.offset += shown - (packet.pts * tb + self.offset)

    def apply(self, packet: av.Packet) -> None:
        time_base = packet.time_base
        if not time_base:
            return
        tb = Fraction(time_base)
        if self.splices and packet.pts is not None and packet.dts is not None and abs(packet.pts - packet.dts) * tb > JUMP_SECONDS:
            # MPEG-PS gives a segment's last packet the next segment's clock as its pts: keep its dts only.
            packet.pts = None if packet.stream.type == "video" else packet.dts
        dts = packet.dts if packet.dts is not None else packet.pts
        if dts is not None and packet.stream.type in SPLICED_TYPES:
            at = dts * tb + self.offset
            index = packet.stream.index
            expected, last = self._next.get(index), self._last.get(index)
            # As FFmpeg: far from where the stream was heading, or back by more than a tenth of a second.
            back = packet.dts is not None and last is not None and at + STEP_BACK < last  # (pts alone may reorder)
            if self.splices and expected is not None and (abs(at - expected) > JUMP_SECONDS or back):
                # Continue where the stream was heading; the other streams jump with it, and
                # with the new offset their next packets land where they were heading too.
                self.offset += expected - at
                self.jumps += 1
                at = expected
                self._after_shown(packet, tb)
            self._last[index] = at
            self._next[index] = at + (packet.duration or 0) * tb
            if packet.pts is not None:
                shown = (packet.pts + (packet.duration or 0)) * tb + self.offset
                self._shown[index] = max(shown, self._shown.get(index, shown))
        shift = self.ticks(tb)
        if shift:
            if packet.dts is not None:
                packet.dts += shift
            if packet.pts is not None:
                packet.pts += shift


class Segment:
    """The part of the timeline a run keeps, [start, start + duration) in seconds on the timeline
    from zero (`TimestampShift`), moved to start at zero itself, as `ffmpeg -ss START -i in -t DUR`
    moves it. Its first frame is the one shown at `start` (shown from zero, for what is left of
    it); sound and subtitles keep the packets that overlap the window, moved by the same amount as
    the pictures, so they stay in sync. The move is a whole number of video ticks (`shift`):
    pictures keep their exact times, and no stream moves by another amount than the video."""

    def __init__(self, video_time_base: Fraction, start: Fraction = Fraction(0),
                 duration: Fraction | None = None) -> None:
        self.time_base = Fraction(video_time_base)
        self.start = Fraction(start)
        self.end = None if duration is None else self.start + Fraction(duration)
        self.shift_ticks = math.floor(self.start / self.time_base)  # video ticks taken off every time
        self.shift = self.shift_ticks * self.time_base  # ... in seconds: at most one tick before `start`
        self._begun = False  # whether a frame was kept (`moved`)

    @property
    def whole(self) -> bool:
        """Whether the segment is the whole file (nothing moves, nothing is dropped)."""
        return not self.start and self.end is None

    def ends_before(self, pts: int | None, duration: int) -> bool:
        """Whether the frame at `pts` (video ticks) stops showing by `start`, or less than `SLIVER`
        after it: one to skip. A start a nanosecond before a frame kept the frame before it for one
        tick of the input (1/15360 s), and a .mkv had two frames at 0 ms; `ffmpeg -ss` starts
        with the next frame."""
        if pts is None or not self.start:
            return False
        return pts * self.time_base < self.start and (pts + (duration or 0)) * self.time_base < self.start + SLIVER

    def is_after(self, pts: int | None) -> bool:
        """Whether the frame at `pts` (video ticks) starts at or after the segment's end."""
        return self.end is not None and pts is not None and pts * self.time_base >= self.end

    def moved(self, pts: int | None, duration: int) -> tuple[int | None, int]:
        """A kept frame's (pts, duration) on the segment's timeline: the first shown from zero, the
        last cut at the segment's end."""
        if pts is None or self.whole:
            return pts, duration
        moved = pts - self.shift_ticks
        if moved < 0 or (not self._begun and moved * self.time_base <= SLIVER):
            # shown at `start` (or a sliver after it, `ends_before`): from zero, for what is left of it
            moved, duration = 0, max(1, moved + (duration or 0))
        self._begun = True
        if self.end is not None and duration:
            duration = max(1, min(duration, math.ceil(self.end / self.time_base) - self.shift_ticks - moved))
        return moved, duration

    def packets(self, packets: Iterable[av.Packet]) -> Iterator[av.Packet]:
        """`packets` (sound, subtitles) that overlap the segment, moved onto its timeline. A
        subtitle shown before `start` is shown from zero, for what is left of it; sound keeps its
        times (the first packet may start just before zero: the muxer's edit list hides that part,
        as in `ffmpeg -ss`'s output). Packets without a timestamp cannot be placed: kept."""
        for packet in packets:
            at = packet.pts if packet.pts is not None else packet.dts
            if self.whole or at is None or not packet.time_base:
                yield packet
                continue
            tb = Fraction(packet.time_base)
            begins, ends = at * tb, (at + (packet.duration or 0)) * tb
            if (begins < self.start and ends <= self.start) or (self.end is not None and begins >= self.end):
                continue
            shift = round(self.shift / tb)
            if packet.pts is not None:
                packet.pts -= shift
            if packet.dts is not None:
                packet.dts -= shift
            if packet.stream.type == "subtitle" and packet.pts is not None and packet.pts < 0:
                packet.duration = max(1, packet.pts + (packet.duration or 0))
                packet.pts = packet.dts = 0
            yield packet

    def chapters(self, chapters: list[dict]) -> list[dict]:
        """Chapters (as `InputContainer.chapters()` gives them, on the timeline from zero) that
        overlap the segment, moved onto its timeline and cut to it."""
        if self.whole:
            return chapters
        kept = []
        for chapter in chapters:
            tb = Fraction(chapter["time_base"])
            shift = round(self.shift / tb)
            end = chapter["end"] - shift
            if self.end is not None:
                end = min(end, math.ceil((self.end - self.shift) / tb))
            start = max(0, chapter["start"] - shift)
            if end > start:
                kept.append({**chapter, "start": start, "end": end})
        return kept

    def frames(self, declared: int, rate: Fraction | None) -> int:
        """About how many of `declared` frames at `rate` the segment holds (0: not known)."""
        if self.whole or not declared:
            return declared
        if not rate:
            return 0
        left = max(0, declared - math.floor(self.start * rate))
        return left if self.end is None else min(left, math.ceil((self.end - self.start) * rate))
