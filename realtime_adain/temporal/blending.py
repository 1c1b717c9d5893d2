"""The blend weight from a trust mask (`blend_weight`) and the blend itself, in 8 bits or float32."""

from __future__ import annotations

import functools

import cv2
import numpy as np

from realtime_adain.temporal.sampling import resized


@functools.lru_cache(maxsize=8)
def _weight_table(strength: float, soft_edge: int) -> np.ndarray:
    """Blend weight by distance 0-255 from the nearest untrusted pixel (read-only)."""
    table = (strength * np.minimum(np.arange(256) / soft_edge, 1.0)).astype(np.float32)
    table.flags.writeable = False
    return table


MAX_ERODED_EDGE = 8  # soft edges up to this are counted by erosion, longer ones by the distance transform
_CROSS = cv2.getStructuringElement(cv2.MORPH_CROSS, (3, 3))


def blend_weight(trust: np.ndarray, strength: float, soft_edge: int) -> np.ndarray:
    """The blend weight (float32 in [0, strength], on the grid of `trust`, 0/1 uint8).

    weight = strength * ramp: the ramp is 0 on untrusted pixels and rises to 1 over `soft_edge`
    trusted pixels from them (city-block distance), so untrusted pixels are not blended and
    the mask's edge does not show as a step; resized bilinearly to full size it stays a ramp.

    The distance capped at a short `soft_edge` k is counted by erosion: min(d, k) is the sum of the
    mask `trust` and its erosions once, ..., k - 1 times (a cross erodes by one city-block step;
    the frame's edge does not erode, as the distance transform does not count it), about a tenth
    of the distance transform's time.
    """
    if soft_edge > MAX_ERODED_EDGE:
        distance = cv2.distanceTransform(trust, cv2.DIST_L1, 3, dstType=cv2.CV_8U)
    else:
        distance, eroded = trust, trust
        for _ in range(soft_edge - 1):
            eroded = cv2.erode(eroded, _CROSS)
            distance = cv2.add(distance, eroded)
    return cv2.LUT(distance, _weight_table(strength, soft_edge))


def blend_rgb8(warped: np.ndarray, current: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """current + weight * (warped - current), rounded once, for (H, W, 3) uint8 frames and a
    working-size `weight` (float32 in [0, 1]) resized to full size in steps of 1/255.

    In 8-bit fixed point: the size of the difference is scaled by the weight and rounded (the one
    multiplication), then added where the warped frame is brighter and subtracted where it is
    darker, so the result is the exactly rounded blend. At 720p on one core about 0.4x of
    `cv2.blendLinear`'s time, which needs float weights.
    """
    height, width = current.shape[:2]
    level = resized(cv2.convertScaleAbs(weight, alpha=255.0), (height, width))
    change = cv2.multiply(cv2.absdiff(warped, current), cv2.merge([level, level, level]), scale=1 / 255)
    rise = cv2.bitwise_and(change, cv2.compare(warped, current, cv2.CMP_GT))
    return cv2.subtract(cv2.add(current, rise), cv2.subtract(change, rise))


def blend_float(warped: np.ndarray, current: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """current + weight * (warped - current) for float32 frames (the precise state), the weight in
    full precision. Written over `warped` (a fresh remap's output): one float frame fewer in memory
    at once (133 MB at 4K)."""
    height, width = current.shape[:2]
    weight = resized(weight, (height, width))
    return cv2.blendLinear(warped, current, weight, 1.0 - weight, dst=warped)
