"""Temporal stability for stylized video: flow-guided blending and smoothed content statistics.

Per-frame AdaIN flickers: small changes of the content move every output pixel a little
(texture "boils") and shift relu4_1's global mean/std (brightness and colour "pump").
Two remedies, usable on their own or together (`MODES`):

- `Stabilizer` (modes flow, both): the previous stabilized output is warped to the current frame
  along DIS optical flow of the *content* frames and blended in where the flow is trustworthy
  (forward-backward consistency and motion boundaries as in Lai et al., ECCV 2018). It needs only
  the content and stylized frames, so it works after any stylizer.
- `ContentStatsSmoother` (modes stats, both): an exponential moving average of the content's
  relu4_1 mean/std, which `StyleTransferNet.forward(..., content_stats=smoother)` normalises by.

Both take frames in display order and are reset at scene cuts.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import os
import threading
import weakref
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

import cv2
import numpy as np

from realtime_adain import switch_interval
from realtime_adain.checks import check_number, check_positive, check_whole
from realtime_adain.picture_sizes import MAX_DECODE_PIXELS

if TYPE_CHECKING:  # (torch: only the statistics smoother uses it)
    import torch

MODES = ("off", "flow", "stats", "both")
DIS_PRESETS = {
    "ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
    "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
    "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
}


def check_mode(mode: str) -> str:
    if not isinstance(mode, str) or mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    return mode


def check_frame(frame: np.ndarray, name: str) -> np.ndarray:
    """`frame` if it is an (H, W, 3) uint8 RGB array, else a TypeError/ValueError naming it: a
    float or 16-bit frame fails deep in OpenCV, or (float in [0, 1]) comes out black."""
    if not isinstance(frame, np.ndarray):
        raise TypeError(f"{name} must be an (H, W, 3) uint8 RGB array, got {type(frame).__name__}")
    if frame.dtype != np.uint8:
        raise TypeError(f"{name} must be uint8 (0..255), got {frame.dtype}")
    if frame.ndim != 3 or frame.shape[2] != 3 or 0 in frame.shape:
        raise ValueError(f"{name} must be (H, W, 3) RGB, got shape {frame.shape}")
    return check_pixels(frame, name)


def check_pixels(frame: np.ndarray, name: str) -> np.ndarray:
    """Refuse a frame larger than any image read (MAX_DECODE_PIXELS) before OpenCV copies it: a
    broadcast view of 100000 x 100000 pixels takes no memory until then, 28 GiB after (a
    segmentation fault inside OpenCV where that much cannot be had)."""
    height, width = frame.shape[:2]
    if height * width > MAX_DECODE_PIXELS:
        raise ValueError(f"{name} is {width}x{height}, more than the {MAX_DECODE_PIXELS} pixels "
                         "(16384x16384) a frame may have")
    return frame


def check_frames(content: np.ndarray, stylized: np.ndarray) -> None:
    """Refuse anything but two (H, W, 3) uint8 RGB frames of one size, before any state changes."""
    check_frame(content, "content")
    check_frame(stylized, "stylized")
    if content.shape != stylized.shape:
        raise ValueError(f"content {content.shape} and stylized {stylized.shape} must both be (H, W, 3), one size")


# OpenCV's DIS refuses images under 12 pixels a side and, on images whose shorter side is under
# 32, reads out of bounds for some widths (a segmentation fault: OpenCV 5.0, 12x40, 16x86, 31x80
# with presets fast and ultrafast). Every shape with both sides >= 32 ran (each preset, the other
# side 32 to 2100 and up to 16000). Lumas are stretched to at least this on each axis.
FLOW_MIN_SIDE = 32
FLOW_MIN_WIDTH = 16  # the least working width a caller may ask for
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


def _halves(size: tuple[int, int], width: int | None) -> bool:
    """Whether `gray` first halves a frame of `size` (height, width) in RGB for the flow's `width`."""
    return bool(width) and size[1] >= 2 * width and size[0] >= 2


