"""Times a file stores wrong or not at all, repaired before `TimestampShift` moves them onto one
timeline (the file's own timeline, in each stream's ticks).

`SoundClock` times sound whose packets carry no times, or whose clock stands still, by their
lengths; `StuckClock` places pictures whose clock stands still (an FLV's tags all at 0, an MP4's
`stts` all zero, a recorder frozen mid-file) at the stated rate, or within the time up to the next
picture (a muxer's repeats); `ClusterTimes` puts back a
Matroska cluster whose damaged timestamp sent it back among earlier ones, `ClustersAtOneTime`
places one after another the clusters of a Matroska whose clusters all carry one timestamp.
FFmpeg takes all of these as they are (its CLI keeps 3 of 50 pictures at one time). `SlotTimes`
times an AVI's reordered pictures as FFmpeg's tools show them.
"""

from __future__ import annotations

import bisect
import collections
import heapq
import itertools
import math
from fractions import Fraction
from pathlib import Path
from typing import Iterable, Iterator

import av

from realtime_adain.errors import UserError
from realtime_adain.video.matroska import matroska_clusters
from realtime_adain.notes import note
from realtime_adain.video.opening import open_input
from realtime_adain.video.sequence import ffmpeg_name
from realtime_adain.video.timestamps import MICROSECONDS, SPLICED_TYPES, STEP_BACK

# Pictures at one decode time at the start of a file that tell a clock standing still (`StuckClock`),
# and the most packets held at its start to tell it.
STILL_PICTURES = 3
STILL_HELD = 1024
# The most bytes of a run of pictures at one time held to tell where it ends (`StuckClock`): past
# it, placed a frame apart from the run's first picture.
STILL_HELD_BYTES = 32 << 20
# The steps between pictures a clock that stands still mid-file takes its rate from (`StuckClock`).
RATE_STEPS = 8
# The decode times at a file's start, each of exactly two pictures, that tell a muxer that stores
# every picture twice (`StuckClock`; one pair is a file's first two pictures, or a stray repeat).
PAIRED_TIMES = 4
# How many frames a picture may come before the furthest shown, by B-frames' reordering (H.264's
# most: 16), in Matroska's display order (`ClusterTimes`).
REORDERED = 16
# The most bytes of packets held behind an AVI's video packet waiting for its display time (`SlotTimes`).
SLOT_HELD_BYTES = 8 << 20
# The slowest stated frame rate taken to time pictures whose clock stands still (a slide a second).
SLOWEST_STATED = 1
# The most bytes of one cluster's packets held to place it (`ClustersAtOneTime`): past it, placed by those held.
CLUSTER_HELD = 32 << 20


