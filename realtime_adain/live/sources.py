"""Where live frames come from: a camera (OpenCV), a video file or a URL (PyAV).

`Capture` reads a source on its own thread and keeps only the newest frame (`Latest`), so a slow
consumer sees fresh frames instead of a backlog: latency stays one frame deep. A source that
drops is reopened with exponential back-off while `Capture.status` says what is going on; a
finite source (a file played once) ends the stream.
"""

from __future__ import annotations

import os
import select
import stat
import sys
import threading
import time
from collections import deque
from contextlib import closing, suppress
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Callable, Generic, Iterable, Iterator, NamedTuple, Protocol, TypeVar

import av
import cv2
import numpy as np

from realtime_adain.checks import ascii_whole
from realtime_adain.descriptors import STANDARD_INPUT, descriptor_number, descriptor_path, unreadable_descriptor
from realtime_adain.download_urls import shown
from realtime_adain.errors import UserError
from realtime_adain.imageio import read_image
from realtime_adain.picture_sizes import resize
from realtime_adain.pillow_stills import first_frame_only_note, needs_heif_extra
from realtime_adain.video.deinterlace import deinterlaced
from realtime_adain.notes import note
from realtime_adain.video.opening import open_input
from realtime_adain.video.packets import within_run
from realtime_adain.video.pictures import (PictureConverter, alpha_decoder, bound_decoder, check_picture_size, frame_to_rgb,
                                           pixel_aspect)
from realtime_adain.video.reader import (IMAGE_FORMATS, pictures_read_with, UNALIGNED, decoded_or_damage, decoder_threads,
                                         error_reason, is_picture_format, no_pictures, plausible_rate, refuse_animated_webp)
from realtime_adain.video.streams import decodable_video, is_still_item
from realtime_adain.video.timestamps import JUMP_SECONDS, TimestampShift
from realtime_adain.video.sequence import DEFAULT_FRAMERATE, Sequence, check_framerate, ffmpeg_name, find_sequence

T = TypeVar("T")
# The interlace note's last words here: `live` has no --deinterlace option to point at.
LIVE_HINT = "that adds one frame of latency"
# How far ahead of the clock a URL's frames may arrive before it is taken for a recording: more
# than the backlog FFmpeg's probing at open leaves (under a second for a usual keyframe interval).
AHEAD_S = 3.0
# Protocols that carry live streams only, sent at their own pace: never taken for a recording by
# running ahead (a backlog read in a burst, e.g. while the model loaded, made a live stream play
# seconds behind for the whole session).
LIVE_PROTOCOLS = ("udp", "rtp", "srt", "rtsp", "rtsps", "tcp", "rtmp", "rtmps")
# Playlists whose segments come in bursts: paced, but a recording only when they state a duration
# (an HLS playlist with #EXT-X-ENDLIST); a live one that stops is a source lost, not looped.
PLAYLIST_FORMATS = ("hls", "dash")
# Reconnections to a recording URL (with --no-loop) that bring no new frame before it is given up:
# one cut at the same place each time was played again from its start for ever.
FRUITLESS_RECONNECTS = 3
# FFmpeg's protocols an SDP file's streams need (its default whitelist refused RTP: "Invalid data").
SDP_PROTOCOLS = "file,udp,rtp,crypto,data"
# How far (in frame periods) a frame's timestamp may fall behind the latest one before the
# timestamps are taken to start again: an AVI's H.264 with B-frames steps back a few periods in
# decoding order (a restart on every such step played it at less than half its rate).
RESTART_PERIODS = 8
PIPE_OPEN_S = 30.0  # the longest a pipe's opening may take once its first bytes came (FFmpeg probes ~5 s of stream)
# FFmpeg's decoders of the picture formats `image` reads (imageio): a photo in one is read as
# `image` reads it; one in another (DPX, SGI, XWD) is decoded by FFmpeg.
IMAGE_CODECS = ("bmp", "dds", "exr", "hdr", "jpeg2000", "jpegls", "mjpeg", "pam", "pbm", "pcx", "pfm", "pgm",
                "png", "ppm", "psd", "qoi", "sunrast", "targa", "tiff", "webp", "xbm", "xpm")


class Damaged(NamedTuple):
    """A packet the decoder rejected (`decoded_or_damage`), skipped, and the note that says so."""

    error: av.FFmpegError
    said: str


class SourceError(UserError):
    """The source cannot be opened (one line for the user)."""


class SourceLost(Exception):
    """A source that was delivering frames stopped doing so."""

    def __init__(self, message: str, reason: str | None = None, undecodable: bool = False) -> None:
        super().__init__(message)
        self.reason = reason or message  # why, without the source's name
        self.undecodable = undecodable  # what arrived is no video FFmpeg can decode (not a network's failure)


