"""A video file, an image sequence, a photo, a URL or a pipe as a live source, through PyAV
(`PyAVSource`): a file looped and paced at its own frame rate to stand in for a camera, a URL's
recording paced and resumed where it dropped, a live stream or a pipe at its own pace. Each pass's
decoding is live/pyav_decoding.py's `DecodingPass`.
"""

from __future__ import annotations

import os
import select
import threading
import time
from fractions import Fraction
from pathlib import Path
from typing import Callable

import av
import numpy as np

from realtime_adain.download_urls import shown
from realtime_adain.errors import UserError
from realtime_adain.live.photos import one_picture
from realtime_adain.live.pyav_conversion import FrameConversion
from realtime_adain.live.pyav_open_checks import OpenChecks
from realtime_adain.live.pyav_pacing import Pacing
from realtime_adain.live.pyav_reopening import Reopening
from realtime_adain.live.sources import SourceError
from realtime_adain.video.opening import open_input
from realtime_adain.video.decoding import UNALIGNED, decoder_threads
from realtime_adain.video.probing import error_reason, is_picture_format, plausible_rate, refuse_animated_webp
from realtime_adain.video.streams import decodable_video, is_still_item
from realtime_adain.video.timestamps import TimestampShift
from realtime_adain.video.sequence import DEFAULT_FRAMERATE, Sequence, ffmpeg_name, find_sequence

# Protocols that carry live streams only, sent at their own pace: never taken for a recording by
# running ahead (a backlog read in a burst, e.g. while the model loaded, made a live stream play
# seconds behind for the whole session).
LIVE_PROTOCOLS = ("udp", "rtp", "srt", "rtsp", "rtsps", "tcp", "rtmp", "rtmps")
# Playlists whose segments come in bursts: paced, but a recording only when they state a duration
# (an HLS playlist with #EXT-X-ENDLIST); a live one that stops is a source lost, not looped.
PLAYLIST_FORMATS = ("hls", "dash")
# FFmpeg's protocols an SDP file's streams need (its default whitelist refused RTP: "Invalid data").
SDP_PROTOCOLS = "file,udp,rtp,crypto,data"
# FFmpeg's error line where an HTTP server sent no response (our timeout cut its wait).
NO_HTTP_RESPONSE = "Error reading HTTP response"