class SoundClock:
    """Times the sound packets whose stored times cannot be played: those without a timestamp (an
    MPEG-TS or MPEG-PS whose audio PES headers carry none: dropped as the empty packet that ends a
    stream, the output had no sound at all), and those at the time of the packet before them (a
    clock that stands still: an FLV whose audio tags all say 0, a recorder's that froze mid-file:
    the output's sound lasted 23 ms, and a --start past it had none). Each goes where its stream's
    packet before it ends, the first at the file's start, as FFmpeg's tools time untimed sound (by
    the packets' lengths, kept exact: an FLV's rounded milliseconds ran 31 ms behind in 2 s).
    A clock stands still from `STILL_PICTURES` packets in a row at one time, as pictures' do
    (`StuckClock`), the second and later held until that is told: two may share one where sound
    was joined (our own Matroska output of joined MPEG-TS overlaps 16 ms there), and a repeat
    taken for a standstill moved the rest of that sound 27 ms late. Should a still clock run
    again, its packets go on from there, none before the sound placed. Applied (`packets`) before
    `TimestampShift`, on the file's own timeline, to a file read from its start (`untimed_in`,
    `clock_stands_still`, `lands_in_still_sound`: such a file is not seeked)."""

    def __init__(self, container: av.container.InputContainer, streams: Iterable[av.stream.Stream],
                 name: str = "") -> None:
        self.start = Fraction(container.start_time or 0) * MICROSECONDS
        self.name = name  # the file's, for the note
        self.sound = {s.index for s in streams if s.type == "audio"}
        self._ends: dict[int, int | Fraction] = {}  # stream index -> where its latest packet ends (ticks)
        # stream index -> [its latest packet's decode time as stored, ticks added to its times since its
        # clock stood still (0: never), whether that packet stood still, where it was placed (ticks)]
        self._clocks: dict[int, list] = {}
        self._stood: set[int] = set()  # the streams whose clock stood still (their repeats are placed)
        self._first: dict[int, int] = {}  # stream index -> its first packet's decode time as stored

    def packets(self, packets: Iterable[av.Packet], seeked: bool = False) -> Iterator[av.Packet]:
        """`packets`, the sound's timed (`apply`); from a sound packet at the time of the one before,
        every packet is held until its stream's next packet tells whether its clock stands still
        (`STILL_HELD` packets at most). `seeked`: read from where a seek landed (sound standing
        still there raises `SeekedIntoStill`: its place is told only by the sound before it)."""
        held: list[av.Packet] = []
        index, run = -1, 0  # the stream held for, and its packets in a row at one time
        for packet in packets:
            if not held:
                if self._repeats(packet) and packet.stream.index not in self._stood:
                    held, index, run = [packet], packet.stream.index, 2
                    continue
                yield self.apply(packet)
                continue
            held.append(packet)
            if packet.stream.index == index and packet.size:
                run = run + 1 if self._repeats(packet) else 0
                if run >= STILL_PICTURES:
                    if seeked and self._first.get(index) == self._clocks[index][0]:
                        raise SeekedIntoStill
                    self._stood.add(index)
                    note(f"{self.name}: the sound's timestamps stand still (packets at the time of the one before): "
                         "they are played one after another, by their lengths", once=True)
            if run >= STILL_PICTURES or not run or len(held) >= STILL_HELD:
                yield from map(self.apply, held)
                held = []
        yield from map(self.apply, held)

    def _repeats(self, packet: av.Packet) -> bool:
        """Whether `packet` (with data) is at the decode time of its sound stream's packet before it,
        one whose length is known."""
        index = packet.stream.index
        if index not in self.sound or not packet.size or index not in self._ends:
            return False
        clock = self._clocks.get(index)
        at = _time(packet)
        return clock is not None and at is not None and at == clock[0]

    def apply(self, packet: av.Packet) -> av.Packet:
        """`packet`, timed (in place, or a copy: one an MP4's edit list discarded at its stored time)."""
        index = packet.stream.index
        if index not in self.sound or not packet.time_base:
            return packet
        at = _time(packet)
        if at is None:
            if packet.size:  # (not the empty packet that ends the stream)
                self._after_last(packet, index)
            return packet
        clock = self._clocks.get(index)
        if clock is None:
            clock = self._clocks[index] = [None, 0, False, 0]
            self._first[index] = at
        if packet.size and at == clock[0] and index in self._stood and index in self._ends:
            if not clock[2]:
                length = self._length(packet)  # (the one before's, exact: its duration was rounded)
                if length and abs(clock[3] + length - self._ends[index]) < 1:
                    self._ends[index] = clock[3] + length
            clock[2] = True
            clock[1] = self._after_last(packet, index, still=True) - at
            # (an MP4's edit list discarded every packet at a time before its start: now played)
            return undiscarded(packet) if packet.is_discard and packet.pts >= 0 else packet
        if packet.size:
            if clock[2]:  # the clock runs again: from its own time, but not before the sound placed
                clock[1] = max(0, math.ceil(self._ends[index]) - at)
            clock[0], clock[2], clock[3] = at, False, at + clock[1]
        if clock[1]:
            packet.dts = None if packet.dts is None else packet.dts + clock[1]
            packet.pts = None if packet.pts is None else packet.pts + clock[1]
        duration = packet.duration or self._frame_ticks(packet)
        if duration:
            self._ends[index] = at + clock[1] + duration
        return packet

    def _after_last(self, packet: av.Packet, index: int, still: bool = False) -> int:
        """Time `packet` where its stream's packet before it ends (the first at the file's start);
        returns its time (ticks). One whose clock stands still (`still`) lasts its codec's frame
        where it has one: its duration is as made up as its time (an MP4 gave its last packet the
        track's whole 4 s, and the output's sound lasted 5.5 s under 1.5 s of pictures)."""
        placed = self._ends.get(index)
        if placed is None:
            placed = self.start / Fraction(packet.time_base)
        at = round(placed)
        packet.pts = packet.dts = at
        length = (self._frame_length(packet) or packet.duration) if still else self._length(packet)
        if length:
            self._ends[index] = placed + length
            if still:
                packet.duration = round(placed + length) - at
        return at

    def _length(self, packet: av.Packet) -> int | Fraction:
        """`packet`'s length in ticks: its codec's frame size, exact (a duration in milliseconds is
        rounded: placed by them, FLV's sound ran 31 ms behind in 2 s), or its own duration (a codec
        whose frames vary; 0: not known)."""
        length = self._frame_length(packet)
        if not length or (packet.duration and abs(packet.duration - length) >= 1):
            return packet.duration or 0
        return length

    @staticmethod
    def untimed_in(container: av.container.InputContainer, streams: Iterable[av.stream.Stream]) -> bool:
        """Whether a sound stream among `streams` stores its first packet without a timestamp (in
        `container`, read from its start). After a byte seek the demuxer makes up times from zero
        for such packets: a late --start in a long TS lost its sound."""
        sound = [s for s in streams if s.type == "audio"]
        return any(times[:1] == [None] for times in first_times(container, sound, 1).values())

    @staticmethod
    def _frame_length(packet: av.Packet) -> Fraction:
        """One packet's length from its codec's frame size, in ticks, exact (0 where that is not fixed)."""
        context = packet.stream.codec_context
        if not context.frame_size or not context.sample_rate:
            return Fraction(0)
        return Fraction(context.frame_size, context.sample_rate) / Fraction(packet.time_base)

    @staticmethod
    def _frame_ticks(packet: av.Packet) -> int:
        """One packet's length from its codec's frame size, in whole ticks (0 where that is not fixed)."""
        return round(SoundClock._frame_length(packet))


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
            at = _time(packet)
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
                times.append(_time(packet))
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
        pictures = [p for p in held if p.stream is self.stream and p.size and _time(p) is not None]
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
            moved[id(picture)] = self._moved(picture, places[n] - _time(picture), round(offset * scale) - offset)
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
        at = _time(packet)
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
        if kind == "pairs":
            note(f"{self.name}: every picture is stored twice, at one timestamp (a muxer's repeats): each pair is "
                 f"spread evenly over the time up to the next picture, at most a frame apart at {rate} fps", once=True)
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


