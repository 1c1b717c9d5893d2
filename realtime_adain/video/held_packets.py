"""Other streams' packets held while the video is demuxed: until the video reaches them, so that
sound leaves with the pictures it plays under (`HeldPackets`), and a preview's subtitles and data
packets that show past its last picture, held and cut to end with it (`ShownUntil`).

Apart from the packets' bookkeeping (packets.py) because this is what the other streams' packets
wait for; like it, none of it opens a file, decodes or converts a picture.
"""

from __future__ import annotations

import math
import operator
from collections import deque
from fractions import Fraction
from typing import Iterable, Iterator

import av

# An av.Packet costs about this much memory however few bytes it carries: each held counts as at
# least this many bytes against `demuxing.HELD_BYTES` (a GoPro's telemetry: a million packets of 5 bytes).
PACKET_BYTES = 512


class HeldPackets:
    """Packets of the other streams held until the video reaches them, so that sound leaves with
    the pictures it plays under: a run that stops after `max_frames` drops what starts after the
    last frame's end, and a run stopped by Ctrl-C writes no sound past its last picture (the
    decoder's delay and the reorder window would otherwise let about half a second more through).
    Held per stream, in the order read, with their starts: a frame lets go of the first of each
    stream up to the first that starts after it, compared in whole ticks. (Every packet was looked
    at again at every frame, in Fractions, while held: ten times each, a minute for a million
    packets of telemetry.)"""

    def __init__(self, video_time_base: Fraction, limit: int = 0) -> None:
        """`limit` > 0: hold at most that many bytes (`PACKET_BYTES` a packet at least); the
        oldest packets go on beyond it."""
        self.video_time_base = video_time_base
        self.limit = limit
        self.streams: dict[int, deque[tuple[int, int | None, av.Packet]]] = {}  # index -> (number read, start, packet)
        self._time_bases: dict[int, Fraction] = {}  # stream index -> its packets' time base
        self._placed: set[int] = set()  # the streams whose packets have one (start times compared)
        self.read = 0  # packets held so far (their order)
        self.size = 0

    def add(self, packet: av.Packet) -> list[av.Packet]:
        """Hold `packet`; returns the oldest held packets, to go on now, while over `limit` bytes."""
        return self.extend((packet,))

    def extend(self, packets: Iterable[av.Packet]) -> list[av.Packet]:
        """Hold `packets` (a run, in the order read); returns the oldest held packets, to go on
        now, while over `limit` bytes. (A million packets pass here: kept to plain look-ups.)"""
        streams, time_bases, placed = self.streams, self._time_bases, self._placed
        read, size = self.read, self.size
        for packet in packets:
            index = packet.stream.index
            start = packet.pts
            if start is None:
                start = packet.dts
            if index not in placed:
                if start is not None and index not in time_bases:
                    time_bases[index] = packet.time_base
                    if time_bases[index]:
                        placed.add(index)
                if index not in placed:
                    start = None  # (no time base: cannot be placed, goes with the next frame)
            held = streams.get(index)
            if held is None:
                held = streams[index] = deque()
            held.append((read, start, packet))
            read += 1
            bytes_ = packet.size
            size += bytes_ if bytes_ > PACKET_BYTES else PACKET_BYTES
        self.read, self.size = read, size
        overflow = []
        while self.limit and self.size > self.limit:
            oldest = min((held for held in self.streams.values() if held), key=lambda held: held[0][0])
            overflow.append(oldest.popleft()[2])
            self.size -= max(overflow[-1].size, PACKET_BYTES)
        return overflow

    def before(self, pts: int | None, duration: int) -> list[av.Packet]:
        """The held packets that start before the frame at `pts` (video time base) ends, in the
        order read; all of them where that cannot be told (`pts` None: no timestamps, or the end
        of the file). A packet that starts later holds back those after it in its own stream."""
        end = None if pts is None else (pts + (duration or 0)) * self.video_time_base
        released = []
        for index, held in self.streams.items():
            first = None if end is None or index not in self._placed else math.ceil(end / self._time_bases[index])
            while held and (first is None or held[0][1] is None or held[0][1] < first):
                released.append(held.popleft())
        if len(self.streams) > 1:
            released.sort(key=operator.itemgetter(0))
        size = self.size
        for _, _, packet in released:
            bytes_ = packet.size
            size -= bytes_ if bytes_ > PACKET_BYTES else PACKET_BYTES
        self.size = size
        return [packet for _, _, packet in released]