@dataclass(frozen=True)
class Frame:
    image: np.ndarray  # (H, W, 3) uint8 RGB
    captured: float  # time.monotonic() when it arrived: the start of the latency measurement
    index: int  # 1, 2, ... in capture order, across reconnects


class Latest(Generic[T]):
    """A one-item mailbox: `put` replaces what is there, readers wait for something newer."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._item: T | None = None
        self._seq = 0
        self.closed = False

    def put(self, item: T) -> None:
        with self._cond:
            self._item, self._seq = item, self._seq + 1
            self._cond.notify_all()

    def close(self) -> None:
        with self._cond:
            self.closed = True
            self._cond.notify_all()

    def newer(self, seen: int, timeout: float) -> tuple[int, T] | None:
        """(sequence number, item) once one newer than `seen` is there; None on timeout/close."""
        with self._cond:
            self._cond.wait_for(lambda: self._seq > seen or self.closed, timeout)
            if self._seq > seen:
                return self._seq, self._item
            return None


class Source(Protocol):
    """What a live source offers: `label` (as the log says it), its frame rate when known (else
    None or 0), and frames once opened (`frames` raises `SourceLost` when it drops)."""

    description: str
    fps: float | None

    @property
    def label(self) -> str: ...

    def open(self) -> None: ...

    def frames(self) -> Iterator[np.ndarray]: ...

    def close(self) -> None: ...


class CameraSource:
    """A camera by index or device path through OpenCV, asking for a resolution and frame rate."""

    def __init__(
        self,
        device: int | str,
        resolution: tuple[int, int] | None = None,
        fps: float | None = None,
        opener: Callable[..., cv2.VideoCapture] = cv2.VideoCapture,
    ) -> None:
        self.device = device
        self.resolution = resolution
        self.fps = fps
        self.opener = opener  # tests swap in a fake camera: there is no camera hardware in CI
        self.description = f"camera {device}"
        self._cap: cv2.VideoCapture | None = None

    @property
    def label(self) -> str:
        return self.description

    def open(self) -> None:
        """The camera opened, OpenCV's own lines about it silenced (our one line says it) and its
        log level then put back: left silent for the process, a picture read later lost the
        library's reason from its error ("not a readable image (OpenJPEG2000: ...)")."""
        level = cv2.utils.logging.getLogLevel()
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
        try:
            self._open()
        finally:
            cv2.utils.logging.setLogLevel(level)

    def _open(self) -> None:
        backend = cv2.CAP_V4L2 if sys.platform.startswith("linux") else cv2.CAP_ANY
        if isinstance(self.device, str) and not Path(self.device).exists():
            raise SourceError(f"{self.device}: no such camera device")
        if isinstance(self.device, str) and sys.platform.startswith("linux") and not _is_video4linux(self.device):
            raise SourceError(f"{self.device}: not a camera (cameras are video4linux devices, /dev/video*)")
        cap = self.opener(self.device, backend)
        if not cap.isOpened():
            cap.release()
            raise SourceError(f"{self.description}: cannot open it (no such camera, or in use by another program)")
        if self.resolution:
            cap.set(cv2.CAP_PROP_FRAME_WIDTH, self.resolution[0])
            cap.set(cv2.CAP_PROP_FRAME_HEIGHT, self.resolution[1])
        if self.fps:
            cap.set(cv2.CAP_PROP_FPS, self.fps)
        cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)  # where the driver allows it: no stale frames queued
        self._cap = cap

    def frames(self) -> Iterator[np.ndarray]:
        while True:
            ok, bgr = self._cap.read()
            if not ok or bgr is None:
                raise SourceLost(f"{self.description} stopped delivering frames")
            yield cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None


def _is_video4linux(path: str) -> bool:
    """Whether `path` (links followed) is a video4linux character device (major number 81):
    /dev/null, /dev/zero or a tty was "no such camera, or in use by another program"."""
    try:
        info = os.stat(path)
    except OSError:
        return False
    return stat.S_ISCHR(info.st_mode) and os.major(info.st_rdev) == 81


