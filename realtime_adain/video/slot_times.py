"""`SlotTimes`: an AVI's reordered pictures timed as FFmpeg's tools show them (before
`TimestampShift`, on the file's own timeline)."""

from __future__ import annotations

import collections
from typing import Iterable, Iterator

import av

# The most bytes of packets held behind an AVI's video packet waiting for its display time (`SlotTimes`).
SLOT_HELD_BYTES = 8 << 20


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
