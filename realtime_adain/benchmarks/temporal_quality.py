"""`bench temporal`'s quality measures: E_warp along the input's flows, PSNR against the per-frame
output, the variants (moving averages, `stats`, `flow`, `both`, two passes) and each clip's table."""

from __future__ import annotations

import argparse
from typing import Callable, Iterable

import numpy as np
import torch

from realtime_adain.benchmarks.temporal_clips import Clip
from realtime_adain.stylizer import Stylizer
from realtime_adain.temporal import ContentStatsSmoother, Stabilizer
from realtime_adain.temporal.flow import FlowEstimator
from realtime_adain.temporal.occlusion import occluded
from realtime_adain.temporal.sampling import gray
from realtime_adain.temporal.two_pass import TwoPassStabilizer
from realtime_adain.temporal.warping import warp


def input_flows(clip: Clip) -> list[tuple[np.ndarray, np.ndarray]]:
    """(flow t -> t+1, non-occluded mask on t's grid) for each consecutive pair of input frames."""
    flow = FlowEstimator("medium", width=None)
    lumas = [gray(frame) for frame in clip]
    pairs = []
    for a, b in zip(lumas, lumas[1:]):
        fore, back = flow(a, b), flow(b, a)
        pairs.append((fore, ~occluded(fore, back)))
    return pairs


def warp_error(frames: Clip, flows: list[tuple[np.ndarray, np.ndarray]]) -> float:
    """Lai et al.'s E_warp of `frames` (uint8) along the input's flows."""
    errors = []
    for (flow, mask), current, following in zip(flows, frames, frames[1:]):
        diff = warp(following.astype(np.float32) / 255, flow) - current.astype(np.float32) / 255
        weight = mask.astype(np.float32)
        errors.append(float(((diff ** 2).sum(axis=2) * weight).sum() / max(weight.sum(), 1.0)))
    return float(np.mean(errors))


def psnr(frames: Clip, reference: Clip) -> float:
    mse = np.mean([np.mean((a.astype(np.float32) - b.astype(np.float32)) ** 2) for a, b in zip(frames, reference)])
    return float("inf") if mse == 0 else float(10 * np.log10(255.0 ** 2 / mse))


def stylize_clip(stylizer: Stylizer, clip: Clip, style, smoother: ContentStatsSmoother | None = None) -> Clip:
    """Frame by frame in display order; with `smoother`, AdaIN normalises by smoothed statistics."""
    alpha = torch.ones(1, dtype=stylizer.dtype, device=stylizer.device)
    mean, std = style.to(stylizer.device, stylizer.dtype).mean, style.to(stylizer.device, stylizer.dtype).std
    with torch.inference_mode():
        return [stylizer.to_uint8(stylizer.net(stylizer.to_tensor(frame), mean, std, alpha, content_stats=smoother))[0]
                for frame in clip]


def moving_average(frames: Clip, weight: float) -> Clip:
    out, previous = [], None
    for frame in frames:
        current = frame.astype(np.float32)
        previous = current if previous is None else weight * previous + (1 - weight) * current
        out.append(np.clip(np.rint(previous), 0, 255).astype(np.uint8))
    return out


def stabilize(clip: Clip, stylized: Clip, stabilizer: Stabilizer | TwoPassStabilizer) -> Clip:
    stabilizer.reset()
    if isinstance(stabilizer, TwoPassStabilizer):
        out = [final for content, frame in zip(clip, stylized) for final in stabilizer.push(content, frame)]
        return out + stabilizer.flush()
    return [stabilizer(content, frame) for content, frame in zip(clip, stylized)]


def variants(clip: Clip, per_frame: Clip, stats: Clip, levels: Iterable[float], preset: str,
             flow_width: int) -> dict[str, Callable[[], Clip]]:
    table: dict[str, Callable[[], Clip]] = {"per-frame": lambda: per_frame}
    for w in (0.3, 0.6):
        table[f"moving average w={w}"] = lambda w=w: moving_average(per_frame, w)
    table["stats"] = lambda: stats
    table["flow 0.7 8-bit (live)"] = lambda: stabilize(clip, per_frame, Stabilizer(0.7, "flow", preset, flow_width))
    for mode, source in (("flow", per_frame), ("both", stats)):
        for s in levels:
            table[f"{mode} {s}"] = lambda s=s, mode=mode, source=source: stabilize(
                clip, source, Stabilizer(s, mode, preset, flow_width, precise=True))
    for s in levels:
        table[f"flow 2-pass {s}"] = lambda s=s: stabilize(clip, per_frame, TwoPassStabilizer(s, preset, flow_width))
    return table


def measure_clip(name: str, clip: Clip, stylizer: Stylizer, style, args: argparse.Namespace) -> dict:
    flows = input_flows(clip)
    per_frame = stylize_clip(stylizer, clip, style)
    stats = stylize_clip(stylizer, clip, style, ContentStatsSmoother(args.momentum))
    input_error = warp_error(clip, flows)
    rows: list[dict] = []
    for label, make in variants(clip, per_frame, stats, args.strengths, args.preset, args.flow_width).items():
        frames = make()
        error = warp_error(frames, flows)
        rows.append({"variant": label, "e_warp": error, "ratio": e_warp_ratio(error, rows[0]["e_warp"] if rows else None),
                     "psnr": psnr(frames, per_frame)})
    shape = f"{clip[0].shape[1]}x{clip[0].shape[0]}"
    return {"clip": name, "resolution": shape, "frames": len(clip), "input_e_warp": input_error, "rows": rows,
            "beats_moving_average": dominating(rows)}


def e_warp_ratio(error: float, per_frame: float | None) -> float | None:
    """A variant's E_warp over the per-frame one's (`None`: this is the per-frame row, 1 by
    definition); None, undefined, where the per-frame output does not move (E_warp 0: a flat clip
    or style), which was NaN, beside a per-frame row's NaN too."""
    if per_frame is None:
        return 1.0
    return error / per_frame if per_frame > 0 else None


def dominating(rows: list[dict]) -> dict[str, list[str]]:
    """For each moving average, the flow/both variants with both lower E_warp and higher PSNR."""
    ours = [row for row in rows if row["variant"].split()[0] in ("flow", "both")]
    return {row["variant"]: [mine["variant"] for mine in ours if mine["e_warp"] < row["e_warp"] and mine["psnr"] > row["psnr"]]
            for row in rows if row["variant"].startswith("moving average")}
