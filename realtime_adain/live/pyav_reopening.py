"""A live PyAV source played again (`Reopening`, which `PyAVSource` is): a file back at its start at
a loop's end (sought, or opened again where it cannot seek), a URL or an image sequence opened again,
and a recording URL reopened after a drop resumed after the last frame shown.
"""

from __future__ import annotations

from contextlib import closing

import av

from realtime_adain.live.sources import SourceError
from realtime_adain.video.probing import has_no_timestamps


class Reopening:
    """`PyAVSource` rewound at a loop's end and resumed after a drop (the state is `PyAVSource`'s)."""

    def _back_to_start(self) -> None:
        """A file back at its first frame: sought (which flushes the decoder), or opened again
        where its demuxer cannot seek: FFmpeg's raw H.264 and HEVC demuxers refuse (EPERM), and
        every bare .h264 or .hevc file was refused as "cannot read (Operation not permitted)",
        which `video` and ffplay play. A bare stream (no timestamps) is always opened again: the
        raw Dirac demuxer takes the seek and goes on from the second picture, lost on each pass."""
        if not has_no_timestamps(self._container):
            try:
                self._container.seek(0)
                return
            except av.FFmpegError:
                pass
        self.close()
        self.open()

    def _resume(self) -> None:
        """A recording URL reopened after a drop goes on after the last frame shown (sought to near
        it where the server allows, the frames before it skipped): it started again from its first
        frame, and one cut at the same place played its first seconds for ever.
        The seek is bounded by `timeout` as reads are: PyAV arms FFmpeg's interrupt callback only
        while a read is under way (its demuxing generator, suspended after a packet), and a server
        that stalled during the seek (which reads on to find the place) hung the session for ever.
        Out of time, it is a reconnection that failed; a seek refused otherwise (unseekable) leaves
        it opened again and decoded from its start (the packet read to arm it not lost), skipped."""
        if self.is_file or not self.recording or self._shown_at is None:
            return
        self._resume_after = self._shown_at
        # (from its start: no seek, which could land past a one-picture file's picture)
        if self._shown_at <= 0 or self._unseekable:
            return
        with closing(self._container.demux(self._stream)) as packets:
            try:
                next(packets, None)  # (its read starts the timeout that the seek is then held to)
                self._container.seek(round(self._shown_at / self._stream.time_base), stream=self._stream)
            except av.error.ExitError:
                raise SourceError(f"{self.named}: cannot go back to where it dropped within {self.timeout:.0f} s") from None
            except (av.FFmpegError, OSError, OverflowError):
                self._unseekable = True
        if self._unseekable:  # (opened as before, this time without a seek: `open` then ends as that one did)
            self.close()
            self.open()

    def _rewind(self) -> None:
        """Back to the start: a file seeks, or is opened again where it cannot (`_back_to_start`:
        a bare H.264 stream); a URL is opened again (a server that does not take range requests,
        Python's http.server among them, cannot seek), and so is an image sequence, looked for
        again (`_rescan`). A URL's is said: a live stream taken for a recording was played again
        silently."""
        self._shown_at = None
        if self.is_file and self.sequence is None:
            self._back_to_start()
        else:
            if not self.is_file:
                self.log("source-rewound", source=self.description, reason="the recording ended; played again from its start")
            self.close()
            self.open()
