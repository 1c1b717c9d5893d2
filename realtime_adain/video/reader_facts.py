"""What the video reader tells of its input once opened (`ReaderFacts`, a part of `VideoReader`):
the colour its output is converted to and tagged with, the frames' time base and rate, the frames
the index states and those to come, how long cover art shows, the chapters on the segment's
timeline."""

from __future__ import annotations

import dataclasses
from fractions import Fraction

from realtime_adain.video.hdr import SRGB, sdr_colour
from realtime_adain.video.pictures import Colour
from realtime_adain.video.probing import has_no_timestamps, plausible_rate
from realtime_adain.video.frame_times import one_frame

# A declared frame count is believed only up to this many times what the declared duration holds
# at the average rate: a header written before the frames were (an AVI written to a pipe) carries
# a placeholder (2**30).
PLAUSIBLE_FRAMES = 2


class ReaderFacts:
    """`VideoReader`'s facts about its input, as the job, the writer and the reader itself ask
    them: the colour out, time base, rate, frame counts, cover art's duration, chapters."""

    @property
    def output_colour(self) -> Colour | None:
        """How the output's pictures are converted and tagged: as the first picture is, or SDR
        BT.709 where it is HDR (tone-mapped as read); pictures read on their stated curve
        (`PictureConverter.stated_for`) on the sRGB curve, as `image` reads them."""
        colour = self.colour
        if colour is not None:
            colour = dataclasses.replace(colour, color_primaries=self._converter.primaries_for(colour.color_primaries))
        if colour is not None and self._converter.stated_for(colour.color_trc, colour.color_primaries):
            colour = dataclasses.replace(colour, color_trc=SRGB)
        return sdr_colour(colour)

    @property
    def time_base(self) -> Fraction:
        """The time base of the frames given (`Frame.pts`): the stream's, or a segment's finer one
        that holds its start (`Segment.frame_time_base`); the reader works in the stream's."""
        return self.segment.frame_time_base

    @property
    def frame_rate(self) -> Fraction | None:
        """None for cover art: its stream's only rate is its time base's (90000 fps)."""
        return None if self.cover_art else plausible_rate(self.stream)

    @property
    def expected_frames(self) -> int:
        """Frames to come, from the container's index (0 when the format does not store it, or
        states an implausible count: `declared_frames`), within the segment at the frame rate."""
        declared = self.segment.frames(self.declared_frames, self.frame_rate)
        if self.deinterlace == "film" and not self.max_frames:
            return 0  # inverse telecine gives fewer than the index counts: as many as decimate finds
        return min(declared, self.max_frames) if self.max_frames else declared

    @property
    def declared_frames(self) -> int:
        """The stream's frame count as the container states it, 0 when it does not or when the
        count is implausible: more than `PLAUSIBLE_FRAMES` times what the stream's (else the
        file's) duration holds at the average rate, or no duration at all to weigh it against. An
        AVI written to a pipe states 2**30 frames (its header's placeholder), and a whole file
        was refused as "truncated: only 24 of 1073741824 frames decode"."""
        declared = self.stream.frames or 0
        if self.stream.duration:
            seconds = self.stream.duration * self.stream.time_base
        elif self.container.duration:
            seconds = Fraction(self.container.duration, 1_000_000)
        else:
            return 0
        rate = self.frame_rate
        if not declared or not rate or declared > PLAUSIBLE_FRAMES * seconds * rate + 1:
            return 0
        return declared

    def cover_duration(self) -> int:
        """How long cover art shows, in the stream's time base: the file's duration (at least one tick)."""
        seconds = Fraction(self.container.duration or 0, 1_000_000)
        return max(1, round(seconds / self.stream.time_base))

    def chapters(self) -> list[dict]:
        """The file's chapters, on the timeline from zero (`TimestampShift`), within the segment
        and moved with it, as PyAV gives them."""
        shifted = []
        for chapter in self.container.chapters():
            shift = self.shift.start_ticks(Fraction(chapter["time_base"]))
            shifted.append({**chapter, "start": max(0, chapter["start"] + shift), "end": max(0, chapter["end"] + shift)})
        return self.segment.chapters(shifted)

    @property
    def _one_frame(self) -> int:
        """One frame's duration at the stream's rate (25 fps if it has none), in video ticks."""
        return one_frame(self.frame_rate, self.stream.time_base)

    @property
    def _stores_times(self) -> bool:
        """Whether the pictures' times are the file's own (not made up: a bare stream's, an image
        sequence's numbers, cover art's none)."""
        return not (has_no_timestamps(self.container) or self.sequence is not None or self.cover_art)
