"""Telling damage inside a file from pictures that are merely not there: which decoded frames are
shown after damage (`Recovery`), where times that follow one another at a usual step skip pictures
(`Skips`), and what damage cost beyond the packets the decoder rejects (`Damage`: pictures
concealed, stretches lost beside damage, bytes a Matroska demuxer resynced past).

Apart from the packets' bookkeeping (packets.py) because this weighs signs of damage against skips
in the times; like it, none of it opens a file, decodes or converts a picture.
"""

from __future__ import annotations

import heapq
from collections import deque
from fractions import Fraction
from typing import Iterable

import av


class Recovery:
    """Which decoded frames are shown. The decoder runs with `decoding.OUTPUT_CORRUPT`: FFmpeg 8's HEVC
    decoder otherwise drops every frame that refers to a damaged one, up to the next keyframe (a
    few flipped bytes lost two seconds, and the file was refused as truncated), where the `ffmpeg`
    5 CLI plays them concealed. Frames flagged corrupt before the first clean one or keyframe
    are not shown: the pictures before a cut stream's first keyframe, which FFmpeg does not show
    either. A keyframe concealed is shown, as FFmpeg shows it (a damaged first keyframe was
    dropped, said nowhere)."""

    def __init__(self) -> None:
        self.clean = False

    def keep(self, frame: av.VideoFrame) -> bool:
        self.clean = self.clean or not frame.is_corrupt or frame.key_frame
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
    step before, the pictures' as the packets'): neither is counted. Packets decoded, timed before
    the first picture shown, gave none (`unshown`): an MPEG-TS's first keyframe zeroed, its GOP
    (0.5 s) decoded to nothing and the video began late, said nowhere; a cut stream's pictures
    before its first keyframe, an open GOP's leading ones (FFmpeg leaves them out too, but the
    video begins late all the same). Times are the stream's ticks, after `TimestampShift`."""

    def __init__(self) -> None:
        self.concealed = 0
        self.first: int | None = None  # the display time of the first picture shown
        self.unshown: list[int] = []  # the display times of the packets before it that gave none
        self._fed: list[int] | None = []  # before the first picture: the display times of the packets decoded
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

    def decoded(self, packet: av.Packet) -> None:
        """Note a video packet the decoder took without an error (`unshown`)."""
        if self._fed is not None and packet.pts is not None:
            self._fed.append(packet.pts)

    def shown(self, frame: av.VideoFrame) -> None:
        """Note a frame the reader gives (`Recovery` kept it): one decoded with errors concealed
        counts, and its display time is measured once the pictures after it put it in order."""
        if self._fed is not None and frame.pts is not None:
            self.first, self.unshown, self._fed = frame.pts, [at for at in self._fed if at < frame.pts], None
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
