"""`bench temporal`'s output: each clip's table, the cost's lines and `--figure`'s PNG."""

from __future__ import annotations

import argparse
import math

import cv2
import numpy as np

from realtime_adain.benchmarks.temporal_clips import Clip
from realtime_adain.benchmarks.temporal_quality import input_flows, stabilize, stylize_clip
from realtime_adain.errors import one_line
from realtime_adain.stylizer import Stylizer
from realtime_adain.temporal import Stabilizer
from realtime_adain.temporal.two_pass import TwoPassStabilizer
from realtime_adain.temporal.warping import warp
from realtime_adain.video.decoding import plural


def difference_figure(clip: Clip, flows: list[tuple[np.ndarray, np.ndarray]], outputs: list[Clip]) -> np.ndarray:
    """One RGB still, side by side: the input frame, then |O_t - W(O_t+1)| (channels summed, x4,
    masked as E_warp masks it) of each of `outputs` (per-frame, then stabilized ones), mid-clip."""
    t = len(flows) // 2
    flow, mask = flows[t]
    panels = [clip[t]]
    for frames in outputs:
        diff = np.abs(warp(frames[t + 1].astype(np.float32), flow) - frames[t]).sum(axis=2) * mask
        panels.append(cv2.cvtColor(np.clip(4 * diff, 0, 255).astype(np.uint8), cv2.COLOR_GRAY2RGB))
    return np.hstack(panels)


# JSON's PSNR of an output identical to the per-frame one: strict JSON has no Infinity, and null
# is an undefined ratio's.
IDENTICAL_PSNR = "inf"


def print_table(result: dict) -> None:
    """The clip's rows, as its JSON says them: an undefined ratio (None) "-", an identical
    output's PSNR "inf" (they printed nan and inf, the JSON null for both); the clip's name escaped
    (`one_line`: a video named with a newline split the table's first line)."""
    print(f"\n{one_line(result['clip'])} {result['resolution']}, {result['frames']} frames; input E_warp {result['input_e_warp']:.5f}")
    print(f"{'variant':<24} {'E_warp':>9} {'ratio':>7} {'PSNR dB':>8}")
    for row in result["rows"]:
        ratio = "-" if row["ratio"] is None else f"{row['ratio']:.2f}"
        shown_psnr = IDENTICAL_PSNR if math.isinf(row["psnr"]) else f"{row['psnr']:.2f}"
        print(f"{row['variant']:<24} {row['e_warp']:9.5f} {ratio:>7} {shown_psnr:>8}")
    for average, better in result["beats_moving_average"].items():
        print(f"better than {average} (lower E_warp and higher PSNR): {', '.join(better) or 'none'}")


def json_clip(result: dict) -> dict:
    """A clip's result for the JSON: an identical output's PSNR (infinite) as IDENTICAL_PSNR."""
    return {**result, "rows": [{**row, "psnr": IDENTICAL_PSNR if math.isinf(row["psnr"]) else row["psnr"]}
                               for row in result["rows"]]}


def print_cost(costs: dict) -> None:
    print("\nstabiliser cost, one pass with the 8-bit state (live's), median ms per frame: per core (1 thread, CPU time) "
          + ", ".join(f"{name} {ms:.2f}" for name, ms in costs["per_core"].items())
          + f"; {plural(costs['threads'], 'thread')} (wall) " + ", ".join(f"{name} {ms:.2f}" for name, ms in costs["default_threads"].items()))
    print("split per core (CPU time): motion (runs ahead, beside the network) " + ", ".join(
        f"{name} {ms:.2f}" for name, ms in costs["motion_per_core"].items()) + "; apply (sequential) " + ", ".join(
        f"{name} {ms:.2f}" for name, ms in costs["apply_per_core"].items()))
    print(f"pipelined as video runs it (motion on {plural(costs['motion_workers'], 'worker')}, wall): "
          + ", ".join(f"{name} {ms:.2f}" for name, ms in costs["pipelined"].items()))
    print("720p, one core, by call (ms per frame): " + ", ".join(f"{name} {ms:.2f}" for name, ms in costs["720p_by_call"].items()))
    print("apply with the state in float32 (video), per core: " + ", ".join(
        f"{name} {ms:.2f}" for name, ms in costs["precise_apply_per_core"].items())
        + f"; two passes (strength {costs['two_pass_strength']}), whole stabiliser per core, mean: "
        + ", ".join(f"{name} {ms:.2f}" for name, ms in costs["two_pass_per_core"].items()))


def figure_png(clip: Clip, stylizer: Stylizer, style, args: argparse.Namespace) -> bytes:
    """`--figure`'s PNG: `difference_figure` of the per-frame, one-pass and two-pass outputs."""
    per_frame = stylize_clip(stylizer, clip, style)
    one_pass = stabilize(clip, per_frame, Stabilizer(preset=args.preset, flow_width=args.flow_width, precise=True))
    two_passes = stabilize(clip, per_frame, TwoPassStabilizer(preset=args.preset, flow_width=args.flow_width))
    figure = cv2.cvtColor(difference_figure(clip, input_flows(clip), [per_frame, one_pass, two_passes]), cv2.COLOR_RGB2BGR)
    return cv2.imencode(".png", figure, [cv2.IMWRITE_PNG_COMPRESSION, 9])[1].tobytes()
