"""Input timestamps moved onto one timeline that starts at zero, as the FFmpeg CLI moves them.

Files rarely start at zero: MPEG-TS and program streams start at about 1.4 s (the muxer's delay),
broadcast and HLS captures at any hour, a cut Matroska file where it was cut. Copied as they are,
the output began with that much nothing (an MP4 "empty edit": 11 s of black before a 1 s clip).
And stream formats that allow it (MPEG-TS, MPEG-PS, FLV: FFmpeg's TS_DISCONT flag) jump: segments
concatenated from a playlist each carry their own clock, and a jump back reads as a 33-bit wrap,
so the muxer was asked for a 26-hour gap, or refused the packets. `TimestampShift` does what
`ffmpeg -i in out` does by default: subtract the file's start time from every stream, and in such
formats treat a jump of more than `JUMP_SECONDS` from where a stream was heading as a splice,
continuing from there. Streams keep their time bases; every stream moves by the same amount, so
sound stays in sync.
"""

from __future__ import annotations

from fractions import Fraction

import av

from realtime_adain.video.notes import note

# FFmpeg's -dts_delta_threshold: a decode timestamp this far from the predicted one is a splice.
JUMP_SECONDS = 10
MICROSECONDS = Fraction(1, 1_000_000)  # AV_TIME_BASE: container.start_time's unit


class TimestampShift:
    """Shifts every packet's timestamps in place (`apply`), before decoding or copying."""

    def __init__(self, container: av.container.InputContainer, name: str) -> None:
        self.name = name  # the file's, for the note
        self.splices = bool(container.format.flags & av.format.Flags.ts_discont.value)
        self.offset = -Fraction(container.start_time or 0) * MICROSECONDS  # seconds added to every time
        self._next: dict[int, Fraction] = {}  # stream index -> where its next dts is expected (output seconds)
        self.jumps: list[float] = []  # seconds each splice jumped by, as found

    def note_jumps(self) -> None:
        """Say that the timeline was joined across splices (once, when the whole file was read)."""
        if self.jumps:
            places = "one place" if len(self.jumps) == 1 else f"{len(self.jumps)} places"
            note(f"{self.name}: the timestamps jump at {places} (segments joined together); "
                 "the timeline continues across, as FFmpeg does")

    def ticks(self, time_base: Fraction) -> int:
        """The current offset in ticks of `time_base`."""
        return round(self.offset / time_base)

    def apply(self, packet: av.Packet) -> None:
        time_base = packet.time_base
        if not time_base:
            return
        dts = packet.dts if packet.dts is not None else packet.pts
        if dts is not None:
            at = dts * Fraction(time_base) + self.offset
            expected = self._next.get(packet.stream.index)
            if self.splices and expected is not None and abs(at - expected) > JUMP_SECONDS:
                # Continue where the stream was heading; the other streams jump with it, and
                # with the new offset their next packets land where they were heading too.
                self.offset += expected - at
                self.jumps.append(float(at - expected))
                at = expected
            self._next[packet.stream.index] = at + (packet.duration or 0) * Fraction(time_base)
        shift = self.ticks(Fraction(time_base))
        if shift:
            if packet.dts is not None:
                packet.dts += shift
            if packet.pts is not None:
                packet.pts += shift