class PyAVSource:
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
        self.reopenable = True  # a URL dropped is asked again; a pipe (standard input, a fifo) ends where it ends
        self._fifo: int | None = None  # a fifo's descriptor, which FFmpeg reads (`_pipe_ready`)
        # Set by the session: a paced file holds after its first picture until the session takes
        # frames (the model's warm-up had played the first second unseen, and uncounted).
        self.start_gate: threading.Event | None = None
        self._container: av.container.InputContainer | None = None
        self._stream: av.video.stream.VideoStream | None = None  # the one played (set by `open`)
        self._photo: np.ndarray | None = None  # a photo's one picture (set by `open`)
        self._first_shape: tuple[int, int] | None = None  # the first picture's (height, width), as decoded
        self._aspect = Fraction(1)  # the stream's stored pixels' width:height (set by `open`)
        self._timeline: TimestampShift | None = None  # whether its timestamps may jump, as `video` tells (set by `open`)
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
            is_still_item(stream) or (is_picture_format(name) and self._one_picture(container, stream)))
        # (an AVIF's or HEIC's item states 1 or 0.04 fps: a photo plays at FFmpeg's image2 rate)
        self.fps = float(DEFAULT_FRAMERATE if self.still else plausible_rate(stream) or 30)
        self.live_playlist = container.format.name in PLAYLIST_FORMATS and not container.duration
        self.paced = recorded
        self._container, self._stream = container, stream
        self._resume()
        self._timeline = self._timeline or TimestampShift(container, self.description)
        self._photo = self._photo_at_open() if self.still else None
        if self.is_file and self.sequence is None and not self.still:
            self._refuse_pictureless()

    def _pipe_ready(self) -> str:
        """A pipe's name for FFmpeg once its first bytes (or its end) came, within `timeout`:
        FFmpeg's open and first read block past any timeout (a fifo no program writes into, a
        program that sends nothing: the session waited for ever). Only the first bytes: a slow
        stream (1 fps) takes FFmpeg seconds to probe once it flows (`PIPE_OPEN_S` bounds that).
        A fifo is opened here and read by FFmpeg through that descriptor (`pipe:N`, closed with the
        source): opened again by name, a writer already gone left FFmpeg waiting for another."""
        if self.target != "pipe:0":
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

    def _bound(self, container: av.container.InputContainer, stream: av.video.stream.VideoStream) -> None:
        """Refuse a stream stating pictures over the size `video` decodes, before one is decoded,
        and have FFmpeg skip a later larger one (`check_picture_size`, `bound_decoder`): a 600-byte
        GIF stating a 16000x16000 screen played at 5.5 GB."""
        self._aspect = pixel_aspect(stream, self.description)
        try:
            check_picture_size(stream, self._aspect, self.named)
        except UserError as exc:
            container.close()
            raise SourceError(str(exc)) from None
        bound_decoder(stream.codec_context, self._aspect)

    def _one_picture(self, container: av.container.InputContainer, stream: av.video.stream.VideoStream) -> bool:
        """Whether a picture file holds one picture (a photo), told by its packets, undecoded: an
        image2 file is one packet (which could not be read again); a `_pipe` format's parser cuts
        pictures one after another (a raw MJPEG stream, .mjpeg: played as a clip) into packets,
        read again from the start after this. (A photo is sought back for FFmpeg to decode one
        `image` does not read; a PNG cut short cannot be, but `image` reads that format.)"""
        if container.format.name in IMAGE_FORMATS:
            return True
        try:
            packets = (packet for packet in container.demux(stream) if packet.size)
            if next(packets, None) is None or next(packets, None) is None:
                with suppress(av.FFmpegError):
                    container.seek(0)
                return True
            container.seek(0)
            return False
        except (av.FFmpegError, OSError) as exc:
            container.close()
            raise SourceError(f"{self.target}: cannot read ({self._reason(exc)})") from None

    def _photo_at_open(self) -> np.ndarray:
        """A photo's picture, read as it opens: as `image` reads it (`imageio.read_image`, its
        bounds and notes) where `image` reads its format (`IMAGE_CODECS`; decoded by FFmpeg, an
        Adobe RGB photo's profile was ignored, its red read 219, and a mirrored EXIF orientation,
        a palette's transparency and 4:2:0 edges came out otherwise), else by FFmpeg. One that
        cannot be read (a 20000x20000 PNG) was a source lost and opened again every half second
        until the first frame's 15 s ran out; now it is one line at the start."""
        try:
            if self._read_as_image():
                if said := first_frame_only_note(Path(self.target)):  # (a multi-page TIFF: as `image` says it)
                    note(said, once=True)
                return self._at_resolution(read_image(self.target))
            with closing(self._decoded()) as pictures:
                first = next(pictures, None)
            if first is not None:
                return first[0]
            reason = "no picture in it"
        except UserError as exc:
            reason = str(exc).removeprefix(f"{Path(self.target)}: ")
        except SourceLost as exc:
            reason = exc.reason
        except OSError as exc:  # (gone since it was opened)
            reason = exc.strerror or str(exc)
        self.close()
        raise SourceError(f"{self.target}: cannot read ({reason})")

    def _read_as_image(self) -> bool:
        """Whether `image` reads this photo's format: `IMAGE_CODECS`, an AVIF, a HEIC with the
        `heif` extra (without it, FFmpeg decodes one)."""
        if not is_still_item(self._stream):
            return self._stream.codec_context.name in IMAGE_CODECS
        with open(self.target, "rb") as handle:
            return not needs_heif_extra(handle.read(16))

    def _refuse_pictureless(self) -> None:
        """Refuse a file whose video decodes to no picture at all, saying why (`no_pictures`):
        FFmpeg 8's ProRes RAW decoder takes every packet and gives nothing, and the session
        played the file to its end, then waited out the first frame's 15 s for "no frames
        arrived". Decodes up to the first picture, then seeks back to the start (which flushes
        the decoder), as `video` decodes a file's first picture when it opens it."""
        packets = damaged = 0
        try:
            for packet in self._container.demux(self._stream):
                packets += 1 if packet.size else 0
                frames = decoded_or_damage(self._stream.codec_context.decode, packet)
                if isinstance(frames, av.FFmpegError):
                    damaged += 1
                elif frames:
                    break
            else:
                self.close()
                raise SourceError(f"{self.target}: the video has no frames: "
                                  f"{no_pictures(self._stream, packets, damaged)}")
            self._container.seek(0)
        except (av.FFmpegError, OSError) as exc:
            self.close()
            raise SourceError(f"{self.target}: cannot read ({self._reason(exc)})") from None

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
            return open_input(target, timeout=self.timeout if not self.is_file else None, **arguments)
        except (av.FFmpegError, OSError) as exc:
            # (raw video has no header FFmpeg can recognise it by: its size and pixel format are not in the stream)
            hint = (": a pipe needs a format with a header (-f mpegts, nut, yuv4mpegpipe or matroska)"
                    if pipe is not None and isinstance(exc, av.error.InvalidDataError) else "")
            raise SourceError(f"{self.named}: {self._open_failure(exc)}{hint}") from None

    def _open_failure(self, exc: Exception) -> str:
        """Why the open failed, in words: a URL's protocol this FFmpeg lacks as `--stream` says it
        (its "Protocol not found" said nothing of which); only a URL names one."""
        if isinstance(exc, av.error.ProtocolNotFoundError) and "://" in self.target:
            return f"this FFmpeg (PyAV's) has no {self.target.partition('://')[0].upper()} support"
        return f"cannot open ({self._reason(exc, opening=True)})"

    def _resume(self) -> None:
        """A recording URL reopened after a drop goes on after the last frame shown (sought to near
        it where the server allows, the frames before it skipped): it started again from its first
        frame, and one cut at the same place played its first seconds for ever."""
        if self.is_file or not self.recording or self._shown_at is None:
            return
        self._resume_after = self._shown_at
        if self._shown_at <= 0:  # (from its start: no seek, which could land past a one-picture file's picture)
            return
        with suppress(av.FFmpegError, OSError, OverflowError):  # (unseekable: decoded from the start, skipped)
            self._container.seek(round(self._shown_at / self._stream.time_base), stream=self._stream)

    def _decoded(self) -> Iterator[tuple[np.ndarray, float | None]]:
        """(image, presentation time in seconds or None) per frame."""
        try:
            read_with = pictures_read_with(self._container.format.name, Path(self.target),
                                           self.sequence.file(self.sequence.start) if self.sequence else None)
            converter = PictureConverter(self.description, self._stream.codec_context.name,
                                         *(read_with if self.is_file else (None, None)))
            aspect = self._aspect
            # interlaced (a broadcast or capture-card stream, a camcorder file): whole pictures, as `video` reads them
            for frame in deinterlaced(self._pictures(), "auto", self.description, LIVE_HINT):
                image = frame_to_rgb(frame, converter, aspect)  # square pixels, upright, right colour range, as `video` reads
                yield self._at_resolution(image), frame.time
        except (av.FFmpegError, OSError) as exc:
            reason = self._reason(exc)
            raise SourceLost(f"{self.description}: {reason}", reason, isinstance(exc, av.error.InvalidDataError)) from None

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

    def _pictures(self) -> Iterator[av.VideoFrame]:
        """The decoded frames. A packet the decoder rejects as damaged is skipped, as `video` skips
        it: the source was lost there and opened again at its start, so it never got past it (and
        a sequence played once never ended). It is said once a picture comes: a pass that gives
        none fails with its error (what arrives is no video it can decode: a URL serving text)."""
        failure, given, unsaid = None, False, {}
        for frames in self._sequence_decoded() if self.sequence is not None else self._video_decoded():
            if isinstance(frames, Damaged):
                failure, unsaid[frames.said] = frames.error, None
                frames = []
            given = given or bool(frames)
            if given and unsaid:
                for said in unsaid:
                    note(said, once=True)
                unsaid.clear()
            yield from frames
        if failure is not None and not given:
            raise failure

    def _video_decoded(self) -> Iterator[list[av.VideoFrame] | Damaged]:
        """Each video packet's frames, or `Damaged`."""
        decoder = alpha_decoder(self._stream)  # WebM's VP8/VP9 alpha, as `video` reads it; new each pass
        if decoder is not None:
            decoder_threads(decoder, live=self.live_feed or not self.paced)
            decoder.flags |= UNALIGNED
            bound_decoder(decoder, self._aspect)
        decode = (decoder or self._stream.codec_context).decode
        for packet in self._container.demux(self._stream):
            frames = decoded_or_damage(decode, packet)
            yield (Damaged(frames, f"{self.description}: damaged video packets are skipped (FFmpeg conceals them "
                                   "the same way)") if isinstance(frames, av.FFmpegError) else frames)

    def _sequence_decoded(self) -> Iterator[list[av.VideoFrame] | Damaged]:
        """An image sequence's pictures up to its first gap (FFmpeg fails on the gap, which ended
        the session as a lost source), as `video` plays it, or `Damaged` naming a picture. The
        decoder's frame threads give a picture, or its error, a few packets after it, in order:
        `held` (the packets sent whose pictures have not come back) says which one failed. As the
        decoder drains at the end, an error loses the pictures it still held (PyAV stops there),
        and a damaged last picture is dropped unsaid: those held are decoded again."""
        decode, held = self._stream.codec_context.decode, deque()
        for packet in within_run(self._container.demux(self._stream), self._stream, self.sequence.run):
            held.extend([packet] if packet.size else [])
            frames = decoded_or_damage(decode, packet)
            if isinstance(frames, av.FFmpegError) and not packet.size:
                break
            if isinstance(frames, av.FFmpegError):
                yield self._damaged(held.popleft(), frames)
                continue
            for frame in frames:  # (its packet, and any whose picture was lost before it)
                while held and frame.pts is not None and (held[0].pts or 0) <= frame.pts:
                    held.popleft()
            yield frames
        if held:
            yield from self._held_again(held)

    def _held_again(self, held: Iterable[av.Packet]) -> Iterator[list[av.VideoFrame] | Damaged]:
        """`held`'s pictures (each packet a whole picture) decoded by a decoder without threads,
        which gives each picture, or its error, at its own packet."""
        context = av.CodecContext.create(self._stream.codec_context.name, "r")
        context.thread_count = 1
        bound_decoder(context, self._aspect)
        for packet in [*held, None]:
            frames = decoded_or_damage(context.decode, packet)
            if not isinstance(frames, av.FFmpegError):
                yield frames
            elif packet is not None:  # (a decoder without threads holds nothing as it drains)
                yield self._damaged(packet, frames)

    def _damaged(self, packet: av.Packet, error: av.FFmpegError) -> Damaged:
        """A sequence's picture that does not decode, named (image2 times each by its place)."""
        name = self.sequence.file(self.sequence.start + (packet.pts or 0)).name
        return Damaged(error, f"{self.sequence.pattern}: {name} does not decode ({error_reason(error)}): it is "
                              "skipped, as `video` skips it")

    def frames(self) -> Iterator[np.ndarray]:
        """Files and recordings behind a URL are paced by their frames' timestamps, as they play
        (a variable frame rate too; by the frame rate where a frame has none), sleeping only when
        early; live streams pace themselves."""
        period = 1.0 / self.fps
        if self._photo is not None:
            yield from self._repeated(self._photo, period)
            return
        start, shown, first, previous = time.monotonic(), 0, None, None
        while True:
            got_any = False
            for image, stamp in self._decoded():
                got_any = True
                if self._resume_after is not None and stamp is not None and stamp <= self._resume_after:
                    continue  # shown before the recording dropped
                self._resume_after = None
                if not (self.paced or self.live_protocol) and shown > self.fps * (time.monotonic() - start + AHEAD_S):
                    # a live stream cannot run ahead of the clock: a recording with no duration (a .ts over HTTP)
                    self.paced = True
                    start, shown, first = time.monotonic(), 0, None
                if self.paced:
                    if stamp is not None and previous is not None and (
                            stamp < previous - RESTART_PERIODS * period or self._jumped_ahead(stamp, previous + period)):
                        # timestamps start again (MPEG-TS files joined with cat): a period after the
                        # last frame; within a second of it they were played at once (3x the rate)
                        start, shown, first, previous = time.monotonic() + period, 0, stamp, None
                    first = stamp if first is None else first
                    previous = stamp if previous is None or (stamp is not None and stamp > previous) else previous
                    offset = stamp - first if stamp is not None and first is not None else shown * period
                    delay = start + offset - time.monotonic()
                    if delay > 0:
                        time.sleep(delay)
                    elif delay < -1.0:  # far behind (a stall, a timestamp gone back): restart the clock, no burst
                        start, shown, first = time.monotonic(), 0, stamp
                yield image
                shown, self._shown_at = shown + 1, stamp
                if shown == 1 and self.paced and self.start_gate is not None and not self.start_gate.is_set():
                    self.start_gate.wait()
                    start = time.monotonic()  # the clock starts with the session (frame 2 a period on)
            if not self.recording and self.reopenable:  # (a live playlist that stops: reconnected, said)
                raise SourceLost(f"{self.description}: the stream ended")
            if not (self.loop and got_any):
                return
            self._rewind()
            start, shown, first, previous = time.monotonic() + period, 0, None, None  # the last frame is shown for its period

    def _jumped_ahead(self, stamp: float, expected: float) -> bool:
        """Whether the timestamps jump forward at `stamp` where a frame at `expected` was due, as
        `video` tells a splice (`TimestampShift`: by more than JUMP_SECONDS, in MPEG-TS, MPEG-PS or
        FLV), said once. The gap froze one frame for all of it (117 s); a long still in an MP4 is
        no jump and is shown for its time."""
        if not (self._timeline.splices and stamp - expected > JUMP_SECONDS):
            return False
        if not self._timeline.jumps:
            self._timeline.jumps = 1
            self._timeline.note_jumps()
        return True

    def _rewind(self) -> None:
        """Back to the start: a file seeks; a URL is opened again (a server that does not take
        range requests, Python's http.server among them, cannot seek), and so is an image sequence,
        looked for again (`_rescan`). A URL's is said: a live stream taken for a recording was
        played again silently."""
        self._shown_at = None
        if self.is_file and self.sequence is None:
            self._container.seek(0)
        else:
            if not self.is_file:
                self.log("source-rewound", source=self.description, reason="the recording ended; played again from its start")
            self.close()
            self.open()

    def _repeated(self, image: np.ndarray, period: float) -> Iterator[np.ndarray]:
        """A photo as a camera that sees it: read once (a JPEG could not be sought back to
        its start, so the session ended after one frame; a 12 MP one cost a core to decode on and
        on), then the same picture every period, until stopped or, without looping, once."""
        due = time.monotonic()
        while True:
            yield image
            if not self.loop:
                return
            due = max(due + period, time.monotonic() - 1.0)
            time.sleep(max(0.0, due - time.monotonic()))

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


