"""The one interface every engine implements: uint8 frames + style statistics -> uint8 frames.

An engine only supplies `step`: the model on device images whose sides are multiples of 8, with
the style mean/std and alpha as tensors. Everything around it (uploads, padding, rounding, the
device copies of the style) is shared here, so the engines differ in exactly one place.
"""

from __future__ import annotations

import abc
from collections import defaultdict
from typing import Iterable, Iterator, Sequence

import numpy as np
import torch

from realtime_adain.adain import StyleStats
from realtime_adain.engines.cache import EngineCache
from realtime_adain.engines.frames import CudaFrames, frames_for
from realtime_adain.imageio import MAX_DECODE_PIXELS
from realtime_adain.model import StyleTransferNet, neutral_style


class Engine(abc.ABC):
    """A model step plus the shared frame handling; `stylize` is the call front ends use."""

    name = "engine"
    # Maps each frame's relu4_1 (mean, std) to the ones AdaIN normalises by (temporal smoothing,
    # `temporal.ContentStatsSmoother`). Only the eager engine runs Python inside the model; the
    # compiled and exported graphs cannot call it, so they ignore it.
    content_stats = None
    # Called with each batch's (N, 3, H, W) output on the device before it is downloaded, returning
    # the images to download: the video stabiliser's on-device blend (`device_blend.DeviceBlend`).
    # `stylize` and `stylize_stream` call it; `stylize_each` (one look per client) does not.
    after_step = None
    memory_format = torch.channels_last  # of the device image buffer (NHWC suits cuDNN and inductor)
    # Whether `step` takes (N, C) statistics and (N,) alphas, one look per frame (the eager module
    # broadcasts them; compiled and exported graphs have one style input).
    per_sample_styles = False

    def __init__(self, net: StyleTransferNet, device: torch.device, dtype: torch.dtype,
                 weights_id: str | None = None, cache: EngineCache | None = None) -> None:
        """`weights_id` and `cache` are for engines that cache what they build (others ignore them)."""
        self.net, self.device, self.dtype = net, torch.device(device), dtype
        self.frames = frames_for(self.device, dtype, self.memory_format)
        # The style and alpha inputs are device tensors made once: a switch copies new values into
        # them, so every step gets the same tensors (a compiled graph's guards and a CUDA graph's
        # static input addresses hold, whatever device, dtype or mode the new statistics come in).
        with torch.inference_mode(False):  # updatable in place in and out of inference mode
            mean, std, self._alpha = neutral_style(dtype, self.device)
        self._style_tensors = mean, std
        self._style: StyleStats | None = None
        self._alpha_value: float | None = 1.0

    @abc.abstractmethod
    def step(self, images: torch.Tensor, mean: torch.Tensor, std: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) in [0, 1] with H, W multiples of 8 -> stylized (N, 3, H, W), unclamped."""

    def _step_and_after(self, images: torch.Tensor, mean: torch.Tensor, std: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
        out = self.step(images, mean, std, alpha)
        return self.after_step(out) if self.after_step is not None else out

    def prepare(self, batch: int, height: int, width: int) -> None:
        """Build whatever this engine needs for batches of `batch` frames of height x width (the
        frame size, before padding), so the first real batch does not wait (default: nothing)."""

    def style_inputs(self, style: StyleStats, alpha: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Device tensors of the style and alpha, uploaded only when they change (a style switch
        is two 2 KiB copies: nothing is rebuilt)."""
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"alpha must be in [0, 1], got {alpha}")
        if style is not self._style:
            for target, value in zip(self._style_tensors, (style.mean, style.std)):
                target.copy_(value.reshape(-1))
            self._style = style
        if alpha != self._alpha_value:
            self._alpha.fill_(alpha)
            self._alpha_value = alpha
        return (*self._style_tensors, self._alpha)

    @torch.inference_mode()
    def stylize(self, frames: np.ndarray, style: StyleStats, alpha: float = 1.0) -> np.ndarray:
        """Stylize (N, H, W, 3) or (H, W, 3) uint8 RGB frames; the result has the same shape."""
        batch = check_frames(frames)
        mean, std, alpha_t = self.style_inputs(style, alpha)
        n, h, w, _ = batch.shape
        out = self.frames.download(self._step_and_after(self.frames.upload(batch), mean, std, alpha_t), h, w)
        return out if frames.ndim == 4 else out[0]

    @torch.inference_mode()
    def stylize_each(self, frames: np.ndarray, styles: Sequence[StyleStats], alphas: Sequence[float],
                     per_sample: bool | None = None) -> np.ndarray:
        """(N, H, W, 3) uint8 frames, frame i with styles[i] and alphas[i] (several clients' frames):
        one step when the engine takes per-sample statistics (`per_sample`, default
        `per_sample_styles`), else one `stylize` per distinct (style, alpha)."""
        batch = check_frames(frames)
        if len(styles) != len(batch) or len(alphas) != len(batch):
            raise ValueError(f"{len(batch)} frames need as many styles and alphas, got {len(styles)} and {len(alphas)}")
        if all(s is styles[0] for s in styles) and len(set(alphas)) == 1:
            return self.stylize(batch, styles[0], alphas[0])
        if per_sample if per_sample is not None else self.per_sample_styles:
            if not all(0.0 <= a <= 1.0 for a in alphas):
                raise ValueError(f"alphas must be in [0, 1], got {list(alphas)}")
            mean = torch.stack([s.mean.reshape(-1) for s in styles]).to(self.device, self.dtype)
            std = torch.stack([s.std.reshape(-1) for s in styles]).to(self.device, self.dtype)
            alpha = torch.tensor(list(alphas), device=self.device, dtype=self.dtype)
            return self.frames.download(self.step(self.frames.upload(batch), mean, std, alpha), *batch.shape[1:3])
        result = np.empty_like(batch)
        groups: dict[tuple[int, float], list[int]] = defaultdict(list)
        for i, (style, alpha) in enumerate(zip(styles, alphas)):
            groups[id(style), alpha].append(i)
        for indices in groups.values():
            result[indices] = self.stylize(batch[indices], styles[indices[0]], alphas[indices[0]])
        return result

    @torch.inference_mode()
    def stylize_stream(self, batches: Iterable[np.ndarray], style: StyleStats, alpha: float = 1.0) -> Iterator[np.ndarray]:
        """Stylize a sequence of (N, H, W, 3) batches (or (H, W, 3) frames), yielding results of
        the same shapes in order.

        On a GPU, batch k+1 is copied in while batch k computes and downloads (double buffering);
        elsewhere this is the plain loop.
        """
        if not isinstance(self.frames, CudaFrames):
            for batch in batches:
                yield self.stylize(batch, style, alpha)
            return
        mean, std, alpha_t = self.style_inputs(style, alpha)
        pending: tuple[int, bool] | None = None  # (slot, whether the caller gave a single frame)

        def collect(slot: int, single: bool) -> np.ndarray:
            out = self.frames.collect(slot)
            return out[0] if single else out

        for index, frames in enumerate(batches):
            batch, slot = check_frames(frames), index % 2
            if pending is not None and batch.shape != self.frames.shape:
                yield collect(*pending)  # the shape changes: finish before reallocating
                pending = None
            self.frames.submit_download(self._step_and_after(self.frames.upload(batch, slot), mean, std, alpha_t), slot)
            if pending is not None:
                yield collect(*pending)
            pending = slot, frames.ndim == 3
        if pending is not None:
            yield collect(*pending)

    @property
    def builds_per_shape(self) -> bool:
        """Whether a new frame shape compiles or builds first (minutes on a GPU)."""
        from realtime_adain.engines import REGISTRY

        return REGISTRY[self.name].builds_per_shape

    def describe(self) -> str:
        return f"{self.name} ({self.device.type}, {str(self.dtype).removeprefix('torch.')})"


