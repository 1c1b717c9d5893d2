"""Packets and frames while a file is demuxed: packets as one run (`as_run`), video packets held
before a segment's start (`BeforeStart`) or kept since the latest keyframe (`TailPackets`), sound
cut where an MP4 edit list ends (`edit_list_ends`) or begins (`CutSound`), the decoder flushed where
a file ends early, an image sequence at its first gap (`flush_packet`, `within_run`), and decoded
frames put in timestamp order (`Timeline`). Other streams' packets held until the video reaches them are held_packets.py's; the
frames shown after damage and what damage cost, damage.py's.

Apart from the reader (reader.py) because this is bookkeeping over packets and frames as they go
by: none of it opens a file, decodes or converts a picture.
"""

from __future__ import annotations

import heapq
from collections import deque
from fractions import Fraction
from typing import Callable, Iterable, Iterator

import av

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
    highest timestamp among them: what `decoding.decoded_again` decodes again (`video` and `live`). For an image
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

    def lost_after(self, last: int | None) -> bool:
        """Whether frame threads may have lost frames after `last` (the highest timestamp given) at
        the end: a packet held shows later (decoding those again costs one decode of a GOP). Not
        where every one held was rejected (another codec joined on: their "frames" are noise); in
        an image sequence every picture is a keyframe, and the damage counted may be an earlier
        picture's, reported as it drained."""
        return (last is not None and self.top is not None and self.top > last and bool(self.packets)
                and (self.pictures or self.damaged < len(self.packets)))

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
