"""A shorter interpreter switch interval while threads that hand the GIL back and forth run.

The stabiliser's motion workers call OpenCV and numpy dozens of times a frame, each call giving
the GIL up and taking it back. Beside a thread that keeps the GIL (Python-heavy work) each
taking back waits until that thread is made to let go, which CPython does every
`sys.getswitchinterval()` (5 ms by default): a worker's 720p motion ran at a fraction of its own
speed (docs/BENCHMARKS.md, "Motion workers beside a busy thread"; `tools/bench_motion_beside_python.py`).
The interval is the whole process's, so holders are counted: the first shortens it, the last
puts back the value it found, unless something else changed it meanwhile.
"""

from __future__ import annotations

import math
import sys
import threading

SHORT_INTERVAL_S = 0.0005  # (CPython's default: 0.005)


class _Holders:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.count = 0
        self.found: float | None = None  # the interval before the first holder

    def hold(self) -> None:
        with self.lock:
            if self.count == 0:
                self.found = sys.getswitchinterval()
                if self.found > SHORT_INTERVAL_S:
                    sys.setswitchinterval(SHORT_INTERVAL_S)
            self.count += 1

    def release(self) -> None:
        with self.lock:
            if self.count == 0:
                return
            self.count -= 1
            if self.count > 0:
                return
            if self.found is not None and math.isclose(sys.getswitchinterval(), SHORT_INTERVAL_S):
                sys.setswitchinterval(self.found)  # (unless the program set its own meanwhile)
            self.found = None


_holders = _Holders()


def shorten() -> None:
    """Shorten the switch interval (to SHORT_INTERVAL_S, where it is longer) until `restore`."""
    _holders.hold()


def restore() -> None:
    """Undo one `shorten`: the last one puts back the interval found."""
    _holders.release()
