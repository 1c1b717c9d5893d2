"""The temporal stage of a live session: `temporal/`'s remedies, following the controller.

Flow blending (`Stabilizer`) runs after any engine. Smoothed content statistics
(`ContentStatsSmoother`) need the network's `content_stats` hook, which only the eager engine
calls (the others run a traced or built graph without it): elsewhere mode `stats` passes frames
through and `both` is flow only. A change of style (also a style file edited on disk and
rescanned: `ActiveStyle.look`), alpha, mix, colour or mode starts afresh, so a switch shows at
once instead of fading in over the previous look. The flow between camera
frames is estimated on a worker thread while the network stylizes (`temporal.MotionAhead`); on
CUDA the warp and blend then run on the GPU before the frame is downloaded (`DeviceBlend`), so the
stabiliser adds no full-size CPU work to the inference thread.
"""

from __future__ import annotations

import numpy as np
import torch

from realtime_adain.adain import StyleStats
from realtime_adain.settings import STABILIZE_STRENGTH, STATS_MODES
from realtime_adain.stylizer import Stylizer
from realtime_adain.temporal import ContentStatsSmoother, MotionAhead, Stabilizer
from realtime_adain.temporal.device_blend import DeviceBlend, wanted as wants_device_blend

DEFAULT_STRENGTH = STABILIZE_STRENGTH[1]  # docs/BENCHMARKS.md: E_warp 23 % (cutBunny) and 11 % (pan) of per-frame


class Stability:
    """Stylizes one frame with the state's look and steadies it against the previous ones."""

    def __init__(self, stylizer: Stylizer, strength: float = DEFAULT_STRENGTH, on_device: bool | None = None) -> None:
        """`on_device`: warp and blend on the stylizer's device (default: on CUDA, `device_blend.wanted`)."""
        self.stylizer = stylizer
        self.blend = Stabilizer(strength=strength, mode="off")
        on_device = wants_device_blend(stylizer.device) if on_device is None else on_device
        self.device_blend = DeviceBlend(self.blend) if on_device else None
        self._ahead: MotionAhead | None = None  # started with the first frame that needs it
        self.smoother = ContentStatsSmoother() if stylizer.engine_name == "eager" else None
        self.resets = 0  # switches that started afresh (not counting the first frame)
        self._look: tuple | None = None

    @property
    def smooths_stats(self) -> bool:
        """Whether modes stats/both smooth the content statistics here (the eager engine)."""
        return self.smoother is not None

    def caveat(self, mode: str) -> str:
        """What the HUD and the log add to `mode` where it cannot run whole here ("" where it can)."""
        return "stats: eager engine only" if mode in STATS_MODES and not self.smooths_stats else ""

    def follow(self, state, look: tuple | None = None) -> None:
        """Start afresh when the look (which holds the mode) of `state` (a `LiveState`) changed:
        `look` as `ActiveStyle.look` gives it, `state.look` where the styles' files never change."""
        look = state.look if look is None else look
        if look == self._look:
            return
        if self._look is not None:
            self.resets += 1
        self._look = look
        self.blend.reset()
        if self.device_blend is not None:
            self.device_blend.reset()
        if self._ahead is not None:
            self._ahead.restart()
        self.blend.mode = state.stabilize
        if self.smoother is not None:
            self.smoother.reset()

    def stylize(self, state, content: np.ndarray, style: StyleStats, look: tuple | None = None) -> np.ndarray:
        """`content` (H, W, 3) uint8 RGB stylized as `state` says, then steadied (`look`: see `follow`)."""
        self.follow(state, look)
        motion = None
        if self.blend.active:
            self._ahead = self._ahead or MotionAhead(self.blend, workers=1)
            motion = self._ahead.submit(content)
        on_device = self.device_blend if motion is not None else None
        if on_device is not None:
            on_device.expect([motion], content.shape[:2])
        try:
            stylized = self._stylize(state, content, style, on_device)
        except BaseException:
            if on_device is not None:
                on_device.reset()  # no announced motion may be left for the next frame
            raise
        return self.blend.apply(motion.result(), stylized) if motion is not None and on_device is None else stylized

    def _stylize(self, state, content: np.ndarray, style: StyleStats, on_device: DeviceBlend | None) -> np.ndarray:
        """The network's frame, blended on the device by `on_device` (when given) before its download."""
        stylizer = self.stylizer
        if state.stabilize in STATS_MODES and self.smoother is not None:
            style = style.to(stylizer.device, stylizer.dtype)
            alpha = torch.tensor(state.alpha, device=stylizer.device, dtype=stylizer.dtype)
            with torch.inference_mode():
                out = stylizer.net(stylizer.to_tensor(content), style.mean, style.std, alpha, content_stats=self.smoother)
                out = on_device(out) if on_device is not None else out
            return stylizer.to_uint8(out)[0]
        engine = stylizer.engine
        before = engine.after_step
        if on_device is not None:
            engine.after_step = on_device  # only for this call: `serve` shares the engine between clients
        try:
            return stylizer.stylize(content, style, state.alpha)
        finally:
            engine.after_step = before

    def close(self) -> None:
        """Stop the motion worker (if one was started)."""
        if self._ahead is not None:
            self._ahead.close()