# Packets that last a while and are cut at a preview's or segment's end (`ShownUntil`); sound is
# not cut (its packets are a few milliseconds).
CUT_TYPES = frozenset({"subtitle", "data"})
# The most subtitle and data packets a preview holds that show past its pictures (`ShownUntil`).
HELD_SHOWING = 4096


class ShownUntil:
    """A preview's (`max_frames`) subtitles that may show past its last picture. Each is held
    until a picture ends after it; those still held at the preview's end are cut to end with it,
    so the file lasts as long as its pictures (`ffmpeg -frames:v` keeps a subtitle whole: a 0.5 s
    preview lasted 1.9 s, the rest of its first line). Held ones go after the pictures they
    outlast: a line's few seconds at most, which muxers interleave. Data packets that last (a
    GoPro's telemetry, a second each) are cut the same way: an MP4 lasts as long as its longest track.

    A stream's packets go on in the order read: those after a held one wait behind it (a short
    line released before a long one that began earlier went out first, and the muxer moved the
    long one to start after it). At most `limit` packets are held: beyond, the oldest of the
    stream holding the most go on whole (a hostile file's thousands of lines that last hours)."""

    def __init__(self, video_time_base: Fraction, limit: int = HELD_SHOWING) -> None:
        self.video_time_base = video_time_base
        self.limit = limit
        self.held: dict[int, deque[tuple[Fraction | None, av.Packet]]] = {}  # stream index -> (end, packet)
        self.count = 0  # packets held

    @staticmethod
    def _end(packet: av.Packet) -> Fraction | None:
        """When `packet` (a subtitle with a duration) stops showing, in seconds; None: not known."""
        if packet.stream.type not in CUT_TYPES or not packet.duration or packet.pts is None or not packet.time_base:
            return None
        return (packet.pts + packet.duration) * Fraction(packet.time_base)

    def after(self, released: Iterator[av.Packet], pts: int | None, duration: int) -> Iterator[av.Packet]:
        """`released` packets, less the subtitles that show past the frame at `pts` (video time
        base) and those behind them in their stream, with the held ones that end within it; all
        of them where that cannot be told."""
        end = None if pts is None else (pts + (duration or 0)) * self.video_time_base
        for packet in released:
            shows_until = self._end(packet)
            queue = self.held.get(packet.stream.index)
            if queue or (end is not None and shows_until is not None and shows_until > end):
                self.held.setdefault(packet.stream.index, deque()).append((shows_until, packet))
                self.count += 1
            else:
                yield packet
        for queue in self.held.values():
            while queue and (end is None or queue[0][0] is None or queue[0][0] <= end):
                yield queue.popleft()[1]
                self.count -= 1
        while self.count > self.limit:
            yield max(self.held.values(), key=len).popleft()[1]
            self.count -= 1

    def cut(self, pts: int | None, duration: int) -> Iterator[av.Packet]:
        """The held subtitles, each cut to end with the last frame, at `pts` lasting `duration`
        (one that ends before it, held behind another, keeps its own end)."""
        for queue in self.held.values():
            for shows_until, packet in queue:
                if pts is not None and shows_until is not None:
                    end = (pts + (duration or 0)) * self.video_time_base
                    packet.duration = max(1, min(packet.duration, math.floor(end / Fraction(packet.time_base)) - packet.pts))
                yield packet
        self.held, self.count = {}, 0
