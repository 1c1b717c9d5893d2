"""Occlusions and motion boundaries from forward and backward flow (Lai et al., ECCV 2018)."""

from __future__ import annotations

import cv2
import numpy as np

from realtime_adain.temporal.sampling import positions_of


def _sumsq(flow: np.ndarray) -> np.ndarray:
    return flow[..., 0] ** 2 + flow[..., 1] ** 2


def occluded(flow: np.ndarray, flow_back: np.ndarray) -> np.ndarray:
    """Lai et al.'s rule on the grid of `flow` (this frame -> other; `flow_back` other -> this):
    occluded where forward and backward flow disagree, |b_w + f|^2 > 0.01 (|b_w|^2 + |f|^2) + 0.5,
    or at a motion boundary, |grad f|^2 > 0.01 |f|^2 + 0.002 (forward differences, as there)."""
    return occluded_at(positions_of(flow), flow, flow_back)


def occluded_at(positions: np.ndarray, flow: np.ndarray, flow_back: np.ndarray) -> np.ndarray:
    """`occluded` with the sample positions of `flow` given (`positions_of`), shared with the caller."""
    back_w = cv2.remap(flow_back, positions, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    mismatch = _sumsq(back_w + flow) > 0.01 * (_sumsq(back_w) + _sumsq(flow)) + 0.5
    dx = np.zeros_like(flow)
    dy = np.zeros_like(flow)
    dx[:, :-1] = flow[:, :-1] - flow[:, 1:]
    dy[:-1] = flow[:-1] - flow[1:]
    boundary = _sumsq(dx) + _sumsq(dy) > 0.01 * _sumsq(flow) + 0.002
    return mismatch | boundary
