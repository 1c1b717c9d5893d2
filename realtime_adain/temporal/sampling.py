"""Working sizes and sample positions: frames to the flow's working-size luma (`gray`,
`colour_working`), and sample positions and remap maps at working and full size."""

from __future__ import annotations

import functools

import cv2
import numpy as np

# OpenCV's DIS refuses images under 12 pixels a side and, on images whose shorter side is under
# 32, reads out of bounds for some widths (a segmentation fault: OpenCV 5.0, 12x40, 16x86, 31x80
# with presets fast and ultrafast). Every shape with both sides >= 32 ran (each preset, the other
# side 32 to 2100 and up to 16000). Lumas are stretched to at least this on each axis.
FLOW_MIN_SIDE = 32


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
def interleaved_grid(height: int, width: int) -> np.ndarray:
    """(x, y) of each pixel as one (H, W, 2) array, cached per size (read-only): one `cv2.add`
    turns a flow into its sample positions."""
    grid = cv2.merge(sample_grid(height, width))
    grid.flags.writeable = False
    return grid


def positions_of(flow: np.ndarray) -> np.ndarray:
    """The sample positions x + flow(x) (h, w, 2) on the grid of `flow`, in its pixels."""
    return cv2.add(flow, interleaved_grid(*flow.shape[:2]))


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