def undiscarded(packet: av.Packet) -> av.Packet:
    """A copy of `packet` without its discard flag (its data, times and keyframe flag)."""
    copy = av.Packet(bytes(packet))
    copy.stream, copy.time_base = packet.stream, packet.time_base
    copy.pts, copy.dts, copy.duration = packet.pts, packet.dts, packet.duration
    copy.is_keyframe = packet.is_keyframe
    return copy


class SeekedIntoStill(Exception):
    """The pictures or the sound stand still where a seek landed: where they belong is told only
    by those before them (the file is read again from its start)."""


def clock_stands_still(container: av.container.InputContainer, streams: Iterable[av.stream.Stream]) -> bool:
    """Whether one of `streams` (pictures or sound) has its first `STILL_PICTURES` packets at one
    decode time (`container` read from its start): an index of such times seeks anywhere (an MP4's
    pictures all at one time; its sound all at one time: a seek left one packet of it)."""
    return any(len(times) == STILL_PICTURES and None not in times and len(set(times)) == 1
               for times in first_times(container, streams, STILL_PICTURES).values())


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


def first_times(container: av.container.InputContainer, streams: Iterable[av.stream.Stream], count: int,
                limit: int = 8 << 20) -> dict[int, list[int | None]]:
    """Stream index -> the decode times (else presentation; None: none stored) of the first `count`
    packets with data of each of `streams`, `container` read from its start, at most `limit` bytes."""
    streams = list(streams)
    times: dict[int, list[int | None]] = {s.index: [] for s in streams}
    waiting, read = set(times), 0
    for packet in container.demux(*streams) if waiting else ():
        read += packet.size
        got = times.get(packet.stream.index)
        if packet.size and got is not None and len(got) < count:
            got.append(_time(packet))
            if len(got) == count:
                waiting.discard(packet.stream.index)
        if not waiting or read > limit:
            break
    return times


