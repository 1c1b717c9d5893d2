"""The part of the timeline from zero (`TimestampShift`, `timestamps.py`) a run keeps (--start,
--duration), moved to start at zero itself, every stream alike; the time base its frames are given
in, which picture it begins with, and the chapters within it."""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Iterable, Iterator

import av

from realtime_adain.times import as_fraction
from realtime_adain.video.timestamps import MICROSECONDS

# A frame shown for less than this of a segment (from its start), or for less than half its own
# time, is not its first: Matroska's millisecond put the next frame at the same time
# (`Segment.ends_before`).
SLIVER = Fraction(1, 1000)


# FFmpeg's AVRational holds 32-bit integers: the largest terms of the time base a segment's frames
# are given in (`segment_time_base`).
LARGEST_TERM = 2**31 - 1


def segment_time_base(time_base: Fraction, start: Fraction) -> Fraction:
    """The time base a segment from `start` (seconds) gives its frames in: `time_base` (the
    stream's) where `start` is a whole number of its ticks, else the coarsest one that holds both,
    so that the segment starts at `start` itself. An AVI's or an Ogg's 1/12 s was cut at the tick
    before 0.55 s (1/60 s holds both): the output began 50 ms before `--start`, and its sound with
    it. A start too fine for 32-bit ticks is taken to the microsecond (FFmpeg's `-ss`), then the
    millisecond below it; else the stream's tick below it."""
    for grid in (None, MICROSECONDS, Fraction(1, 1000)):
        at = start if grid is None else math.floor(start / grid) * grid
        both = Fraction(math.gcd(time_base.numerator * at.denominator, at.numerator * time_base.denominator),
                        time_base.denominator * at.denominator)
        if both.denominator <= LARGEST_TERM and both.numerator <= LARGEST_TERM:
            return both
    return time_base


def shown_too_briefly(left: Fraction, duration: Fraction) -> bool:
    """Whether a frame `duration` seconds long that shows only `left` seconds after a cut's start
    is skipped for the next (`SLIVER`): the one rule for which picture a segment begins with, so
    that its timecode (`timecode.pictures_before`) names the picture kept (`Segment.ends_before`)."""
    return left * 2 < max(2 * SLIVER, duration)




