"""Packets and frames while a file is demuxed: other streams' packets held until the video reaches
them (`HeldPackets`; `ShownUntil`, a preview's subtitles), video packets held before a segment's
start (`BeforeStart`) or kept since the latest keyframe (`TailPackets`), packets cut where an MP4
edit list or an image sequence's run ends, the frames shown after damage (`Recovery`) and what
damage cost (`Damage`), and decoded frames put in timestamp order (`Timeline`).

Apart from the reader (reader.py) because this is bookkeeping over packets and frames as they go
by: none of it opens a file, decodes or converts a picture.
"""

from __future__ import annotations

import heapq
import math
import operator
from collections import deque
from fractions import Fraction
from typing import Callable, Iterable, Iterator

import av

# An av.Packet costs about this much memory however few bytes it carries: each held counts as at
# least this many bytes against `demuxing.HELD_BYTES` (a GoPro's telemetry: a million packets of 5 bytes).
PACKET_BYTES = 512
TAIL_PICTURES = 64  # an image sequence's latest pictures held so (`TailPackets`)


def as_run(packets: Iterable[av.Packet]) -> Iterator[list[av.Packet]]:
    """`packets` as one run (a list; none where there are none)."""
    run = packets if isinstance(packets, list) else list(packets)
    if run:
        yield run


class BeforeStart:
    """Video packets before a segment's start (`until`, seconds on the timeline), held instead of
    decoded: the pictures they make are dropped, and decoding them (the hour before a late
    --start in a broadcast recording that cannot be seeked) was most of the run. The packets since
    the keyframe before the latest one are held (an open GOP's first pictures refer to the GOP
    before), and decoded once a packet reaches `until`, or the file ends (its last pictures tell
    its length: "--start is past the end"), or they pass `limit` bytes (a stream whose keyframes
    are far apart is decoded from there on, as before). Packets before the first keyframe count
    as a GOP (a file whose demuxer flags no keyframes is held until the limit, then decoded); a
    packet without a timestamp is decoded with those held (its frame is timed by theirs)."""

    def __init__(self, until: Fraction | None, limit: int) -> None:
        self.until = until  # None: decoding has begun
        self.limit = limit
        self.gops: deque[list[av.Packet]] = deque()
        self.size = 0
        self.passed = 0  # packets never decoded

    def ready(self, packet: av.Packet) -> list[av.Packet]:
        """The video packets to decode now that `packet` was read (after `TimestampShift.apply`)."""
        if self.until is None:
            return [packet]
        at = packet.dts if packet.dts is not None else packet.pts
        # (a packet without a timestamp is timed by the frames before it: those are decoded)
        reached = at is None or (packet.time_base and at * packet.time_base >= self.until)
        if not packet.size or reached or self.size + packet.size > self.limit:
            return [*self.rest(), packet]
        if packet.is_keyframe or not self.gops:
            self.gops.append([])
            if len(self.gops) > 2:
                dropped = self.gops.popleft()
                self.passed += len(dropped)
                self.size -= sum(p.size for p in dropped)
        self.gops[-1].append(packet)
        self.size += packet.size
        return []

    def rest(self) -> list[av.Packet]:
        """The packets still held, to decode at the end of the file (and nothing held from then on)."""
        held = [p for gop in self.gops for p in gop]
        self.until, self.gops, self.size = None, deque(), 0
        return held


class Recovery:
    """Which decoded frames are shown. The decoder runs with `decoding.OUTPUT_CORRUPT`: FFmpeg 8's HEVC
    decoder otherwise drops every frame that refers to a damaged one, up to the next keyframe (a
    few flipped bytes lost two seconds, and the file was refused as truncated), where the `ffmpeg`
    5 CLI plays them concealed. Frames flagged corrupt before the first clean one are not shown:
    the pictures before a cut stream's first keyframe, which FFmpeg does not show either."""

    def __init__(self) -> None:
        self.clean = False

    def keep(self, frame: av.VideoFrame) -> bool:
        self.clean = self.clean or not frame.is_corrupt
        return self.clean