def lands_in_still_sound(path: Path, video: int, sound: Iterable[int], timestamp: int, limit: int = 8 << 20) -> bool:
    """Whether a seek of `path`'s video stream (index `video`) to `timestamp` (its ticks, backward,
    as `seeking.seek_to_segment` seeks) lands one of the `sound` streams in a stretch whose clock stands
    still: an MP4's index puts every sound sample after the freeze at the time it froze, so the
    seek gave the sound only the last of them, ended long before the pictures it landed at (the
    rest was dropped as before --start: the output had no sound). Told where a sound stream's
    first packet there ends more than `STEP_BACK` before the first picture, and `STILL_PICTURES`
    packets in a row stand at its time (sound that ended early does not). Such a file is read
    from its start, where `SoundClock` places those packets."""
    try:
        with open_input(ffmpeg_name(path)) as probe:
            picture = probe.streams[video]
            probe.seek(timestamp, backward=True, stream=picture)
            landed = _first_packets(probe, [picture, *(probe.streams[i] for i in sound)], limit)
            first = landed.pop(video, None)
            if first is None:
                return False
            pictures_at = _time(first) * Fraction(first.time_base)
            behind = [(index, _time(packet)) for index, packet in landed.items()
                      if _ends(packet) < pictures_at - STEP_BACK]
            return any(_stands_still_at(probe, probe.streams[index], at) for index, at in behind)
    except (av.error.FFmpegError, IndexError):
        return False


def _first_packets(container: av.container.InputContainer, streams: list[av.stream.Stream],
                  limit: int) -> dict[int, av.Packet]:
    """Stream index -> the first timed packet with data of each of `streams`, read from where
    `container` is, at most `limit` bytes."""
    found: dict[int, av.Packet] = {}
    read = 0
    for packet in container.demux(*streams):
        read += packet.size
        if packet.size and packet.stream.index not in found and _time(packet) is not None and packet.time_base:
            found[packet.stream.index] = packet
            if len(found) == len(streams):
                break
        if read > limit:
            break
    return found


def _stands_still_at(container: av.container.InputContainer, stream: av.stream.Stream, at: int) -> bool:
    """Whether `STILL_PICTURES` packets of `stream` in a row stand at decode time `at` (its ticks),
    read from the packet before them (`STILL_HELD` packets at most)."""
    container.seek(at - 1, backward=True, stream=stream)
    run = 0
    for count, packet in enumerate(container.demux(stream)):
        time = _time(packet)
        if count > STILL_HELD or (time is not None and time > at):
            return False
        if packet.size:
            run = run + 1 if time == at else 0
            if run >= STILL_PICTURES:
                return True
    return False


def _ends(packet: av.Packet) -> Fraction:
    """Where a (timed) packet stops playing (s)."""
    return (_time(packet) + (packet.duration or 0)) * Fraction(packet.time_base)


def _time(packet: av.Packet) -> int | None:
    """A packet's decode time, else its presentation time (None: neither stored)."""
    return packet.dts if packet.dts is not None else packet.pts


def stated_rate(stream: av.stream.Stream) -> Fraction | None:
    """The first rate `stream` states that can time pictures (its average: an FLV's onMetaData,
    an MP4's frames over its duration, a Matroska track's default duration; else its codec's):
    at least `SLOWEST_STATED`, and under one frame a tick (an FLV's onMetaData may say -25 or
    1000 fps, FFmpeg's most, one frame a tick of 1 ms or less: 50 pictures within 50 ms; or
    0.001 fps, 2 s of sound under 13.6 hours of pictures)."""
    tick = Fraction(stream.time_base) if stream.time_base else None
    return next((Fraction(rate) for rate in (stream.average_rate, stream.codec_context.framerate)
                 if rate and rate >= SLOWEST_STATED and (tick is None or rate * tick < 1)), None)


