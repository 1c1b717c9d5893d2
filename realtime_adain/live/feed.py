"""What the session shows next: each stylized frame as it comes, or (with motion carried) the
newest stylized frame carried onto every new camera frame."""

from __future__ import annotations

from typing import Callable

from realtime_adain.live.carry import MotionCarrier
from realtime_adain.live.inference import Result
from realtime_adain.live.sources import Frame, Latest
from realtime_adain.live.stats import SessionStats


class StylizedFeed:
    """The inference stage's newest result; results it never got to are counted as skipped."""

    def __init__(self, results: Latest[Result], stats: SessionStats) -> None:
        self.results, self.stats = results, stats
        self._seen = 0

    @property
    def closed(self) -> bool:
        return self.results.closed

    def next(self, timeout: float) -> Result | None:
        got = self.results.newer(self._seen, timeout)
        if got is None:
            return None
        if self._seen and got[0] > self._seen + 1:
            self.stats.skipped += got[0] - self._seen - 1
        self._seen, result = got
        return result


class CarriedFeed:
    """A picture per camera frame: the newest stylized frame carried onto the newest camera frame,
    shown whenever either is new; while `paused()` the picture stands still, as without carrying."""

    def __init__(self, results: Latest[Result], frames: Latest[Frame], paused: Callable[[], bool] = lambda: False,
                 carrier: MotionCarrier | None = None) -> None:
        self.results, self.frames, self.paused = results, frames, paused
        self.carrier = carrier or MotionCarrier()
        self._seen_result = self._seen_frame = 0
        self._result: Result | None = None
        self._frame: Frame | None = None

    @property
    def closed(self) -> bool:
        return self.results.closed

    def next(self, timeout: float) -> Result | None:
        got = self.results.newer(self._seen_result, 0)
        if got is None:
            if self._result is None or self.frames.closed or self.paused():  # nothing to carry onto
                got = self.results.newer(self._seen_result, timeout)
                if got is None:
                    return None
            else:
                newer = self.frames.newer(self._seen_frame, timeout)
                if newer is None:
                    return None
                self._seen_frame, self._frame = newer
        if got is not None:
            self._seen_result, self._result = got
        latest = self.frames.newer(self._seen_frame, 0)
        if latest is not None and not self.paused():
            self._seen_frame, self._frame = latest
        frame = self._frame
        if frame is None or frame.index <= self._result.frame.index:
            return self._result
        return self.carrier(self._result, frame)
