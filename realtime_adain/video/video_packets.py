"""The encoder's video packets as the muxer needs them (`VideoPackets`): frame durations put back,
decode times repaired where the encoder got them wrong, and, where the muxer times each sample
until the next one's decode time (MP4, MOV), the packets held until that is known and the last ones
timed so the track lasts until its last picture stops showing.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Callable

import av

from realtime_adain.video.containers import GIF_LONGEST_DELAY

# Muxers that time each sample until the next one's decode time, the last by its packet's duration
# (MP4, MOV): with B-frames the last packet in decode order is not the last picture shown, and
# its duration ended the track early (`VideoPackets.mux`).
DECODE_TIMED_FORMATS = frozenset({"mp4", "mov"})


class VideoPackets:
    """The video stream's packets from the encoder, muxed into `container` (`mux`: hand one to the
    muxer) as its muxer needs them; the frames' durations by pts (`durations`, encoder time base),
    as the writer gave them to the encoder (which may drop them)."""

    def __init__(self, container: av.container.OutputContainer, mux: Callable[[av.Packet], None]) -> None:
        self.container, self._mux = container, mux
        self.durations: dict[int, int] = {}  # pts -> duration of the frames inside the encoder
        self._last_video_dts: int | None = None  # the latest video packet's decode timestamp
        # The video packets held back (`mux`): the latest, muxed once the next decode time is known,
        # or from the one before the picture shown last so far, until a later picture comes.
        self._held_video: list[av.Packet] = []
        self._decode_delay: int | None = None  # the first video packet's pts - dts (packet time base)
        self.video_end: int | None = None  # where the latest picture shown stops showing (packet time base)
        self._read_end: int | None = None  # ... as a reader times the packets muxed (`mux`)
        self.video_end_time_base = Fraction(1)  # ... that time base

    def mux(self, packets: list[av.Packet], first_pts: int | None, last_pts: int | None, last: bool = False) -> None:
        """Mux the encoder's `packets` (`last`: its final ones; `first_pts`, `last_pts`: the
        timestamps of the first and latest frames given to it, `_repair_dts`). Encoders with look-ahead drop
        frame durations; they are put back, so the last frame of a variable-frame-rate video lasts
        as long as it did in the input. Where the muxer times samples by decode order
        (`DECODE_TIMED_FORMATS`: each lasts until the next one's decode time, the final one its
        packet's duration; a reader's file ends where the latest of them, from its pts, ends) the
        packets from the one shown last so far wait for one shown later (`_decode_after_shown_last`),
        and the final one is made to last to where the last picture stops showing, where the others
        end before that: with B-frames that picture is not the final packet, and a GIF's closing 2 s
        hold ended the MP4 at 1.2 s (its edit list said 3.16 s; FFmpeg 8 read the file as 1.2 s long)."""
        for packet in packets:
            duration = self.durations.pop(packet.pts, None)
            if duration:  # (GIF: no longer than a delay holds, which the muxer would wrap around)
                packet.duration = min(duration, GIF_LONGEST_DELAY) if self.container.format.name == "gif" else duration
            self._repair_dts(packet, first_pts, last_pts)
            if self._decode_delay is None and None not in (packet.pts, packet.dts) and packet.pts >= packet.dts:
                self._decode_delay = packet.pts - packet.dts  # (the first packet's: how far decoding runs ahead)
            if self.container.format.name not in DECODE_TIMED_FORMATS:
                self._mux(packet)
                continue
            if packet.pts is not None:
                end = packet.pts + (packet.duration or 0)
                self.video_end = end if self.video_end is None else max(self.video_end, end)
                self.video_end_time_base = Fraction(packet.time_base)
            shown_last = max((p.pts for p in self._held_video if p.pts is not None), default=None)
            if self._held_video and (None in (packet.pts, shown_last) or packet.pts > shown_last):
                self._mux_held(len(self._held_video) - 1)  # (the one before `packet` is timed by it)
            self._held_video.append(packet)
        if last and self._held_video:
            self._decode_after_shown_last(self._held_video)
            packet = self._held_video[-1]
            self._mux_held(len(self._held_video) - 1)
            self._held_video = []
            if None not in (packet.pts, packet.dts, self._decode_delay):
                # (decoded as late as the encoder's delay allows: a held final frame's packet, decoded at
                # an earlier picture's time, ended the track early; its length is counted in decode times)
                packet.dts = max(packet.dts, packet.pts - self._decode_delay)
            if packet.pts is not None and self.video_end is not None:
                read_end = max(self._read_end or 0, packet.pts + (packet.duration or 0))
                if read_end < self.video_end:
                    packet.duration = self.video_end - packet.pts
            if None not in (packet.dts, self._decode_delay, self.video_end):
                # (the sample table starts at the first packet's decode time, its pts less the delay, and
                # ends at the final one's plus its duration: where `--start` shortened the first picture,
                # the delay was shorter than later ones', and the track ended that much early)
                packet.duration = max(packet.duration or 0, self.video_end - self._decode_delay - packet.dts)
            self._mux(packet)

    def _mux_held(self, count: int) -> None:
        """Mux the first `count` held video packets, noting where a reader has each end: at the next
        packet's decode time, from its own pts (as the sample table will time it)."""
        for packet, following in zip(self._held_video[:count], self._held_video[1:count + 1]):
            if None not in (packet.pts, packet.dts, following.dts):
                end = packet.pts + following.dts - packet.dts
                self._read_end = end if self._read_end is None else max(self._read_end, end)
            self._mux(packet)
        del self._held_video[:count]

    @staticmethod
    def _decode_after_shown_last(held: list[av.Packet]) -> None:
        """Time the final video packets (`held`: from the one before the picture shown last) so that
        picture lasts its own duration, where it does not: each lasts until the next decode time,
        and a VFR clip's last picture, second to last in decode order (a B-frame after it), lasted
        9 frames (so FFmpeg 8 read it). The packets after it decode as late as their pts allow
        (moved earlier instead, the track's decode times fell short of its end: FFmpeg 8 read it as
        shorter), and it its duration before them, no later than lets the packet before it end by
        its end. No decode time moves earlier."""
        shown = max((i for i, p in enumerate(held) if p.pts is not None), key=lambda i: held[i].pts, default=None)
        if shown is None or shown == len(held) - 1 or any(None in (p.pts, p.dts) for p in held[max(shown - 1, 0):]):
            return
        shown_last, after = held[shown], held[shown + 1:]
        if not shown_last.duration or after[0].dts - shown_last.dts == shown_last.duration:
            return
        latest = None
        for packet in reversed(after):
            packet.dts = max(packet.dts, packet.pts if latest is None else min(packet.pts, latest - 1))
            latest = packet.dts
        dts = min(shown_last.pts, latest - shown_last.duration)
        if shown:  # (the one before lasts until it)
            before = held[shown - 1]
            dts = min(dts, shown_last.pts + shown_last.duration - before.pts + before.dts)
        shown_last.dts = max(shown_last.dts, dts)

    def _repair_dts(self, packet: av.Packet, first_pts: int | None, last_pts: int | None) -> None:
        """Put a video packet's decode timestamp back in range where the encoder got it wrong: x265
        given fewer frames than its B-frame delay (`--frames 1`) derives it from timestamps it
        never received (uninitialised: -4378314912683108556, which the muxer refused). An encoder
        delays decoding by at most the frames it was given, so a valid one lies between the first
        frame's timestamp (`first_pts`) less the time they span (to `last_pts`, the latest's) and the
        packet's own (and after the previous)."""
        pts, dts = packet.pts, packet.dts
        if pts is not None and first_pts is not None and last_pts is not None:
            earliest = 2 * first_pts - last_pts
            if self._last_video_dts is not None:
                earliest = max(earliest, self._last_video_dts + 1)
            if dts is None or not earliest <= dts <= pts:
                dts = packet.dts = min(earliest, pts)
        if dts is not None:
            self._last_video_dts = dts
