"""What is muxed or written as the output is finished: subtitle cues held until the pictures written
reach their end and each data track's latest packet, both cut to the last picture in an interrupted
run's file (`LatePackets`); the input's chapters, cut where the file's content ends and moved as
the muxer moves every stream (`write_chapters`).
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Callable

import av

from realtime_adain.video.segment import moved_chapters

# The muxers that move every stream on where one starts before zero (by its pts: a segment's first
# FLAC packet), as FFmpeg's avoid_negative_ts does; MP4 and MOV hide that part with an edit list.
# Chapters are not moved with them (`muxer_shift`).
NONNEGATIVE_FORMATS = frozenset({"matroska", "webm"})
OPUS_RATE = 48000  # the rate an Opus header counts its pre-skip in, whatever the input's


class LatePackets:
    """Packets muxed later than they come (`mux`: hand one to the muxer, not held again): subtitle
    cues until the pictures written reach their end (`held_cues`), each data track's latest packet
    until the next one or the end (`last_data`, input stream index -> packet)."""

    def __init__(self, mux: Callable[..., None]) -> None:
        self._mux = mux
        self.last_data: dict[int, av.Packet] = {}  # input stream index -> its latest data packet (`mux_last_data`)
        self.held_cues: list[av.Packet] = []  # subtitle packets shown past the pictures written so far (`mux_cues`)

    def mux_last_data(self, cut: bool, end: int | None, end_time_base: Fraction) -> None:
        """Mux each data track's latest packet, held back (`VideoWriter.write_packet`) to be cut, where
        `cut` (an interrupted run's file), to end with the last picture (where it stops showing: `end`
        ticks of `end_time_base`; None: none written): a GoPro's second of telemetry ran past the
        pictures of a partial MP4, a packet of hours made it last hours."""
        for packet in self.last_data.values():
            if cut and end is not None and packet.pts is not None and packet.duration and packet.time_base:
                ends = math.floor(end * end_time_base / Fraction(packet.time_base))
                packet.duration = max(1, min(packet.duration, ends - packet.pts))
            self._mux(packet)
        self.last_data = {}

    def mux_cues(self, until: Fraction | None, cut: bool = False) -> None:
        """Mux the held subtitle cues that end by `until` (seconds; None: all), or (`cut`: an
        interrupted run's file) all of them cut to end there, those that start there or later left
        out: an interrupted MP4 kept a cue's whole 1.3 s, and lasted 0.6 s past its last picture,
        its last chapter starting after it."""
        held, self.held_cues = self.held_cues, []
        for packet in held:
            tb = Fraction(packet.time_base)
            if until is None or (packet.pts + packet.duration) * tb <= until:
                self._mux(packet, hold_cue=False)
            elif cut and packet.pts * tb < until:
                packet.duration = max(1, math.floor(until / tb) - packet.pts)
                self._mux(packet, hold_cue=False)
            elif not cut:
                self.held_cues.append(packet)


def muxer_shift(container: av.container.OutputContainer,
                first_muxed: dict[int, tuple[int, Fraction, int | None]]) -> Fraction:
    """How far the muxer of `container` moves every stream on (`NONNEGATIVE_FORMATS`): as far as the
    earliest first packet muxed (`first_muxed`: output stream index -> its (pts, time base,
    duration)) starts before zero (seconds)."""
    if container.format.name not in NONNEGATIVE_FORMATS:
        return Fraction(0)
    return max([Fraction(0), *(-pts * Fraction(tb) - pre_skip(container, index)
                               for index, (pts, tb, _) in first_muxed.items() if tb)])


def pre_skip(container: av.container.OutputContainer, index: int) -> Fraction:
    """How long before zero output stream `index` starts without moving any stream (seconds):
    an Opus track's pre-skip (its OpusHead's), which Matroska stores as its CodecDelay and adds
    to its times. Counted as a move, chapters in a .webm were 6.5 ms late."""
    head = container.streams[index].codec_context.extradata or b""
    if not head.startswith(b"OpusHead") or len(head) < 12:
        return Fraction(0)
    return Fraction(int.from_bytes(head[10:12], "little"), OPUS_RATE)


def content_end(container: av.container.OutputContainer, muxed_ends: dict[int, Fraction],
                pictures_end: Fraction | None) -> Fraction | None:
    """Where the file's pictures (`pictures_end`: where they stop showing), sound, subtitles and data
    (`muxed_ends`: output stream index -> where its packets end, the latest of them, not the last
    muxed one's: a short cue muxed after a long one cut the chapters before the file's end) end
    (seconds, before `muxer_shift`; None: no picture written)."""
    if pictures_end is None:
        return None
    return max([pictures_end, *(end for index, end in muxed_ends.items()
                                if container.streams[index].type != "video")])  # (cover art: no time of its own)


def write_chapters(container: av.container.OutputContainer, chapters: list[dict],
                   first_muxed: dict[int, tuple[int, Fraction, int | None]],
                   muxed_ends: dict[int, Fraction], pictures_end: Fraction | None) -> None:
    """Give the muxer of `container` the input's `chapters` once everything else is muxed, cut where
    the file's content ends and moved with every stream (`content_end`, `muxer_shift`: from where
    each stream was muxed first and where it ends): set with the header, MP4 and Matroska wrote them as they
    were (and can change them no more), so a preview (`--frames`) or an interrupted run's file kept
    chapters past its end, an MP4 lasting as long as them (2 s for 0.5 s of pictures), and a .mkv
    whose sound starts before zero had them early."""
    if not chapters:
        return
    shift, end = muxer_shift(container, first_muxed), content_end(container, muxed_ends, pictures_end)
    container.set_chapters(moved_chapters(chapters, shift, None if end is None else end + shift))