# OpenCV takes a camera index as a C int: a larger one was a cv2.error traceback.
MAX_CAMERA_INDEX = 2**31 - 1


def _pipe(spec: str) -> str | None:
    """What FFmpeg reads for a piped source, read once to its end (`ffmpeg ... -f mpegts - |
    realtime-adain live --source -`): "pipe:0" for standard input, the path of a fifo; None for
    anything else."""
    if spec in STANDARD_INPUT:
        if sys.stdin is None or sys.stdin.isatty() or stat.S_ISCHR(os.fstat(0).st_mode):
            what = "closed" if sys.stdin is None else "a terminal" if sys.stdin.isatty() else "a device, not a pipe"
            raise SourceError(f"--source {spec}: standard input is {what}; "
                              "pipe a video into it (ffmpeg -i clip.mp4 -f mpegts - | realtime-adain live --source - ...)")
        return "pipe:0"
    try:
        return ffmpeg_name(spec) if stat.S_ISFIFO(os.stat(spec).st_mode) else None
    except (OSError, ValueError):
        return None


def open_source(
    spec: str,
    resolution: tuple[int, int] | None = None,
    fps: float | None = None,
    loop: bool = True,
) -> Source:
    """The source `spec` names (camera index, /dev path, URL or file), already opened."""
    if not spec:  # (it was looked for as a file: "error: : no such file")
        raise SourceError("--source is empty: give a camera index, a device, a video file or a URL")
    given, spec = spec, descriptor_path(spec)  # (pipe:3 was "no such file", though /dev/fd/3 was read)
    if unreadable := unreadable_descriptor(given):
        raise SourceError(unreadable)
    if spec in STANDARD_INPUT and os.path.isfile("/dev/stdin"):  # (`< clip.mp4`: that file, looped)
        spec = os.path.realpath("/dev/stdin")
    if (index := ascii_whole(spec)) is not None:
        if index > MAX_CAMERA_INDEX:
            raise SourceError(f"camera {spec}: no such camera (an index is 0 to {MAX_CAMERA_INDEX})")
        source: CameraSource | PyAVSource = CameraSource(index, resolution, fps)
    elif (piped := _pipe(spec)) is not None:
        source = PyAVSource(piped, is_file=False, loop=False, resolution=resolution)
        source.description, source.reopenable = "standard input" if piped == "pipe:0" else given, False
        source.paced = True  # (at its timestamps, as a camera gives them: a file piped at full speed went by unseen)
    elif spec.startswith("/dev/") and not os.path.isfile(spec):  # (a clip in /dev/shm, a RAM disk, is a file)
        source = CameraSource(spec, resolution, fps)
    elif "://" in spec:
        scheme, _, rest = spec.partition("://")  # (FFmpeg knows schemes in lower case: `HTTP://` was "Protocol not found")
        source = PyAVSource(f"{scheme.lower()}://{rest}", is_file=False, loop=loop, resolution=resolution)
    elif os.path.isfile(spec) and spec.lower().endswith(".sdp"):
        # the description of a live RTP stream: read as a URL is (its wait bounded, never paced as a file)
        source = PyAVSource(spec, is_file=False, loop=loop, resolution=resolution)
        source.description, source.live_protocol = given, True
    elif os.path.isfile(spec):
        source = PyAVSource(spec, is_file=True, loop=loop, resolution=resolution)
        if descriptor_number(given) is not None:  # (`3< clip.mp4`: named as given; its number alone said `source=3`)
            source.description = given
    elif sequence := find_sequence(Path(spec)):  # numbered pictures, as `video` reads them; --fps their rate
        sequence.note_gap()
        rate = DEFAULT_FRAMERATE if fps is None else check_framerate(fps, "--fps")
        source = PyAVSource(spec, is_file=True, loop=loop, resolution=resolution, sequence=sequence, rate=rate)
    elif os.path.isdir(spec):
        raise SourceError(f"{spec}: a folder, not a video (for its images as a sequence give a pattern, "
                          "e.g. frames/%04d.png)")
    elif os.path.exists(spec):  # (a device outside /dev, a socket: it is there, but no file to play)
        raise SourceError(f"{spec}: a device or socket, not a video file (a camera is a /dev/video* path)")
    elif spec.startswith("file:"):  # FFmpeg's file protocol: not taken, as -o and --log are checked against the path
        raise SourceError(f"{spec}: no such file; for the file {spec[5:]} give its path alone, without file:")
    else:
        raise SourceError(f"{spec}: no such file (and not a camera index, device or URL)")
    if isinstance(source, PyAVSource) and not source.is_file:
        _open_answering_signals(source)
    else:
        source.open()
    return source