class ClustersAtOneTime:
    """Matroska (WebM) whose clusters all carry one Timestamp (0: a broken muxer's or recorder's),
    their blocks' times relative to it: every cluster's packets, sound and pictures alike, were
    shown from that time again, each cluster a tenth of a second over the ones before (50 pictures
    within 0.71 s, unevenly; FFmpeg's CLI keeps 4 of them). Each cluster is placed after the one
    before, every packet of it moved by one amount (the times within it are right): its earliest
    picture one frame after the pictures before it at the rate the file states (counted from the
    first, so that 29.97 fps does not drift by milliseconds), else (no rate stated, no picture in
    it) where the sound before it ends. Told from the Segment's clusters (`matroska_clusters`);
    each cluster's packets held until its last is read (`CLUSTER_HELD` bytes at most). Applied
    before `TimestampShift`, to a file read from its start (its index puts every picture at that
    time: it is not seeked)."""

    def __init__(self, name: str, places: list[int], stream: av.stream.Stream) -> None:
        self.name = name
        self.places = places  # where each cluster begins (bytes), in file order
        self.video = stream
        self.rate = stated_rate(stream)
        self.stretches = 0  # (as `ClusterTimes`: none of its stretches)
        self._offset: Fraction | None = None  # seconds added to the times of the cluster being placed
        self._first: Fraction | None = None  # the first cluster's earliest picture (s)
        self._pictures = 0  # pictures placed
        self._shown = Fraction(0)  # where the pictures placed stop showing (s)
        self._heard: Fraction | None = None  # where the sound placed stops (s)
        self._placed = 0  # clusters placed

    @classmethod
    def of(cls, path: Path, stream: av.stream.Stream) -> "ClustersAtOneTime | None":
        """The repair where `path`'s clusters (`STILL_PICTURES` or more) all carry one Timestamp; else None."""
        found = matroska_clusters(path)
        if found is None or len(found[1]) < STILL_PICTURES or len(set(found[1])) > 1:
            return None
        return cls(path.name, found[0], stream)

    def packets(self, packets: Iterable[av.Packet]) -> Iterator[av.Packet]:
        held: list[av.Packet] = []
        cluster, size = -1, 0
        for packet in packets:
            known = packet.pos is not None and packet.pos >= 0  # (not the empty packets that end the file)
            at = bisect.bisect_right(self.places, packet.pos) - 1 if known else None
            if at is not None and at != cluster:
                yield from self._place(held)
                held, cluster, size, self._offset = [], at, 0, None
            held.append(packet)
            size += packet.size
            if size > CLUSTER_HELD:
                yield from self._place(held)
                held, size = [], 0
        yield from self._place(held)

    def _place(self, held: list[av.Packet]) -> list[av.Packet]:
        """`held` (one cluster's packets, or its first `CLUSTER_HELD` bytes), moved after the clusters before."""
        timed = [p for p in held if p.size and p.time_base and p.pts is not None]
        pictures = [p.pts * Fraction(p.time_base) for p in timed if p.stream is self.video]
        sound = [p.pts * Fraction(p.time_base) for p in timed if p.stream.type == "audio"]
        if self._offset is None and timed:
            # (the first cluster as stored)
            self._offset = self._after_before(pictures, sound) if self._placed else Fraction(0)
            self._placed += 1
            if self._placed == 2:
                rate = "" if self.rate is None else f", its pictures at the rate it states, {float(self.rate):.6g} fps"
                note(f"{self.name}: every cluster has the same timestamp: each is placed after the one before{rate}",
                     once=True)
        offset = self._offset or Fraction(0)
        if self._first is None and pictures:
            self._first = min(pictures) + offset
        for packet in held:
            if not packet.time_base:
                continue
            tb = Fraction(packet.time_base)
            shift = round(offset / tb)
            if packet.pts is not None:
                packet.pts += shift
            if packet.dts is not None:
                packet.dts += shift
            if packet.stream is self.video and packet.size:
                self._pictures += 1
            if packet.size and packet.pts is not None:
                if packet.stream is self.video:
                    self._shown = max(self._shown, (packet.pts + (packet.duration or 0)) * tb)
                elif packet.stream.type == "audio":  # (by its exact length: 21.33 ms stored as 21 lost 7 ms in 2 s)
                    end = (packet.pts + (SoundClock._frame_length(packet) or packet.duration or 0)) * tb
                    self._heard = end if self._heard is None else max(self._heard, end)
        return held

    def _after_before(self, pictures: list[Fraction], sound: list[Fraction]) -> Fraction:
        """The seconds that place a cluster (its pictures' and sound's stored times) after the
        ones before: its first sound where the sound before ends (sound runs on: B-frames in
        clusters of a packet or two put pictures out of the order they are shown, which counting
        them cannot tell), else its earliest picture one frame after the pictures before; then,
        at a stated rate, its pictures on that rate's grid from the first (their exact steps:
        the sound's milliseconds would wander)."""
        if sound and self._heard is not None:
            offset = self._heard - min(sound)
        elif pictures and self.rate and self._first is not None:
            offset = self._first + self._pictures / self.rate - min(pictures)
        else:
            offset = max(self._shown, self._heard or 0) - min(pictures or sound)
        if pictures and self.rate and self._first is not None:
            slot = round((min(pictures) + offset - self._first) * self.rate)
            offset = self._first + slot / self.rate - min(pictures)
        return offset

    def note_repairs(self) -> None:
        """(Said as the clusters are placed.)"""


