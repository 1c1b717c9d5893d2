"""The one interface every engine implements: uint8 frames + style statistics -> uint8 frames.

An engine only supplies `step`: the model on device images whose sides are multiples of 8, with
the style mean/std and alpha as tensors. Everything around it (uploads, padding, rounding, the
device copies of the style) is shared here, so the engines differ in exactly one place.

One engine serves any number of threads: the style inputs and frame buffers it keeps between calls
are used under `lock`, one call (one batch of a stream) at a time, and the per-run hooks
(`content_stats`, `after_step`) belong to the thread that sets them.
"""

from __future__ import annotations

import abc
import contextlib
import functools
import importlib
import io
import os
import threading
import weakref
from collections import defaultdict
from contextlib import contextmanager
from typing import Iterable, Iterator, Sequence

import numpy as np
import torch

from realtime_adain.adain import StyleStats, check_stats
from realtime_adain.checks import check_whole
from realtime_adain.engines.cache import EngineCache
from realtime_adain.engines.frames import CudaFrames, frames_for
from realtime_adain.model import StyleTransferNet, neutral_style, padded_size
from realtime_adain.picture_sizes import MAX_DECODE_PIXELS, no_pixels

_LOCKS: "weakref.WeakSet[CallLock]" = weakref.WeakSet()


class CallLock:
    """A re-entrant lock that a forked child (gunicorn's workers) and an unpickled copy get fresh:
    the thread holding it at the fork does not exist there and would never release it."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        _LOCKS.add(self)

    def __enter__(self) -> "CallLock":
        self._lock.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self._lock.release()

    def __reduce__(self):
        return CallLock, ()


def _renew_locks() -> None:
    for lock in list(_LOCKS):  # the child has one thread: nothing else holds or takes them now
        lock._lock = threading.RLock()


if hasattr(os, "register_at_fork"):  # (Windows does not fork)
    os.register_at_fork(after_in_child=_renew_locks)


def _thread_hook(name: str, doc: str) -> property:
    """An engine attribute each thread sets for itself: two videos stylized at once by one
    engine must not smooth or blend with each other's stages."""

    def get(engine: "Engine"):
        return getattr(engine._hooks, name, None)

    def put(engine: "Engine", value) -> None:
        setattr(engine._hooks, name, value)

    return property(get, put, doc=doc)


