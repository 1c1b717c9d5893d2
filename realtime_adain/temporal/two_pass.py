"""The flow stabiliser run forward and then backward: zero-phase smoothing for offline video.

`Stabilizer` is causal: each output is an exponential moving average of the frames before it,
carried along the flow. Filtering that forward output once more from the newest frame back
(along the reverse flow) gives the symmetric, zero-phase smoother (the forward-backward
exponential filter, like `scipy.signal.filtfilt`). On flicker that is independent from frame to
frame it is the best linear smoother for its fidelity: less flicker than a moving average for
the same distance from the per-frame video (docs/temporal.md, figures in docs/BENCHMARKS.md).
It needs later frames, so it suits `video`, not `live`.

With `device` (CUDA: the network's GPU, where `device_blend` already ran the forward pass) the
backward pass runs there too, on a stream of its own, so it does not cap the frame rate at what
one CPU thread warps (about 20 fps at 720p).

The backward pass cannot wait for the end of a long clip: frames are held in a window, and the
backward pass over it starts `lookahead` frames past those it finalises, so what is cut off
weighs at most strength^lookahead (under 1/512 up to strength 0.9; within the default 768 MiB
for frames up to 1440p at 0.5 and 720p at 0.9: `lookahead_at` says what a size gets). The budget
counts each held frame, its final 8-bit copy and its reverse motion. A scene cut ends the window
early: nothing reaches back across it, so the frames before it are final at once. Both passes keep their state
in float32 (`Stabilizer(precise=True)`), and the held forward output is kept in float32 or float16
(RGBA, 16 or 8 bytes a pixel) where the window fits so: rounding it to 8 bits adds noise of a third of a grey
level to every frame between the passes, as much as the flicker of a steady scene (bigger frames
are held in 8 bits, so that the window still looks far enough ahead).
"""

from __future__ import annotations

import math
from contextlib import nullcontext

import numpy as np
import torch

from realtime_adain.checks import check_whole
from realtime_adain.temporal.checks import check_frame, check_frames
from realtime_adain.temporal.device_blend import DeviceBlend
from realtime_adain.temporal.flow import Motion, check_motion
from realtime_adain.temporal.sampling import working_size
from realtime_adain.temporal.stabilizer import Stabilizer
from realtime_adain.temporal.warping import to_float_rgba, to_rgb8

# What the window's held frames may take (the forward outputs); at most `MAX_LOOKAHEAD` frames
# look ahead (enough for the 1/512 cut-off up to strength 0.9).
WINDOW_BYTES = 768 * 2 ** 20
MAX_LOOKAHEAD = 64
MIN_FINAL = 16  # frames finalised per backward pass at least, where memory allows
# A held frame: the forward pass's float32 RGBA state itself where the whole window fits so (up to
# about 720p), else float16 RGBA (converted, about 2 ms a 720p frame each way), else uint8 RGB (a
# frame of 4K and up; always with `device`, which gets the forward pass's 8-bit download).
HELD_BYTES_PER_PIXEL_FLOAT32 = 16
HELD_BYTES_PER_PIXEL = 8
HELD_BYTES_PER_PIXEL_8BIT = 3
# Also held per frame: its final 8-bit copy (a backward pass hands its frames out together) and
# its reverse motion at the flow's working size (float32 sample positions and blend weight).
FINAL_BYTES_PER_PIXEL = 3
MOTION_BYTES_PER_FLOW_PIXEL = 12


def full_window(lookahead: int) -> int:
    """Frames held before a backward pass: `lookahead` past at least `MIN_FINAL` that it finalises."""
    return lookahead + max(lookahead, MIN_FINAL)


def forward_pass(stabilizer: Stabilizer | TwoPassStabilizer) -> Stabilizer:
    """The stabiliser that runs forward, frame by frame (the one motion is estimated for and the
    GPU's `DeviceBlend` applies): `stabilizer` itself, or a two-pass one's first pass."""
    return stabilizer.forward if isinstance(stabilizer, TwoPassStabilizer) else stabilizer


def check_reverse(motion: Motion | None) -> Motion | None:
    """`motion` if it is None or a `Motion` with its reverse (a backward pass needs it), else a
    TypeError/ValueError."""
    if check_motion(motion) is not None and motion.reverse is None:
        raise ValueError("the motion has no reverse: compute it with reverse=True (MotionAhead(..., reverse=True))")
    return motion


def lookahead_frames(strength: float) -> int:
    """Frames past the last final one that a backward pass starts from: what is cut off weighs
    at most strength ** lookahead <= 1/512 (capped at `MAX_LOOKAHEAD`)."""
    if strength <= 0:
        return 0
    if strength >= 1:
        return MAX_LOOKAHEAD
    return min(MAX_LOOKAHEAD, math.ceil(math.log(512) / -math.log(strength)))


# The `Stabilizer`'s options a `TwoPassStabilizer` passes on to both its passes.
STABILIZER_OPTIONS = ("cut_fraction", "photometric", "soft_edge")


