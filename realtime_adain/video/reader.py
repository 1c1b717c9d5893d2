"""Decoding a video file into upright RGB frames, in presentation order, with their timestamps.

The reader demuxes every stream in one pass and yields, in file order, either a `Frame` (a decoded
video frame as uint8 RGB, rotated as the display matrix says it is shown) or an `av.Packet` of
another stream (audio, subtitles) for the writer to copy. Keeping one ordered stream of items keeps
the output interleaved like the input. `VideoReader` is composed of its parts: opening the input and
reading up to its first frame is reader_opening.py's; the reading loop, reader_loop.py's; a
segment's start, segment_start.py's; the facts told of the input, reader_facts.py's; the `Frame`
given, frames.py's. Turning a frame into such RGB is pictures.py's work; holding, ordering and
cutting packets as they are demuxed, packets.py's and (the other streams') held_packets.py's;
telling damage from skipped pictures, damage.py's; what an input is before it is read, probing.py's;
reading its packets, demuxing.py's; decoding them, decoding.py's; seeking to a segment,
seeking.py's; frames' times made or repaired, frame_times.py's; where the stream says it ends,
stream_end.py's; what is said of the pictures, picture_notes.py's.
"""

from __future__ import annotations

import itertools
import os
from fractions import Fraction
from pathlib import Path
from typing import Iterator

import av

from realtime_adain.errors import UserError
from realtime_adain.regular_files import content_size
from realtime_adain.video.deinterlace import check_mode as check_deinterlace
from realtime_adain.video.frames import Frame
from realtime_adain.video.probing import refuse_unplayable
from realtime_adain.video.seeking import SeekMissed
from realtime_adain.video.sequence import find_sequence
from realtime_adain.video.clocks import SeekedIntoStill
from realtime_adain.video.reader_facts import ReaderFacts
from realtime_adain.video.reader_loop import ReaderLoop
from realtime_adain.video.reader_opening import ReaderOpening
from realtime_adain.video.segment_start import SegmentStart


class VideoReader(ReaderOpening, ReaderLoop, SegmentStart, ReaderFacts):
    """An opened input: its video stream, the streams to pass through, and its first frame.

    Opening decodes up to the first video frame, so a file that is not a video, or has no
    decodable frame, fails here with a `UserError` before anything is written.
    """

    def __init__(self, path: str | os.PathLike, max_frames: int = 0, deinterlace: str = "auto",
                 framerate: Fraction | None = None, start: Fraction = Fraction(0),
                 duration: Fraction | None = None) -> None:
        """`max_frames` > 0 stops after that many frames (a preview of the start); `deinterlace`:
        which frames are deinterlaced (video/deinterlace.py: auto, on, off, film); `framerate`: an image
        sequence's (`render/%04d.png`, video/sequence.py; None: 25, as FFmpeg); `start` and
        `duration` (seconds): only that segment, moved to start at zero (`Segment`; `max_frames`
        counts from its start)."""
        self.path = Path(path)
        self.max_frames = max_frames
        self.deinterlace = check_deinterlace(deinterlace)
        self.sequence = find_sequence(self.path)
        if self.sequence is not None:
            self.sequence.note_gap()
        if self.sequence is None and not self.path.is_file():
            raise UserError(f"{self.path}: no such file")
        if self.sequence is None and content_size(self.path) == 0:  # (/proc/self/maps says 0 bytes: not empty)
            raise UserError(f"{self.path}: the file is empty")
        if self.sequence is None:
            refuse_unplayable(self.path)
        try:
            self._open(framerate, start, duration, seek=True)
        except (SeekMissed, SeekedIntoStill):  # (the container is closed)
            self._open(framerate, start, duration, seek=False)
        self.first_frame: Frame = self._first
        self.height, self.width = self.first_frame.image.shape[:2]  # as displayed (after rotation)

    def items(self) -> Iterator[Frame | av.Packet]:
        """Every frame and pass-through packet, in file order; raises UserError on corrupt data."""
        for item in self.runs():
            if isinstance(item, list):
                yield from item
            else:
                yield item

    def runs(self) -> Iterator[Frame | list[av.Packet]]:
        """`items`, with packets that come one after another as lists (`RUN_PACKETS`), and
        their streams noted in `streams_given`."""
        given = self.streams_given
        lookahead, self._lookahead = self._lookahead, []
        for item in itertools.chain(lookahead, self._items):
            if isinstance(item, list):
                given.update(packet.stream.index for packet in item)
            yield item

    def close(self) -> None:
        self.container.close()

    def __enter__(self) -> "VideoReader":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
