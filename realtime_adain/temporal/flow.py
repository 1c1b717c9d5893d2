"""DIS optical flow between lumas (`FlowEstimator`) and the `Motion` found from it between two frames."""

from __future__ import annotations

import threading
from dataclasses import dataclass

import cv2
import numpy as np

from realtime_adain.checks import check_whole
from realtime_adain.temporal.checks import check_array, check_choice, check_luma, check_size
from realtime_adain.temporal.sampling import FLOW_MIN_SIDE

DIS_PRESETS = {
    "ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
    "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
    "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
}
FLOW_MIN_WIDTH = 16  # the least working width a caller may ask for


class FlowEstimator:
    """DIS optical flow (OpenCV) between two luma frames at a working width.

    Safe to call from several threads at once: each thread gets its own DIS instance (one holds
    its pyramids between calls), so motion can be estimated for several frames in parallel."""

    def __init__(self, preset: str = "ultrafast", width: int | None = 320) -> None:
        self.preset = check_choice(preset, "preset", DIS_PRESETS)
        self.width = None if width is None else check_whole(width, "width (pixels, or None for full size)", FLOW_MIN_WIDTH)
        self._local = threading.local()

    def __getstate__(self) -> dict:
        """Copied and pickled without the per-thread DIS instances (a `threading.local` cannot be):
        the copy makes its own, as a new thread does (so a `Stabilizer` can be copied and pickled)."""
        return {**self.__dict__, "_local": None}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state, _local=threading.local())

    def __call__(self, source: np.ndarray, target: np.ndarray) -> np.ndarray:
        """Flow (h, w, 2) on `source`'s grid pointing into `target` (both (h, w) uint8, each side
        at least `FLOW_MIN_SIDE`, as `gray` gives them)."""
        check_luma(source, "source"), check_luma(target, "target")
        if min(source.shape) < FLOW_MIN_SIDE or source.shape != target.shape:
            raise ValueError(f"flow needs two lumas of one shape, each side >= {FLOW_MIN_SIDE} pixels "
                             f"(see gray()), got {source.shape} and {target.shape}")
        local = self._local
        if getattr(local, "shape", None) != source.shape:
            local.dis = cv2.DISOpticalFlow_create(DIS_PRESETS[self.preset])
            # An instance's first call at a size differs slightly (~1e-4 px) from every later one,
            # whatever came before: one throwaway call makes each thread's flow the same.
            local.dis.calc(source, target, None)
            local.shape = source.shape
        return local.dis.calc(source, target, None)


@dataclass(frozen=True)
class Motion:
    """Where each pixel of a frame was in the previous one and how far to trust it, found from the
    two *content* frames alone (so it can be computed ahead, beside the stylizer), at the flow's
    working size: `positions` (h, w, 2) float32 in pixels of the full-size frame, `weight` (h, w)
    float32 blend weight (`blend_weight`). Both None at a scene cut (too few pixels consistent).
    `reverse`, when asked for, is the same the other way: the previous frame's pixels in this one (a backward
    pass, `two_pass.TwoPassStabilizer`, walks the frames from the newest)."""

    size: tuple[int, int]  # (height, width) of the full-size frames
    coverage: float  # fraction of the working grid whose flow is consistent
    positions: np.ndarray | None = None
    weight: np.ndarray | None = None
    reverse: Motion | None = None

    @property
    def cut(self) -> bool:
        return self.positions is None


def check_motion(motion: Motion | None) -> Motion | None:
    """`motion` if it is None or a `Motion` whose fields are as `Stabilizer.motion` makes them, else a
    TypeError/ValueError naming the field before any state changes (anything else failed deep in a
    blend: an AttributeError or a cv2.error naming nothing)."""
    if motion is None:
        return None
    if not isinstance(motion, Motion):
        raise TypeError(f"motion must be a Motion (Stabilizer.motion, MotionAhead) or None, got {type(motion).__name__}")
    check_size(motion.size, "motion.size")
    if (motion.positions is None) != (motion.weight is None):
        raise ValueError("motion.positions and motion.weight must both be arrays, or both None (a cut)")
    if motion.positions is not None:
        positions = check_array(motion.positions, "motion.positions", np.float32, 2,
                                "an (h, w, 2) float32 array of sample positions")
        weight = check_array(motion.weight, "motion.weight", np.float32, None, "an (h, w) float32 blend weight")
        if weight.shape != positions.shape[:2]:
            raise ValueError(f"motion.weight {weight.shape} must be on the grid of motion.positions {positions.shape}")
        if not (weight.min() >= 0 and weight.max() <= 1):  # (nan fails both)
            raise ValueError("motion.weight must be in [0, 1]")
    if motion.reverse is not None and not isinstance(motion.reverse, Motion):
        raise TypeError(f"motion.reverse must be a Motion or None, got {type(motion.reverse).__name__}")
    return motion
