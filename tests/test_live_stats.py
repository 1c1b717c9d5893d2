"""Session statistics in fixed memory: exact frame count, HUD windows, percentiles near numpy's."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from realtime_adain.live.stats import FPS_WINDOW, LATENCY_WINDOW, LatencyHistogram, SessionStats

FRAMES = 200_000  # about 1 h 50 min at 30 fps
RATE = 30.0


def synthetic_latencies(count: int) -> np.ndarray:
    """Seconds: a log-normal body around 40 ms with a tail of one-second stalls every 997 frames."""
    latencies = np.random.default_rng(7).lognormal(np.log(0.040), 0.35, count)
    latencies[::997] = 1.0 + latencies[::997]
    return latencies


@pytest.mark.slow  # (default run's time: 3 s)
def test_session_stats_stay_bounded_and_report_the_full_sessions_figures():
    latencies = synthetic_latencies(FRAMES)
    shown_at = 100.0 + np.arange(FRAMES) / RATE  # display times we control, monotonic like time.monotonic()
    captured_at = shown_at - latencies
    stats = SessionStats()
    stats.shown(float(captured_at[0]), now=float(shown_at[0]))
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for captured, now in zip(captured_at[1:].tolist(), shown_at[1:].tolist()):
            stats.shown(captured, now=now)
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert grown < 16_000, grown  # a list of the latencies alone would hold ~6 MB
    assert stats.latencies.counts.nbytes == 8 * LatencyHistogram.BINS < 60_000
    assert len(stats.recent_shown) == FPS_WINDOW and len(stats.recent_latencies) == LATENCY_WINDOW

    assert stats.frames == FRAMES
    assert abs(stats.fps - RATE) < 1e-6  # the HUD's rate over its window
    hud_latency = 1000 * np.median(latencies[-LATENCY_WINDOW:])
    assert abs(stats.latency_ms - hud_latency) < 1e-9 * hud_latency  # the HUD's latency: exact but for now - captured
    summary = stats.summary(dropped=5)
    assert summary["frames_shown"] == FRAMES and summary["dropped"] == 5
    assert abs(summary["mean_fps"] - RATE) < 0.01
    for q, key in ((50, "latency_median_ms"), (95, "latency_p95_ms")):
        exact = float(np.percentile(latencies, q))
        assert abs(stats.latencies.percentile(q) - exact) <= 1e-3 * exact  # the histogram's stated bound
        assert abs(summary[key] - 1000 * exact) <= 1e-3 * 1000 * exact + 0.05  # + rounding to 0.1 ms
    tail = float(np.percentile(latencies, 99.95))  # among the one-second stalls
    assert tail > 1.0 and abs(stats.latencies.percentile(99.95) - tail) <= 1e-3 * tail


def test_percentiles_of_small_and_empty_sessions():
    histogram = LatencyHistogram()
    assert histogram.percentile(50) == 0.0
    for seconds in (0.030, 0.010, 0.020, 0.050):
        histogram.add(seconds)
    for q in (0, 50, 95, 100):
        exact = float(np.percentile([0.010, 0.020, 0.030, 0.050], q))
        assert abs(histogram.percentile(q) - exact) <= 1e-3 * exact
    assert SessionStats().summary(dropped=0) == {
        "frames_shown": 0, "dropped": 0, "latency_median_ms": 0.0, "latency_p95_ms": 0.0, "mean_fps": 0.0}