class TwoPassStabilizer:
    """`Stabilizer` forward, then backward over a window: frames come out later than they go in.

    `push(content, stylized)` returns the frames that became final (display order, possibly
    none); `flush()` the rest at the end of a clip. `push_motion` takes a `Motion` computed ahead
    with `reverse=True` (`MotionAhead(stabilizer.forward, reverse=True)`), and `push_forwarded`
    a frame whose forward pass already ran elsewhere (on the GPU, `device_blend`).
    """

    def __init__(self, strength: float = 0.5, preset: str = "fast", flow_width: int | None = 320,
                 window_bytes: int = WINDOW_BYTES, device: torch.device | str | None = None, **options) -> None:
        """`options`: the `Stabilizer`'s `STABILIZER_OPTIONS` (others are a TypeError naming this
        class: both passes are mode flow, precise). `device`: run the backward pass there with
        torch (`DeviceBlend`) instead of with OpenCV on the CPU; checked as `Stylizer.load` checks
        it, before anything runs there (torch said 'bogus' or a missing GPU as a RuntimeError)."""
        if unknown := sorted(set(options) - set(STABILIZER_OPTIONS)):
            raise TypeError(f"TwoPassStabilizer got an unexpected keyword argument {unknown[0]!r}: it takes strength, "
                            f"preset, flow_width, window_bytes, device and {', '.join(STABILIZER_OPTIONS)}")
        if device is not None:
            from realtime_adain.devices import device_argument

            device = device_argument(device)
        self.forward = Stabilizer(strength, "flow", preset, flow_width, precise=True, **options)
        self.backward = Stabilizer(strength, "flow", preset, flow_width, precise=True, **options)
        self.lookahead = lookahead_frames(self.forward.strength)
        self.window_bytes = check_whole(window_bytes, "window_bytes", 1)
        self._cap = full_window(self.lookahead)  # frames held at most (`hold_at_most`)
        self.device = device
        self._stream = torch.cuda.Stream(self.device) if self.device is not None and self.device.type == "cuda" else None
        self.reset()

    @property
    def active(self) -> bool:
        return self.forward.active

    @property
    def strength(self) -> float:
        return self.forward.strength

    @strength.setter
    def strength(self, value: float) -> None:  # (a bare "property ... has no setter" said neither why nor what to do)
        raise AttributeError("strength is set when the TwoPassStabilizer is made (the window it holds is sized for it): "
                             "flush() and make a new TwoPassStabilizer(strength=...)")

    @property
    def most_held(self) -> int:
        """The most frames held at once, whatever their size (for a pipeline's frame budget)."""
        return self._cap

    def hold_at_most(self, frames: int) -> None:
        """Never hold more than `frames` frames, whatever their size: a pipeline sizes its frame
        budget for the first frame's window (`window_frames`), and smaller frames later on must
        not outgrow it."""
        frames = check_whole(frames, "frames", 0)
        self._cap = max(2, min(frames, full_window(self.lookahead)))

    def window_frames(self, size: tuple[int, int]) -> int:
        """Frames held before a backward pass, for frames of `size` (height, width)."""
        return self._layout(size)[2]

    def lookahead_at(self, size: tuple[int, int]) -> int:
        """Frames a backward pass looks ahead for frames of `size`: `lookahead` unless the window
        cannot hold it (huge frames); what it cuts off then weighs strength ** this."""
        return self._layout(size)[1]

    def reset(self) -> None:
        """Forget everything held (a new clip): call `flush` first to keep the frames."""
        self.forward.reset()
        self._prev_luma: np.ndarray | None = None
        self._held: list[np.ndarray] = []  # forward outputs (float32 or float16 RGBA, or uint8 RGB), not yet final
        self._reverse: list[Motion | None] = []  # _reverse[i]: held frame i's motion into frame i + 1

    def push(self, content: np.ndarray, stylized: np.ndarray) -> list[np.ndarray]:
        """Frames that became final, oldest first, after this (content, stylized) pair ((H, W, 3)
        uint8 each, in display order)."""
        check_frames(content, stylized)
        if not self.active:  # (a new array, as the forward pass gives: the caller may reuse its own)
            return self.flush() + [stylized.copy()]
        luma = self.forward.luma(content)
        motion = self.forward.motion(self._prev_luma, luma, stylized.shape[:2], reverse=True)
        self._prev_luma = luma
        return self.push_motion(motion, stylized)

    def push_motion(self, motion: Motion | None, stylized: np.ndarray) -> list[np.ndarray]:
        """As `push`, with the frame's motion from the previous one (`reverse` included) given."""
        check_frame(stylized, "stylized")
        if not self.active:
            return self.flush() + [stylized.copy()]
        check_reverse(motion)  # before the forward pass changes its state
        return self._hold(motion, self.forward.apply_float(motion, to_float_rgba(stylized)))

    def push_forwarded(self, motion: Motion | None, forwarded: np.ndarray) -> list[np.ndarray]:
        """As `push_motion`, for a frame (uint8 RGB) that has had its forward pass."""
        check_frame(forwarded, "forwarded")
        if not self.active:  # (switched off with frames held: those first, in display order)
            return self.flush() + [forwarded.copy()]
        return self._hold(check_reverse(motion), forwarded)

    def _hold(self, motion: Motion | None, forwarded: np.ndarray) -> list[np.ndarray]:
        """Hold a forward output (float32 RGBA state or uint8 RGB); the frames that became final."""
        reverse = motion.reverse if motion is not None else None
        final = []
        if self._held:
            if reverse is None or reverse.cut or motion.cut or self._held[-1].shape[:2] != forwarded.shape[:2]:
                final = self.flush()  # nothing reaches back across a cut or a new picture size
            else:
                self._reverse.append(reverse)
        per_pixel, lookahead, window = self._layout(forwarded.shape[:2])
        self._held.append(self._held_form(forwarded, per_pixel))
        if len(self._held) >= window:
            final += self._backward(len(self._held) - lookahead)
        return final

    def flush(self) -> list[np.ndarray]:
        """Every held frame, final (the end of a clip)."""
        return self._backward(len(self._held))

    @staticmethod
    def _held_form(forwarded: np.ndarray, per_pixel: int) -> np.ndarray:
        """What the window keeps of a forward output: the float32 RGBA state itself (the forward
        pass never writes to a state it has handed out), float16 RGBA (converted by torch: numpy's
        float16 is slow) or uint8 RGB, by `per_pixel` bytes."""
        if per_pixel == HELD_BYTES_PER_PIXEL_8BIT:
            return forwarded if forwarded.dtype == np.uint8 else to_rgb8(forwarded)
        state = to_float_rgba(forwarded) if forwarded.dtype == np.uint8 else forwarded
        return state if per_pixel == HELD_BYTES_PER_PIXEL_FLOAT32 else torch.from_numpy(state).to(torch.float16).numpy()

    def _layout(self, size: tuple[int, int]) -> tuple[int, int, int]:
        """(bytes a held pixel takes, lookahead, frames held before a backward pass) for frames
        of `size` (height, width): float32, else float16 where the whole window fits in
        `window_bytes` (with each frame's final copy and motion), else 8 bits; a window that
        still does not fit looks fewer frames ahead."""
        pixels = max(1, size[0] * size[1])
        full = full_window(self.lookahead)
        forms = ((HELD_BYTES_PER_PIXEL_8BIT,) if self.device is not None
                 else (HELD_BYTES_PER_PIXEL_FLOAT32, HELD_BYTES_PER_PIXEL, HELD_BYTES_PER_PIXEL_8BIT))
        besides = pixels * FINAL_BYTES_PER_PIXEL + self._motion_bytes(size)
        for per_pixel in forms:
            most = min(self._cap, max(2, self.window_bytes // (pixels * per_pixel + besides)))
            if most >= min(full, self._cap) or per_pixel == forms[-1]:
                lookahead = min(self.lookahead, most // 2)
                return per_pixel, lookahead, min(most, full_window(lookahead))
        raise AssertionError("unreachable")

    def _motion_bytes(self, size: tuple[int, int]) -> int:
        """What a held frame's reverse motion takes, at the flow's working size (`working_size`)."""
        height, width = working_size(size, self.forward.flow.width)
        return height * width * MOTION_BYTES_PER_FLOW_PIXEL

    def _backward(self, count: int) -> list[np.ndarray]:
        """The backward pass from the newest held frame; the oldest `count` frames become final."""
        self.backward.reset()
        out: list[np.ndarray] = [np.empty(0)] * len(self._held)
        on_device = DeviceBlend(self.backward) if self.device is not None else None
        for index in reversed(range(len(self._held))):
            motion = self._reverse[index] if index < len(self._reverse) else None
            final = index < count  # the later frames only carry the state back: no output to make
            if on_device is None:
                held = self._held[index]
                state = self.backward.apply_float(motion, to_float_rgba(held) if held.dtype == np.uint8
                                                  else held if held.dtype == np.float32 else torch.from_numpy(held).float().numpy())
                if final:
                    out[index] = to_rgb8(state)
            elif final:
                out[index] = self._blend_on_device(on_device, motion, self._held[index])
            else:
                self._blend_on_device(on_device, motion, self._held[index], download=False)
        del self._held[:count], self._reverse[:count]
        return out[:count]

    def _blend_on_device(self, blend: DeviceBlend, motion: Motion | None, frame: np.ndarray,
                         download: bool = True) -> np.ndarray | None:
        """One backward step of an uint8 RGB frame on `device`; the result in uint8 RGB."""
        with torch.cuda.stream(self._stream) if self._stream is not None else nullcontext():
            image = torch.from_numpy(frame).to(self.device, non_blocking=False).permute(2, 0, 1).float().div_(255.0)
            blend.blend(motion, image, frame.shape[:2])
            if not download:
                return None
            return image.mul_(255.0).add_(0.5).clamp_(0, 255).to(torch.uint8).permute(1, 2, 0).cpu().numpy()