class ClusterTimes:
    """Matroska (WebM) whose cluster has a damaged Timestamp element: every packet of that cluster,
    sound and pictures alike, is 0.8 s back, shown among those before it (interleaved: 7 pictures
    out of order, the sound "not increasing"), and the next cluster carries on from before it.
    Matroska stores display times, so a jump is no splice as in MPEG-TS (and a gap forward is a
    pause); but times that go back are damage. A sound packet back by more than `STEP_BACK` from
    the furthest its stream was shown begins a stretch, moved on from there. Pictures are judged
    as their decoder releases them (`DecodedPictures`): after a pause, a B-frame shown before it is
    stored after the picture beyond it, and judged against that picture it was moved across the
    pause, with notes of damage. A picture released before one already shown may begin a stretch:
    the packets from it on are held until the stretch's earliest picture is in (the first stored,
    a P-frame, is shown after the B-frames stored after it: moved on from it, a cluster 0.9 s back
    kept it 0.9 s early and the rest 40 ms off, on pictures taken), and where that one goes, right
    after the pictures before it, is back by more than pictures may be (`STEP_BACK` and
    `REORDERED` frames), the stretch begins, moved by that much. A packet that goes on from the
    times before the stretch (and on the stretch's lands ahead) ends it: a damaged cluster, put
    back where it belongs. A stretch that does not end (the times went back for good) goes on from
    where it began, as joined FLV does. Applied before `TimestampShift`."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.offset = Fraction(0)  # seconds added to every packet's times (non-zero within a stretch)
        self.version = 0  # counts the changes of `offset`
        self.stretches = 0  # stretches begun
        self.repaired = 0  # ... and ended (damaged clusters)
        self._streams: dict[int, _ClusterTrack] = {}

    def packets(self, packets: Iterable[av.Packet]) -> Iterator[av.Packet]:
        waiting: list[av.Packet] = []  # from a picture released out of order until its stretch's earliest is in
        pictures = size = 0  # (of those: pictures of its stream, bytes)
        for packet in packets:
            if waiting:
                waiting.append(packet)
                pictures += packet.stream_index == waiting[0].stream_index and packet.size > 0
                size += packet.size
                if pictures <= self._streams[waiting[0].stream_index].pictures.depth and size <= CLUSTER_HELD:
                    continue
                yield from self._settle(waiting)
                waiting = []
            elif self.apply(packet):
                waiting, pictures, size = [packet], 1, packet.size
            else:
                yield packet
        yield from self._settle(waiting)

    def apply(self, packet: av.Packet, judged: bool = True) -> bool:
        """Moves `packet` by the stretch it is in. True, and not moved yet: a picture released before
        one already shown, which may begin a stretch (`_settle`); never where not `judged`."""
        track = self._streams.get(packet.stream_index)
        if track is None:
            if not packet.time_base:
                return False
            track = self._streams[packet.stream_index] = _ClusterTrack(packet)
        at = _display_time(packet)
        if at is None:
            return False
        if track.version != self.version:
            track.shift, track.version = round(self.offset / track.tb), self.version
        if track.spliced and packet.size:
            length = packet.duration or 0
            if track.top is not None:
                if self.offset and abs(at - track.top) <= track.allowed < at + track.shift - track.top:
                    self._move(Fraction(0))  # the times before the stretch go on: it was damaged
                    self.repaired += 1
                    track.shift, track.version = 0, self.version
                elif track.pictures is not None:
                    late = track.pictures.out_of_order(at + track.shift, length, track.allowed)
                    if late and judged:
                        return True
                elif at + track.shift < track.top - track.allowed:
                    self._move((track.top - at) * track.tb)  # on from the furthest shown
                    self.stretches += 1
                    track.shift, track.version = track.top - at, self.version
            end = at + length + track.shift
            if track.top is None or end > track.top:
                track.top = end
            if track.pictures is not None:
                track.pictures.decode(at + track.shift, length)
        if track.shift:
            packet.pts = None if packet.pts is None else packet.pts + track.shift
            packet.dts = None if packet.dts is None else packet.dts + track.shift
        return False

    def _settle(self, waiting: list[av.Packet]) -> Iterator[av.Packet]:
        """`waiting`: a picture released out of order (`apply`), the packets after it, its stream's
        earliest among them. Where that picture goes, right after the pictures before it, is back
        by more than pictures may be: a stretch begins, moved by that much; else all stay."""
        if not waiting:
            return
        index = waiting[0].stream_index
        track = self._streams[index]
        times = (_display_time(p) for p in waiting if p.stream_index == index and p.size)
        earliest = min(time for time in times if time is not None)
        landing = track.pictures.landing()
        if landing - earliest - track.shift > track.allowed:
            self._move((landing - earliest) * track.tb)
            self.stretches += 1
        for packet in waiting:
            self.apply(packet, judged=packet.stream_index != index)
            yield packet

    def _move(self, offset: Fraction) -> None:
        self.offset, self.version = offset, self.version + 1

    def note_repairs(self) -> None:
        """Say what was put back (once, when the whole file was read)."""
        if self.repaired:
            clusters = "a cluster" if self.repaired == 1 else f"{self.repaired} clusters"
            note(f"{self.name}: the times of {clusters} go back (a damaged cluster timestamp); its packets "
                 "are put back between the clusters before and after it", once=True)
        if self.stretches > self.repaired:
            note(f"{self.name}: the timestamps go back mid-file and stay back; the timeline continues from where it "
                 "was, as FFmpeg continues joined MPEG-TS", once=True)


def _display_time(packet: av.Packet) -> int | None:
    """A packet's presentation time, else its decode time (None: neither stored)."""
    return packet.dts if packet.pts is None else packet.pts


