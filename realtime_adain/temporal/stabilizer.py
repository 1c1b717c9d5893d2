"""`Stabilizer`: the previous stabilized frame, warped along the content's flow, blended into each new one."""

from __future__ import annotations

import dataclasses
import math
from typing import Callable

import cv2
import numpy as np

from realtime_adain.checks import check_number, check_positive, check_whole
from realtime_adain.temporal.blending import blend_float, blend_rgb8, blend_weight
from realtime_adain.temporal.checks import check_array, check_frame, check_frames, check_luma, check_mode, check_size
from realtime_adain.temporal.flow import FLOW_MIN_WIDTH, FlowEstimator, Motion, check_motion
from realtime_adain.temporal.occlusion import occluded_at
from realtime_adain.temporal.sampling import (colour_working, full_size_maps, interleaved_grid, luma_of, positions_of,
                                              scaled_positions)
from realtime_adain.temporal.warping import remap_image, remap_rgb, to_float_rgba, to_rgb8

# cv2.remap takes images under SHRT_MAX pixels a side; a frame that long (a 2x40000 strip) is
# passed through unstabilised.
REMAP_MAX_SIDE = 32766
# Where the flow fails (a cut, or a flat scene whose noise DIS follows), the frames are taken as
# one still shot if this much of them is unmoved: their means over blocks of STILL_BLOCK pixels
# (at the flow's working size) within STILL_LEVELS grey levels in Y, Cr and Cb. Sensor noise
# (sigma 8 in the dark) averages out in a block; two shots, even dark or low-contrast ones, do not.
STILL_FRACTION = 0.9
STILL_BLOCK = 8
STILL_LEVELS = 4