# A stretch where the video's packets skip is counted as pictures the file lost only where damage
# shows within this many pictures of it (`Damage`): frame threads report a rejected packet some
# packets late, and a concealed picture's display time is a few pictures off its packet's decode time.
NEAR_DAMAGE_PICTURES = 8
STEPS_HELD = 8  # the latest steps between times (`Skips`), whose median is the usual step
SKIP_STEPS = Fraction(7, 4)  # a step this many usual steps or more skips pictures (3:2 pulldown's is 1.5)
RECENT = 16  # skips and damage held to be matched with damage or skips read later
# Decoded pictures held to put their display times in order before their steps are measured
# (`Damage.shown`): after damage the decoder gave 1.38, 1.88, 1.42, 1.92, 1.46, 1.96 s.
PICTURES_ORDERED = 8
# Bytes a Matroska demuxer passed over between two packets that tell damage it resynced past: at
# least this many, and this many times the most between any two packets before, once the first
# `PLACED_FIRST` are placed (block and cluster headers: 7 to 30 bytes; WebM's alpha, tracks left
# unread: more, from each such track's first packets on; a keyframe of one, a few times more).
SKIPPED_BYTES = 256
SKIPPED_FACTOR = 4
PLACED_FIRST = 8


class Skips:
    """Where times that follow one another at a usual step (the median of the latest) skip
    pictures, and of those the stretches beside damage (`damage_at`), counted: `pictures`
    missing, in `stretches`, spanning `ticks` (the steps that skip), the first from `at`. A skip
    read before the damage beside it waits for it (`RECENT` held); `restart` begins a timeline
    afresh (a splice's times are measured by no step before)."""

    def __init__(self) -> None:
        self.pictures = 0
        self.stretches = 0
        self.ticks = 0
        self.at: int | None = None
        self._last: int | None = None  # the latest time
        self._steps: deque[int] = deque(maxlen=STEPS_HELD)
        self._waiting: deque[tuple[int, int, int, int]] = deque(maxlen=RECENT)  # (from, to, pictures, margin)

    def restart(self) -> None:
        self._last = None
        self._steps.clear()

    def time(self, at: int, signs: Iterable[int]) -> None:
        """Note the next time `at`, with where damage showed lately (`signs`)."""
        last, self._last = self._last, at
        if last is None or at <= last:
            return
        step = at - last
        usual = sorted(self._steps)[len(self._steps) // 2] if len(self._steps) >= 3 else None
        self._steps.append(step)  # (a rate that drops becomes the usual step within a few pictures)
        if usual is None or step < usual * SKIP_STEPS:
            return
        skip = (last, at, max(1, round(step / usual) - 1), usual * NEAR_DAMAGE_PICTURES)
        if any(self._near(skip, sign) for sign in signs):
            self._count(skip)
        else:
            self._waiting.append(skip)

    def damage_at(self, at: int) -> None:
        """Damage showed at `at`: the skips waiting beside it are counted."""
        for skip in [skip for skip in self._waiting if self._near(skip, at)]:
            self._waiting.remove(skip)
            self._count(skip)

    @staticmethod
    def _near(skip: tuple[int, int, int, int], at: int) -> bool:
        start, end, _, margin = skip
        return start - margin <= at <= end + margin

    def _count(self, skip: tuple[int, int, int, int]) -> None:
        start, end, pictures, _ = skip
        self.pictures += pictures
        self.stretches += 1
        self.ticks += end - start
        self.at = start if self.at is None else min(self.at, start)


class Damage:
    """What damage inside a file cost beyond the packets the decoder rejects (`VideoDecoding.damaged`):
    pictures decoded with errors concealed (`concealed`), pictures the file lost where the video's
    packets skip a stretch beside damage (`packets`: a `Skips`), and where the decoded pictures'
    display times skip beside damage (`pictures`), which holds those too and the pictures the
    decoder gave nothing for, without an error (an MPEG-TS keyframe's first packet lost: the 8
    pictures after it, which refer to it, were dropped, and "1 picture lost" was said of a
    0.42 s jump). A demuxer that finds garbage resyncs past it without an error: Matroska's
    drops the rest of the cluster (a 0.5 s hole, said nowhere), the bytes it passed over seen
    between the packets' places in the file (`placed`); MPEG-TS's flags the packet before the
    lost ones corrupt (`packet.is_corrupt`). A skip with no damage beside it
    is a pause (variable-rate video has them), not a loss; a packet flagged corrupt with no skip
    and no concealed picture beside it cost nothing (MPEG-TS files joined with `cat` flag one at
    the join, whose timeline `TimestampShift` continues with a step of its own, measured by no
    step before, the pictures' as the packets'): neither is counted. Times are the stream's
    ticks, after `TimestampShift`."""

    def __init__(self) -> None:
        self.concealed = 0
        self.packets = Skips()  # in the video packets' decode times
        self.pictures = Skips()  # in the decoded pictures' display times
        self._timeline = 0  # `TimestampShift.version` the latest packet's time is on
        self._splices: deque[int] = deque(maxlen=RECENT)  # where later timelines begin (decode times)
        self._ordered: list[int] = []  # a heap: the display times of the latest pictures (`PICTURES_ORDERED`)
        self._picture: int | None = None  # the latest display time measured
        self._signs: deque[int] = deque(maxlen=RECENT)  # where damage showed
        self._end: int | None = None  # where the latest packet placed ends in the file (`placed`)
        self._placed = 0  # packets placed
        self._widest = 0  # the most bytes between two packets placed
        self._passed_over = False  # whether bytes were passed over since the latest video packet

    @property
    def lost(self) -> int:
        """Pictures the file lost where its video packets skip (beside damage)."""
        return self.packets.pictures

    def packet(self, packet: av.Packet, timeline: int) -> None:
        """Note a video packet with data, read in decode order, its times moved onto `timeline`
        (`TimestampShift.version`: a splice begins another, whose steps are measured afresh)."""
        if packet.is_corrupt or self._passed_over:
            self._passed_over = False
            self.damage_at(packet.dts if packet.dts is not None else packet.pts)
        if timeline != self._timeline:
            self._timeline = timeline
            self.packets.restart()
            at = packet.dts if packet.dts is not None else packet.pts
            if at is not None:
                self._splices.append(at)
        if packet.dts is not None:
            self.packets.time(packet.dts, self._signs)

    def placed(self, packet: av.Packet) -> None:
        """Note where `packet` (any stream's, read in file order) lies in a Matroska file: bytes
        passed over before it, far more than between any packets before, are damage the demuxer
        resynced past (told at the next video packet; a second stretch, only if wider still).
        Other containers' packets do not follow one another so (MPEG-TS interleaves its streams'
        small packets; AVI holds JUNK chunks and indexes)."""
        at = packet.pos
        if at is None or at < 0 or not packet.size:
            return
        end = self._end
        self._end = at + packet.size if end is None else max(end, at + packet.size)
        if end is None or at < end:  # (laced frames share their block's place)
            return
        gap = at - end
        self._placed += 1
        if self._placed > PLACED_FIRST and gap >= SKIPPED_BYTES and gap > SKIPPED_FACTOR * self._widest:
            self._passed_over = True
        self._widest = max(self._widest, gap)

    def shown(self, frame: av.VideoFrame) -> None:
        """Note a frame the reader gives (`Recovery` kept it): one decoded with errors concealed
        counts, and its display time is measured once the pictures after it put it in order."""
        if frame.is_corrupt:
            self.concealed += 1
            self.damage_at(frame.pts)
        if frame.pts is not None:
            heapq.heappush(self._ordered, frame.pts)
            if len(self._ordered) > PICTURES_ORDERED:
                self._picture_at(heapq.heappop(self._ordered))

    def pictures_end(self) -> None:
        """The decoder gave its last picture: the display times still held are measured."""
        while self._ordered:
            self._picture_at(heapq.heappop(self._ordered))

    def _picture_at(self, at: int) -> None:
        """The next display time in order; a step across a splice is not measured."""
        last, self._picture = self._picture, at
        if last is not None and any(last < splice <= at for splice in self._splices):
            self.pictures.restart()
        self.pictures.time(at, self._signs)

    def damage_at(self, at: int | None) -> None:
        """Damage showed at `at` (a rejected or flagged packet, a concealed picture; None: not known)."""
        if at is None:
            return
        self._signs.append(at)
        self.packets.damage_at(at)
        self.pictures.damage_at(at)


def edit_list_ends(container: av.container.InputContainer, streams: Iterable[av.stream.Stream],
                   packets: Iterator[av.Packet]) -> Iterator[av.Packet]:
    """`packets`, with an MP4/MOV sound track's packet that runs past the track's end (its edit
    list: the stream's start plus duration) cut to end there, as FFmpeg 5's demuxer cut it.
    FFmpeg 8's gives that packet all its samples (AAC's 1024 where 994 play), and the output's
    edit list then played 29 samples of the encoder's padding that `ffmpeg -c copy` does not.
    (`CutSound` is the edit list's start.)"""
    ends = {}
    if container.format.name.startswith("mov"):
        ends = {stream.index: (stream.start_time or 0) + stream.duration for stream in streams
                if stream.type == "audio" and stream.duration and stream.start_time is not None}
    for packet in packets:
        end = ends.get(packet.stream.index) if ends else None
        if end is not None and packet.pts is not None and packet.duration and packet.pts < end < packet.pts + packet.duration:
            packet.duration = end - packet.pts
        yield packet


class CutSound:
    """Audio packets an MP4 edit list cuts away (flagged discard): `ffmpeg -ss 1 -i in.mp4 -c copy`
    keeps the GOP before the cut, and its sound. Players skip that sound; copied, it put a second
    of it before the first picture of a .mkv (which has no edit list). The last one before the
    sound that plays is kept: the decoder needs it (AAC's priming frame, MP3's bit reservoir),
    and an MP4 hides it again."""

    def __init__(self) -> None:
        self.held: dict[int, av.Packet] = {}  # stream index -> its latest packet cut away

    def keep(self, packet: av.Packet, run: list[av.Packet]) -> None:
        """Put the packets to pass on now that `packet` was read at the end of `run`."""
        if packet.stream.type != "audio":
            run.append(packet)
            return
        if packet.is_discard:
            self.held[packet.stream.index] = packet
            return
        before = self.held.pop(packet.stream.index, None)
        if before is not None:
            run.append(before)
        run.append(packet)


class TailPackets:
    """The video packets since the latest keyframe (while they fit in `limit` bytes), and the
    highest timestamp among them: what `VideoDecoding._lost_at_end` decodes again. For an image
    sequence (`pictures`: each packet a whole picture) the latest packets that fit, keyframes or not."""

    def __init__(self, limit: int, pictures: bool = False) -> None:
        self.limit, self.pictures = limit, pictures
        self.packets: list[av.Packet] = []
        self.size = 0
        self.whole = False  # whether `packets` starts at a keyframe
        self.damaged = 0  # packets since that keyframe the decoder rejected
        self.damaged_since_frame = 0  # packets rejected since the latest frame was given (`given`)
        self.top: int | None = None
        self.end: int | None = None  # the latest packet's pts + duration (decode order)

    def given(self) -> None:
        self.damaged_since_frame = 0

    def add(self, packet: av.Packet) -> None:
        if not packet.size or packet.is_discard:  # the flush packet; one decoded only to be dropped (edit list)
            return
        if packet.is_keyframe and not self.pictures:
            self.packets, self.size, self.whole, self.damaged = [], 0, True, 0
        if self.pictures:
            self.whole = True
            # (frame threads lose one picture per thread at most: a few are enough to hold)
            while self.packets and (self.size + packet.size > self.limit or len(self.packets) >= TAIL_PICTURES):
                self.size -= self.packets.pop(0).size
        if self.whole:
            self.packets.append(packet)
            self.size += packet.size
            if self.size > self.limit:
                self.packets, self.size, self.whole = [], 0, False
        if packet.pts is not None:
            self.top = packet.pts if self.top is None else max(self.top, packet.pts)
            self.end = packet.pts + (packet.duration or 0)


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


def flush_packet(stream: av.stream.Stream) -> av.Packet:
    """An empty packet of `stream`: decoded, it gives the frames the decoder (its threads) still
    holds, where a file is ended before PyAV's own end (an image sequence's gap, an unreadable end)."""
    flush = av.Packet()
    flush.stream = stream
    flush.time_base = stream.time_base  # the frames it gives take their time base from it
    return flush


def within_run(packets: Iterator[av.Packet], stream: av.stream.Stream, run: int) -> Iterator[av.Packet]:
    """`packets` up to `stream`'s `run`-th picture, then its flush: an image sequence ends at its
    first gap, where image2 (which found the last file by bisection) would fail (ENOENT) or open
    whatever is named like the next frame."""
    for packet in packets:
        yield packet
        if packet.stream is stream and packet.size:
            run -= 1
            if not run:
                yield flush_packet(stream)
                return


class Timeline:
    """Decoded frames with timestamps that increase: each frame waits in a small window and takes
    the smallest timestamp there (the pictures' order is the decoder's, which is right).

    Frames without a timestamp keep None (`frame_times.after_last` times them). A
    frame lasts until the next one shows: the decoder's durations follow decode order (an MP4's
    are its decode-time steps), so after B-frames a frame could be given the length of a gap it
    is not next to (a 10-minute pause made a 601 s clip a 1199 s MP4)."""

    def __init__(self, window: int, last_end: Callable[[int, int | None], int | None] | None = None) -> None:
        """`last_end`: asked once the frames are all in, with the last frame's timestamp and the
        step to it from the frame before, where the file says it stops showing
        (`VideoDecoding.last_end`): the last frame lasts at least until then."""
        self.window = window
        self.last_end = last_end
        self.frames: deque[av.VideoFrame] = deque()
        self.stamps: list[int] = []  # a heap: the timestamps of the frames held
        self.highest: int | None = None  # the highest timestamp seen
        self.end: int | None = None  # where the latest frame stops showing
        self.step: int | None = None  # the latest step from one frame to the next
        self.reordered = 0  # frames whose timestamp came out of order

    def order(
        self, items: Iterator[av.VideoFrame | list[av.Packet]]
    ) -> Iterator[tuple[av.VideoFrame, int | None, int] | list[av.Packet]]:
        """(frame, timestamp, duration) in the decoder's (display) order, timestamps sorted within
        the window; runs of other streams' packets pass straight through."""
        for item in items:
            if isinstance(item, list):
                yield item
                continue
            self.frames.append(item)
            if item.pts is not None:
                if self.highest is not None and item.pts < self.highest:  # (a repeated one is not out of
                    self.reordered += 1  # order: the writer says that, and moves it a tick on)
                else:
                    self.highest = item.pts
                heapq.heappush(self.stamps, item.pts)
            if len(self.frames) > self.window:
                yield self._pop()
        while self.frames:
            frame, pts, duration = self._pop()
            if not self.frames and pts is not None and self.last_end:
                end = self.last_end(pts, self.step)
                if end is not None and end > self.end:
                    duration, self.end = end - pts, end
            yield frame, pts, duration

    def _pop(self) -> tuple[av.VideoFrame, int | None, int]:
        frame = self.frames.popleft()
        pts = heapq.heappop(self.stamps) if frame.pts is not None else None
        duration = frame.duration
        if pts is not None:
            # the next frame shown (the last keeps its own; so does one before a frame without a
            # timestamp, which is shown after it: `frame_times.after_last`)
            if self.stamps and self.stamps[0] > pts and self.frames and self.frames[0].pts is not None:
                duration = self.step = self.stamps[0] - pts
            self.end = pts + (duration or 0)
        return frame, pts, duration