def working_size(size: tuple[int, int], width: int | None) -> tuple[int, int]:
    """The (height, width) of `gray`'s luma for frames of `size` (height, width) and a flow
    `width` (None: full size): that width where smaller, the frame's shape kept, each side at
    least `FLOW_MIN_SIDE`."""
    h, w = size
    halved = _halves(size, width)
    luma_h, luma_w = (h // 2, w // 2) if halved else (h, w)
    target_w = width if width and width < luma_w else luma_w
    target_h = round(h * target_w / w) if target_w != luma_w else luma_h
    return max(FLOW_MIN_SIDE, target_h), max(FLOW_MIN_SIDE, target_w)


def _at_working_size(frame: np.ndarray, width: int | None, colour: bool) -> tuple[np.ndarray, np.ndarray | None]:
    """(luma, and with `colour` the RGB frame) at `working_size`: the steps `gray` and
    `colour_working` share, so the luma is the same in both."""
    h, w = frame.shape[:2]
    if _halves((h, w), width):
        frame = cv2.resize(frame, (w // 2, h // 2), interpolation=cv2.INTER_LINEAR)
    luma = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
    target_h, target_w = working_size((h, w), width)
    target = (target_w, target_h)
    if target != (luma.shape[1], luma.shape[0]):
        shrinks = target[0] <= luma.shape[1] and target[1] <= luma.shape[0]
        interpolation = cv2.INTER_AREA if shrinks else cv2.INTER_LINEAR
        luma = cv2.resize(luma, target, interpolation=interpolation)
        frame = cv2.resize(frame, target, interpolation=interpolation) if colour else frame
    return luma, frame if colour else None


def gray(frame: np.ndarray, width: int | None = None) -> np.ndarray:
    """(H, W, 3) uint8 RGB -> (h, w) uint8 luma, area-downscaled to `width` if smaller, and
    stretched to at least `FLOW_MIN_SIDE` on each axis (a tiny or very thin frame: the flow's
    sample positions are scaled back per axis, `source_positions`); `working_size` says its size.

    A frame at least twice as wide is first halved in RGB: a bilinear halving is an exact 2x2
    box filter and costs less than converting all the pixels to grey."""
    return _at_working_size(frame, width, colour=False)[0]


def colour_working(frame: np.ndarray, width: int | None = None) -> np.ndarray:
    """(H, W, 3) uint8 RGB -> (h, w, 4) uint8 Y, Cr, Cb, 255 at `gray`'s size, its Y exactly
    `gray`'s: the flow runs on Y, the photometric check on the colour too. On Y alone, the
    background a moving object uncovers took the object's colour where the two were about as
    bright (the flow, smooth across the edge, and the warped luma both passed). Four channels:
    OpenCV's remap is vectorised for four, not three (0.13 ms against 0.29 at 320x180)."""
    luma, small = _at_working_size(frame, width, colour=True)
    picture = cv2.cvtColor(cv2.cvtColor(small, cv2.COLOR_RGB2YCrCb), cv2.COLOR_RGB2RGBA)  # (adds the 255)
    picture[..., 0] = luma  # (YCrCb's own Y rounds differently by a level: the flow stays `gray`'s)
    return picture


def luma_of(picture: np.ndarray) -> np.ndarray:
    """The Y plane of a `colour_working` picture (contiguous, for DIS); a luma as it is."""
    return picture if picture.ndim == 2 else cv2.extractChannel(picture, 0)


@functools.lru_cache(maxsize=8)
def sample_grid(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel x and y coordinates, cached per size (read-only)."""
    xs, ys = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
    xs.flags.writeable = ys.flags.writeable = False
    return xs, ys


@functools.lru_cache(maxsize=8)
def _interleaved_grid(height: int, width: int) -> np.ndarray:
    """(x, y) of each pixel as one (H, W, 2) array, cached per size (read-only): one `cv2.add`
    turns a flow into its sample positions."""
    grid = cv2.merge(sample_grid(height, width))
    grid.flags.writeable = False
    return grid


def positions_of(flow: np.ndarray) -> np.ndarray:
    """The sample positions x + flow(x) (h, w, 2) on the grid of `flow`, in its pixels."""
    return cv2.add(flow, _interleaved_grid(*flow.shape[:2]))


def warp(image: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """Backward warp: out(x) = image(x + flow(x)), bilinear, edges replicated. `flow` (H, W, 2)
    in pixels of `image`, on the output grid."""
    return cv2.remap(image, positions_of(flow), None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def source_positions(flow: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The sample positions x + flow(x) (h, w, 2) on the grid of a working-size `flow`, in pixels
    of the full `size` (height, width), pixel centres aligned as cv2.resize aligns them."""
    return scaled_positions(positions_of(flow), size)


def scaled_positions(positions: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Sample `positions` (h, w, 2) in pixels of their own grid -> in pixels of the full `size`
    (height, width), pixel centres aligned as cv2.resize aligns them: (p + 0.5) * scale - 0.5."""
    h, w = positions.shape[:2]
    height, width = size
    if (h, w) == (height, width):
        return positions
    sx, sy = width / w, height / h
    return cv2.transform(positions, np.array([[sx, 0, 0.5 * sx - 0.5], [0, sy, 0.5 * sy - 0.5]], np.float32))


def resized(plane: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """A smooth `plane` (sample positions, blend weights) resized bilinearly to `size` (height, width)."""
    height, width = size
    return plane if plane.shape[:2] == size else cv2.resize(plane, (width, height), interpolation=cv2.INTER_LINEAR)


def source_map(flow: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """The remap coordinates at full `size` (h, w) for a `flow` at working size, as x and y planes
    (`full_size_maps`). Sample positions are smooth, so they are computed at working size and
    resized linearly once."""
    return full_size_maps(source_positions(flow, size), size)


def full_size_maps(positions: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Working-size sample `positions` (h, w, 2, pixels of the full frame) as remap's x and y
    maps at `size` (height, width): resized as two planes, which with the remap costs about 0.9x
    of one interleaved map (720p, one core: 0.25 + 1.41 ms against 0.42 + 1.55), then the bands
    the resize clamps put right (`edge_offsets`)."""
    map_x, map_y = cv2.split(positions)
    map_x, map_y = resized(map_x, size), resized(map_y, size)
    for band, offset in edge_offsets(size[1], positions.shape[1]):
        map_x[:, band] += offset
    for band, offset in edge_offsets(size[0], positions.shape[0]):
        map_y[band] += offset[:, None]
    return map_x, map_y


@functools.lru_cache(maxsize=16)
def edge_offsets(full: int, working: int) -> tuple[tuple[slice, np.ndarray], ...]:
    """(band, offset) pairs that put right sample positions resized linearly from `working` to
    `full` pixels along one axis. cv2.resize clamps its source coordinate (x + 0.5) * working /
    full - 0.5 to [0, working - 1], so past the outermost working pixels' centres the positions
    stayed flat: a still frame's outer columns were sampled up to 1.5 pixels off (720p, flow at
    320). There a position is the edge pixel's plus the distance from its centre (the
    displacement clamped, as the resize clamps it); the offsets are that distance (read-only)."""
    scale = full / working
    coords = np.arange(full)
    source = (coords + 0.5) / scale - 0.5
    first, last = coords[source < 0], coords[source > working - 1]
    pairs = []
    if first.size:
        pairs.append((slice(0, first.size), first - (0.5 * scale - 0.5)))
    if last.size:
        pairs.append((slice(full - last.size, full), last - ((working - 0.5) * scale - 0.5)))
    offsets = tuple((band, offset.astype(np.float32)) for band, offset in pairs)
    for _, offset in offsets:
        offset.flags.writeable = False
    return offsets


def remap_rgb(image: np.ndarray, coords: np.ndarray | tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """`image` (H, W, 3) uint8 sampled bilinearly at `coords` (H', W', 2) float32, or its x and y
    planes (`full_size_maps`), edges replicated.

    Done in RGBA: OpenCV vectorises the float-map remap for 4 channels, not 3 (720p, one core:
    ~5 ms against ~10), which pays for the two conversions.
    """
    return cv2.cvtColor(_remap(cv2.cvtColor(image, cv2.COLOR_RGB2RGBA), coords), cv2.COLOR_RGBA2RGB)


def _remap(image: np.ndarray, coords: np.ndarray | tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """`image` sampled bilinearly at `coords` (as `remap_rgb`), edges replicated."""
    map_x, map_y = coords if isinstance(coords, tuple) else (coords, None)
    return cv2.remap(image, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def to_float_rgba(image: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 RGB -> (H, W, 4) float32 0-255: the precise state's form (OpenCV
    vectorises the float remap for 4 channels, not 3)."""
    return cv2.cvtColor(image, cv2.COLOR_RGB2RGBA).astype(np.float32)


def to_rgb8(state: np.ndarray) -> np.ndarray:
    """(H, W, 4) float32 0-255 -> (H, W, 3) uint8 RGB, rounded to nearest and clipped."""
    return cv2.cvtColor(cv2.convertScaleAbs(state), cv2.COLOR_RGBA2RGB)


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


class FlowEstimator:
    """DIS optical flow (OpenCV) between two luma frames at a working width.

    Safe to call from several threads at once: each thread gets its own DIS instance (one holds
    its pyramids between calls), so motion can be estimated for several frames in parallel."""

    def __init__(self, preset: str = "ultrafast", width: int | None = 320) -> None:
        if not isinstance(preset, str) or preset not in DIS_PRESETS:
            raise ValueError(f"preset must be one of {', '.join(DIS_PRESETS)}, got {preset!r}")
        self.preset = preset
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


def _kind(value: object) -> str:
    """What `value` is, for an error message: an array's dtype and shape, else its type."""
    return f"{value.dtype} {value.shape}" if isinstance(value, np.ndarray) else type(value).__name__


def check_array(value: np.ndarray, name: str, dtype: type, channels: int | None, what: str) -> np.ndarray:
    """`value` if it is a non-empty `dtype` array of `channels` channels (None: one (h, w) plane),
    else a TypeError (not such an array) or ValueError (its shape) saying it must be `what`:
    anything else failed inside OpenCV (a cv2.error naming no argument)."""
    if not isinstance(value, np.ndarray) or value.dtype != dtype:
        raise TypeError(f"{name} must be {what}, got {_kind(value)}")
    fits = value.ndim == 2 if channels is None else value.ndim == 3 and value.shape[2] == channels
    if not fits or 0 in value.shape:
        raise ValueError(f"{name} must be {what}, got shape {value.shape}")
    return check_pixels(value, name)


def check_size(size: tuple[int, int], name: str = "size") -> tuple[int, int]:
    """`size` as (height, width) of whole numbers from 1 to `MAX_DECODE_PIXELS`' side: a list failed
    as "can only concatenate list (not tuple)", and (0, 0) or (-40, 48) were taken."""
    if not isinstance(size, tuple) or len(size) != 2:
        raise TypeError(f"{name} must be a (height, width) tuple, got {size!r:.80}")
    return (check_whole(size[0], f"{name}[0] (height)", 1, maximum=MAX_DECODE_PIXELS),
            check_whole(size[1], f"{name}[1] (width)", 1, maximum=MAX_DECODE_PIXELS))


def check_luma(luma: np.ndarray, name: str) -> np.ndarray:
    """`luma` if it is an (h, w) uint8 luma, as `gray` gives, or an (h, w, 4) uint8 picture, as
    `colour_working` (and `Stabilizer.luma`) give."""
    channels = 4 if isinstance(luma, np.ndarray) and luma.ndim == 3 else None
    return check_array(luma, name, np.uint8, channels,
                       "an (h, w) uint8 luma or (h, w, 4) uint8 Y, Cr, Cb, 255 picture (see gray(), colour_working())")


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
    """`motion` if it is a `Motion` or None, else a TypeError before any state changes (anything
    else failed deep in a blend, an AttributeError naming no argument)."""
    if motion is not None and not isinstance(motion, Motion):
        raise TypeError(f"motion must be a Motion (Stabilizer.motion, MotionAhead) or None, got {type(motion).__name__}")
    return motion


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
            positions, coverage = _interleaved_grid(*flow.shape[:2]).copy(), still
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
        out = self._blend(motion, stylized, remap_rgb, blend_rgb8)
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
        return self._blend(motion, current, _remap, blend_float)

    def _blend(self, motion: Motion | None, current: np.ndarray,
               remap: Callable[[np.ndarray, np.ndarray], np.ndarray],
               blend: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]) -> np.ndarray:
        """`current` blended by `blend` with the previous state warped by `remap` along `motion`; the new state."""
        check_motion(motion)
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


def check_stats(mean: torch.Tensor, std: torch.Tensor) -> None:
    """Refuse anything but a mean and std of one shape, each a tensor of at least one frame: a
    numpy array failed as "no attribute 'clone'", frame counts that differ were cut silently,
    and no frame failed inside torch.stack."""
    import torch  # (here: the flow stabiliser works after any stylizer, without torch)

    for name, value in (("mean", mean), ("std", std)):
        if not isinstance(value, torch.Tensor):
            raise TypeError(f"{name} must be an (N, C, 1, 1) torch.Tensor, got {type(value).__name__}")
        if value.dim() == 0 or value.shape[0] == 0:
            raise ValueError(f"{name} must be (N, C, 1, 1) with at least one frame, got shape {tuple(value.shape)}")
    if mean.shape != std.shape:
        raise ValueError(f"mean {tuple(mean.shape)} and std {tuple(std.shape)} must be of one shape")


class ContentStatsSmoother:
    """EMA of the content's relu4_1 mean/std, per frame in display order: AdaIN then normalises
    every frame by slowly varying statistics, which removes global brightness/colour pumping.

    Call it with the (N, C, 1, 1) mean and std of N consecutive frames; it returns the statistics
    to normalise by. A frame whose statistics jump by more than `cut_distance` (mean absolute
    change relative to the smoothed std) starts afresh: a scene cut.
    """

    def __init__(self, momentum: float = 0.8, cut_distance: float = 0.3) -> None:
        self.momentum = check_number(momentum, "momentum")
        # (nan was taken, and then no cut was ever found; a str was a comparison's TypeError)
        self.cut_distance = check_positive(cut_distance, "cut_distance")
        self.cuts = 0
        self.reset()

    def reset(self) -> None:
        self._mean: torch.Tensor | None = None
        self._std: torch.Tensor | None = None

    def __call__(self, mean: torch.Tensor, std: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The statistics to normalise N frames by, for their own (N, C, 1, 1) `mean` and `std`. A
        frame whose statistics are not finite keeps them and leaves the average as it was (it
        poisoned every later frame)."""
        import torch

        check_stats(mean, std)
        means, stds = [], []
        for m, s in zip(mean, std):
            if not bool(torch.isfinite(m).all() & torch.isfinite(s).all()):  # (one wait for the device, not two)
                means.append(m)
                stds.append(s)
                continue
            if self._mean is not None and self._mean.shape == m.shape:
                # (0/0, a channel constant with a caller's std of 0, is no change: its nan hid the others' jump)
                jump = float(((m - self._mean).abs() / self._std).nan_to_num(nan=0.0).mean())
                if jump > self.cut_distance:
                    self.cuts += 1
                    self.reset()
            if self._mean is None or self._mean.shape != m.shape:
                self._mean, self._std = m.clone(), s.clone()
            else:
                self._mean = self.momentum * self._mean + (1 - self.momentum) * m
                self._std = self.momentum * self._std + (1 - self.momentum) * s
            means.append(self._mean)
            stds.append(self._std)
        return torch.stack(means), torch.stack(stds)
