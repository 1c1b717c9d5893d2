"""The flow stabiliser's warp and blend on the stylizer's device, before frames are downloaded.

On a GPU the network outputs frames faster than one CPU thread can warp and blend them at full
size (`Stabilizer.apply`: ~10 ms a 720p frame). Here the same step runs on the device, between the
engine's step and its download (`Engine.after_step`): the working-size motion (from
`MotionAhead`, on CPU threads) is uploaded (under 1 MB a frame), resized and applied with
`grid_sample` and `lerp`. The previous output is kept in float32, so there is no 8-bit rounding
between frames. The rules (scene cuts, trusted pixels, soft edge, strength) are the Stabilizer's:
only where the arithmetic runs differs.
"""

from __future__ import annotations

from collections import deque
from concurrent.futures import Future

import numpy as np
import torch
import torch.nn.functional as F

from realtime_adain.temporal.flow import Motion
from realtime_adain.temporal.sampling import source_positions
from realtime_adain.temporal.stabilizer import Stabilizer


def wanted(device: torch.device) -> bool:
    """The stabiliser warps and blends on the GPU when the network runs on CUDA: one CPU thread
    doing it at full size would cap the frame rate (docs/BENCHMARKS.md, temporal)."""
    return torch.device(device).type == "cuda"


class DeviceBlend:
    """`Stabilizer.apply` for device images, frames in display order.

    The video pipeline announces each batch's motions (`expect`) before the batch reaches the
    network; the engine calls the object with the batch's output (`after_step`), whose first
    frames are the announced ones (a short last batch is filled up with copies, left alone).
    """

    def __init__(self, stabilizer: Stabilizer) -> None:
        self.stabilizer = stabilizer
        self.expected: deque[tuple[list[Future], tuple[int, int]]] = deque()
        self._prev: torch.Tensor | None = None  # (3, H, W) float32 in [0, 1]

    def reset(self) -> None:
        self.expected.clear()
        self._prev = None

    def expect(self, motions: list[Future], size: tuple[int, int]) -> None:
        """The next batch's motion futures, one per real frame, and its frames' (height, width)."""
        self.expected.append((motions, size))

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        """(N, 3, H', W') network output (padded to multiples of 8) -> the same, blended in place."""
        motions, size = self.expected.popleft()
        for index, motion in enumerate(motions):
            self.blend(motion.result(), images[index], size)
        return images

    def blend(self, motion: Motion | None, image: torch.Tensor, size: tuple[int, int]) -> None:
        """Blend one (3, H', W') image's top-left (height, width) with the previous output, in place."""
        height, width = size
        current = image[:, :height, :width]
        stylized = current.to(torch.float32, copy=True).clamp_(0.0, 1.0)
        previous, self._prev = self._prev, stylized
        if not self.stabilizer.active:
            return
        if not self.stabilizer.continues(motion, tuple(previous.shape[1:]) if previous is not None else None, size):
            return
        warped = F.grid_sample(previous[None], self._grid(motion, size, image.device), mode="bilinear",
                               padding_mode="border", align_corners=False)[0]
        weight = upsampled(torch.from_numpy(motion.weight)[None], size, image.device)
        self._prev = torch.lerp(stylized, warped, weight)
        current.copy_(self._prev)

    @staticmethod
    def _grid(motion: Motion, size: tuple[int, int], device: torch.device) -> torch.Tensor:
        """grid_sample's (1, H, W, 2) grid in [-1, 1] for the sample positions (pixels). The
        displacement is resized and the pixel grid added on the device: resized, the positions
        went flat where the resize clamps, at the frame's edge (a still frame's outer pixels
        sampled up to 1.5 pixels off; `sampling.edge_offsets`, as the CPU puts it right)."""
        still = source_positions(np.zeros_like(motion.positions), size)  # where no motion samples
        dx, dy = upsampled(torch.from_numpy(motion.positions - still).permute(2, 0, 1), size, device)
        height, width = size  # Python scalars: no host-to-device copy that would wait for the network
        xs = torch.arange(width, device=device, dtype=torch.float32)
        ys = torch.arange(height, device=device, dtype=torch.float32)[:, None]
        return torch.stack(((dx + xs + 0.5) * (2.0 / width) - 1.0, (dy + ys + 0.5) * (2.0 / height) - 1.0), dim=-1)[None]


def upsampled(planes: torch.Tensor, size: tuple[int, int], device: torch.device) -> torch.Tensor:
    """(C, h, w) host planes -> (C, H, W) float32 on `device`, bilinear with pixel centres aligned
    as cv2.resize aligns them (what `Stabilizer.apply` does on the CPU)."""
    if device.type == "cuda":  # a copy from pageable memory would first wait for the network's step
        planes = planes.pin_memory()
    planes = planes.to(device, torch.float32, non_blocking=True)[None]
    if tuple(planes.shape[-2:]) != size:
        planes = F.interpolate(planes, size=size, mode="bilinear", align_corners=False)
    return planes[0]