class Segment:
    """The part of the timeline a run keeps, [start, start + duration) in seconds on the timeline
    from zero (`TimestampShift`), moved to start at zero itself, as `ffmpeg -ss START -i in -t DUR`
    moves it. Its first frame is the one shown at `start` (shown from zero, for what is left of
    it); sound and subtitles keep the packets that overlap the window, moved by the same amount as
    the pictures, so they stay in sync. Frames come in ticks of the video's time base and leave
    in ticks of `frame_time_base` (`moved`), which holds both them and `start`: pictures keep
    their exact times, and every stream moves by `start` itself (`shift`)."""

    def __init__(self, video_time_base: Fraction, start: Fraction = Fraction(0),
                 duration: Fraction | None = None) -> None:
        self.time_base = Fraction(video_time_base)  # the frames' as read
        self.start = as_fraction(start)  # (`VideoSettings(start=1.3)`'s float as the 1.3 written, as stylize_video's)
        self.end = None if duration is None else self.start + as_fraction(duration)
        self.shift_ticks = math.floor(self.start / self.time_base)  # `start` in video ticks, rounded down
        self.frame_time_base = segment_time_base(self.time_base, self.start)  # the frames' as given (`moved`)
        self._per_tick = int(self.time_base / self.frame_time_base)  # ticks given a tick read
        self._shift_given = math.floor(self.start / self.frame_time_base)  # ticks given taken off every time
        self.shift = self._shift_given * self.frame_time_base  # ... in seconds: `start`, but for a too fine one
        self._begun = False  # whether a frame was kept (`moved`)
        self._first_read: int | None = None  # the first frame kept's pts as read (video ticks; `as_read_exactly`)
        self._skipped_end: int | None = None  # where the latest frame skipped (`ends_before`) stops showing
        # Whether the segment is the whole file (nothing moves, nothing is dropped): an attribute,
        # asked twice for every packet (a property's Fraction test was seconds of a million packets).
        self.whole = not self.start and self.end is None
        self._start_ticks: dict[tuple[int, int], tuple[int, int]] = {}  # a time base -> `start` in its ticks (`ended`)

    def ends_before(self, pts: int | None, duration: int) -> bool:
        """Whether the frame at `pts` (video ticks) stops showing by `start`, or shows less than half
        its time (or `SLIVER`) after it: one to skip, the next shown from zero (`moved`). A start a
        nanosecond before a frame kept the frame before it for one tick of the input (1/15360 s),
        and a .mkv had two frames at 0 ms; a 12 fps one cut 10 ms before a frame began with a 10 ms
        picture, two in one frame's time for `ffmpeg -i out.mkv` ("non monotonically increasing
        dts"). `ffmpeg -ss` starts with the next frame."""
        if pts is None or not self.start or pts * self.time_base >= self.start:
            return False
        end = pts + (duration or 0)
        if not shown_too_briefly(end * self.time_base - self.start, (duration or 0) * self.time_base):
            return False
        self._skipped_end = end
        return True

    def is_after(self, pts: int | None) -> bool:
        """Whether the frame at `pts` (video ticks) starts at or after the segment's end."""
        return self.end is not None and pts is not None and pts * self.time_base >= self.end

    def moved(self, pts: int | None, duration: int) -> tuple[int | None, int]:
        """A kept frame's (pts, duration), video ticks, on the segment's timeline in ticks of
        `frame_time_base`: the first shown from zero, the last cut at the segment's end."""
        if pts is None or self.whole:
            return pts, duration
        after_skipped = self._skipped_end is not None and pts <= self._skipped_end
        moved, duration = pts * self._per_tick - self._shift_given, duration * self._per_tick if duration else duration
        if not self._begun:
            self._first_read = pts
        if moved < 0 or (not self._begun and (moved * self.frame_time_base <= SLIVER or after_skipped)):
            # shown at `start` (or after a sliver, `ends_before`): from zero, for what is left of it
            moved, duration = 0, max(1, moved + (duration or 0))
        self._begun = True
        if self.end is not None and duration:
            duration = max(1, min(duration, math.ceil(self.end / self.frame_time_base) - self._shift_given - moved))
        return moved, duration

    def as_read(self, ticks: int) -> int:
        """`ticks` of `frame_time_base` on the segment's timeline, as video ticks on the file's
        timeline (rounded up: where a frame given stops showing)."""
        return math.ceil(Fraction(ticks + self._shift_given, self._per_tick))

    def as_read_exactly(self, pts: int | None) -> int | None:
        """A kept frame's `pts` (ticks of `frame_time_base`, as `moved` gave it) as the video ticks it
        was read at, exactly where `as_read` cannot tell: the first frame, moved to zero (an image
        sequence's numbered pictures are named by the time read, `video/job.py`)."""
        if pts is None or self.whole:
            return pts
        if pts <= 0 and self._first_read is not None:
            return self._first_read
        return self.as_read(pts)

    def ended(self, packet: av.Packet) -> bool:
        """Whether `packet` (sound, subtitles) stops before the segment's start: one to drop (as
        soon as it is read: held for pictures that are not decoded, a preview's held everything
        before a late start)."""
        if self.whole:
            return False
        at = packet.pts if packet.pts is not None else packet.dts
        tb = packet.time_base
        if at is None or not tb:
            return False
        key = (tb.numerator, tb.denominator)  # (in whole ticks: Fractions per packet were most of a late start's read)
        ticks = self._start_ticks.get(key)
        if ticks is None:  # for whole numbers of ticks, x * tb < start is x < ceil(start / tb)
            ticks = self._start_ticks[key] = (math.ceil(self.start / tb), math.floor(self.start / tb))
        return at < ticks[0] and at + (packet.duration or 0) <= ticks[1]

    def packets(self, packets: Iterable[av.Packet]) -> Iterator[av.Packet]:
        """`packets` (sound, subtitles) that overlap the segment, moved onto its timeline. A
        subtitle shown before `start` is shown from zero, for what is left of it; sound keeps its
        times (the first packet may start just before zero: the muxer's edit list hides that part,
        as in `ffmpeg -ss`'s output). Packets without a timestamp cannot be placed: kept."""
        if self.whole:
            yield from packets
            return
        for packet in packets:
            at = packet.pts if packet.pts is not None else packet.dts
            if at is None or not packet.time_base:
                yield packet
                continue
            tb = Fraction(packet.time_base)
            if self.ended(packet) or (self.end is not None and at * tb >= self.end):
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
        overlap the segment, moved onto its timeline and cut to it; asked once the first picture
        is read, those that begin where a picture skipped (`ends_before`) showed begin at zero, with
        the next picture (a 40 ms chapter led one whose picture was shown from zero)."""
        if self.whole:
            return chapters
        skipped = Fraction(0) if self._skipped_end is None else self._skipped_end * self.time_base - self.shift
        return moved_chapters(chapters, -self.shift, None if self.end is None else self.end - self.shift, skipped)

    def frames(self, declared: int, rate: Fraction | None) -> int:
        """About how many of `declared` frames at `rate` the segment holds (0: not known)."""
        if self.whole or not declared:
            return declared
        if not rate:
            return 0
        left = max(0, declared - math.floor(self.start * rate))
        return left if self.end is None else min(left, math.ceil((self.end - self.start) * rate))


def moved_chapters(chapters: list[dict], by: Fraction, until: Fraction | None,
                   skipped: Fraction = Fraction(0)) -> list[dict]:
    """`chapters` (as `InputContainer.chapters()` gives them) moved `by` seconds, none before zero
    (one that starts at zero stays there: it holds what plays before a picture moved later; so do
    bounds by `skipped` seconds, where a skipped picture showed), and cut at `until` seconds (None:
    not cut); those left with no time are dropped, save marks of no time in the input within
    [0, `until`) (`ffmpeg -c copy` keeps them)."""
    kept = []
    for chapter in chapters:
        tb = Fraction(chapter["time_base"])
        ticks = round(by / tb)
        skipped_ticks = math.floor((skipped - by) / tb) + ticks  # (as the bounds are rounded: from the input's)
        start = max(0, chapter["start"] + ticks) if chapter["start"] > 0 else 0
        end = chapter["end"] + ticks
        start, end = (0 if start <= skipped_ticks else start), (0 if end <= skipped_ticks else end)
        last = None if until is None else math.ceil(until / tb)
        if last is not None:
            end = min(end, last)
        mark = chapter["end"] == chapter["start"] and chapter["start"] + ticks >= 0 and (last is None or start < last)
        if end > start or mark:
            kept.append({**chapter, "start": start, "end": max(start, end)})
    return kept
