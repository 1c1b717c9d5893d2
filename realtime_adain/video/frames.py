"""One frame as the video reader gives it (`Frame`), in a module of its own: what takes the
frames (the pipeline, the benchmarks) need not import the reader."""

from __future__ import annotations

from concurrent.futures import Future
from dataclasses import dataclass

import numpy as np


@dataclass
class Frame:
    """One decoded frame: `image` is (H, W, 3) uint8 RGB, upright; pts/duration in the stream's time base."""

    image: np.ndarray
    pts: int | None
    duration: int
    index: int
    motion: Future | None = None  # the stabiliser's Motion to the previous frame, estimated ahead
