"""H.264 encoding on a thread of its own, behind a bounded queue, for the file and the stream.

A slow disk or network never stalls the display: a full queue drops the frame and counts it, and
closing gives up after a time limit, so a peer that stopped reading cannot hang the shutdown.
Frames carry their capture time, which becomes the presentation time: a recording plays at the
speed it was seen, even when the stylizer kept up with only some of the camera's frames.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from fractions import Fraction
from typing import Callable

import av
import numpy as np
from av.video.reformatter import VideoReformatter

from realtime_adain import limits
from realtime_adain.errors import UserError, environment_failure
from realtime_adain.live.disk_room import DiskRoom
from realtime_adain.live.outputs import even, even_crop, output_rate
from realtime_adain.video.encoding import BT709_MATRIX as BT709, LIMITED_RANGE

QUEUE_FRAMES = 64
# The presentation times' unit (MPEG-TS's clock): capture times on a grid of the average frame
# rate moved the frames of a variable-rate file (a second's pause, then 24 fps) onto an even
# 16 fps, 3.5 s of steady frames for a 3 s file.
OUTPUT_TIME_BASE = Fraction(1, 90000)


class EncoderThread(threading.Thread):
    """H.264 from RGB frames to a container (a file or a URL), encoded off the caller's thread."""

    def __init__(
        self,
        target: str,
        container_format: str,
        size: tuple[int, int],
        fps: float,
        codec_options: dict[str, str],
        log: Callable[..., None],
        label: str | None = None,
        container_options: dict[str, str] | None = None,
        room: DiskRoom | None = None,
        stopped: Callable[[], None] = lambda: None,
        key: str = "target",
    ) -> None:
        super().__init__(name=f"encoder {target}", daemon=True)
        self.target = target
        self.label = label or target  # what the user knows it as (not a hidden temporary name)
        self.key = key  # its name in log lines: "path" for a file, as in `output-failed` (the output's `key`)
        self.size = even(size)
        self.rate = output_rate(fps)
        self.log = log
        # Frames in the output: counted as the container takes their packets (the encoder holds a
        # few back until flushed; a recording stopped by a full disk has only those it took).
        self.written = 0
        self.dropped = 0
        self.taken = 0  # frames the thread took from the queue: encoded, or let go once it had failed
        self.error: str | None = None
        self.finalised = False  # the container was closed properly: what was written plays
        self._room = room
        self._stopped = stopped  # told at once when a failure closed the container (before output-error)
        self._opened = False  # a packet went to the container, which opened the target then
        self._queue: queue.Queue = queue.Queue(maxsize=QUEUE_FRAMES)
        self._first_time: float | None = None
        self._last_pts = -1
        self._reformatter = VideoReformatter()  # one scaler for the stream, not one per frame
        try:
            self._container = av.open(target, mode="w", format=container_format, options=container_options or {})
        except (av.FFmpegError, OSError) as exc:
            raise UserError(f"{self.label}: cannot open for writing ({getattr(exc, 'strerror', None) or exc})") from None
        try:
            self._add_stream(codec_options)
            self.start()
        except BaseException as exc:
            # (a thread that cannot start, `ulimit -u` or `-v`: a traceback ended the session at `r`)
            with contextlib.suppress(av.FFmpegError, OSError):
                self._container.close()
            if (why := environment_failure(exc)) is None:
                raise
            raise UserError(f"{self.label}: {why}") from None

    def _add_stream(self, codec_options: dict[str, str]) -> None:
        self._stream = self._container.add_stream("libx264", rate=self.rate)
        self._stream.width, self._stream.height = self.size
        self._stream.pix_fmt = "yuv420p"
        if limits.pools_reduced:  # `ulimit -u` leaves no room for x264's threads (as `video` encodes)
            codec_options = {**codec_options, "threads": "1"}
        self._stream.options = codec_options
        context = self._stream.codec_context  # tagged as converted (untagged, players took HD for BT.709)
        context.time_base = OUTPUT_TIME_BASE
        context.colorspace, context.color_range = BT709, LIMITED_RANGE
        context.color_primaries, context.color_trc = BT709, BT709

    def submit(self, image: np.ndarray, captured: float) -> None:
        """Queue an RGB frame with its capture time; dropped (and counted) if the encoder lags."""
        try:
            self._queue.put_nowait((image, captured))
        except queue.Full:
            self.dropped += 1

    def close(self, timeout: float, keep_queued: bool = True) -> int:
        """Encode what is queued (or drop it), flush, finalise; returns the frames written.

        Waits at most `timeout` seconds: past that the target is taken as stalled, `error` says
        so and the thread (a daemon) is left behind rather than hanging the shutdown.
        """
        if not keep_queued:
            self._discard_queued()
        deadline = time.monotonic() + timeout
        try:
            self._queue.put(None, timeout=timeout)
        except queue.Full:
            pass
        self.join(max(0.0, deadline - time.monotonic()))
        if self.is_alive():
            self.error = self.error or f"still writing after {timeout:.0f} s, given up"
            self.log("output-error", **{self.key: self.label}, reason=self.error)
        return self.written

    def _discard_queued(self) -> None:
        while True:
            try:
                self._queue.get_nowait()
            except queue.Empty:
                return
            self.dropped += 1

    def run(self) -> None:
        item = ()
        try:
            while (item := self._queue.get()) is not None:
                self.taken += 1
                self._encode(*item)
            self._mux(self._stream.encode(None))
        except Exception as exc:  # FFmpeg's and the disk's errors, or any other: said, never a thread's traceback
            reason = getattr(exc, "strerror", None) if isinstance(exc, (av.FFmpegError, OSError)) else None
            self.error = (str(reason or exc) or type(exc).__name__).replace(self.target, self.label)
        finally:
            self._close_container()
        if self.error is None:
            return
        # Closed at once, not when the session ends: what was written is kept now (a recording on a
        # disk that filled up plays up to there), then the failure is said.
        try:
            self._stopped()
        except Exception:  # (a file that could not be removed, say: close() decides again, on its thread)
            pass
        self.log("output-error", **{self.key: self.label}, reason=self.error)
        # Take frames until close()'s end marker, unless it was taken already (an error at the flush).
        while item is not None and (item := self._queue.get()) is not None:
            self.taken += 1

    def _close_container(self) -> None:
        try:
            self._container.close()
            self.finalised = True
        except (av.FFmpegError, OSError) as exc:
            self.error = self.error or str(getattr(exc, "strerror", None) or exc).replace(self.target, self.label)
        finally:
            if self._room is not None:
                self._room.release()

    def _mux(self, packets: list[av.Packet]) -> None:
        """Into the container; with a `DiskRoom`, only while the finished file still fits (else
        OSError, before FFmpeg's write could fail)."""
        if not packets:
            return
        if self._room is not None:
            self._room.take(sum(packet.size for packet in packets), len(packets), self._opened)
        self._opened = True
        self._container.mux(packets)
        self.written += len(packets)

    def _encode(self, image: np.ndarray, captured: float) -> None:
        if self._first_time is None:
            self._first_time = captured
        pts = max(self._last_pts + 1, round((captured - self._first_time) / OUTPUT_TIME_BASE))
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(even_crop(image)), format="rgb24")
        frame = self._reformatter.reformat(frame, width=self.size[0], height=self.size[1], format="yuv420p",
                                           dst_colorspace=BT709, dst_color_range=LIMITED_RANGE,
                                           threads=1 if limits.pools_reduced else None)  # (swscale's: one a CPU)
        frame.color_primaries, frame.color_trc = BT709, BT709
        frame.pts, frame.time_base = pts, OUTPUT_TIME_BASE
        self._mux(self._stream.encode(frame))
        self._last_pts = pts


class EncodedOutput:
    """What the file and the stream share: frames go to their `EncoderThread`."""

    _encoder: EncoderThread

    @property
    def written(self) -> int:
        return self._encoder.written

    @property
    def dropped(self) -> int:
        return self._encoder.dropped

    @property
    def error(self) -> str | None:
        """Why the output stopped working (it writes nothing more), or None while it works."""
        return self._encoder.error

    def submit(self, image: np.ndarray, captured: float) -> None:
        self._encoder.submit(image, captured)