class Engine(abc.ABC):
    """A model step plus the shared frame handling; `stylize` is the call front ends use."""

    name = "engine"
    content_stats = _thread_hook("content_stats", """Maps each frame's relu4_1 (mean, std) to the
        ones AdaIN normalises by (temporal smoothing, `temporal.ContentStatsSmoother`), for the
        calls of the thread that sets it. Only the eager engine runs Python inside the model; the
        compiled and exported graphs cannot call it, so they ignore it.""")
    after_step = _thread_hook("after_step", """Called with each batch's (N, 3, H, W) output on the
        device before it is downloaded, returning the images to download: the video stabiliser's
        on-device blend (`device_blend.DeviceBlend`), for the calls of the thread that sets it.
        `stylize` and `stylize_stream` call it; `stylize_each` (one look per client) does not.""")
    memory_format = torch.channels_last  # of the device image buffer (NHWC suits cuDNN and inductor)
    # Whether `step` takes (N, C) statistics and (N,) alphas, one look per frame (the eager module
    # broadcasts them; compiled and exported graphs have one style input).
    per_sample_styles = False

    def __init__(self, net: StyleTransferNet, device: torch.device, dtype: torch.dtype,
                 weights_id: str | None = None, cache: EngineCache | None = None) -> None:
        """`weights_id` and `cache` are for engines that cache what they build (others ignore them)."""
        self.net, self.device, self.dtype = net, torch.device(device), dtype
        self.lock = CallLock()  # held while the style inputs and a frame buffer are in use
        self._hooks = threading.local()
        self.frames = frames_for(self.device, dtype, self.memory_format)
        self._frames_busy = False  # `frames` lent to a stream; others use `_spare_frames`
        self._spare_frames: list[CudaFrames] = []
        # The style and alpha inputs are device tensors made once: a switch copies new values into
        # them, so every step gets the same tensors (a compiled graph's guards and a CUDA graph's
        # static input addresses hold, whatever device, dtype or mode the new statistics come in).
        with torch.inference_mode(False):  # updatable in place in and out of inference mode
            mean, std, self._alpha = neutral_style(dtype, self.device)
        self._style_tensors = mean, std
        self._style: StyleStats | None = None  # the style in `_style_tensors`, by identity
        self._style_snapshot: tuple = ()  # (its values when uploaded: `StyleStats.snapshot`)
        self._alpha_value: float | None = 1.0

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_hooks"] = None  # per thread: a copy starts without any
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state, _hooks=threading.local())

    @abc.abstractmethod
    def step(self, images: torch.Tensor, mean: torch.Tensor, std: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) in [0, 1] with H, W multiples of 8 -> stylized (N, 3, H, W), unclamped."""

    def _step_and_after(self, images: torch.Tensor, mean: torch.Tensor, std: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
        out = self.step(images, mean, std, alpha)
        return self.after_step(out) if self.after_step is not None else out

    def prepare(self, batch: int, height: int, width: int) -> None:
        """Build whatever this engine needs for batches of `batch` frames of height x width (the
        frame size, before padding), so the first real batch does not wait (default: nothing)."""

    def forget_style(self) -> None:
        """Upload the style again at the next call, even the same object with the same values."""
        self._style = None

    def style_inputs(self, style: StyleStats, alpha: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Device tensors of the style and alpha, uploaded only when they change (a style switch
        is two 2 KiB copies: nothing is rebuilt). The style held is compared with its values when
        uploaded, here where the upload is kept: a caller's statistics changed in place since
        (`style.std.mul_(0.5)`, docs/api.md) are checked and uploaded again, whatever calls
        came between (a `Stylizer` that kept a snapshot of the style it checked last, not of
        the one uploaded, gave the old picture after a call with another style that failed)."""
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"alpha must be in [0, 1], got {alpha}")
        if style is not self._style or style.changed_since(self._style_snapshot):
            if style is self._style:  # (a new style is checked by the caller: `Stylizer`, once per object)
                check_stats(style)
            self._style = None  # until both are in: an interrupt between the copies must not leave a mix taken for a style
            snapshot = style.snapshot()  # (before the copies: a change during them is seen next time)
            for target, value in zip(self._style_tensors, (style.mean, style.std)):
                target.copy_(value.reshape(-1))
            self._style, self._style_snapshot = style, snapshot
        if alpha != self._alpha_value:
            self._alpha_value = None  # (likewise)
            self._alpha.fill_(alpha)
            self._alpha_value = alpha
        return (*self._style_tensors, self._alpha)

    @torch.inference_mode()
    def stylize(self, frames: np.ndarray, style: StyleStats, alpha: float = 1.0) -> np.ndarray:
        """Stylize (N, H, W, 3) or (H, W, 3) uint8 RGB frames; the result has the same shape."""
        batch = check_frames(frames)
        n, h, w, _ = batch.shape
        with self.lock, self._borrowed_frames() as buffers:
            mean, std, alpha_t = self.style_inputs(style, alpha)
            out = buffers.download(self._step_and_after(buffers.upload(batch), mean, std, alpha_t), h, w)
        return out if frames.ndim == 4 else out[0]

    @contextmanager
    def _borrowed_frames(self) -> Iterator:
        """Frame buffers no other call is using: `frames` when free (a stream holds its buffers
        between batches, while other threads' calls go on), else a spare made for the purpose."""
        if not isinstance(self.frames, CudaFrames):  # host conversions keep nothing between calls
            yield self.frames
            return
        with self.lock:
            own = not self._frames_busy
            buffers = self.frames if own else (self._spare_frames.pop() if self._spare_frames else
                                               CudaFrames(self.frames.device, self.frames.dtype, self.frames.memory_format))
            self._frames_busy |= own
        try:
            yield buffers
        finally:
            with self.lock:
                if own:
                    self._frames_busy = False
                else:
                    self._spare_frames.append(buffers)

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
            with self.lock, self._borrowed_frames() as buffers:
                return buffers.download(self.step(buffers.upload(batch), mean, std, alpha), *batch.shape[1:3])
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
        elsewhere this is the plain loop. The engine is locked for one batch at a time, never
        while a result waits for the consumer, so other threads' calls interleave.
        """
        if not isinstance(self.frames, CudaFrames):
            for batch in batches:
                yield self.stylize(batch, style, alpha)
            return
        with self._borrowed_frames() as buffers:
            pending: tuple[int, bool] | None = None  # (slot, whether the caller gave a single frame)

            def collect(slot: int, single: bool) -> np.ndarray:
                out = buffers.collect(slot)
                return out[0] if single else out

            for index, frames in enumerate(batches):
                batch, slot = check_frames(frames), index % 2
                if pending is not None and batch.shape != buffers.shape:
                    yield collect(*pending)  # the shape changes: finish before reallocating
                    pending = None
                with self.lock:
                    mean, std, alpha_t = self.style_inputs(style, alpha)
                    buffers.submit_download(self._step_and_after(buffers.upload(batch, slot), mean, std, alpha_t), slot)
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


@functools.cache
def import_problem(module: str, package: str) -> str | None:
    """None when `module` imports, else why not in one line. Found is not loadable: a package whose
    shared libraries are missing is found (importlib.util.find_spec) and fails at import, each run;
    an engine that needs it must be reported unavailable, so 'auto' passes it by. (torch-tensorrt
    without NVIDIA's TensorRT libraries raises a plain Exception, after printing what it tried.)"""
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            importlib.import_module(module)
    except Exception as error:
        reason = (str(error).strip().splitlines() or [type(error).__name__])[0]
        return f"{package} is installed but does not load: {reason}"
    return None


def check_frames(frames: np.ndarray) -> np.ndarray:
    """(H, W, 3) or (N, H, W, 3) uint8 -> (N, H, W, 3); anything else is a clear error."""
    check_frames_kind(frames)
    # reshape (not [None]) gives the batch axis a real stride, which oneDNN's kernels expect.
    batch = frames.reshape(1, *frames.shape) if frames.ndim == 3 else frames
    check_pixels_per_call(*batch.shape[:3])
    return batch


def check_frames_kind(frames: np.ndarray, name: str = "frames") -> None:
    """`frames` (the argument `name`) is a uint8 (H, W, 3) or (N, H, W, 3) array, or a clear error."""
    if not isinstance(frames, np.ndarray) or frames.dtype != np.uint8:
        got = f"{frames.dtype} values" if isinstance(frames, np.ndarray) else type(frames).__name__
        raise TypeError(f"{name} must be a uint8 numpy array, got {got}")
    if frames.ndim not in (3, 4) or frames.shape[-1] != 3 or (frames.ndim == 4 and not len(frames)):
        raise ValueError(f"{name} must be (H, W, 3) or (N, H, W, 3) RGB, got shape {frames.shape}")
    if 0 in frames.shape:
        raise ValueError(no_pixels(name, *frames.shape[-3:-1]))


def padded_pixels(height: int, width: int) -> int:
    """The pixels the network takes for a frame of height x width: padded to at least 16x16 and
    multiples of 8 (`model.padded_size`), a 1x1 frame is 256, and memory and time go with those."""
    padded_height, padded_width = padded_size(height, width)
    return padded_height * padded_width


def frames_within(batch: int, shape: tuple[int, ...], pixels: int | None) -> int:
    """Up to `batch` frames of `shape` (H, W, ...) holding at most `pixels` pixels in all, and at
    most the pixels one engine call takes (`MAX_DECODE_PIXELS`: a larger `pixels` built batches the
    engine refused once they were copied); at least one. Pixels as the network takes them
    (`padded_pixels`: 20000 frames of 1x1 in one batch were 5 million, for max_pixels=20000)."""
    most = MAX_DECODE_PIXELS if pixels is None else min(pixels, MAX_DECODE_PIXELS)
    return max(1, min(batch, most // padded_pixels(shape[0], shape[1])))


def check_pixels_per_call(batch: int, height: int, width: int, what: str = "frames") -> None:
    """Refuse more pixels in one call than any image file may have, counted as the network takes
    them (`padded_pixels`: 10**6 frames of 1x1 are 256 million): a broadcast view of any size
    takes no memory until it is copied to the network's input (and the features take ~100x more).
    `what`: the argument, "frame" where it is one (H, W, 3) array (`stylize_masked`)."""
    pixels = batch * padded_pixels(height, width)
    if pixels <= MAX_DECODE_PIXELS:
        return
    sides = padded_size(height, width)
    padded = f" once padded to {sides[1]}x{sides[0]}" if sides != (height, width) else ""
    limit = f"more than {MAX_DECODE_PIXELS} (16384x16384)"
    if what == "frame":
        raise ValueError(f"frame is {width}x{height}, {pixels} pixels{padded}, {limit}: pass a smaller frame")
    raise ValueError(f"{what} are {batch} x {width}x{height}, {pixels} pixels in one call{padded}, "
                     f"{limit}: pass smaller frames or fewer at a time")


def check_frame_shape(batch: int, height: int, width: int) -> tuple[int, int, int]:
    """A frame shape to prepare an engine for (`Stylizer.prepare`), checked as `stylize` checks
    frames of that shape: unchecked, a compile of batch 0 was a torch traceback, and 10**6 a side
    tried to allocate terabytes."""
    shape = tuple(check_whole(value, name, minimum=1) for value, name in ((batch, "batch"), (height, "height"),
                                                                          (width, "width")))
    check_pixels_per_call(*shape, what="batch, width and height")
    return shape
