"""Session statistics: frames shown, capture-to-display latency and display rate, in fixed memory."""

from __future__ import annotations

import math
import time
from collections import deque

import numpy as np

FPS_WINDOW = 30  # frames the HUD's fps is averaged over
LATENCY_WINDOW = 10  # frames the HUD's latency is the median of


class LatencyHistogram:
    """Latencies counted in log-spaced bins: fixed memory however long the session runs.

    Bins are 0.2 % wide from 0.1 ms to 100 s (values outside are counted in the end bins), so a
    percentile, taken like numpy's (linear between order statistics) with each order statistic at
    its bin's geometric centre, is within 0.1 % of the exact one.
    """

    LOW_S, HIGH_S, GROWTH = 1e-4, 100.0, 1.002
    BINS = math.ceil(math.log(HIGH_S / LOW_S) / math.log(GROWTH))

    def __init__(self) -> None:
        self.counts = np.zeros(self.BINS, dtype=np.int64)

    def add(self, seconds: float) -> None:
        index = math.floor(math.log(max(seconds, self.LOW_S) / self.LOW_S) / math.log(self.GROWTH))
        self.counts[min(index, self.BINS - 1)] += 1

    def percentile(self, q: float) -> float:
        """The q-th percentile in seconds (0.0 when empty)."""
        total = int(self.counts.sum())
        if total == 0:
            return 0.0
        rank = q / 100 * (total - 1)
        below, above = math.floor(rank), math.ceil(rank)
        bins = np.searchsorted(np.cumsum(self.counts), [below, above], side="right")  # order statistic k's bin
        low, high = self.LOW_S * self.GROWTH ** (bins + 0.5)
        return float(low + (rank - below) * (high - low))


class SessionStats:
    """Frames shown, their capture-to-display latency and the display rate, in fixed memory.

    An exact frame count, the last few frames for the HUD's fps and latency, and a histogram for
    the session's median and 95th percentile: an 8-hour session costs what a minute does.
    """

    def __init__(self) -> None:
        self.frames = 0
        self.first_shown = self.last_shown = 0.0
        self.recent_shown: deque[float] = deque(maxlen=FPS_WINDOW)
        self.recent_latencies: deque[float] = deque(maxlen=LATENCY_WINDOW)
        self.latencies = LatencyHistogram()
        self.skipped = 0

    def restart(self) -> None:
        """Measure afresh from here (a benchmark's warm-up is over); `skipped` stays the session's."""
        skipped = self.skipped
        self.__init__()
        self.skipped = skipped

    def shown(self, captured: float, now: float | None = None) -> None:
        """A frame captured at `captured` is on screen at `now` (default: this instant, monotonic)."""
        now = time.monotonic() if now is None else now
        if not self.frames:
            self.first_shown = now
        self.frames += 1
        self.last_shown = now
        self.recent_shown.append(now)
        self.recent_latencies.append(now - captured)
        self.latencies.add(now - captured)

    @property
    def fps(self) -> float:
        recent = self.recent_shown
        if len(recent) < 2:
            return 0.0
        return (len(recent) - 1) / max(1e-6, recent[-1] - recent[0])

    @property
    def latency_ms(self) -> float:
        return 1000 * float(np.median(self.recent_latencies)) if self.recent_latencies else 0.0

    def summary(self, dropped: int) -> dict[str, float | int]:
        span = self.last_shown - self.first_shown
        return {
            "frames_shown": self.frames,
            "dropped": dropped + self.skipped,
            "latency_median_ms": round(1000 * self.latencies.percentile(50), 1),
            "latency_p95_ms": round(1000 * self.latencies.percentile(95), 1),
            "mean_fps": round((self.frames - 1) / span, 2) if span > 0 else 0.0,
        }
