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

import collections
import math
from fractions import Fraction
from pathlib import Path
from typing import Iterable, Iterator

import av

from realtime_adain.errors import UserError
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
# Pictures at one decode time at the start of a file that tell a clock standing still (`StuckClock`),
# and the most packets held at its start to tell it.
STILL_PICTURES = 3
STILL_HELD = 1024
# The steps between pictures a clock that stands still mid-file takes its rate from (`StuckClock`).
RATE_STEPS = 8
# How many frames a picture may come before the furthest shown, by B-frames' reordering (H.264's
# most: 16), in Matroska's display order (`ClusterTimes`).
REORDERED = 16
# The slowest stated frame rate taken to time pictures whose clock stands still (a slide a second).
SLOWEST_STATED = 1


class Heading:
    """Where a stream was heading, in ticks of its time base `time_base` on the timeline of
    `offset` (one version of `TimestampShift.offset`, of splice `segment`): kept in ticks so that
    packets between splices are checked in integers (Fractions per packet were most of a read that
    decodes nothing)."""

    __slots__ = ("next", "last", "offset", "version", "segment", "time_base")

    def __init__(self, next_: int, last: int, offset: Fraction, version: int, segment: int,
                 time_base: Fraction) -> None:
        self.next, self.last, self.offset, self.version = next_, last, offset, version
        self.segment, self.time_base = segment, time_base

    def seconds(self, ticks: int) -> Fraction:
        return ticks * self.time_base + self.offset


