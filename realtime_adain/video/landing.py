"""Where to start reading a long MPEG-TS or MPEG-PS (a broadcast capture, a camcorder's or a
DVD's file, hours long) for a late --start, found by byte position without reading everything
before it, and only where its timestamps run on without a jump up to there (`StreamLanding`)."""

from __future__ import annotations

from fractions import Fraction
from typing import Iterator

import av

from realtime_adain.video.timestamps import JUMP_SECONDS, STEP_BACK

# A late start closer than this to the file's beginning is read through (demuxed, not decoded:
# `BeforeStart`; a tenth of a second at most), as before: a seek saves little there.
READ_THROUGH_BYTES = 32 << 20


class StreamLanding:
    """Where to start reading an MPEG-TS or MPEG-PS for a late --start without reading everything
    before it: the byte position of a video keyframe before the start, found by bisection over
    byte positions (each probe: a byte seek and the first video packet's decode time after it,
    as FFmpeg's own seek in these formats probes). Trusted only where the timeline runs on
    without a jump from the file's start to there: probes are added between until each two
    neighbours are at most `JUMP_SECONDS` apart, never back by more than `STEP_BACK` (the rules
    by which `TimestampShift` finds a splice), and at most 1/`SPANS` of the file apart (`cat
    a.ts b.ts`, each clock from 1.4 s: two probes 12 s apart in bytes, one in each, read 0.3 s
    apart); a pair closer than `SPLIT_BYTES` still too far apart in time, or any step back, is a
    splice: the file is read through, as before. Not found: splices that undo each other within
    one span (a part shorter than 1/512 of the file with a clock of its own, and the clock
    before it back after it)."""

    SPLIT_BYTES = 64 << 10
    SPANS = 512  # 1/SPANS of the file: the most bytes two neighbouring probes are apart
    PROBE_PACKETS = 64  # video packets read after a byte seek for one with a timestamp
    # The most bytes read after a byte seek for them: a probe read on to the end of the file
    # where no video followed (4 GB of sound after a video that stopped: 11 s a probe, 162 s
    # for `find`); a broadcast's multiplex stores a picture every 40 ms, at most 200 KB of it.
    PROBE_BYTES = 8 << 20
    MOST_PROBES = 20_000  # (10 s apart: 55 hours)
    LOOKBACK = (Fraction(3), Fraction(15), Fraction(60))  # seconds before the start a keyframe is looked for

    def __init__(self, container: av.container.InputContainer, stream: av.video.stream.VideoStream,
                 offset: Fraction) -> None:
        """`offset`: seconds added to the file's timestamps to put them on the timeline (`TimestampShift`)."""
        self.container, self.stream, self.offset = container, stream, offset
        self.time_base = Fraction(stream.time_base)
        self.size = max(0, container.size or 0)  # (avio_size: negative where not known)
        self._probes: dict[int, Fraction | None] = {}

    def find(self, target: Fraction) -> int | None:
        """The byte position of a keyframe whose decode time is at or before `target` (seconds on
        the timeline), with no jump before it; None: read the file through."""
        first = self.probe(0)
        if first is None or not self.size:
            return None
        last = self.probe(max(0, self.size - self.SPLIT_BYTES))  # (a start past the end: the last keyframe)
        near = target if last is None else min(target, last)
        for lookback in self.LOOKBACK:
            if first > near - lookback:
                return None  # (near the start: read through)
            low = self._before(near - lookback)
            if low < READ_THROUGH_BYTES:
                return None
            keyframe = self._keyframe_after(low, target)
            if keyframe is not None:
                return keyframe if self._continuous(0, keyframe) else None
        return None

    def probe(self, position: int) -> Fraction | None:
        """The decode time (seconds on the timeline) of the first video packet after byte `position`."""
        if position in self._probes:
            return self._probes[position]
        found, count = None, 0
        for packet in self._read(position, position + self.PROBE_BYTES):
            at = packet.dts if packet.dts is not None else packet.pts
            if at is not None and packet.size:
                found = at * self.time_base + self.offset
                break
            count += 1
            if count >= self.PROBE_PACKETS:
                break
        self._probes[position] = found
        return found

    def _read(self, position: int, end: int) -> Iterator[av.Packet]:
        """The video packets from byte `position`, until a packet of any stream starts past byte
        `end` (every stream is read: the others' positions bound what is read where the video
        stops; only FFmpeg's padding and unknown PIDs go by unseen, at memory's speed)."""
        self.container.seek(position, unsupported_byte_offset=True)
        index = self.stream.index
        for packet in self.container.demux():
            if packet.pos is not None and packet.pos > end:
                return
            if packet.stream.index == index:
                yield packet

    def _before(self, when: Fraction) -> int:
        """The latest byte position found whose next video packet is at or before `when`
        (bisection: it assumes no jump, which `_continuous` then checks)."""
        low, high = 0, self.size
        while high - low > self.SPLIT_BYTES:
            middle = (low + high) // 2
            at = self.probe(middle)
            if at is not None and at <= when:
                low = middle
            else:
                high = middle
        return low

    def _keyframe_after(self, position: int, target: Fraction) -> int | None:
        """The byte position of the first video keyframe after `position`, if it is at or before
        `target`; looked for no further than where the video's times pass `target` (found by
        bisection: a stream without keyframes, or one that stops, was read to the end of the file)."""
        end = self._before(target) + self.SPLIT_BYTES + self.PROBE_BYTES
        for packet in self._read(position, end):
            at = packet.dts if packet.dts is not None else packet.pts
            if at is None or not packet.size:
                continue
            if at * self.time_base + self.offset > target:
                return None
            if packet.is_keyframe and packet.pos is not None and packet.pos >= position:
                return packet.pos
        return None

    def _continuous(self, start: int, end: int) -> bool:
        """Whether the video's decode times run on without a jump from byte `start` to byte `end`."""
        spans = [(start, end)]
        while spans:
            low, high = spans.pop()
            before, after = self.probe(low), self.probe(high)
            if before is None or after is None or after < before - STEP_BACK:
                return False
            if after - before <= JUMP_SECONDS and high - low <= max(self.SPLIT_BYTES, self.size // self.SPANS):
                continue
            if high - low <= self.SPLIT_BYTES or len(self._probes) > self.MOST_PROBES:
                return False
            middle = (low + high) // 2
            spans += [(middle, high), (low, middle)]
        return True
