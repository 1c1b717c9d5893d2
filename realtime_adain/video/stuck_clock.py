"""`StuckClock`: pictures whose clock stands still (an FLV's tags all at 0, an MP4's `stts` all zero,
a recorder frozen mid-file, a muxer that stores every picture twice) placed at the stated rate, or
within the time up to the next picture (before `TimestampShift`, on the file's own timeline)."""

from __future__ import annotations

import collections
import itertools
from fractions import Fraction
from pathlib import Path
from typing import Iterator

import av

from realtime_adain.errors import UserError
from realtime_adain.notes import note
from realtime_adain.video.clocks import (STILL_HELD, STILL_PICTURES, SeekedIntoStill, first_times, packet_time,
                                         stated_rate, undiscarded)
from realtime_adain.video.opening import open_input
from realtime_adain.video.sequence import ffmpeg_name

# The most bytes of a run of pictures at one time held to tell where it ends (`StuckClock`): past
# it, placed a frame apart from the run's first picture.
STILL_HELD_BYTES = 32 << 20
# The steps between pictures a clock that stands still mid-file takes its rate from (`StuckClock`).
RATE_STEPS = 8
# The decode times at a file's start, each of exactly two pictures, that tell a muxer that stores
# every picture twice (`StuckClock`; one pair is a file's first two pictures, or a stray repeat).
PAIRED_TIMES = 4