class TimestampShift:
    """Shifts every packet's timestamps in place (`apply`), before decoding or copying.

    Splices are found on one stream at a time, and a muxer interleaves by its own clock: in `cat
    a.ts a.ts` the second file's sound came before the first file's last pictures (and its KLV
    among them). So each stream keeps the offset of the segment it is reading until its own
    packets leave it (`_still_before`); moved by the newest offset, the first file's last pictures
    went 3 s ahead, and the second file's first ones then read as another splice (video 9 s
    long instead of 6, with a 3 s hole, as the FFmpeg 5 CLI also gives)."""

    def __init__(self, container: av.container.InputContainer, name: str) -> None:
        self.name = name  # the file's, for the note
        # (and FLV, whose demuxer does not say so: a live stream recorded across a reconnect starts
        # its clock again, and the pictures after it were shown among those before, 50 in 1.2 s)
        self.splices = (bool(container.format.flags & av.format.Flags.ts_discont.value)
                        or container.format.name == "flv")
        self.offset = -Fraction(container.start_time or 0) * MICROSECONDS  # seconds added to every time
        self.start_offset = self.offset  # before any splice: what moves the file's own start (chapters, duration)
        self.version = 0  # counts the changes of `offset`
        self.segment = 0  # counts the splices: `offset` belongs to this one
        self._offsets: dict[int, Fraction] = {0: self.offset}  # segment -> its offset (the latest, once it ended)
        self._heading: dict[int, Heading] = {}  # audio or video stream index -> where its next dts is expected
        # another stream's index -> (the segment its latest packet was in, that packet's decode time,
        # the offset that placed it: its segment's may move since, `_move`)
        self._sparse: dict[int, tuple[int, int, Fraction]] = {}
        # stream index -> where its latest picture stops showing: (ticks, on the timeline of this offset, its version)
        self._shown: dict[int, tuple[int, Fraction, int]] = {}
        self._limits: dict[int, tuple[int, int]] = {}  # stream index -> (`_within` JUMP_SECONDS, STEP_BACK)
        self._shifts: dict[int, int] = {}  # stream index -> `offset` in its time base's ticks (this version)
        self.jumps = 0  # splices found (a stream each: audio and video may jump at different packets)
        self._guessed = False  # whether the current segment was begun by a data stream, no sound or picture in it yet
        # (stream index, its heading, the offset and segment) before the latest splice, while that
        # splice is one packet old (`_lone_jump`)
        self._before_splice: tuple[int, Heading, Fraction, int] | None = None

    def note_jumps(self) -> None:
        """Say that the timeline was joined across splices (once, when the whole file was read)."""
        if self.jumps:
            note(f"{self.name}: the timestamps jump (segments joined together); "
                 "the timeline continues across them, as FFmpeg does in MPEG-TS and MPEG-PS")

    def ticks(self, time_base: Fraction) -> int:
        """The current offset in ticks of `time_base`."""
        return round(self.offset / time_base)

    def start_ticks(self, time_base: Fraction) -> int:
        """The offset before any splice in ticks of `time_base`: where the file's start went."""
        return round(self.start_offset / time_base)

    def _within(self, index: int, tb: Fraction) -> tuple[int, int]:
        """The most whole ticks of stream `index`'s time base `tb` that `JUMP_SECONDS` and
        `STEP_BACK` hold: a difference of d ticks exceeds one exactly when d exceeds its count.
        (Kept per stream: hashing a Fraction costs more than the check.)"""
        limits = self._limits.get(index)
        if limits is None:
            limits = self._limits[index] = (math.floor(JUMP_SECONDS / tb), math.floor(STEP_BACK / tb))
        return limits

    def _move(self, by: Fraction, splice: bool = False) -> None:
        """Move the current segment's offset by `by` seconds, or (`splice`) begin a new segment there."""
        if splice:
            self.segment += 1
            self.jumps += 1
            # (only the segments a stream is still reading are kept: a file can splice at every packet)
            reading = {h.segment for h in self._heading.values()} | {s[0] for s in self._sparse.values()}
            self._offsets = {n: o for n, o in self._offsets.items() if n in reading}
        self.offset += by
        self._offsets[self.segment] = self.offset
        self.version += 1
        self._shifts = {}

    def _after_shown(self, packet: av.Packet, tb: Fraction) -> None:
        """Move the timeline on, after a splice, so that `packet` (the new segment's first) is shown
        no earlier than the segment before it stops showing. Continuing decode times alone gives
        the new segment the old one's reorder delay: 25 fps joined to 50 fps with B-frames put the
        first 50 fps picture at the last 25 fps one's time (two frames at one time: the muxer
        moved one a tick, and `ffmpeg -i out.mp4` then said "non monotonically increasing dts")."""
        shown = self._shown.get(packet.stream.index)
        if packet.pts is not None and shown is not None:
            until = shown[0] * tb + shown[1]
            if packet.pts * tb + self.offset < until:
                self._move(until - (packet.pts * tb + self.offset))

    def _jumped(self, heading: Heading, at: int, has_dts: bool, tb: Fraction, limits: tuple[int, int],
                offset: Fraction | None = None) -> bool:
        """As FFmpeg: far from where the stream was heading, or back by more than a tenth of a
        second (a decode time: pts alone may reorder); moved by `offset` (None: the current one)."""
        if offset is None and heading.version == self.version:  # (the same timeline: in ticks)
            jump, back = limits
            return abs(at - heading.next) > jump or (has_dts and heading.last - at > back)
        now = at * tb + (self.offset if offset is None else offset)
        return (abs(now - heading.seconds(heading.next)) > JUMP_SECONDS
                or (has_dts and now + STEP_BACK < heading.seconds(heading.last)))

    def _still_before(self, packet: av.Packet, at: int, tb: Fraction, segment: int,
                      heading: Heading | None, limits: tuple[int, int]) -> bool:
        """Whether `packet` (decode time `at`) belongs to `segment`, one its stream was reading
        before the latest splice (found on another stream, or this one a packet ago): sound and
        pictures go on from where their stream was heading there; other packets (subtitles, data:
        seconds or minutes apart) are placed where they land nearer the sound and pictures read
        last, as muxers interleave them, and no further from them than `JUMP_SECONDS` (a KLV
        packet at a random time, nearer there than on the newest offset, went 22 hours on)."""
        before = self._offsets[segment]
        if heading is not None:
            return not self._jumped(heading, at, packet.dts is not None, tb, limits, before)
        if not self._heading:
            return False
        now, there = at * tb, self._there()
        return abs(now + before - there) < min(abs(now + self.offset - there), JUMP_SECONDS)

    def _lone_jump(self, packet: av.Packet, dts: int, tb: Fraction, limits: tuple[int, int]) -> None:
        """Undo the splice the packet before `packet` (of its stream) began, where `packet` goes on
        from before it and no other stream has reached the new segment: that one timestamp was
        damaged (it was placed where its stream was heading, which is right). One PTS 0.8 s back
        in a TS moved every picture after it 0.88 s past its sound, for good (FFmpeg moves all
        streams: a gap in each)."""
        index, heading, offset, segment = self._before_splice
        self._before_splice = None
        if (self._jumped(heading, dts, packet.dts is not None, tb, limits, offset)
                or any(h.segment == self.segment for i, h in self._heading.items() if i != index)
                or any(s[0] == self.segment for s in self._sparse.values())):
            return
        self._offsets.pop(self.segment, None)
        self.segment, self.jumps = segment, self.jumps - 1
        self._move(offset - self.offset)
        self._heading[index] = heading

    def _there(self) -> Fraction:
        """Where the sound and pictures read last are (seconds: the latest of their decode times)."""
        return max(h.seconds(h.last) for h in self._heading.values())

    def _joined(self, heading: Heading, at: int, packet: av.Packet, tb: Fraction, limits: tuple[int, int]) -> int | None:
        """The segment, begun since this sound or picture stream's own (`heading`'s) and before the
        newest, that another sound or picture stream is reading and that its packet at `at` goes
        on in without a jump (None: none): the second file's sound began it, then a KLV packet at
        a random time began the newest; the pictures went on that one's offset, 27 ms off the
        sound at every join."""
        reading = {h.segment for h in self._heading.values()} - {heading.segment, self.segment}
        for segment in sorted(reading, reverse=True):
            if not self._jumped(heading, at, packet.dts is not None, tb, limits, self._offsets[segment]):
                return segment
        return None

    def _reached(self, at: Fraction | None = None) -> Fraction:
        """The furthest the timeline was read to: `at` (seconds), or where a sound or picture
        stream was heading."""
        return max([*([] if at is None else [at]), *(h.seconds(h.next) for h in self._heading.values())])

    def _sparse_jumped(self, sparse: tuple[int, int, Fraction] | None, at: int, tb: Fraction, limits: tuple[int, int],
                       leaving: bool = False) -> bool:
        """Whether a packet of a stream that is not sound or pictures (KLV, ID3, subtitles: they
        may be minutes apart, but go forward), read while sound and pictures are, at decode time
        `at`, begins a new segment: back by more than STEP_BACK from its stream's latest packet
        (`sparse`: its segment and decode time), or more than JUMP_SECONDS ahead of where sound
        and pictures are heading (a file joined to one that starts 26 hours later, at a 33-bit
        wrap's end, put its first KLV packet 26 hours on). One `leaving` an older segment (that it
        does not fit, `_still_before`) begins one where the newest offset puts it more than
        JUMP_SECONDS from the sound and pictures, either way (random times put KLV hours away)."""
        if not self._heading:
            return False
        if leaving:
            return abs(at * tb + self.offset - self._there()) > JUMP_SECONDS
        if sparse is not None and sparse[1] - at > limits[1]:
            return True
        return at * tb + self.offset - self._reached() > JUMP_SECONDS

    def apply(self, packet: av.Packet) -> None:
        index = packet.stream.index
        shift = self._shifts.get(index)
        if shift is None or self.splices:  # (a file that cannot splice: one look-up a packet, no Fraction)
            time_base = packet.time_base
            if not time_base:
                return
            tb = time_base if isinstance(time_base, Fraction) else Fraction(time_base)
            older = self._follow(packet, index, tb) if self.splices else None
            if older is not None:
                shift = round(older / tb)
            else:
                shift = self._shifts.get(index)
                if shift is None:
                    shift = self._shifts[index] = self.ticks(tb)
        if shift:
            if packet.dts is not None:
                packet.dts += shift
            if packet.pts is not None:
                packet.pts += shift

    def _follow(self, packet: av.Packet, index: int, tb: Fraction) -> Fraction | None:
        """Find splices at `packet` (a stream whose format allows them); returns the offset of the
        segment before the latest splice where `packet` is still in it (None: the current one)."""
        limits = self._within(index, tb)
        if packet.pts is not None and packet.dts is not None and abs(packet.pts - packet.dts) > limits[0]:
            # MPEG-PS gives a segment's last packet the next segment's clock as its pts: keep its dts only.
            packet.pts = None if packet.stream.type == "video" else packet.dts
        dts = packet.dts if packet.dts is not None else packet.pts
        if dts is None:
            return None
        spliced = packet.stream.type in SPLICED_TYPES
        if spliced and self._before_splice is not None and self._before_splice[0] == index:
            self._lone_jump(packet, dts, tb, limits)
        heading = self._heading.get(index) if spliced else None
        sparse = None if spliced else self._sparse.get(index)
        segment = heading.segment if heading is not None else sparse[0] if sparse is not None else self.segment
        if spliced and heading is None:
            # A sound or picture stream's first packet, read after a data stream began a segment
            # (KLV at random times): placed as data is, nearer the others' segment or the newest
            # one; it went on the KLV's offset, 7 hours from the sound.
            reading = {h.segment for h in self._heading.values()} - {self.segment}
            segment = max(reading, default=self.segment)
        older = None
        if segment != self.segment and self._still_before(packet, dts, tb, segment, heading, limits):
            older = self._offsets[segment]
        elif heading is not None and segment != self.segment and (between := self._joined(heading, dts, packet, tb,
                                                                                            limits)) is not None:
            segment, older = between, self._offsets[between]
        elif not spliced and self._sparse_jumped(sparse, dts, tb, limits, leaving=segment != self.segment):
            # The next segment's first packet, before its sound and pictures (a second file without
            # sound, whose KLV comes first): it goes on from the furthest point read; so do they,
            # as each of them reaches the new segment.
            self._move(self._reached(sparse[1] * tb + sparse[2] if sparse else None) - (dts * tb + self.offset),
                       splice=True)
            self._guessed = True
        entering = older is None and heading is not None and heading.segment != self.segment
        segment = segment if older is not None else self.segment
        if not spliced:
            self._sparse[index] = (segment, dts, self.offset if older is None else older)
            return older
        jumped = older is None and heading is not None and self._jumped(heading, dts, packet.dts is not None, tb,
                                                                        limits)
        if jumped and entering and self._guessed:
            # The first sound or picture of a segment a data stream began, and far from where it
            # was heading: the segment goes on from there (the data's packets placed so far were
            # ahead of it), rather than a splice of its own a packet later.
            self._move(heading.seconds(heading.next) - (dts * tb + self.offset))
        elif jumped:
            # Continue where the stream was heading; the other streams jump with it as they reach
            # the new segment, and with the new offset their packets land where they were heading too.
            self._before_splice = (index, heading, self.offset, self.segment)
            self._move(heading.seconds(heading.next) - (dts * tb + self.offset), splice=True)
        if older is None:
            self._guessed = False
            segment = self.segment
        offset = self.offset if older is None else older
        version = self.version if older is None else -1  # (-1: compared in seconds)
        self._heading[index] = Heading(dts + (packet.duration or 0), dts, offset, version, segment, tb)
        if jumped:
            self._after_shown(packet, tb)
            offset, version = self.offset, self.version
            self._heading[index].offset, self._heading[index].version = offset, version
        if packet.pts is not None:
            shown = packet.pts + (packet.duration or 0)
            before = self._shown.get(index)
            if before is None or (before[0] < shown if before[2] == version >= 0
                                  else before[0] * tb + before[1] < shown * tb + offset):
                self._shown[index] = (shown, offset, version)
        return older


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
    `clock_stands_still`: such a file is not seeked)."""

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
        at = packet.dts if packet.dts is not None else packet.pts
        return clock is not None and at is not None and at == clock[0]

    def apply(self, packet: av.Packet) -> av.Packet:
        """`packet`, timed (in place, or a copy: one an MP4's edit list discarded at its stored time)."""
        index = packet.stream.index
        if index not in self.sound or not packet.time_base:
            return packet
        at = packet.dts if packet.dts is not None else packet.pts
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
    def untimed_in(container: av.container.InputContainer, streams: Iterable[av.stream.Stream],
                   limit: int = 8 << 20) -> bool:
        """Whether a sound stream among `streams` stores its first packet without a timestamp (in
        `container`, read from its start, at most `limit` bytes). After a byte seek the demuxer
        makes up times from zero for such packets: a late --start in a long TS lost its sound."""
        waiting = {s.index for s in streams if s.type == "audio"}
        read = 0
        for packet in container.demux() if waiting else ():
            read += packet.size
            if packet.size and packet.stream.index in waiting:
                if packet.pts is None and packet.dts is None:
                    return True
                waiting.discard(packet.stream.index)
            if not waiting or read > limit:
                break
        return False

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
    start, and the file was refused as truncated; frozen after 1 s, its CLI kept 30 of 50). Each
    picture goes one frame after the one before at the stream's nominal rate (its average: FLV's
    onMetaData framerate, an MP4's frames over its duration; else the codec's, H.264's timing
    info; not FFmpeg's guess, the time base's 1000 fps for an FLV; mid-file without one, the step
    between the pictures before), keeping its composition offset (B-frames); other streams keep
    their own times (`SoundClock` times sound that stands still too; with no rate stated, the file
    is refused, with what is wrong and how FFmpeg retimes it). Told from `STILL_PICTURES` pictures
    in a row at one decode time, anywhere (a file's first two may share one; no file FFmpeg or a
    camera writes has three), the second and later held until that is told (`STILL_HELD` packets
    at most); should the clock run again, its pictures go on from there, none before the last one
    placed. Applied before `TimestampShift`, on the file's own timeline; a file whose clock stands
    still from its start is read from there (`clock_stands_still`), and one seeked into a frozen
    stretch is read again from its start (`SeekedIntoStill`)."""

    def __init__(self, stream: av.stream.Stream, path: Path) -> None:
        self.stream, self.path, self.name = stream, path, path.name  # (the error names the path, a note the name)
        # The first stated rate that can time pictures: an FLV's onMetaData may say -25 or 1000 fps
        # (FFmpeg's most), one frame a tick of 1 ms or less: 50 pictures within 50 ms again; or
        # 0.001 fps, 2 s of sound under 13.6 hours of pictures (under `SLOWEST_STATED` is no rate).
        tick = Fraction(stream.time_base) if stream.time_base else None
        self.rate = next((rate for rate in (stream.average_rate, stream.codec_context.framerate)
                          if rate and rate >= SLOWEST_STATED and (tick is None or rate * tick < 1)), None)
        self.frame = 0  # one frame at `rate`, in ticks of the stream's time base (0: the clock runs)
        self._stored: int | None = None  # the latest picture's decode time as stored
        self._placed: int | None = None  # ... as placed
        self._still = False  # whether the latest picture stood still (at the one before's time)
        self._shift = 0  # ticks added to the latest picture's times
        # the latest steps between pictures' decode times (ticks), while the clock runs: mid-file, its rate
        self._steps: collections.deque[int] = collections.deque(maxlen=RATE_STEPS)
        self._first: int | None = None  # the first picture's decode time as stored
        self._shown: int | None = None  # the latest picture's pts while the clock runs (the note's time)

    def packets(self, packets: Iterator[av.Packet], seeked: bool = False) -> Iterator[av.Packet]:
        """`packets`, those of the video retimed where its clock stands still; `seeked`: read from
        where a seek landed (a frozen stretch found there raises `SeekedIntoStill`)."""
        held: list[av.Packet] = []  # from the second picture at one time, while it is not told
        run = 0  # pictures in a row at the latest picture's decode time
        for packet in packets:
            if packet.stream is not self.stream or not packet.size:
                if held:
                    held.append(packet)
                else:
                    yield packet
                continue
            if self.frame:  # (the clock stood still: every picture placed from here on)
                yield self._place(packet)
                continue
            at = packet.dts if packet.dts is not None else packet.pts
            if at is not None and at == self._stored:
                run += 1
                held.append(packet)
                if run >= STILL_PICTURES:
                    self._begin(mid_file=self._first != at, seeked=seeked)
                    self._placed = at  # (the picture before the held ones: placed as stored)
                    for waiting in held:
                        yield self._place(waiting) if waiting.stream is self.stream and waiting.size else waiting
                    held = []
                elif len(held) >= STILL_HELD:  # (not told within that many packets: left as stored)
                    yield from held
                    held, run = [], 1
                continue
            yield from held
            held, run = [], 1
            if at is not None and self._stored is not None and at > self._stored:
                self._steps.append(at - self._stored)
            if self._first is None:
                self._first = at
            self._stored, self._shown = at, packet.pts
            yield packet
        yield from held

    def _begin(self, mid_file: bool, seeked: bool) -> None:
        """Begin placing pictures: at the stated rate from the start; mid-file at the rate the clock
        ran at before it stood still (the median of its latest steps: an MP4's stated average is its
        frames over a duration the freeze cut short, 50 fps for a 25 fps clip frozen half-way)."""
        time_base = Fraction(self.stream.time_base)
        if seeked and not mid_file:
            raise SeekedIntoStill
        if mid_file and self._steps:
            self.frame = sorted(self._steps)[len(self._steps) // 2]
        elif self.rate:
            self.frame = max(1, round(1 / (self.rate * time_base)))
        else:
            raise UserError(f"{self.path}: every picture has the same timestamp, and the file states no frame rate "
                            f"to show them at: give FFmpeg one to time them by (e.g. `ffmpeg -r 25 -i {self.name} "
                            "fixed.mp4`)")
        rate = f"{float(1 / (self.frame * time_base)):.3f}".rstrip("0").rstrip(".")
        if not mid_file:
            note(f"{self.name}: every picture has the same timestamp: they are shown one after another "
                 f"at the video's nominal rate, {rate} fps (the rate the file states), from there", once=True)
            return
        since = float(((self._stored if self._shown is None else self._shown) - (self.stream.start_time or 0))
                      * time_base)
        note(f"{self.name}: the pictures' timestamps stop advancing at {since:.2f} s (each at the time of the one "
             f"before): they are shown one after another at the rate before, {rate} fps, from there", once=True)

    def _place(self, packet: av.Packet) -> av.Packet:
        at = packet.dts if packet.dts is not None else packet.pts
        if at is None:
            return packet
        still = at == self._stored
        if still:  # one frame after the one before
            self._shift = self._placed + self.frame - at
        elif self._still:  # the clock runs again: from its own time, but not before the pictures placed
            self._shift = max(0, self._placed + self.frame - at)
        self._stored, self._still, self._placed = at, still, at + self._shift
        if still:
            packet.duration = self.frame  # (as made up as its time)
        if packet.dts is not None:
            packet.dts += self._shift
        if packet.pts is not None:
            packet.pts += self._shift
        if packet.is_discard and (packet.pts is None or packet.pts >= 0):
            # An MP4's edit list discarded the pictures its times put before its start: now shown
            # (PyAV cannot clear the flag: a copy without it).
            return undiscarded(packet)
        return packet


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


def clock_stands_still(container: av.container.InputContainer, streams: Iterable[av.stream.Stream],
                       limit: int = 8 << 20) -> bool:
    """Whether one of `streams` (pictures or sound) has its first `STILL_PICTURES` packets at one
    decode time (`container` read from its start, at most `limit` bytes): an index of such times
    seeks anywhere (an MP4's pictures all at one time; its sound all at one time: a seek left one
    packet of it)."""
    waiting = {s.index for s in streams}
    times: dict[int, set] = {index: set() for index in waiting}
    counts = dict.fromkeys(waiting, 0)
    read = 0
    for packet in container.demux(*streams) if waiting else ():
        read += packet.size
        index = packet.stream.index
        if packet.size and index in waiting:
            times[index].add(packet.dts if packet.dts is not None else packet.pts)
            counts[index] += 1
            if None in times[index] or len(times[index]) > 1:
                waiting.discard(index)
            elif counts[index] >= STILL_PICTURES:
                return True
        if not waiting or read > limit:
            break
    return False


class ClusterTimes:
    """Matroska (WebM) whose cluster has a damaged Timestamp element: every packet of that cluster,
    sound and pictures alike, is 0.8 s back, shown among those before it (interleaved: 7 pictures
    out of order, the sound "not increasing"), and the next cluster carries on from before it.
    Matroska stores display times, so a jump is no splice as in MPEG-TS (and a gap forward is a
    pause); but times that go back are damage. A sound or picture packet back by more than it may
    be from the furthest its stream was shown (`STEP_BACK`; pictures also by B-frames' reordering,
    `REORDERED` frames) begins a stretch, moved on from there; a packet that goes on from the
    times before the stretch (and on the stretch's lands ahead) ends it: a damaged cluster, put
    back where it belongs. A stretch that does not end (the times went back for good) goes on
    from where it began, as joined FLV does. Applied before `TimestampShift`."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.offset = Fraction(0)  # seconds added to every packet's times (non-zero within a stretch)
        self.version = 0  # counts the changes of `offset`
        self.stretches = 0  # stretches begun
        self.repaired = 0  # ... and ended (damaged clusters)
        # stream index -> [its time base, `offset` in its ticks, of this version, the furthest it was
        # shown (ticks, moved; None: nothing yet), how far back its packets may come (ticks), whether
        # it is sound or pictures]: in whole ticks, as `TimestampShift` keeps them (Fractions per
        # packet were most of a read)
        self._streams: dict[int, list] = {}

    def packets(self, packets: Iterable[av.Packet]) -> Iterator[av.Packet]:
        for packet in packets:
            self.apply(packet)
            yield packet

    def apply(self, packet: av.Packet) -> None:
        state = self._streams.get(packet.stream_index)
        if state is None:
            if not packet.time_base:
                return
            tb = Fraction(packet.time_base)
            allowed = math.floor(self._allowance(packet.stream) / tb)
            state = self._streams[packet.stream_index] = [tb, 0, 0, None, allowed,
                                                          packet.stream.type in SPLICED_TYPES]
        at = packet.pts
        if at is None:
            at = packet.dts
            if at is None:
                return
        tb, shift, version, top, allowed, spliced = state
        if version != self.version:
            shift = state[1] = round(self.offset / tb)
            state[2] = self.version
        if spliced and packet.size:
            if top is not None:
                if self.offset and abs(at - top) <= allowed < at + shift - top:
                    self._move(Fraction(0))  # the times before the stretch go on: it was damaged
                    self.repaired += 1
                    shift = state[1] = 0
                elif at + shift < top - allowed:
                    self._move((top - at) * tb)  # on from the furthest shown
                    self.stretches += 1
                    shift = state[1] = top - at
                state[2] = self.version
            end = at + (packet.duration or 0) + shift
            if top is None or end > top:
                state[3] = end
        if shift:
            packet.pts = None if packet.pts is None else packet.pts + shift
            packet.dts = None if packet.dts is None else packet.dts + shift

    def _move(self, offset: Fraction) -> None:
        self.offset, self.version = offset, self.version + 1

    @staticmethod
    def _allowance(stream: av.stream.Stream) -> Fraction:
        """How far back from the furthest shown a packet of `stream` may come: pictures by their
        reordering, at the slower of the rates FFmpeg gives (a variable rate's guess may be
        Matroska's 1000 fps)."""
        if stream.type != "video":
            return STEP_BACK
        rate = min((Fraction(r) for r in (stream.average_rate, stream.guessed_rate) if r), default=Fraction(25))
        return STEP_BACK + REORDERED / rate

    def note_repairs(self) -> None:
        """Say what was put back (once, when the whole file was read)."""
        if self.repaired:
            clusters = "a cluster" if self.repaired == 1 else f"{self.repaired} clusters"
            note(f"{self.name}: the times of {clusters} go back (a damaged cluster timestamp); its packets "
                 "are put back between the clusters before and after it", once=True)
        if self.stretches > self.repaired:
            note(f"{self.name}: the timestamps go back mid-file and stay back; the timeline continues from where it "
                 "was, as FFmpeg continues joined MPEG-TS", once=True)


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
        # Whether the segment is the whole file (nothing moves, nothing is dropped): an attribute,
        # asked twice for every packet (a property's Fraction test was seconds of a million packets).
        self.whole = not self.start and self.end is None
        self._start_ticks: dict[tuple[int, int], tuple[int, int]] = {}  # a time base -> `start` in its ticks (`ended`)

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
