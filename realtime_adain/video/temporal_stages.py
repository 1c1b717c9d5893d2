"""The temporal stages of one clip (`video --stabilize`): the flow stabiliser (one pass or two)
and the statistics smoother `settings` ask for, made fresh for each clip and hooked into the
stylizer's engine, the blend on the network's device where it runs there."""

from __future__ import annotations

from pathlib import Path

import torch

from realtime_adain.errors import UserError
from realtime_adain.notes import note
from realtime_adain.settings import STATS_MODES, STATS_NEED_EAGER, VideoSettings
from realtime_adain.stylizer import Stylizer
from realtime_adain.temporal import ContentStatsSmoother, Stabilizer
from realtime_adain.temporal.device_blend import DeviceBlend, wanted as wants_device_blend
from realtime_adain.temporal.two_pass import TwoPassStabilizer, forward_pass


def temporal_stages(settings: VideoSettings, device: torch.device | None = None
                    ) -> tuple[Stabilizer | TwoPassStabilizer | None, ContentStatsSmoother | None]:
    """The flow stabiliser (runs after the network) and the statistics smoother (inside it) that
    `settings.stabilize` asks for; each None when off. Offline, the stabiliser keeps its state in
    float32 (`precise`): it costs little beside the network and avoids 8-bit rounding stalls.
    `device`: where the blends run when not on the CPU (two passes: the backward one too)."""
    stabilizer: Stabilizer | TwoPassStabilizer | None = None
    if settings.has_flow:
        stabilizer = (TwoPassStabilizer(settings.strength, device=device) if settings.passes == 2
                      else Stabilizer(settings.strength, "flow", precise=True))
    smoother = ContentStatsSmoother() if settings.stabilize in STATS_MODES else None
    return stabilizer, smoother


def size_window(stabilizer: TwoPassStabilizer, source: Path, size: tuple[int, int], frames: int = 0) -> None:
    """Hold the two-pass window to what frames of `size` (height, width) need, so the pipeline's
    frame budget grows by that much only; say when such frames cannot look far enough ahead, unless
    the clip's `frames` (0: not known) fit in one window (a 2-frame clip was told of a cut-off it
    never has), and --size as a remedy only where the frames' size is what shortens the look ahead."""
    window = stabilizer.window_frames(size)
    stabilizer.hold_at_most(window)
    ahead = stabilizer.lookahead_at(size)
    if not (stabilizer.strength > 0 and stabilizer.strength ** ahead > 1 / 512) or 0 < frames <= window:
        return  # (at 0 nothing is blended)
    smaller = ", a smaller --size" if ahead < stabilizer.lookahead else ""
    note(f"{source.name}: two passes at {size[1]}x{size[0]} and strength {stabilizer.strength:g} look {ahead} "
         f"frames ahead, so what the backward pass cuts off every {window - ahead} frames weighs up to "
         f"{stabilizer.strength ** ahead:.1%} (a lower --stabilize-strength{smaller} or --stabilize-passes 1 avoids it)")


def hook_temporal_stages(settings: VideoSettings, stylizer: Stylizer, source: Path, size: tuple[int, int],
                         frames: int) -> tuple[Stabilizer | TwoPassStabilizer | None, ContentStatsSmoother | None,
                                            DeviceBlend | None]:
    """This clip's fresh stabiliser and statistics smoother, hooked into the stylizer's engine
    (`content_stats`, and `after_step` where the blend runs on the network's device); the caller
    unhooks them when the clip ends, however it ends."""
    on_device = blends_on_device(stylizer)
    stabilizer, smoother = temporal_stages(settings, stylizer.device if on_device else None)
    if smoother is not None and stylizer.engine.name != "eager":
        raise UserError(f"--stabilize {settings.stabilize} {STATS_NEED_EAGER} (this stylizer runs "
                        f"{stylizer.engine.name})")
    stylizer.engine.content_stats = smoother
    if isinstance(stabilizer, TwoPassStabilizer):
        size_window(stabilizer, source, size, frames)
    device_blend = DeviceBlend(forward_pass(stabilizer)) if stabilizer is not None and on_device else None
    stylizer.engine.after_step = device_blend
    return stabilizer, smoother, device_blend


def blends_on_device(stylizer: Stylizer) -> bool:
    """Whether the stabiliser warps and blends on the stylizer's device (`device_blend.wanted`)."""
    return wants_device_blend(stylizer.device)
