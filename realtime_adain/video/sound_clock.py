"""`SoundClock`: sound whose packets carry no times, or whose clock stands still, timed by their
lengths (before `TimestampShift`, on the file's own timeline)."""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Iterable, Iterator

import av

from realtime_adain.notes import note
from realtime_adain.video.clocks import (STILL_HELD, STILL_PICTURES, SeekedIntoStill, first_times, packet_time,
                                         undiscarded)
from realtime_adain.video.timestamps import MICROSECONDS

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
        at = packet_time(packet)
        return clock is not None and at is not None and at == clock[0]

    def apply(self, packet: av.Packet) -> av.Packet:
        """`packet`, timed (in place, or a copy: one an MP4's edit list discarded at its stored time)."""
        index = packet.stream.index
        if index not in self.sound or not packet.time_base:
            return packet
        at = packet_time(packet)
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
        length = (self.frame_length(packet) or packet.duration) if still else self._length(packet)
        if length:
            self._ends[index] = placed + length
            if still:
                packet.duration = round(placed + length) - at
        return at

    def _length(self, packet: av.Packet) -> int | Fraction:
        """`packet`'s length in ticks: its codec's frame size, exact (a duration in milliseconds is
        rounded: placed by them, FLV's sound ran 31 ms behind in 2 s), or its own duration (a codec
        whose frames vary; 0: not known)."""
        length = self.frame_length(packet)
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
    def frame_length(packet: av.Packet) -> Fraction:
        """One packet's length from its codec's frame size, in ticks, exact (0 where that is not fixed)."""
        context = packet.stream.codec_context
        if not context.frame_size or not context.sample_rate:
            return Fraction(0)
        return Fraction(context.frame_size, context.sample_rate) / Fraction(packet.time_base)

    @staticmethod
    def _frame_ticks(packet: av.Packet) -> int:
        """One packet's length from its codec's frame size, in whole ticks (0 where that is not fixed)."""
        return round(SoundClock.frame_length(packet))