class _ClusterTrack:
    """What `ClusterTimes` keeps of one stream, in whole ticks, as `TimestampShift` keeps them
    (Fractions per packet were most of a read)."""

    __slots__ = ("tb", "shift", "version", "top", "allowed", "spliced", "pictures")

    def __init__(self, packet: av.Packet) -> None:
        stream = packet.stream
        self.tb = Fraction(packet.time_base)
        self.shift = 0  # `ClusterTimes.offset` in its ticks ...
        self.version = 0  # ... of this version of it
        self.top: int | None = None  # the furthest a packet of it ends (moved; None: nothing yet)
        self.allowed = math.floor(self._allowance(stream) / self.tb)  # how far back its packets may come
        self.spliced = stream.type in SPLICED_TYPES  # (sound or pictures)
        self.pictures = DecodedPictures(stream.codec_context.reorder_depth) if stream.type == "video" else None

    @staticmethod
    def _allowance(stream: av.stream.Stream) -> Fraction:
        """How far back from the furthest shown a packet of `stream` may come: pictures by their
        reordering, at the slower of the rates FFmpeg gives (a variable rate's guess may be
        Matroska's 1000 fps)."""
        if stream.type != "video":
            return STEP_BACK
        rate = min((Fraction(r) for r in (stream.average_rate, stream.guessed_rate) if r), default=Fraction(25))
        return STEP_BACK + REORDERED / rate


