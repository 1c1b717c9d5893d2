"""`SlotTimes`: an AVI's H.264 pictures, and any its decoder reorders (B-frames: MPEG-4 Part 2,
MPEG-1/2), timed by their slots, in sync with the sound (before `TimestampShift`, on the file's
own timeline)."""

from __future__ import annotations

import collections
from typing import Iterable, Iterator

import av

from realtime_adain.video.clocks import first_times
from realtime_adain.video.opening import open_input

# The most bytes of packets held behind an AVI's video packet waiting for its display time (`SlotTimes`).
SLOT_HELD_BYTES = 8 << 20
# Codecs whose pictures in an AVI libavformat times at the next packet's slot whatever their
# reordering (it guesses no display time for them from its parser): a picture without B-frames
# came a slot late.
SLOT_GUESSED = frozenset({"h264", "hevc"})


class SlotTimes:
    """An AVI stores no display times, only a decode slot per video packet. A picture shows at
    the slot of the packet whose decoding releases it, `reorder_depth` packets later (2 for
    H.264's B-pyramid, 1 for MPEG-4 Part 2's and MPEG-2's B-frames, and for an MPEG-1/2 stream
    that cannot say it has none), moved back by that depth where the video starts at the file's
    first slot: FFmpeg's AVI muxer moved such a video on by its decode delay (its first decode
    time would be negative), while the sound, which an AVI plays from the file's start, did not
    move, so the first picture belongs at slot 0 with the sound (as a packed-B-frame DivX or Xvid
    file, whose chunk k holds picture k, shows it; a video starting later was not moved: its
    pictures keep their release slots). libavformat's own guess, the next packet's slot (the next
    reference picture's for MPEG-4 and MPEG-2), put pictures a slot late, as `ffmpeg` reads them
    (a slot early at a depth of two).
    Each video packet waits for the packet `depth` on (packets behind it keep their places, at
    most `SLOT_HELD_BYTES`, past which the one waiting takes the earliest slot that packet could
    have: a slot apart from the newest); the last ones go on a slot apart, as FFmpeg's CLI places
    the pictures it gets no slot for. Applied before `TimestampShift`, on the file's own timeline."""

    def __init__(self, stream: av.stream.Stream, back: int = 0) -> None:
        """`back`: the slots the file's video was moved on by its muxer (`of`), taken off every time."""
        self.stream = stream
        self.depth = stream.codec_context.reorder_depth
        self.back = back
        self._held: collections.deque[av.Packet] = collections.deque()
        self._waiting: collections.deque[av.Packet] = collections.deque()  # held video packets without their time
        self._bytes = 0
        self._given: int | None = None  # the latest slot given to a packet

    @staticmethod
    def of(container: av.container.InputContainer, stream: av.stream.Stream, name: str) -> "SlotTimes | None":
        """For an AVI's H.264 or HEVC, or video its decoder reorders; else None (pictures shown
        as they are decoded: libavformat's slot is right).
        `name` (as FFmpeg opens it) is read apart for the first packets' slots: whether the video
        starts at slot 0 (its packet `depth` on at slot `depth`), read before any seek."""
        depth = stream.codec_context.reorder_depth
        if container.format.name != "avi" or (stream.codec_context.name not in SLOT_GUESSED and not depth):
            return None
        back = 0
        if depth:
            try:
                with open_input(name) as probe:
                    slots = first_times(probe, [probe.streams[stream.index]], depth + 1)[stream.index]
            except av.error.FFmpegError:
                slots = []
            back = depth if len(slots) == depth + 1 and slots[depth] == depth else 0
        return SlotTimes(stream, back)

    def packets(self, packets: Iterable[av.Packet]) -> Iterator[av.Packet]:
        for packet in packets:
            video = packet.stream is self.stream
            if video and packet.dts is not None and packet.size:
                self._waiting.append(packet)
                if len(self._waiting) > self.depth:  # (at a depth of 0, the packet itself)
                    self._give(packet.dts)
                    yield from self._release()
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
        """The first packet waiting shown at `slot` (less `back`), past every slot given before (a
        slot taken where the bound cut the wait short would otherwise be given twice)."""
        if self._given is not None:
            slot = max(slot, self._given + 1)
        self._given = slot
        self._waiting.popleft().pts = slot - self.back

    def _finish(self) -> Iterator[av.Packet]:
        if self._waiting:
            last = self._waiting[-1].dts
            while self._waiting:
                self._give(last + 1)
        yield from self._release()
