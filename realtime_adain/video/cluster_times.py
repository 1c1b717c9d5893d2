"""Matroska (WebM) clusters whose Timestamps are wrong, repaired before `TimestampShift`:
`ClusterTimes` puts back a cluster whose damaged timestamp sent it back among earlier ones (its
pictures followed through their decoder, `DecodedPictures`), `ClustersAtOneTime` places one after
another the clusters of a file whose clusters all carry one timestamp. FFmpeg takes both as they
are."""

from __future__ import annotations

import bisect
import collections
import heapq
import math
from fractions import Fraction
from pathlib import Path
from typing import Iterable, Iterator

import av

from realtime_adain.notes import note
from realtime_adain.video.clocks import STILL_PICTURES, stated_rate
from realtime_adain.video.matroska import matroska_clusters
from realtime_adain.video.sound_clock import SoundClock
from realtime_adain.video.timestamps import SPLICED_TYPES, STEP_BACK

# How many frames a picture may come before the furthest shown, by B-frames' reordering (H.264's
# most: 16), in Matroska's display order (`ClusterTimes`).
REORDERED = 16
# The most bytes of one cluster's packets held to place it (`ClustersAtOneTime`): past it, placed by those held.
CLUSTER_HELD = 32 << 20


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
                    end = (packet.pts + (SoundClock.frame_length(packet) or packet.duration or 0)) * tb
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