class Stabilizer:
    """Blends the previous stabilized frame, warped along the content's flow, into each new one.

    stabilized = stylized + strength * mask * (warped_previous - stylized), where `mask` is 0 where
    the flow is not consistent (Lai et al.'s rule, plus a photometric check on the warped content):
    at occlusions, motion boundaries and outside the frame; elsewhere it rises to 1 over
    `soft_edge` pixels of the flow's grid, a soft edge that does not show. When fewer than
    `cut_fraction` of the pixels are consistent the frames belong to different shots: the state
    is reset and the stylized frame passes unchanged. Modes stats/off pass frames through unchanged (stats acts
    inside the network, see `ContentStatsSmoother`).

    `stabilizer(content, stylized)` does it all in one call. It is two steps: `motion` needs only
    the content frames (flow, mask and blend weight, at the flow's working size) and can run ahead
    on other threads (`MotionAhead`); `apply` is the sequential part at full size: one resize each
    of the sample positions and of the weight, one remap and one per-pixel blend (docs/temporal.md).

    The previous output is kept in 8 bits, or with `precise` in float32 (about 1.5x the cost of
    `apply` at 720p): with flicker of a grey level or two, 8 bits round a blend of weight under
    0.5 back to the new frame, so the average stalls (docs/BENCHMARKS.md, the still clip).
    """

    def __init__(self, strength: float = 0.7, mode: str = "flow", preset: str = "fast", flow_width: int | None = 320,
                 cut_fraction: float = 0.4, photometric: float = 24.0, soft_edge: int = 2, precise: bool = False) -> None:
        self.strength, self.mode = strength, mode
        self.cut_fraction, self.photometric, self.soft_edge = cut_fraction, photometric, soft_edge
        if flow_width is not None:  # (here, so that the message names this argument)
            flow_width = check_whole(flow_width, "flow_width (pixels, or None for full size)", FLOW_MIN_WIDTH)
        self.flow = FlowEstimator(preset, flow_width)
        self.precise = precise
        self.cuts = 0
        self.last_coverage = 1.0
        self.reset()

    def reset(self) -> None:
        """Forget the previous frame (a new clip or shot starts)."""
        self._prev_luma: np.ndarray | None = None
        self._prev_out: np.ndarray | None = None

    # Checked when changed too (live's `t` key changes the mode): `s.strength = 5` blended past the
    # warped frame, nan blacked the output out, without a word.
    @property
    def strength(self) -> float:
        return self._strength

    @strength.setter
    def strength(self, value: float) -> None:
        self._strength = check_number(value, "strength")

    @property
    def photometric(self) -> float:
        return self._photometric

    @photometric.setter
    def photometric(self, value: float) -> None:
        # nan would trust no pixel (every frame a cut); the distances are counted to 255 at most
        self._photometric = check_positive(value, "photometric (grey levels)")

    @property
    def cut_fraction(self) -> float:
        return self._cut_fraction

    @cut_fraction.setter
    def cut_fraction(self, value: float) -> None:
        # (5 made every frame a cut, nan or -1 none, '0.5' a TypeError mid-stream)
        self._cut_fraction = check_number(value, "cut_fraction")

    @property
    def soft_edge(self) -> int:
        return self._soft_edge

    @soft_edge.setter
    def soft_edge(self, value: int) -> None:
        # (0 divided by zero in the weight table: black frames; 1.5 a TypeError mid-stream)
        self._soft_edge = check_whole(value, "soft_edge (pixels of the flow's grid)", 1, maximum=255)

    @property
    def precise(self) -> bool:
        return self._precise

    @precise.setter
    def precise(self, value: bool) -> None:
        if not isinstance(value, (bool, np.bool_)):  # ("no" was read as True)
            raise TypeError(f"precise must be True or False, got {type(value).__name__}")
        if getattr(self, "_precise", bool(value)) != bool(value):  # (the kept output's form changes: 8-bit
            self.reset()                                         # state blended with float failed in OpenCV)
        self._precise = bool(value)

    @property
    def mode(self) -> str:
        return self._mode

    @mode.setter
    def mode(self, value: str) -> None:
        self._mode = check_mode(value)

    # Set when the stabiliser is made (`s.flow_width = 160` made an attribute of its own and changed nothing).
    @property
    def flow_width(self) -> int | None:
        """The flow's working width in pixels (None: full size)."""
        return self.flow.width

    @flow_width.setter
    def flow_width(self, value: int | None) -> None:
        raise AttributeError("flow_width is set when the Stabilizer is made: make a new Stabilizer(flow_width=...)")

    @property
    def preset(self) -> str:
        """The DIS preset the flow runs with."""
        return self.flow.preset

    @preset.setter
    def preset(self, value: str) -> None:
        raise AttributeError("preset is set when the Stabilizer is made: make a new Stabilizer(preset=...)")

    @property
    def active(self) -> bool:
        return self.mode in ("flow", "both") and self.strength > 0

    def luma(self, content: np.ndarray) -> np.ndarray:
        """The content frame at the flow's working size, as `motion` compares it: (h, w, 4) uint8
        Y, Cr, Cb, 255 (`colour_working`; the flow runs on Y). A plain (h, w) luma from `gray` is taken
        too, for a photometric check on Y alone."""
        return colour_working(check_frame(content, "content"), self.flow.width)

    def mask(self, luma: np.ndarray, prev_luma: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
        """(flow to the previous frame, trust mask (h, w) uint8 0/1, fraction consistent), at working size."""
        y, prev_y = luma_of(check_luma(luma, "luma")), luma_of(check_luma(prev_luma, "prev_luma"))
        back = self.flow(y, prev_y)  # (lumas of two shapes or kinds: refused here, or by `trusted`)
        trust, coverage = self.trusted(back, self.flow(prev_y, y), luma, prev_luma)
        return back, trust, coverage

    def trusted(self, flow: np.ndarray, flow_back: np.ndarray, luma: np.ndarray, other: np.ndarray) -> tuple[np.ndarray, float]:
        """(trust mask (h, w) uint8 0/1, fraction trusted) on `luma`'s grid for `flow` (luma -> other;
        `flow_back` other -> luma): consistent both ways, inside the frame, and the warped `other`
        within `photometric` grey levels of `luma`."""
        if check_luma(luma, "luma").shape != check_luma(other, "other").shape:
            raise ValueError(f"luma and other must have one shape, got {luma.shape} and {other.shape}")
        return self._trusted(positions_of(flow), flow, flow_back, luma, other)

    def _trusted(self, positions: np.ndarray, flow: np.ndarray, flow_back: np.ndarray, luma: np.ndarray,
                 other: np.ndarray) -> tuple[np.ndarray, float]:
        """`trusted` with the sample positions of `flow` given (`positions_of`)."""
        h, w = luma.shape[:2]
        inside = cv2.inRange(positions, (0.0, 0.0), (w - 1.0, h - 1.0)) > 0
        warped = cv2.remap(other, positions, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        valid = inside & ~occluded_at(positions, flow, flow_back) & self._close(warped, luma)
        return valid.view(np.uint8), float(np.count_nonzero(valid)) / valid.size

    def _close(self, warped: np.ndarray, luma: np.ndarray) -> np.ndarray:
        """Where `warped` is within `photometric` grey levels of `luma` (bool (h, w))."""
        error = cv2.absdiff(warped, luma)
        if error.ndim == 3:  # Y, Cr, Cb (and 0) each: whole levels under `photometric` (numpy's max over them: 1.1 ms at 320x180)
            bound = math.ceil(min(self.photometric, 256.0)) - 1  # (inf allowed: every level)
            return cv2.inRange(error, (0, 0, 0, 0), (bound, bound, bound, bound)) > 0
        return error < self.photometric

    def _standing_still(self, luma: np.ndarray, other: np.ndarray) -> tuple[np.ndarray, float]:
        """(trust mask, fraction of the frame still) for no motion at all: the mask where the two
        frames are close unmoved (within `photometric`), the fraction from their means over blocks
        of `STILL_BLOCK` pixels within `STILL_LEVELS` (noise averages out there, a shot's structure
        does not: per pixel, within 24 levels, two dark or low-contrast shots looked still and a
        cut between them was blended at full strength). Asked only where the flow failed: on a
        flat scene with sensor noise DIS follows the noise, its two flows disagree everywhere and
        a still camera looked like a cut."""
        close = self._close(other, luma)
        h, w = luma.shape[:2]
        blocks = (max(1, w // STILL_BLOCK), max(1, h // STILL_BLOCK))
        change = cv2.absdiff(cv2.resize(luma, blocks, interpolation=cv2.INTER_AREA),
                             cv2.resize(other, blocks, interpolation=cv2.INTER_AREA))
        still = change.reshape(blocks[1], blocks[0], -1).max(axis=2) <= STILL_LEVELS
        return close.view(np.uint8), float(np.count_nonzero(still)) / still.size

    def motion(self, prev_luma: np.ndarray | None, luma: np.ndarray, size: tuple[int, int],
               reverse: bool = False) -> Motion | None:
        """The `Motion` from the previous content frame to this one (lumas from `luma`), for frames
        of `size` (height, width); None when there is no comparable previous frame (or the frame
        is too long a strip to remap, `REMAP_MAX_SIDE`). With `reverse`, also the previous frame's
        motion into this one (`Motion.reverse`), from the same two flows. Keeps no state, so
        frames may be estimated on several threads at once."""
        check_luma(luma, "luma")
        size = check_size(size)
        if prev_luma is not None:
            check_luma(prev_luma, "prev_luma")
            if prev_luma.ndim != luma.ndim:  # (a size change gives None below; this is a caller's mix-up)
                raise ValueError("luma and prev_luma must be of one kind (both from gray() or both from "
                                 f"Stabilizer.luma()), got shapes {luma.shape} and {prev_luma.shape}")
        if prev_luma is None or prev_luma.shape != luma.shape or max(size + luma.shape[:2]) > REMAP_MAX_SIDE:
            return None
        y, prev_y = luma_of(luma), luma_of(prev_luma)
        back, fore = self.flow(y, prev_y), self.flow(prev_y, y)
        motion = self._motion(back, fore, luma, prev_luma, size)
        if reverse:
            motion = dataclasses.replace(motion, reverse=self._motion(fore, back, prev_luma, luma, size))
        return motion

    def _motion(self, flow: np.ndarray, flow_back: np.ndarray, luma: np.ndarray, other: np.ndarray,
                size: tuple[int, int]) -> Motion:
        positions = positions_of(flow)
        trust, coverage = self._trusted(positions, flow, flow_back, luma, other)
        if coverage < self.cut_fraction:
            trust, still = self._standing_still(luma, other)
            if still < STILL_FRACTION:
                return Motion(size, coverage)
            positions, coverage = interleaved_grid(*flow.shape[:2]).copy(), still
        return Motion(size, coverage, scaled_positions(positions, size), blend_weight(trust, self.strength, self.soft_edge))

    def continues(self, motion: Motion | None, previous_size: tuple[int, int] | None, size: tuple[int, int]) -> bool:
        """Whether a frame of `size` is blended with the previous output (of `previous_size`, None:
        none) along `motion`; counts scene cuts. Shared by `apply` and the on-device blend."""
        if motion is None or previous_size != size or motion.size != size:
            return False
        self.last_coverage = motion.coverage
        if motion.cut:
            self.cuts += 1
            return False
        return True

    def apply(self, motion: Motion | None, stylized: np.ndarray) -> np.ndarray:
        """The stabilized frame: `stylized` (H, W, 3) uint8 blended with the previous output along
        `motion` (None: start afresh). Frames must come in display order."""
        check_frame(stylized, "stylized")
        if not self.active:
            self.reset()  # (kept, the frame before `mode="off"` was blended into the first after it)
            return stylized.copy()  # (a frame of its own, as when blended: see below)
        if self.precise:
            return to_rgb8(self.apply_float(motion, to_float_rgba(stylized)))
        out = self._blend(check_motion(motion), stylized, remap_rgb, blend_rgb8)
        # The state is a copy: the caller may reuse its array (a stylizer's output buffer) or draw
        # on the frame returned, which would otherwise leak into the frames after it. And the frame
        # returned is never `stylized` itself: where nothing was blended (the first frame, a cut)
        # a reused buffer changed a frame already returned.
        self._prev_out = out.copy()
        return stylized.copy() if out is stylized else out

    def apply_float(self, motion: Motion | None, current: np.ndarray) -> np.ndarray:
        """`apply` for a frame in float32 RGBA 0-255 (`to_float_rgba`), keeping the state so: the
        stabilized frame, unrounded (the state itself: do not write to it)."""
        check_array(current, "current", np.float32, 4, "an (H, W, 4) float32 RGBA state (to_float_rgba)")
        check_motion(motion)
        if not self.precise:  # (an 8-bit state blended with a float frame failed inside OpenCV)
            raise ValueError("apply_float needs a Stabilizer(precise=True): this one keeps its previous output in "
                             "8 bits (use apply, or set precise = True first)")
        return self._blend(motion, current, remap_image, blend_float)

    def _blend(self, motion: Motion | None, current: np.ndarray,
               remap: Callable[[np.ndarray, np.ndarray], np.ndarray],
               blend: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]) -> np.ndarray:
        """`current` blended by `blend` with the previous state warped by `remap` along `motion` (checked:
        `check_motion`); the new state."""
        height, width = current.shape[:2]
        previous, self._prev_out = self._prev_out, current
        if not self.continues(motion, previous.shape[:2] if previous is not None else None, (height, width)):
            return current
        warped = remap(previous, full_size_maps(motion.positions, (height, width)))
        del previous  # the old state may go before the blend: one frame fewer at once (float, 4K: 133 MB)
        self._prev_out = blend(warped, current, motion.weight)
        return self._prev_out

    def __call__(self, content: np.ndarray, stylized: np.ndarray) -> np.ndarray:
        """The stabilized frame for this (content, stylized) pair, (H, W, 3) uint8 each."""
        check_frames(content, stylized)
        if not self.active:
            self.reset()  # (as `apply`: an inactive stabilizer keeps no frame to show again later)
            return stylized.copy()
        luma = self.luma(content)
        motion = self.motion(self._prev_luma, luma, stylized.shape[:2])
        self._prev_luma = luma
        return self.apply(motion, stylized)
