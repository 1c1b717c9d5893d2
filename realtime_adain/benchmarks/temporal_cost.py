"""`bench temporal`'s cost measures: the default stabiliser's ms per frame on the pan clip at 360p,
720p and 1080p, per core and with the default threads, by step, pipelined, by call (cProfile),
with the float32 state and in two passes."""

from __future__ import annotations

import contextlib
import cProfile
import os
import pstats
import re
import statistics
import time
from pathlib import Path
from typing import Callable, Iterator

import cv2
import numpy as np
import torch

from realtime_adain.benchmarks.temporal_clips import Clip, pan_clip, still_clip
from realtime_adain.temporal import MotionAhead, Stabilizer
from realtime_adain.temporal.two_pass import TwoPassStabilizer

COST_SIZES = {"360p": (640, 360), "720p": (1280, 720), "1080p": (1920, 1080)}


@contextlib.contextmanager
def one_core() -> Iterator[None]:
    """OpenCV and torch on one thread, so CPU time is what one core spends."""
    threads = cv2.getNumThreads(), torch.get_num_threads()
    cv2.setNumThreads(1)
    torch.set_num_threads(1)
    try:
        yield
    finally:
        cv2.setNumThreads(threads[0])
        torch.set_num_threads(threads[1])


def frame_times(stabilizer: Stabilizer, clip: Clip, stylized: np.ndarray, clock: Callable[[], float]) -> list[float]:
    """ms per frame by `clock`, after a first frame that only primes the stabiliser."""
    stabilizer.reset()
    stabilizer(clip[0], stylized)
    times = []
    for frame in clip[1:]:
        start = clock()
        stabilizer(frame, stylized)
        times.append(1000 * (clock() - start))
    return times


def calls_profile(stabilizer: Stabilizer, clip: Clip, stylized: np.ndarray, top: int = 10) -> dict[str, float]:
    """Where the CPU time goes: cProfile's own time per call site, ms per frame, largest first."""
    profiler = cProfile.Profile(time.process_time)
    profiler.runcall(frame_times, stabilizer, clip, stylized, time.process_time)
    entries = pstats.Stats(profiler).stats  # (file, line, name) -> (calls, primitive, own time, cumulative, callers)
    own: dict[str, float] = {}
    for (file, _, name), (_, _, seconds, _, _) in entries.items():
        label = re.sub(r"^<(?:method '(\w+)' of '(?:\w+\.)*(\w+)' objects|(?:built-in method )?(?:\w+\.)*(\w+))>$",
                       lambda m: f"{m[2]}.{m[1]}" if m[1] else m[3], name) if file == "~" else f"{Path(file).name}:{name}"
        own[label] = own.get(label, 0.0) + 1000 * seconds / (len(clip) - 1)
    ranked = sorted(own.items(), key=lambda item: -item[1])
    return dict(ranked[:top] + [("rest", sum(ms for _, ms in ranked[top:]))])


def step_times(stabilizer: Stabilizer, clip: Clip, stylized: np.ndarray) -> tuple[list[float], list[float]]:
    """CPU ms per frame of the two steps: `motion` (luma, flow, mask, weight: runs ahead on
    worker threads in `video` and `live`) and `apply` (warp and blend: the sequential part)."""
    stabilizer.reset()
    previous = stabilizer.luma(clip[0])
    stabilizer.apply(None, stylized)
    motions, applies = [], []
    for frame in clip[1:]:
        start = time.process_time()
        luma = stabilizer.luma(frame)
        motion = stabilizer.motion(previous, luma, stylized.shape[:2])
        middle = time.process_time()
        stabilizer.apply(motion, stylized)
        motions.append(1000 * (middle - start))
        applies.append(1000 * (time.process_time() - middle))
        previous = luma
    return motions, applies


def pipelined_ms(stabilizer: Stabilizer, clip: Clip, stylized: np.ndarray, workers: int) -> float:
    """Wall ms per frame with motion on `workers` threads ahead and apply in order, as `video` runs it."""
    stabilizer.reset()
    ahead = MotionAhead(stabilizer, workers)
    try:
        start = time.perf_counter()
        for motion in [ahead.submit(frame) for frame in clip]:
            stabilizer.apply(motion.result(), stylized)
        return 1000 * (time.perf_counter() - start) / len(clip)
    finally:
        ahead.close()


def two_pass_ms(stabilizer: TwoPassStabilizer, clip: Clip, stylized: np.ndarray) -> float:
    """CPU ms per frame of the two-pass stabiliser over the whole clip (pushes and the final
    flush: a mean, since frames come out in windows), after a first frame that only primes it."""
    stabilizer.reset()
    stabilizer.push(clip[0], stylized)
    start = time.process_time()
    for frame in clip[1:]:
        stabilizer.push(frame, stylized)
    stabilizer.flush()
    return 1000 * (time.process_time() - start) / (len(clip) - 1)


def measure_cost(photo: np.ndarray, frames: int, preset: str, flow_width: int) -> dict:
    """Median ms per frame of the default stabiliser on the pan clip at 360p, 720p and 1080p.

    Per CPU core: OpenCV and torch on one thread, CPU time (process_time, so other processes'
    work on a shared machine is not counted), in one call and split into its two steps (motion,
    which runs ahead on other threads, and the sequential apply). Also wall time with the default
    threads, in one call per frame and pipelined as `video` runs it, and at 720p on one core where
    the time goes (cProfile). Then the apply step with the state in float32 (`precise`, as `video`
    runs it) and the two-pass stabiliser, per core, over twice its window (at least)."""
    per_core, motion, apply, default_threads, pipelined, by_call, precise, two_pass = {}, {}, {}, {}, {}, {}, {}, {}
    workers = max(1, min(4, (os.cpu_count() or 2) // 2))
    for name, (width, height) in COST_SIZES.items():
        two = TwoPassStabilizer(preset=preset, flow_width=flow_width)
        long_clip = pan_clip(photo, max(frames, 2 * two.most_held) + 1, width, height)
        clip = long_clip[:frames + 1]
        stylized = still_clip(photo, 1, width, height)[0]
        stabilizer = Stabilizer(preset=preset, flow_width=flow_width)
        default_threads[name] = statistics.median(frame_times(stabilizer, clip, stylized, time.perf_counter))
        pipelined[name] = pipelined_ms(stabilizer, clip, stylized, workers)
        with one_core():
            per_core[name] = statistics.median(frame_times(stabilizer, clip, stylized, time.process_time))
            motions, applies = step_times(stabilizer, clip, stylized)
            motion[name], apply[name] = statistics.median(motions), statistics.median(applies)
            if name == "720p":
                by_call = calls_profile(stabilizer, clip, stylized)
            precise[name] = statistics.median(step_times(Stabilizer(preset=preset, flow_width=flow_width, precise=True),
                                                         clip, stylized)[1])
            two_pass[name] = two_pass_ms(two, long_clip, stylized)
    return {"per_core": per_core, "motion_per_core": motion, "apply_per_core": apply, "default_threads": default_threads,
            "pipelined": pipelined, "motion_workers": workers, "threads": cv2.getNumThreads(), "720p_by_call": by_call,
            "precise_apply_per_core": precise, "two_pass_per_core": two_pass, "two_pass_strength": two.strength}
