"""A live PyAV source's container opened (`ContainerOpening`, which `PyAVSource` is): a file, an
image sequence (looked for again each time), an SDP file with the protocols its streams need, a URL
within its timeout (a server that never answers said so), and a pipe once its first bytes came;
a failure said in words.
"""

from __future__ import annotations

import os
import select
from pathlib import Path

import av

from realtime_adain.errors import UserError
from realtime_adain.live.sources import SourceError
from realtime_adain.video.opening import open_input
from realtime_adain.video.sequence import ffmpeg_name, find_sequence

# FFmpeg's protocols an SDP file's streams need (its default whitelist refused RTP: "Invalid data").
SDP_PROTOCOLS = "file,udp,rtp,crypto,data"
# FFmpeg's error line where an HTTP server sent no response (our timeout cut its wait).
NO_HTTP_RESPONSE = "Error reading HTTP response"


class ContainerOpening:
    """`PyAVSource.open`'s container, opened as its target needs (the state is `PyAVSource`'s)."""

    def _pipe_ready(self) -> str:
        """A pipe's name for FFmpeg once its first bytes (or its end) came, within `timeout`:
        FFmpeg's open and first read block past any timeout (a fifo no program writes into, a
        program that sends nothing: the session waited for ever). Only the first bytes: a slow
        stream (1 fps) takes FFmpeg seconds to probe once it flows (`PIPE_OPEN_S` bounds that).
        A fifo is opened here and read by FFmpeg through that descriptor (`pipe:N`, closed with the
        source): opened again by name, a writer already gone left FFmpeg waiting for another. A
        socket given as a descriptor (`pipe:N`), which no path opens, is read through a copy of it."""
        if self.target.startswith("pipe:") and self.target != "pipe:0":
            self._fifo = os.dup(int(self.target.removeprefix("pipe:")))
        elif self.target != "pipe:0":
            self._fifo = os.open(self.target.removeprefix("file:"), os.O_RDONLY | os.O_NONBLOCK)
        waiting = select.poll()
        waiting.register(self._fifo or 0, select.POLLIN | select.POLLPRI)
        events = waiting.poll(self.timeout * 1000)
        if not events or not events[0][1] & (select.POLLIN | select.POLLPRI):
            # (hung up with nothing to read: its writer closed it without sending a byte)
            self.close()
            raise SourceError(f"{self.description}: " + (
                "ended without sending anything" if events else f"nothing received for {self.timeout:.0f} s"))
        if self._fifo is not None:
            os.set_blocking(self._fifo, True)
        return f"pipe:{self._fifo or 0}"

    def _rescan(self) -> None:
        """The sequence's pictures as they are now, each time it is opened again (a loop, a
        reconnection): beside a render still writing, the pictures found when the session began
        were played for ever. A sequence gone is a source that cannot be opened (retried). Where
        it stops is said once, when the session begins: a render moves it on every loop."""
        try:
            self.sequence = find_sequence(Path(self.target))
        except UserError as exc:
            raise SourceError(str(exc)) from None
        if self.sequence is None:  # a file named like the pattern took its place
            raise SourceError(f"{self.target}: no longer an image sequence")

    def _open_container(self, pipe: str | None = None) -> av.container.InputContainer:
        """`pipe`: FFmpeg's name of a pipe ready to be read (`_pipe_ready`)."""
        try:
            arguments = self.sequence.open_arguments(self.rate) if self.sequence else {}
            sdp_file = self.target.lower().endswith(".sdp") and "://" not in self.target  # (an RTP stream's description)
            if sdp_file:
                arguments = {"options": {"protocol_whitelist": SDP_PROTOCOLS}}
            # (as `video` opens them: a file named like a URL, `take:2.mp4` or `cam:1.sdp`, and a `%` in a sequence's folder)
            name = self.sequence.ffmpeg_pattern if self.sequence else self.target
            target = pipe or (ffmpeg_name(name) if self.is_file or sdp_file else self.target)
            if self.is_file or pipe or sdp_file:
                return open_input(target, timeout=self.timeout if not self.is_file else None, **arguments)
            return self._open_url(arguments)
        except (av.FFmpegError, OSError) as exc:
            # (raw video has no header FFmpeg can recognise it by: its size and pixel format are not in the stream)
            hint = (": a pipe needs a format with a header (-f mpegts, nut, yuv4mpegpipe or matroska)"
                    if pipe is not None and isinstance(exc, av.error.InvalidDataError) else "")
            raise SourceError(f"{self.named}: {self._open_failure(exc)}{hint}") from None

    def _open_url(self, arguments: dict) -> av.container.InputContainer:
        """The URL opened within `timeout`; an HTTP server that accepts and never answers (not
        even headers) is said to send nothing: it was "no stream recognised", as if bytes came.
        FFmpeg says so only in its error line ("Error reading HTTP response"), kept while PyAV's
        log level is raised to ERROR, then put back (as `SoundDecoder` reads its reasons: VERBOSE,
        where FFmpeg counts the bytes read, hung a UDP source whose thread logs at that level)."""
        before = av.logging.get_level()
        av.logging.set_level(av.logging.ERROR)
        try:
            with av.logging.Capture() as logged:  # (this thread's lines alone)
                return open_input(self.target, timeout=self.timeout, **arguments)
        except av.error.ExitError:
            if any(line[2].startswith(NO_HTTP_RESPONSE) for line in logged):
                raise SourceError(f"{self.named}: cannot open (nothing received for {self.timeout:.0f} s)") from None
            raise
        finally:
            av.logging.set_level(before)

    def _open_failure(self, exc: Exception) -> str:
        """Why the open failed, in words: a URL's protocol this FFmpeg lacks as `--stream` says it
        (its "Protocol not found" said nothing of which); only a URL names one."""
        if isinstance(exc, av.error.ProtocolNotFoundError) and "://" in self.target:
            return f"this FFmpeg (PyAV's) has no {self.target.partition('://')[0].upper()} support"
        return f"cannot open ({self._reason(exc, opening=True)})"