def _open_answering_signals(source: Source) -> None:
    """Opens `source` on a thread while this one waits: a silent URL holds its open inside FFmpeg
    for up to its timeout, where a signal's handler (run only between Python steps of the main
    thread) waited for it: Ctrl-C and SIGTERM took 5-8 s. Now they act at once; a container the
    open gives after that is closed on its thread."""
    failure: list[BaseException] = []
    done = threading.Event()

    def open_it() -> None:
        try:
            source.open()
        except BaseException as exc:  # (handed to the waiting thread)
            failure.append(exc)
        finally:
            done.set()

    threading.Thread(target=open_it, name="open-source", daemon=True).start()
    # (a pipe that stalls after its first bytes holds FFmpeg's probing read past any timeout)
    deadline = time.monotonic() + PIPE_OPEN_S if isinstance(source, PyAVSource) and not source.reopenable else None
    try:
        while not done.wait(0.05):
            if deadline is not None and time.monotonic() > deadline:
                raise SourceError(f"{source.description}: no video recognised in what came within {PIPE_OPEN_S:.0f} s "
                                  "(the stream stalled?)")
    except BaseException:  # a signal: the open goes on to its timeout, then closes what it opened
        threading.Thread(target=lambda: (done.wait(), source.close()), name="close-source", daemon=True).start()
        raise
    if failure:
        raise failure[0]


