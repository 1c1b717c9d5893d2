"""`MotionAhead`: `Stabilizer.motion` for a stream of content frames, on worker threads."""

from __future__ import annotations

import os
import weakref
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Callable

import numpy as np

from realtime_adain import switch_interval
from realtime_adain.checks import check_whole
from realtime_adain.temporal.checks import check_frame
from realtime_adain.temporal.stabilizer import Stabilizer

# concurrent.futures' refusal of a pool shut down (not by `close`: by the exiting interpreter)
POOL_SHUT_DOWN = "new futures after"


class MotionAhead:
    """`Stabilizer.motion` for a stream of content frames, on worker threads, in display order.

    `submit(content)` returns a future of that frame's `Motion` at once. OpenCV releases the GIL,
    so flow and masks run beside the stylizer (and beside `Stabilizer.apply` of earlier frames)
    on the CPU's cores; only the warp and blend stay on the sequential path. Each frame is two
    jobs, its luma and then its motion, which waits for its own and the previous frame's luma:
    the pool takes jobs in order, so a job only waits for jobs taken before it. A motion is small
    (working size), so any number of frames may be in flight. `close` (or `with`) stops the
    threads; in a forked child (which has none of its parent's threads) it starts its own. While
    open, the interpreter's switch interval is short (`switch_interval`): each OpenCV call gives
    the GIL up, and beside a thread that keeps it taking it back waited up to 5 ms each time.
    """

    def __init__(self, stabilizer: Stabilizer, workers: int = 2, reverse: bool = False) -> None:
        """`reverse`: also each frame's `Motion.reverse` (for a backward pass)."""
        if not isinstance(stabilizer, Stabilizer):  # (was found at the first frame, or failed in a worker)
            raise TypeError(f"stabilizer must be a Stabilizer (of a TwoPassStabilizer: its .forward), "
                            f"got {type(stabilizer).__name__}")
        self.stabilizer, self.reverse = stabilizer, reverse
        self.workers = check_whole(workers, "workers", minimum=1)
        self.closed = False
        self._start()
        switch_interval.shorten()
        self._restore_interval = weakref.finalize(self, switch_interval.restore)  # (at close, or when collected)

    def _start(self) -> None:
        self.pool = ThreadPoolExecutor(self.workers, thread_name_prefix="stabilize-motion")
        self._pid = os.getpid()
        self._prev_luma: Future | None = None

    def __enter__(self) -> "MotionAhead":
        return self

    def __exit__(self, *_exc) -> None:
        self.close()

    def submit(self, content: np.ndarray) -> Future:
        """A future of the `Motion` (or None) from the previous submitted frame to `content`. A frame
        that is not (H, W, 3) uint8 RGB is refused here, before it becomes the previous frame (its
        future would fail, and so would the next frame's)."""
        check_frame(content, "content")
        if self.closed:
            raise RuntimeError("this MotionAhead is closed")
        if self._pid != os.getpid():  # a forked child: its futures would wait for ever for the parent's threads
            self._start()
        luma = self._submit(self.stabilizer.luma, content)
        previous, self._prev_luma = self._prev_luma, luma
        size = content.shape[:2]
        return self._submit(lambda: self.stabilizer.motion(previous.result() if previous else None, luma.result(), size,
                                                           self.reverse))

    def _submit(self, job: Callable, *args) -> Future:
        """`job` on the pool; on this thread once the interpreter is exiting. Python shuts every
        thread pool down before it waits for the threads still running: a video stylized on a
        thread of a program whose main thread had ended failed there. Any other refusal (a thread
        that cannot start: `ulimit -u`) is raised, for the caller to name."""
        try:
            return self.pool.submit(job, *args)
        except RuntimeError as exc:
            if self.closed or POOL_SHUT_DOWN not in str(exc):
                raise
        done: Future = Future()
        try:
            done.set_result(job(*args))
        except BaseException as exc:
            done.set_exception(exc)
        return done

    def restart(self) -> None:
        """Forget the previous frame: the next one starts afresh (as after `Stabilizer.reset`)."""
        self._prev_luma = None

    def close(self) -> None:
        """Stop the threads (idempotent); a later `submit` is a RuntimeError."""
        self.closed = True
        self.pool.shutdown(wait=True, cancel_futures=True)
        self._restore_interval()