class PyAVSource(OpenChecks, Reopening, FrameConversion, Pacing):
    """A video file (looped and paced at its own frame rate, to stand in for a camera) or a URL."""

    def __init__(
        self,
        target: str,
        is_file: bool,
        loop: bool = True,
        resolution: tuple[int, int] | None = None,
        timeout: float = 5.0,
        sequence: Sequence | None = None,
        rate: Fraction = DEFAULT_FRAMERATE,
    ) -> None:
        """`sequence`: numbered pictures (video/sequence.py) `target` names, played at `rate`."""
        self.target = target
        self.is_file = is_file
        self.sequence, self.rate = sequence, rate
        self.loop = loop
        self.resolution = resolution
        self.timeout = timeout
        # A pattern as given: its name alone (`frame_%04d.png`) says not which pictures play (the
        # start line named "seq/f%04d.png", the `source-ended` line "f%04d.png").
        # A URL's user:password and query values (tokens) are hidden wherever it is said (`shown`).
        self.description = (Path(target).name if sequence is None else target) if is_file else shown(target)
        self.fps = 0.0
        self.still = False  # one picture (a photo, not a pattern): read once, as `image` reads it, shown on and on
        self.paced = is_file  # played at its timestamps and looped: a file, or a recording behind a URL
        self.live_playlist = False  # an HLS or DASH playlist with no duration: paced, but no recording
        self.live_protocol = not is_file and target.partition("://")[0].lower() in LIVE_PROTOCOLS  # (never a recording)
        self.log: Callable[..., None] = lambda *args, **fields: None  # the session's log (set by `Capture`)
        # A recording URL's last frame shown (its timestamp): where it goes on when reopened after a drop.
        self._shown_at: float | None = None
        self._resume_after: float | None = None  # frames up to this timestamp were shown before the drop
        self._unseekable = False  # a recording URL whose seek failed: decoded from its start when reopened
        self.reopenable = True  # a URL dropped is asked again; a pipe (standard input, a fifo) ends where it ends
        self._fifo: int | None = None  # a fifo's descriptor, which FFmpeg reads (`_pipe_ready`)
        # When the read of the next picture began, None while none is under way (`_awaited`): a
        # pipe's read waits inside FFmpeg, past any timeout, while its writer pauses (`Capture` says so).
        self.awaiting_since: float | None = None
        # Set by the session: a paced file holds after its first picture until the session takes
        # frames (the model's warm-up had played the first second unseen, and uncounted).
        self.start_gate: threading.Event | None = None
        self._container: av.container.InputContainer | None = None
        self._stream: av.video.stream.VideoStream | None = None  # the one played (set by `open`)
        self._photo: np.ndarray | None = None  # a photo's one picture (set by `open`)
        self._first_shape: tuple[int, int] | None = None  # the first picture's (height, width), as decoded
        self._aspect = Fraction(1)  # the stream's stored pixels' width:height (set by `open`)
        self._timeline: TimestampShift | None = None  # whether its timestamps may jump, as `video` tells (set by `open`)
        self._pictures_found = False  # a file's first picture decoded once (`_refuse_pictureless`): not again when reopened
        self._opened = False

    @property
    def label(self) -> str:
        return self.description

    @property
    def named(self) -> str:
        """How an error names the source: a file by its path, a URL without its secrets."""
        return self.target if self.is_file else self.description

    @property
    def live_feed(self) -> bool:
        """Whether frames come as they are made (a pipe, a live protocol): decoded with no frame held back."""
        return not self.is_file and (self.live_protocol or not self.reopenable)

    @property
    def recording(self) -> bool:
        """Whether it plays as a file: paced, looped at its end, and a URL resumed where it dropped."""
        return self.paced and not self.live_playlist

    def _reason(self, exc: Exception, opening: bool = False) -> str:
        """Why FFmpeg failed; its "Immediate exit requested" is our timeout on a URL: an open (or
        a read of one packet) not done within it, which a server trickling bytes meets too (it
        was said as "nothing received" while they came). (A reason quoting the URL quotes it
        without its secrets.)"""
        if isinstance(exc, av.error.ExitError) and not self.is_file:
            return f"no stream recognised within {self.timeout:.0f} s" if opening else \
                f"no picture decoded for {self.timeout:.0f} s"
        return error_reason(exc).replace(self.target, self.named)

    def open(self) -> None:
        """Opens the target; a URL whose video has not begun yet (a broadcast multiplex that
        carries only audio or tables for its first seconds) is asked again until `timeout`."""
        deadline = time.monotonic() + self.timeout
        if self.sequence is not None and self._opened:
            self._rescan()
        self._opened = True
        if self.is_file and self.sequence is None:
            refuse_animated_webp(Path(self.target))
            self._bound_stated_picture()
        container = self._open_container(None if self.reopenable else self._pipe_ready())
        while not container.streams.video:
            container.close()
            if self.is_file or not self.reopenable or time.monotonic() >= deadline:  # (a pipe read again: mid-stream)
                within = "" if self.is_file or not self.reopenable else f" (none within {self.timeout:.0f} s)"
                raise SourceError(f"{self.named}: has no video stream{within}")
            container = self._open_container()
        # an animated AVIF's or HEIF's animation, not its still picture (FFmpeg 8 reads that as stream #0)
        try:
            decodable = decodable_video(container, self.named)
        except UserError as exc:
            container.close()
            raise SourceError(str(exc)) from None
        stream = next((s for s in decodable if not is_still_item(s)), decodable[0])
        self._bound(container, stream)
        # a URL with a duration is a recording (a file over HTTP, a finished HLS playlist): nothing
        # paces it but us, so it plays as a file does; a live stream (none) comes at its own pace.
        # Once known (here or by `frames`), that holds when the URL is opened again.
        recorded = self.paced or (container.duration or 0) > 0 or _sized_download(self.target, container)
        # (a live feed's frame threads each held a frame back: a pipe, a live protocol, a stream with no duration)
        decoder_threads(stream, live=self.live_feed or not recorded)
        stream.codec_context.flags |= UNALIGNED  # (a stated crop applied whole, as `video` reads it)
        name = container.format.name
        self.still = self.is_file and os.path.isfile(self.target) and (
            is_still_item(stream) or (is_picture_format(name) and one_picture(container, stream, self.target, self._reason)))
        # (an AVIF's or HEIC's item states 1 or 0.04 fps: a photo plays at FFmpeg's image2 rate)
        self.fps = float(DEFAULT_FRAMERATE if self.still else plausible_rate(stream) or 30)
        self.live_playlist = container.format.name in PLAYLIST_FORMATS and not container.duration
        self.paced = recorded
        self._container, self._stream = container, stream
        self._resume()
        self._timeline = self._timeline or TimestampShift(container, self.description)
        self._photo = self._photo_at_open() if self.still else None
        if self.is_file and self.sequence is None and not self.still and not self._pictures_found:
            self._refuse_pictureless()

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

    def close(self) -> None:
        if self._container is not None:
            self._container.close()
            self._container = None
        if self._fifo is not None:
            os.close(self._fifo)
            self._fifo = None


def _sized_download(target: str, container: av.container.InputContainer) -> bool:
    """Whether an HTTP URL is a file of known length (a Content-Length): a recording, though its
    format states no duration (MPEG-TS). It was told apart only by running 3 s ahead of the clock,
    and those first seconds (4 s of a 25 fps clip) went by unseen. A playlist's own length says
    nothing of the stream behind it (HLS, DASH, SDP): only formats that are the stream itself count.
    A live stream has none."""
    return (target.lower().startswith(("http://", "https://")) and (container.size or 0) > 0
            and container.format.name in SIZED_RECORDINGS)


SIZED_RECORDINGS = ("mpegts", "mpeg", "mpegvideo", "h264", "hevc")  # formats that state no duration