class DecodedPictures:
    """A picture stream's decoder as `ClusterTimes` follows it (ticks, as moved): it releases the
    earliest of the pictures it holds once it holds more than its reorder depth. That depth is
    the header's, raised where a picture is shown before more of those decoded before it
    (`_learn`): a header may say none (recordings joined, the first without B-frames: a
    picture before a pause was moved across it)."""

    def __init__(self, depth: int) -> None:
        self.depth = depth
        self.held: list[tuple[int, int]] = []  # (end, start) of the pictures decoded and not released: a heap
        self.shown: int | None = None  # where the furthest released ends (None: none yet)
        self.recent: collections.deque[tuple[int, int]] = collections.deque(maxlen=REORDERED + 1)  # (start, end)

    def out_of_order(self, start: int, length: int, allowed: int) -> bool:
        """Whether the picture at `start` (lasting `length`) is released before one already shown,
        once the depth is learnt from it (`allowed`: how far back pictures may come)."""
        self._learn(start, length, allowed)
        if self.shown is None or len(self.held) < self.depth:
            return False  # (it is held)
        released = start + length if not self.held else min(start + length, self.held[0][0])
        return released < self.shown

    def _learn(self, start: int, length: int, allowed: int) -> None:
        """Raises the depth where more of the pictures decoded before this one are shown after it,
        where it fills a gap among them as a B-frame does: on no time taken, and no further than
        `allowed` on from where the pictures before it end (a damaged cluster's lands on times
        taken, or further back than B-frames go, or well within a pause)."""
        later = [s for s, _ in self.recent if s > start]
        if not self.depth < len(later) <= REORDERED:
            return
        end = start + max(length, 1)
        if any(min(end, e) - max(start, s) > length // 4 for s, e in self.recent):
            return  # (on a time taken)
        if start - max((e for s, e in self.recent if s < start), default=start) <= allowed:
            self.depth = len(later)
            if self.shown is not None:  # (those shown after it were held, not shown)
                self.shown = min(self.shown, start)

    def decode(self, start: int, length: int) -> None:
        self.recent.append((start, start + max(length, 1)))
        heapq.heappush(self.held, (start + length, start))
        if len(self.held) > self.depth:
            released, _ = heapq.heappop(self.held)
            if self.shown is None or released > self.shown:
                self.shown = released

    def landing(self) -> int:
        """Where the next picture shown goes: after those released and the ones held that follow on from them."""
        at = self.shown
        for end, start in sorted(self.held, key=lambda held: held[1]):
            if start > at + (end - start) // 2:
                break
            at = max(at, end)
        return at


class SlotTimes:
    """An AVI stores no display times, only a decode slot per video packet. FFmpeg's tools show
    each picture at the slot of the packet whose decoding releases it, `reorder_depth` packets
    later (2 for H.264's B-pyramid); libavformat's guess for a packet is the next one's slot, so
    with a depth over one every picture came a slot early against the sound (and against
    `ffmpeg`'s own reading of the file). Each video packet waits for the packet `depth` on
    (packets behind it keep their places, at most `SLOT_HELD_BYTES`, past which the one waiting
    takes the earliest slot that packet could have: a slot apart from the newest); the last ones go on a slot apart, as FFmpeg's CLI places the pictures it
    gets no slot for. Applied before `TimestampShift`, on the file's own timeline."""

    def __init__(self, stream: av.stream.Stream) -> None:
        self.stream = stream
        self.depth = stream.codec_context.reorder_depth
        self._held: collections.deque[av.Packet] = collections.deque()
        self._waiting: collections.deque[av.Packet] = collections.deque()  # held video packets without their time
        self._bytes = 0
        self._given: int | None = None  # the latest time given to a packet

    @staticmethod
    def of(container: av.container.InputContainer, stream: av.stream.Stream) -> "SlotTimes | None":
        """For an AVI whose decoder reorders by more than libavformat's guess allows; else None."""
        wanted = container.format.name == "avi" and stream.codec_context.reorder_depth > 1
        return SlotTimes(stream) if wanted else None

    def packets(self, packets: Iterable[av.Packet]) -> Iterator[av.Packet]:
        for packet in packets:
            video = packet.stream is self.stream
            if video and packet.dts is not None and packet.size:
                if len(self._waiting) == self.depth:
                    self._give(packet.dts)
                    yield from self._release()
                self._waiting.append(packet)
            elif video:  # (the flush packet, or one without a slot: the ones waiting go on from the last)
                yield from self._finish()
            if not self._waiting:
                yield packet
                continue
            self._held.append(packet)
            self._bytes += packet.size
            if self._bytes > SLOT_HELD_BYTES:  # (the packets still to come are a slot apart at least)
                self._give(self._waiting[-1].dts + self.depth - len(self._waiting) + 1)  # (`depth` on from the first)
                yield from self._release()
        yield from self._finish()

    def _release(self) -> Iterator[av.Packet]:
        """The held packets up to the first video packet still waiting."""
        while self._held and (not self._waiting or self._held[0] is not self._waiting[0]):
            packet = self._held.popleft()
            self._bytes -= packet.size
            yield packet

    def _give(self, slot: int) -> None:
        """The first packet waiting shown at `slot`, past every time given before (a slot taken
        where the bound cut the wait short would otherwise be given twice)."""
        if self._given is not None:
            slot = max(slot, self._given + 1)
        self._waiting.popleft().pts = self._given = slot

    def _finish(self) -> Iterator[av.Packet]:
        if self._waiting:
            last = self._waiting[-1].dts
            while self._waiting:
                self._give(last + 1)
        yield from self._release()
