"""A live PyAV source's decoded frames as pictures (`FrameConversion`, which `PyAVSource` is): each
pass decoded (live/pyav_decoding.py's `DecodingPass`), deinterlaced and converted to RGB as `video`
reads it, the decoder's held pictures shown before a failure, and scaled to `--resolution`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import av
import numpy as np

from realtime_adain.live.pyav_decoding import DecodingPass
from realtime_adain.live.sources import SourceLost
from realtime_adain.notes import note
from realtime_adain.picture_sizes import resize
from realtime_adain.video.decoding import decoded_or_damage
from realtime_adain.video.deinterlace import deinterlaced
from realtime_adain.video.picture_notes import note_odd_turn
from realtime_adain.video.picture_orientation import orientation
from realtime_adain.video.pictures import PictureConverter, frame_to_rgb
from realtime_adain.video.probing import error_reason, pictures_read_with

# The interlace note's last words here: `live` has no --deinterlace option to point at.
LIVE_HINT = "that adds one frame of latency"


class FrameConversion:
    """`PyAVSource`'s frames decoded and converted, a pass at a time (the state is `PyAVSource`'s)."""

    def _decoded(self) -> Iterator[tuple[np.ndarray, float | None]]:
        """(image, presentation time in seconds or None) per frame."""
        try:
            read_with = pictures_read_with(self._container.format.name, Path(self.target),
                                           self.sequence.file(self.sequence.start) if self.sequence else None)
            converter = PictureConverter(self.description, self._stream.codec_context.name,
                                         *(read_with if self.is_file else (None, None)))
            aspect = self._aspect
            decoding = DecodingPass(self._container, self._stream, aspect, self.description, self.sequence,
                                    live=self.live_feed or not self.paced,
                                    open_again=self._open_container if self.is_file and self.sequence is None else None)
            pictures = self._to_unreadable_data(decoding.pictures())
            # interlaced (a broadcast or capture-card stream, a camcorder file): whole pictures, as `video` reads them
            for index, frame in enumerate(deinterlaced(pictures, "auto", self.description, LIVE_HINT)):
                if index == 0:  # (a turn that is not a quarter turn was done without `video`'s note)
                    note_odd_turn(self.description, orientation(frame, self._stream.codec_context.name))
                image = frame_to_rgb(frame, converter, aspect)  # square pixels, upright, right colour range, as `video` reads
                yield self._at_resolution(image), frame.time
        except (av.FFmpegError, OSError) as exc:
            reason = self._reason(exc)
            raise SourceLost(f"{self.description}: {reason}", reason, isinstance(exc, av.error.InvalidDataError)) from None

    def _to_unreadable_data(self, pictures: Iterator[av.VideoFrame]) -> Iterator[av.VideoFrame]:
        """A file's `pictures` up to data its demuxer cannot read (or does not implement), which
        ends the pass once a picture came, as `video` ends the file there (`demuxed`; said once,
        with the pictures the decoder still held): FFmpeg's mpjpeg demuxer ends every whole read
        so, and each pass was a source lost and reopened, for ever, --no-loop or not. Before any
        picture it is the pass's failure, as before. Any other failure (a connection cut, a read
        timed out) shows the pictures the decoder still held before the source counts as lost: a
        recording over HTTP cut short lost its last B-frames (26 of 30 played; `ffmpeg` gives 30),
        and a reconnection goes on after the last one shown."""
        given = 0
        try:
            for picture in pictures:
                given += 1
                yield picture
        except (av.error.InvalidDataError, av.error.PatchWelcomeError) as exc:
            if not (self.is_file and given):
                yield from self._held()
                raise
            held = self._held()  # (as `video` flushes it there)
            note(f"{self.description}: data it cannot read ends the file after {given + len(held)} pictures "
                 f"({error_reason(exc)}); the pictures before it play, as `video` plays them", once=True)
            yield from held
        except (av.FFmpegError, OSError):
            yield from self._held()
            raise

    def _held(self) -> list[av.VideoFrame]:
        """The pictures the decoder still holds (reordered B-frames, its threads' frames), drained
        by an empty packet in the stream's time base: drained by None, they had no time (NaN),
        played unpaced and, as the last shown, sent a reconnection's seek to NaN (a ValueError)."""
        flush = av.Packet()
        flush.time_base = self._stream.time_base
        held = decoded_or_damage(self._stream.codec_context.decode, flush)
        return [] if isinstance(held, av.FFmpegError) else held

    def _at_resolution(self, image: np.ndarray) -> np.ndarray:
        """`image` scaled to `--resolution` (as given: none, as it is): a picture of the first one's
        shape fills it; one of another shape (clips joined, a phone turned) is scaled to fit inside
        it at its own shape (or within a pixel of filling it, fills it), and the session frames it
        with black bars and says `source-resized`, as without `--resolution`: it was stretched."""
        if self.resolution is None:
            return image
        height, width = image.shape[:2]
        self._first_shape = self._first_shape or (height, width)
        scale = min(self.resolution[0] / width, self.resolution[1] / height)
        inner = max(1, round(width * scale)), max(1, round(height * scale))
        if (height, width) == self._first_shape or all(abs(a - b) <= 1 for a, b in zip(inner, self.resolution)):
            return resize(image, self.resolution)
        return resize(image, inner)
