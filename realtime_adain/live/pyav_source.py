"""A video file, an image sequence, a photo, a URL or a pipe as a live source, through PyAV
(`PyAVSource`): a file looped and paced at its own frame rate to stand in for a camera, a URL's
recording paced and resumed where it dropped, a live stream or a pipe at its own pace. Here: its
state, `open` (what the stream is: a recording, a photo, its rate) and `close`; its parts are base
classes: pyav_opening.py (the container opened), pyav_open_checks.py (what the opening refuses or
reads first), pyav_conversion.py (a pass's frames as pictures; its decoding is pyav_decoding.py's
`DecodingPass`), pyav_pacing.py (`frames`, paced) and pyav_reopening.py (rewound, resumed).
"""

from __future__ import annotations

import os
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
from realtime_adain.live.pyav_opening import ContainerOpening
from realtime_adain.live.pyav_pacing import Pacing
from realtime_adain.live.pyav_reopening import Reopening
from realtime_adain.live.sources import SourceError
from realtime_adain.video.decoding import UNALIGNED, decoder_threads
from realtime_adain.video.probing import error_reason, is_picture_format, plausible_rate, refuse_unplayable
from realtime_adain.video.streams import decodable_video, is_still_item
from realtime_adain.video.timestamps import TimestampShift
from realtime_adain.video.sequence import DEFAULT_FRAMERATE, Sequence

# Protocols that carry live streams only, sent at their own pace: never taken for a recording by
# running ahead (a backlog read in a burst, e.g. while the model loaded, made a live stream play
# seconds behind for the whole session).
LIVE_PROTOCOLS = ("udp", "rtp", "srt", "rtsp", "rtsps", "tcp", "rtmp", "rtmps")
# Playlists whose segments come in bursts: paced, but a recording only when they state a duration
# (an HLS playlist with #EXT-X-ENDLIST); a live one that stops is a source lost, not looped.
PLAYLIST_FORMATS = ("hls", "dash")


class PyAVSource(ContainerOpening, OpenChecks, Reopening, FrameConversion, Pacing):
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
            refuse_unplayable(Path(self.target))
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
            first = self.sequence.file(self.sequence.start) if self.sequence else None  # (read to say why none is)
            decodable = decodable_video(container, self.named, first)
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
