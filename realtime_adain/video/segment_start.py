"""The video reader's start of a segment (`SegmentStart`, a part of `VideoReader`): from when the
video is decoded, whether a seek that gave no frame landed where the file cannot be read from, the
pictures before the start left out, the segment as its options gave it; the seek itself is
seeking.py's."""

from __future__ import annotations

from fractions import Fraction

from realtime_adain.times import format_time
from realtime_adain.video.probing import has_no_timestamps
from realtime_adain.video.seeking import SEEK_MARGIN


class SegmentStart:
    """`VideoReader`'s start of a segment (`--start`): from when it decodes, whether its seek
    landed where the file cannot be read from, the pictures before the start left out."""

    def _landed_wrong(self) -> bool:
        """Whether a seek that gave no frame landed where the file cannot be read from: nothing
        at all after it, or a Matroska that lasts past the start, whose index led to damaged
        cluster times."""
        if not self.seeked:
            return False
        return self.seen_end is None or (self.cluster_times is not None and bool(self.container.duration)
                                         and Fraction(self.container.duration, 1_000_000) > self.segment.start)

    def _segment_options(self) -> str:
        """The segment as its options gave it (`--start 0.5 s --duration 1 s`), for a message."""
        start = f"--start {format_time(self.segment.start)} " if self.segment.start else ""
        return f"{start}--duration {format_time(self.segment.end - self.segment.start)}"

    @property
    def passed_over(self) -> int:
        """The video packets before the segment's start never decoded (`BeforeStart`)."""
        return self._before.passed

    @property
    def skipped(self) -> int:
        """The pictures before the segment's start: decoded and dropped, or never decoded (a
        packet each)."""
        return self._dropped + self.passed_over

    def _decode_from(self) -> Fraction | None:
        """From when (seconds on the timeline, a video packet's decode time) the video is decoded:
        `SEEK_MARGIN` before the segment's start, where the frames' times come from their
        timestamps (an image sequence's: its picture numbers, `retimed`); None (from the beginning) for
        a bare stream (timed by its decoded frames' durations: pulldown, fields), a GIF (by its
        delays), cover art, and inverse telecine (its cadence is read from every frame)."""
        if (not self.segment.start or (has_no_timestamps(self.container) and self.sequence is None)
                or self.container.format.name == "gif" or self.cover_art or self.deinterlace == "film"):
            return None
        return self.segment.start - SEEK_MARGIN