class StuckClock:
    """Times the pictures of a file whose video clock stands still: pictures at one time (an FLV
    whose video tags all say 0, an MP4 whose `stts` deltas are all zero, or that stop advancing
    mid-file: a broken muxer or stream recorder). FFmpeg takes them as they are: 50 pictures
    within 50 ms (its CLI kept 3 of them; an MP4's edit list discarded 30 of 50 as before its
    start, and the file was refused as truncated; frozen after 1 s, its CLI kept 30 of 50). Told
    from `STILL_PICTURES` pictures in a row at one decode time, anywhere (a file's first two may
    share one; no file FFmpeg or a camera writes has three), or from the file's first
    `PAIRED_TIMES` decode times each of exactly two pictures (a muxer that stores every picture
    twice: left as stored, the writer moved each second one a tick on, and FFmpeg read the
    output's decode times as not increasing); from then on each run of pictures at one time is
    held until the clock runs again (`STILL_HELD` packets, `STILL_HELD_BYTES` at most) and placed
    after the run's first picture: its nth n frames after it, rounded once (a frame rounded to a
    tick, n times over, put 24 fps 42 ms apart in milliseconds: 0.5 s behind the sound in a frozen
    minute), at the stream's nominal rate (its average: FLV's onMetaData framerate, an MP4's
    frames over its duration; else the codec's, H.264's timing info; not FFmpeg's guess, the time
    base's 1000 fps for an FLV; mid-file, the step between the pictures before, or the stated rate
    where that step is it to a tick) where the time up to the next picture holds them, else
    spread evenly over that time (a muxer's repeats: placed at the rate, every run of 3 put all
    later pictures 2 frames later for good, 1.25 s behind the sound in 5 s), keeping its
    composition offset (B-frames; scaled as the run is). The pictures after a run keep their own
    times; only after a run whose end is not known (the bound) do they go on from the last one
    placed, back to their own times as those come a frame after it (after a gap). Other streams
    keep their own times (`SoundClock` times sound that stands still too; with no rate stated,
    the file is refused, with what is wrong and how FFmpeg retimes it). Applied before
    `TimestampShift`, on the file's own timeline; a file whose clock stands still from its start
    is read from there (`clock_stands_still`), and one seeked into a frozen stretch is read again
    from its start (`SeekedIntoStill`)."""

    def __init__(self, stream: av.stream.Stream, path: Path) -> None:
        self.stream, self.path, self.name = stream, path, path.name  # (the error names the path, a note the name)
        self.rate = stated_rate(stream)
        self.frame = Fraction(0)  # one frame at `rate`, in ticks of the stream's time base, exact (0: the clock runs)
        self._nominal = True  # whether `frame` is the stated rate's (else the step before the clock stood still)
        self._paired = False  # whether the file stores every picture twice (`_told_pairs`)
        self._stored: int | None = None  # the latest picture's decode time as stored
        # where the latest run's first picture was placed (a picture whose clock runs is a run of one) ...
        self._origin: int | None = None
        self._index = 0  # ... and the number in that run of the latest picture placed (0: its first)
        self._still = False  # whether it stood still in a run whose end is not known (the bound)
        self._shift = 0  # ticks added to the times of the latest picture whose clock ran
        # the latest steps between pictures' decode times (ticks), while the clock runs: mid-file, its rate
        self._steps: collections.deque[int] = collections.deque(maxlen=RATE_STEPS)
        self._first: int | None = None  # the first picture's decode time as stored
        self._shown: int | None = None  # the latest picture's pts while the clock runs (the notes' time)
        self._said: set[str] = set()  # the notes said: "spread", "placed" (a frame apart), "pairs"

    def packets(self, packets: Iterator[av.Packet], seeked: bool = False) -> Iterator[av.Packet]:
        """`packets`, those of the video retimed where its clock stands still; `seeked`: read from
        where a seek landed (a frozen stretch found there raises `SeekedIntoStill`)."""
        packets = self._told_pairs(iter(packets), seeked)
        held: list[av.Packet] = []  # from the second picture at one time on, while not told or the run lasts
        run = 0  # pictures in a row at the latest picture's decode time
        size = 0  # bytes held
        for packet in packets:
            if packet.stream is not self.stream or not packet.size:
                if held:
                    held.append(packet)
                    size += packet.size
                else:
                    yield packet
                continue
            at = packet_time(packet)
            if at is not None and at == self._stored:
                run += 1
                held.append(packet)
                size += packet.size
                if not self.frame and run >= STILL_PICTURES:
                    self._begin(mid_file=self._first != at, seeked=seeked)
                if len(held) >= STILL_HELD or size > STILL_HELD_BYTES:
                    # (told: placed at the rate, where the run ends not known; else left as stored)
                    yield from (self._settle(held) if self.frame else held)
                    held, size, run = [], 0, run if self.frame else 1
                continue
            if held:
                yield from (self._settle(held, at) if self.frame else held)
                held, size = [], 0
            run = 1
            if self.frame:  # (the clock stood still: every picture placed from here on)
                yield self._place(packet)
                continue
            if at is not None and self._stored is not None and at > self._stored:
                self._steps.append(at - self._stored)
            if self._first is None:
                self._first = at
            self._stored, self._shown = at, packet.pts
            yield packet
        yield from (self._settle(held) if self.frame else held)

    def _told_pairs(self, packets: Iterator[av.Packet], seeked: bool) -> Iterator[av.Packet]:
        """`packets`, once the pictures at the file's start told whether they come in pairs at one
        time (`in_pairs`): read ahead, or where a seek landed, in the file opened again (a seek
        may land anywhere). Pairs tell the clock from the first picture on: each pair is spread
        over the time up to the next picture (`_settle`), a frame apart at most."""
        ahead: list[av.Packet] = []
        times, ended = self._times_at_start() if seeked else self._read_ahead(packets, ahead)
        if in_pairs(times, ended):
            steps = sorted(b - a for a, b in itertools.pairwise(at for at, _ in itertools.groupby(times)))
            self.frame = self._stated_frame() or Fraction(steps[len(steps) // 2], 2)  # (else half a pair's step)
            self._paired = True
        return itertools.chain(ahead, packets)

    def _read_ahead(self, packets: Iterator[av.Packet], ahead: list[av.Packet]) -> tuple[list[int | None], bool]:
        """Reads `packets` into `ahead` until their pictures' decode times tell whether they come in
        pairs (`STILL_HELD` packets, `STILL_HELD_BYTES` at most: past that, not told). Returns
        those times and whether they were all the file's."""
        times: list[int | None] = []
        size = 0
        for packet in packets:
            ahead.append(packet)
            size += packet.size
            if packet.stream is self.stream and packet.size:
                times.append(packet_time(packet))
                if in_pairs(times) is not None:
                    break
            if len(ahead) >= STILL_HELD or size > STILL_HELD_BYTES:
                break
        else:
            return times, True
        return times, False

    def _times_at_start(self) -> tuple[list[int | None], bool]:
        """The decode times of the video's first pictures, the file read from its start, enough to
        tell whether they come in pairs, and whether they were all the file's."""
        count = 2 * PAIRED_TIMES + 1
        try:
            with open_input(ffmpeg_name(self.path)) as probe:
                times = first_times(probe, [probe.streams[self.stream.index]], count)[self.stream.index]
        except (av.error.FFmpegError, IndexError):
            return [], False
        return times, len(times) < count

    def _stated_frame(self) -> Fraction | None:
        """One frame at the stated rate, in ticks, exact (None: no rate stated)."""
        return 1 / (self.rate * Fraction(self.stream.time_base)) if self.rate else None

    def _begin(self, mid_file: bool, seeked: bool) -> None:
        """Begin placing pictures: at the stated rate from the start; mid-file at the rate the clock
        ran at before it stood still (the median of its latest steps: an MP4's stated average is its
        frames over a duration the freeze cut short, 50 fps for a 25 fps clip frozen half-way), the
        stated rate where that step is it to within a tick (24 fps in milliseconds steps 41 or 42 ms)."""
        if seeked and not mid_file:
            raise SeekedIntoStill
        stated = self._stated_frame()
        if mid_file and self._steps:
            step = sorted(self._steps)[len(self._steps) // 2]
            self.frame = stated if stated is not None and abs(stated - step) < 1 else Fraction(step)
            self._nominal = False
        elif stated is not None:
            self.frame = stated
        else:
            raise UserError(f"{self.path}: every picture has the same timestamp, and the file states no frame rate "
                            f"to show them at: give FFmpeg one to time them by (e.g. `ffmpeg -r 25 -i {self.name} "
                            "fixed.mp4`)")
        self._origin, self._index = self._stored, 0  # (the run's first picture: placed as stored)

    def _slot(self, n: int) -> int:
        """Where the latest run's nth picture goes a frame apart (0: its first): n frames from the
        first, rounded once (a frame rounded to a tick, n times, drifts)."""
        return self._origin + round(n * self.frame)

    def _settle(self, held: list[av.Packet], until: int | None = None) -> list[av.Packet]:
        """`held`, its pictures (at the latest picture's time) placed after that picture: a frame
        apart, or where the time up to the next picture (at `until`, its decode time; None: not
        known) holds fewer, spread evenly over it; the others as read."""
        pictures = [p for p in held if p.stream is self.stream and p.size and packet_time(p) is not None]
        if not pictures:
            return held
        count = len(pictures) + 1  # (with the picture placed before them: the run's first, or its latest)
        room = until - self._stored if until is not None and until > self._stored and not self._still else None
        spread = room is not None and room < count * self.frame
        base = self._slot(self._index)
        places = ([base + room * n // count for n in range(count + 1)] if spread
                  else [self._slot(self._index + n) for n in range(count + 1)])
        scale = Fraction(room) / (count * self.frame) if spread else 1  # (of their composition offsets)
        self._say(spread, count, ends=room is not None)
        moved = {}
        for n, picture in enumerate(pictures, 1):
            offset = 0 if picture.pts is None or picture.dts is None else picture.pts - picture.dts
            picture.duration = places[n + 1] - places[n]  # (as made up as its time)
            moved[id(picture)] = self._moved(picture, places[n] - packet_time(picture), round(offset * scale) - offset)
        if spread:
            self._origin, self._index = places[count - 1], 0
        else:
            self._index += count - 1
        self._still = room is None
        return [moved.get(id(packet), packet) for packet in held]

    def _place(self, packet: av.Packet) -> av.Packet:
        """A picture whose clock runs, once told: at its own time where that is a frame or more after
        the last placed (else as far on as the picture before it was moved: a run spread, or placed
        a frame apart within its time, moves none), after a run whose end was not known one frame
        after it."""
        at = packet_time(packet)
        if at is None:
            return packet
        behind = 0 if self._origin is None else max(0, self._slot(self._index + 1) - at)
        self._shift = behind if self._still else min(self._shift, behind)
        self._stored, self._still, self._shown = at, False, packet.pts
        self._origin, self._index = at + self._shift, 0
        return self._moved(packet, self._shift)

    @staticmethod
    def _moved(packet: av.Packet, shift: int, offset_change: int = 0) -> av.Packet:
        """`packet` moved `shift` ticks, its presentation `offset_change` more (in place, or a copy)."""
        if packet.dts is not None:
            packet.dts += shift
        if packet.pts is not None:
            packet.pts += shift + offset_change
        if packet.is_discard and (packet.pts is None or packet.pts >= 0):
            # An MP4's edit list discarded the pictures its times put before its start: now shown
            # (PyAV cannot clear the flag: a copy without it).
            return undiscarded(packet)
        return packet

    def _say(self, spread: bool, count: int, ends: bool) -> None:
        """The note on a run placed (the first of each kind; a file's pairs one of their own)."""
        kind = "pairs" if self._paired and count == 2 else "spread" if spread else "placed"
        if kind in self._said:
            return
        self._said.add(kind)
        time_base = Fraction(self.stream.time_base)
        rate = f"{float(1 / (self.frame * time_base)):.3f}".rstrip("0").rstrip(".")
        if kind == "pairs":  # (said at the first pair: told by the file's first pictures, not all of them)
            note(f"{self.name}: the file's first pictures are each stored twice, at one timestamp (a muxer's "
                 "repeats): each pair is spread evenly over the time up to the next picture, at most a frame apart "
                 f"at {rate} fps", once=True)
            return
        since = float(((self._stored if self._shown is None else self._shown) - (self.stream.start_time or 0))
                      * time_base)
        if spread:
            note(f"{self.name}: pictures share one timestamp ({count} at {since:.2f} s, the first such run), more than "
                 "the time up to the next picture holds: each run is spread evenly over that time, and the pictures "
                 "after it keep their own times", once=True)
            return
        if self._stored == self._first and not ends:
            note(f"{self.name}: every picture has the same timestamp: they are shown one after another "
                 f"at the video's nominal rate, {rate} fps (the rate the file states), from there", once=True)
            return
        which = "the video's nominal rate" if self._nominal else "the rate before"
        until = "until they advance again" if ends else "from there"
        note(f"{self.name}: the pictures' timestamps stop advancing at {since:.2f} s (each at the time of the one "
             f"before): they are shown one after another at {which}, {rate} fps, {until}", once=True)


def in_pairs(times: list[int | None], ended: bool = False) -> bool | None:
    """Whether the decode times of a file's first pictures (in the order stored; `ended`: all of its
    pictures) come in pairs, a muxer's that stores every picture twice: its first `PAIRED_TIMES`
    times (all of them, two at least, where it has fewer) each of exactly two pictures, going
    forward. One pair is no such muxer (a file's first two pictures, a stray repeat: moved a tick
    on as written). None: these do not tell yet."""
    groups = [(at, len(list(run))) for at, run in itertools.groupby(times)]
    counts = [count for _, count in groups]
    if (None in times or max(counts, default=0) > 2 or 1 in counts[:-1]
            or any(later <= at for (at, _), (later, _) in itertools.pairwise(groups))):
        return False
    if len(groups) > PAIRED_TIMES:
        return True  # (the first `PAIRED_TIMES` are whole: the latest may be too)
    return len(groups) >= 2 and counts[-1] == 2 if ended else None