class Capture(threading.Thread):
    """Reads an opened source into `latest`; reconnects with back-off when it drops."""

    def __init__(
        self,
        source: Source,
        log: Callable[..., None] = lambda *args, **kwargs: None,
        backoff: tuple[float, float] = (0.5, 8.0),
    ) -> None:
        super().__init__(name="capture", daemon=True)
        self.source = source
        self.log = log
        self.backoff = backoff
        self.latest: Latest[Frame] = Latest()
        self.status = "live"
        self.ended = False  # a finite source reached its end
        self.error: str | None = None  # what ended capture unexpectedly (a bug, out of memory), for the one line
        self.lost: str | None = None  # why the source was last lost (a first frame that never came: its cause)
        self.unreadable: str | None = None  # why a source that never gave a frame cannot be decoded: no use retrying
        self._stop_event = threading.Event()
        if isinstance(source, PyAVSource):
            source.log = self._log  # (a URL's recording played again from its start is said)

    def _log(self, event: str, **fields: object) -> None:
        """A line of the log, none once stopping: retries were said after the session's last lines."""
        if not self._stop_event.is_set():
            self.log(event, **fields)

    def stop(self) -> None:
        self._stop_event.set()
        gate = getattr(self.source, "start_gate", None)
        if gate is not None:  # (a source held after its first picture)
            gate.set()

    def run(self) -> None:
        attempt, index, opened = 0, 0, True
        try:
            while not self._stop_event.is_set():
                try:
                    if not opened:  # (said before it: an open can block for the source's timeout)
                        self.status = f"{self.lost}; reconnecting (attempt {attempt})"
                        self.source.open()
                        opened = True
                        self.status = "reopened, waiting for frames"
                    with closing(self.source.frames()) as frames:
                        for image in frames:
                            if self._stop_event.is_set():
                                return
                            if attempt:  # reconnected once frames come, not on opening (it may give none)
                                self._log("source-reconnected", source=self.source.description, attempt=attempt)
                                self.status = "live"
                            # the back-off starts again once frames come (not on opening: a server that
                            # takes connections and stalls was retried every half second for ever)
                            attempt = 0
                            index += 1
                            self.latest.put(Frame(image, time.monotonic(), index))
                    self._end(index)
                    return
                except (SourceLost, SourceError) as exc:
                    self.source.close()
                    if index == 0 and isinstance(exc, SourceLost) and exc.undecodable:
                        # (a URL serving no video, e.g. a text file, was reopened until the first frame's
                        # 15 s ran out, "reconnected" each time; a file is refused as it opens)
                        self.unreadable, self.status = exc.reason, f"cannot read ({exc.reason})"
                        return
                    self.lost = str(exc)
                    if not getattr(self.source, "reopenable", True):
                        # a pipe cannot be read again (it was reopened for ever, "ended without sending anything")
                        self._log("source-lost", reason=self.lost)
                        self._end(index)
                        return
                    opened = False
                    attempt += 1
                    if attempt > FRUITLESS_RECONNECTS and index and self._recording_played_once():
                        self._end(index, f"{attempt - 1} reconnections brought no new frame ({self._reason(exc)})")
                        return
                    delay = min(self.backoff[1], self.backoff[0] * 2 ** min(attempt - 1, 30))  # (2**1024: OverflowError)
                    self.status = f"{exc}; reconnecting in {delay:g} s"  # (0.5 s was "in 0 s")
                    self._log("source-lost", reason=str(exc), attempt=attempt, retry_in=round(delay, 2))
                    self._stop_event.wait(delay)
        except Exception as exc:  # reported by the session as the cause, not as a traceback
            self.error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            self.status = f"capture failed ({self.error})"
            self._log("source-error", source=self.source.description, reason=self.error)
        finally:
            self.source.close()
            self.latest.close()

    def _reason(self, exc: SourceLost | SourceError) -> str:
        """Why the source was lost, without its name: a reopen that fails raises a SourceError,
        whose line starts with it (its reconnections given up were an AttributeError)."""
        return exc.reason if isinstance(exc, SourceLost) else str(exc).removeprefix(f"{self.source.description}: ")

    def _recording_played_once(self) -> bool:
        """Whether the source is a recording URL played once (--no-loop), which a drop may end."""
        return isinstance(self.source, PyAVSource) and self.source.recording and not self.source.loop

    def _end(self, frames: int, reason: str | None = None) -> None:
        """The source reached its end, after `frames` frames (`reason`: why it is given up before
        it): the session ends as it does at a file's end."""
        self.ended, self.status = True, "ended"
        self._log("source-ended", source=self.source.description, frames=frames, **({"reason": reason} if reason else {}))
