"""What every live source shares: the `Source` protocol, the errors a source raises, the `Frame`
it gives and `Latest`, the one-item mailbox `Capture` (live/capture.py) keeps the newest frame in,
so a slow consumer sees fresh frames instead of a backlog: latency stays one frame deep.

The sources: a camera (live/camera.py, OpenCV), a video file, a URL or a pipe
(live/pyav_source.py, PyAV); `open_source` (live/source_opening.py) opens the one `--source` names.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Generic, Iterator, Protocol, TypeVar

import numpy as np

from realtime_adain.errors import UserError

T = TypeVar("T")


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