def check_frames(frames: np.ndarray) -> np.ndarray:
    """(H, W, 3) or (N, H, W, 3) uint8 -> (N, H, W, 3); anything else is a clear error."""
    if not isinstance(frames, np.ndarray) or frames.dtype != np.uint8:
        got = f"{frames.dtype} values" if isinstance(frames, np.ndarray) else type(frames).__name__
        raise TypeError(f"frames must be a uint8 numpy array, got {got}")
    # reshape (not [None]) gives the batch axis a real stride, which oneDNN's kernels expect.
    batch = frames.reshape(1, *frames.shape) if frames.ndim == 3 else frames
    if batch.ndim != 4 or batch.shape[-1] != 3 or 0 in batch.shape:
        raise ValueError(f"frames must be (H, W, 3) or (N, H, W, 3) RGB, got shape {frames.shape}")
    # A broadcast view of any size takes no memory until it is copied to the network's input (and
    # the features take ~100x more): refuse more pixels in one call than any image file may have.
    n, h, w, _ = batch.shape
    if n * h * w > MAX_DECODE_PIXELS:
        raise ValueError(f"frames are {n} x {w}x{h}, {n * h * w} pixels in one call, more than {MAX_DECODE_PIXELS} "
                         "(16384x16384): pass smaller frames or fewer at a time")
    return batch
