"""The stabiliser's motion workers beside a thread that keeps the GIL (docs/BENCHMARKS.md,
"Motion workers beside a busy thread"; `realtime_adain.switch_interval`).

    python3 tools/bench_motion_beside_python.py --size 1280x720 --seconds 2 --repeats 3

A `MotionAhead` with one worker estimates motion for a pan over a photo from ../shared/data
(OpenCV on one thread), while the main thread runs alongside it: idle (sleeping), busy in one
long OpenCV call after another (the same CPU, without the GIL), or busy in pure Python (which
keeps the GIL, as Python-heavy work does). Each beside-case runs at the interpreter's default
switch interval (5 ms, as before `MotionAhead` shortened it) and at the interval `MotionAhead`
sets, interleaved, `--repeats` times. Printed: the medians of motions per second and of the
main thread's own work per second (millions of loop steps, or OpenCV calls). Two cores or more
(one for each thread): on one, the two threads share the CPU as well as the GIL.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np

from realtime_adain import switch_interval
from realtime_adain.commands.argtypes import frame_resolution, int_between, seconds
from realtime_adain.temporal import MotionAhead, Stabilizer

# The shared test material beside the repository, or a copy named by $REALTIME_ADAIN_TEST_DATA (as the tests take it).
DATA = Path(os.environ.get("REALTIME_ADAIN_TEST_DATA") or Path(__file__).resolve().parents[1].parent / "shared" / "data")
PHOTO = DATA / "content" / "golden_gate.jpg"
DEFAULT_INTERVAL_S = 0.005  # CPython's


def pan(width: int, height: int, count: int) -> list[np.ndarray]:
    """`count` frames of a slow pan (4 px down, 6 px across a frame) over the photo."""
    photo = cv2.imread(str(PHOTO))
    if photo is None:
        sys.exit(f"error: {PHOTO}: not found (the test material beside the repository, or $REALTIME_ADAIN_TEST_DATA)")
    photo = cv2.resize(photo, (width + 6 * count, height + 4 * count))[:, :, ::-1]
    return [np.ascontiguousarray(photo[4 * i:4 * i + height, 6 * i:6 * i + width]) for i in range(count)]


def main_thread_work(kind: str, until: float, blur_source: np.ndarray) -> float:
    """Work of `kind` until `until` (perf_counter); returns its amount per second."""
    done, start = 0, time.perf_counter()
    while time.perf_counter() < until:
        if kind == "python":
            for _ in range(1000):
                done += 1
        elif kind == "opencv":
            cv2.GaussianBlur(blur_source, (15, 15), 0)
            done += 1
        else:
            time.sleep(0.01)
    rate = done / (time.perf_counter() - start)
    return rate / 1e6 if kind == "python" else rate


def measure(kind: str, interval: float, frames: list[np.ndarray], span: float) -> tuple[float, float]:
    """(motions per second, main thread's work per second) for `span` seconds."""
    blur_source = np.zeros_like(frames[0])
    with MotionAhead(Stabilizer(), workers=1) as ahead:
        sys.setswitchinterval(interval)
        stop, count = threading.Event(), [0]

        def feed() -> None:  # keeps the worker busy: a frame submitted as the one before is done
            index = 0
            while not stop.is_set():
                ahead.submit(frames[index % len(frames)]).result()
                count[0] += 1
                index += 1

        feeder = threading.Thread(target=feed)
        feeder.start()
        time.sleep(0.2)
        start, before = time.perf_counter(), count[0]
        work = main_thread_work(kind, start + span, blur_source)
        motions = (count[0] - before) / (time.perf_counter() - start)
        stop.set()
        feeder.join()
    return motions, work


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])  # (its first line stopped mid-sentence)
    parser.add_argument("--size", type=frame_resolution, default=(1280, 720), metavar="WxH", help="frame size (default 1280x720)")
    parser.add_argument("--seconds", type=seconds, default=2.0, help="each measurement's length (default 2)")
    parser.add_argument("--repeats", type=int_between(1, 100, "repeats"), default=3, help="interleaved repeats (default 3)")
    args = parser.parse_args(argv)
    cv2.setNumThreads(1)
    frames = pan(*args.size, 24)
    intervals = {"5 ms (CPython's default)": DEFAULT_INTERVAL_S, f"{switch_interval.SHORT_INTERVAL_S * 1000:g} ms (MotionAhead's)":
                 switch_interval.SHORT_INTERVAL_S}
    cases = [(kind, label) for kind in ("idle", "opencv", "python") for label in intervals]
    results: dict[tuple[str, str], list[tuple[float, float]]] = {case: [] for case in cases}
    for _ in range(args.repeats):
        for kind, label in cases:
            results[kind, label].append(measure(kind, intervals[label], frames, args.seconds))
    print(f"motion at {args.size[0]}x{args.size[1]}, one worker, OpenCV on one thread; medians of {args.repeats}")
    print(f"{'main thread':<12} {'switch interval':<26} {'motions/s':>10} {'main thread work/s':>20}")
    for (kind, label), runs in results.items():
        unit = {"python": " M steps", "opencv": " blurs", "idle": ""}[kind]
        work = statistics.median(r[1] for r in runs)
        print(f"{kind:<12} {label:<26} {statistics.median(r[0] for r in runs):>10.1f} "
              f"{(f'{work:.2f}' if kind == 'python' else f'{work:.0f}') + unit if kind != 'idle' else '-':>20}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
