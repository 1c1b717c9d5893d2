from __future__ import annotations

# This module's docstring and `bench temporal --help`'s text: a constant, which `python -OO` keeps.
DESCRIPTION = """Temporal stability: warping error, fidelity and cost of the stabiliser's modes, side by side.

Clips: cutBunny (it has scene cuts), a slow pan and zoom over a photo, and a still photo with
sensor noise. Each is stylized per frame, then the variants run on the same frames: the output
moving average out = w * prev + (1 - w) * cur (w 0.3, 0.6), `stats` (smoothed content
statistics inside the network), `flow`, `both` and `flow 2-pass` (forward, then backward) at
several strengths, with the state in float32 as `video` runs them, and `flow` at the default
strength with an 8-bit state, as `live` runs it.

E_warp as Lai et al. (ECCV 2018): flow between consecutive *input* frames (here DIS medium at
full size, for FlowNet2), their non-occluded mask M, E_warp = mean_t sum(M (W(O_t+1) - O_t)^2) /
sum(M) with O in [0, 1] and the channels summed; the input clip's own E_warp is printed as a
reference value (no floor: a low-contrast output can be below it).
Fidelity is the PSNR of each variant against the per-frame video; for each moving average the
variants better on both are listed. Cost is the default stabiliser's median ms per frame at 360p,
720p and 1080p per CPU core (OpenCV and torch on one thread, CPU time) and with the default
threads (wall time), plus cProfile's split by call at 720p. Weights: the installed ones if
found, else generated stand-ins (their stylization means little; say which).
"""
__doc__ = DESCRIPTION

import argparse
import contextlib
import cProfile
import os
import pstats
import re
import statistics
import tempfile
import time
from pathlib import Path
from typing import Callable, Iterable, Iterator

import cv2
import numpy as np
import torch

from realtime_adain.available_memory import free_memory
from realtime_adain.benchmarks.setup import (benchmark_weights, check_input_files, check_results_file, report_json,
                                             stamp, test_material)
from realtime_adain.commands.argtypes import file_name, flow_width, int_between, nonempty_path, results_file, unit_interval
from realtime_adain.errors import UserError, one_line, out_of_memory_as_user_error, quoted
from realtime_adain.imageio import read_image, read_style
from realtime_adain.file_identity import real_path
from realtime_adain.writable_folders import check_output_file
from realtime_adain.picture_sizes import (MAX_SIDE, check_pixel_budget, over_budget, resize, short_side_size,
                                          style_budget)
from realtime_adain.settings import ModelSettings
from realtime_adain.stylizer import Stylizer
from realtime_adain.temporal import ContentStatsSmoother, MotionAhead, Stabilizer
from realtime_adain.temporal.flow import DIS_PRESETS, FlowEstimator
from realtime_adain.temporal.occlusion import occluded
from realtime_adain.temporal.sampling import FLOW_MIN_SIDE, gray
from realtime_adain.temporal.two_pass import TwoPassStabilizer
from realtime_adain.temporal.warping import warp
from realtime_adain.video.reader import Frame, VideoReader

STRENGTHS = (0.15, 0.18, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
COST_SIZES = {"360p": (640, 360), "720p": (1280, 720), "1080p": (1920, 1080)}
Clip = list[np.ndarray]


# Each strength adds three variants on each of the three clips: as the other counts, bounded (1000
# were taken and run).
MAX_STRENGTHS = 20


def strengths(text: str) -> list[float]:
    """Comma-separated strengths in [0, 1], each once (a repeat was merged without a word, where
    `bench video` and `bench train` refuse theirs), at most MAX_STRENGTHS. The list is quoted cut
    short: a long one was quoted whole, kilobytes on one line."""
    parts, shown = text.split(","), quoted(one_line(text))  # (a number may be typed with a newline around it)
    if len(parts) > MAX_STRENGTHS:
        raise argparse.ArgumentTypeError(f"{shown} names {len(parts)} strengths: at most {MAX_STRENGTHS}")
    values = []
    for part in parts:
        value = unit_interval(part)
        if value in values:
            raise argparse.ArgumentTypeError(f"{shown} names a strength twice ({value})")
        values.append(value)
    return values


def figure_file(text: str) -> Path:
    """`--figure PATH`: the figure is always a PNG, so another extension (x.txt) would misname it."""
    path = file_name(text)
    if path.suffix.lower() != ".png":  # (`.png` alone is a hidden file's name, without an extension)
        said = "is a name without an extension" if path.name.lower() == ".png" else "does not end in .png"
        raise argparse.ArgumentTypeError(f"'{text}' {said}: the figure is always a PNG (e.g. difference.png)")
    return path


# The clips are held whole, with their flows and several variants (`check_fits_in_memory`), so they are
# bounded; E_warp needs two frames, and frames whose flow is computed at their own size (below
# FLOW_MIN_SIDE it is stretched: a traceback at 16).
MAX_CLIP_FRAMES, MAX_CLIP_SIDE = 1000, 1080
# Bytes per pixel of a frame: each of the three clips (uint8 RGB), held to the end; and while one
# clip is measured, per frame its flow (2 float32) and mask, lumas, the per-frame, stats and one
# variant's output (uint8 RGB each) and a float32 RGB copy of a frame or two.
CLIP_BYTES, MEASURE_BYTES = 3, 8 + 1 + 1 + 3 * 3 + 12
clip_frames = int_between(2, MAX_CLIP_FRAMES, "clip_frames")
clip_side = int_between(FLOW_MIN_SIDE, MAX_CLIP_SIDE, "clip_side")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--video", type=nonempty_path, default=test_material() / "videos" / "cutBunny.mp4", metavar="FILE",
                        help="real clip (default: the test material's cutBunny.mp4)")
    parser.add_argument("--photo", type=nonempty_path, default=test_material() / "content" / "golden_gate.jpg", metavar="FILE",
                        help="photo for the generated pan/zoom and still clips (default: the test material's golden_gate.jpg)")
    parser.add_argument("--style", type=nonempty_path, default=test_material() / "style" / "brushstrokes.jpg", metavar="FILE",
                        help="style image (default: the test material's brushstrokes.jpg)")
    parser.add_argument("--frames", type=clip_frames, default=48, metavar="N",
                        help=f"frames per clip, 2 to {MAX_CLIP_FRAMES} (default 48)")
    parser.add_argument("--size", type=clip_side, default=256, metavar="PX",
                        help=f"shorter side, {FLOW_MIN_SIDE} to {MAX_CLIP_SIDE} (default 256)")
    parser.add_argument("--strengths", type=strengths, default=",".join(map(str, STRENGTHS)), metavar="LIST",
                        help=f"flow/both strengths, up to {MAX_STRENGTHS} from 0 to 1 "
                             f"(default {','.join(map(str, STRENGTHS))})")
    parser.add_argument("--preset", choices=tuple(DIS_PRESETS), default="fast", help="DIS preset (default fast)")
    parser.add_argument("--flow-width", type=flow_width, default=320, metavar="PX",
                        help=f"flow working width, 16 to {MAX_SIDE} (default 320)")
    parser.add_argument("--momentum", type=unit_interval, default=0.8, metavar="M",
                        help="stats mode EMA momentum, 0 to 1 (default 0.8)")
    parser.add_argument("--cost-frames", type=int_between(1, MAX_CLIP_FRAMES, "cost_frames"), default=12, metavar="N",
                        help=f"frames timed per cost resolution, 1 to {MAX_CLIP_FRAMES} (default 12)")
    parser.add_argument("--vgg", metavar="PATH", help="encoder weights (default: installed, else generated)")
    parser.add_argument("--decoder", metavar="PATH", help="decoder weights (default: installed, else generated)")
    parser.add_argument("--figure", type=figure_file, metavar="PATH",
                        help="also write a PNG (a name ending in .png) of |O_t - W(O_t+1)| on the pan clip: per-frame, "
                             "one pass and two passes at their defaults")
    parser.add_argument("--json", type=results_file, metavar="PATH", help="also write the results to this JSON file")


# --- clips ---------------------------------------------------------------------------------


def video_clip(path: Path, frames: int, size: int) -> Clip:
    """The first `frames` frames, the shorter side `size`; a picture whose size changes mid-stream
    is scaled to the first frame's, as `video` scales it (flow needs frames of one shape). At
    least two frames (E_warp compares consecutive ones: one gave a table of NaN)."""
    clip: Clip = []
    with VideoReader(path, max_frames=frames) as reader:
        for item in reader.items():
            if isinstance(item, Frame):
                target = (clip[0].shape[1], clip[0].shape[0]) if clip else short_side_size(*item.image.shape[:2], size)
                clip.append(resize(item.image, target))
    if len(clip) < 2:
        raise UserError(f"{path}: {len(clip)} frame(s) decoded; E_warp needs a clip of at least 2")
    return clip


def pan_scale(photo_shape: tuple[int, ...], width: int) -> tuple[float, tuple[int, int]]:
    """The scale of the copy of the photo `pan_clip` works from for frames `width` wide (~1.5x
    the output, no aliasing), and that copy's size (width, height) as OpenCV rounds it."""
    scale = 1.5 * width / photo_shape[1]
    return scale, (round(photo_shape[1] * scale), round(photo_shape[0] * scale))


# The most pixels of the photo's working copy (~200 MB RGB): a tall phone photo (1080x2340) copied
# 2880 wide for 1080p's cost is 18 Mpx, a strip (2000x1) 4320 wide billions.
PHOTO_COPY_PIXELS = MAX_SIDE * MAX_SIDE // 4


def check_photo(path: Path, photo: np.ndarray, widths: Iterable[int]) -> None:
    """Refuse, in one line, a photo whose working copy for frames of any of `widths` (the clips'
    and the cost's) is less than a pixel high, or over MAX_SIDE a side or PHOTO_COPY_PIXELS: the
    copy is scaled by width, so a 1x2000 strip was 6 GB and a segfault, a 2000x1 one OpenCV's
    assertion."""
    for width in (min(widths), max(widths)):
        copy_w, copy_h = pan_scale(photo.shape, width)[1]
        over = over_budget(*photo.shape[:2], min(copy_w, copy_h), PHOTO_COPY_PIXELS) if copy_h >= 1 else None
        if copy_h < 1:
            problem = "less than a pixel high"
        elif over is not None:
            problem = f"longer than {MAX_SIDE} pixels on a side" if over[2] == "side" else f"over {PHOTO_COPY_PIXELS} pixels"
        else:
            continue
        raise UserError(f"{path}: a {photo.shape[1]}x{photo.shape[0]} photo scaled {width} pixels wide for the pan clip "
                        f"is {problem} ({copy_w}x{copy_h}); give --photo a photo closer to 16:9")


def pan_clip(photo: np.ndarray, frames: int, width: int, height: int) -> Clip:
    """A slow pan (15 % of the photo's width) with a zoom from 1.0 to 1.2, 16:9 crops."""
    scale = pan_scale(photo.shape, width)[0]  # (`check_photo` bounds the copy)
    photo = cv2.resize(photo, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    ph, pw = photo.shape[:2]
    clip = []
    for t in np.linspace(0.0, 1.0, frames):
        zoom = 1.0 + 0.2 * t
        crop_w = min(pw, ph * width / height) / 1.2 / zoom * 1.15
        cx, cy = pw * (0.42 + 0.15 * t), ph / 2
        s = width / crop_w
        matrix = np.float32([[s, 0, width / 2 - s * cx], [0, s, height / 2 - s * cy]])
        clip.append(cv2.warpAffine(photo, matrix, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT))
    return clip


def still_clip(photo: np.ndarray, frames: int, width: int, height: int, sigma: float = 6.0) -> Clip:
    """The same still crop every frame plus Gaussian sensor noise (sigma in grey levels), seeded."""
    still = pan_clip(photo, 1, width, height)[0].astype(np.float32)
    rng = np.random.default_rng(0)
    return [np.clip(still + rng.normal(0, sigma, still.shape), 0, 255).astype(np.uint8) for _ in range(frames)]


# --- metrics -------------------------------------------------------------------------------


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


# --- variants ------------------------------------------------------------------------------


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
    rows = []
    base = None
    for label, make in variants(clip, per_frame, stats, args.strengths, args.preset, args.flow_width).items():
        frames = make()
        error = warp_error(frames, flows)
        base = base if base is not None else error
        ratio = error / base if base > 0 else float("nan")  # a flat style: the per-frame output does not change
        rows.append({"variant": label, "e_warp": error, "ratio": ratio, "psnr": psnr(frames, per_frame)})
    shape = f"{clip[0].shape[1]}x{clip[0].shape[0]}"
    return {"clip": name, "resolution": shape, "frames": len(clip), "input_e_warp": input_error, "rows": rows,
            "beats_moving_average": dominating(rows)}


def dominating(rows: list[dict]) -> dict[str, list[str]]:
    """For each moving average, the flow/both variants with both lower E_warp and higher PSNR."""
    ours = [row for row in rows if row["variant"].split()[0] in ("flow", "both")]
    return {row["variant"]: [mine["variant"] for mine in ours if mine["e_warp"] < row["e_warp"] and mine["psnr"] > row["psnr"]]
            for row in rows if row["variant"].startswith("moving average")}


@contextlib.contextmanager
def one_core() -> Iterator[None]:
    """OpenCV and torch on one thread, so CPU time is what one core spends."""
    threads = cv2.getNumThreads(), torch.get_num_threads()
    cv2.setNumThreads(1)
    torch.set_num_threads(1)
    try:
        yield
    finally:
        cv2.setNumThreads(threads[0])
        torch.set_num_threads(threads[1])


def frame_times(stabilizer: Stabilizer, clip: Clip, stylized: np.ndarray, clock: Callable[[], float]) -> list[float]:
    """ms per frame by `clock`, after a first frame that only primes the stabiliser."""
    stabilizer.reset()
    stabilizer(clip[0], stylized)
    times = []
    for frame in clip[1:]:
        start = clock()
        stabilizer(frame, stylized)
        times.append(1000 * (clock() - start))
    return times


def calls_profile(stabilizer: Stabilizer, clip: Clip, stylized: np.ndarray, top: int = 10) -> dict[str, float]:
    """Where the CPU time goes: cProfile's own time per call site, ms per frame, largest first."""
    profiler = cProfile.Profile(time.process_time)
    profiler.runcall(frame_times, stabilizer, clip, stylized, time.process_time)
    entries = pstats.Stats(profiler).stats  # (file, line, name) -> (calls, primitive, own time, cumulative, callers)
    own: dict[str, float] = {}
    for (file, _, name), (_, _, seconds, _, _) in entries.items():
        label = re.sub(r"^<(?:method '(\w+)' of '(?:\w+\.)*(\w+)' objects|(?:built-in method )?(?:\w+\.)*(\w+))>$",
                       lambda m: f"{m[2]}.{m[1]}" if m[1] else m[3], name) if file == "~" else f"{Path(file).name}:{name}"
        own[label] = own.get(label, 0.0) + 1000 * seconds / (len(clip) - 1)
    ranked = sorted(own.items(), key=lambda item: -item[1])
    return dict(ranked[:top] + [("rest", sum(ms for _, ms in ranked[top:]))])


def step_times(stabilizer: Stabilizer, clip: Clip, stylized: np.ndarray) -> tuple[list[float], list[float]]:
    """CPU ms per frame of the two steps: `motion` (luma, flow, mask, weight: runs ahead on
    worker threads in `video` and `live`) and `apply` (warp and blend: the sequential part)."""
    stabilizer.reset()
    previous = stabilizer.luma(clip[0])
    stabilizer.apply(None, stylized)
    motions, applies = [], []
    for frame in clip[1:]:
        start = time.process_time()
        luma = stabilizer.luma(frame)
        motion = stabilizer.motion(previous, luma, stylized.shape[:2])
        middle = time.process_time()
        stabilizer.apply(motion, stylized)
        motions.append(1000 * (middle - start))
        applies.append(1000 * (time.process_time() - middle))
        previous = luma
    return motions, applies


def pipelined_ms(stabilizer: Stabilizer, clip: Clip, stylized: np.ndarray, workers: int) -> float:
    """Wall ms per frame with motion on `workers` threads ahead and apply in order, as `video` runs it."""
    stabilizer.reset()
    ahead = MotionAhead(stabilizer, workers)
    try:
        start = time.perf_counter()
        for motion in [ahead.submit(frame) for frame in clip]:
            stabilizer.apply(motion.result(), stylized)
        return 1000 * (time.perf_counter() - start) / len(clip)
    finally:
        ahead.close()


def two_pass_ms(stabilizer: TwoPassStabilizer, clip: Clip, stylized: np.ndarray) -> float:
    """CPU ms per frame of the two-pass stabiliser over the whole clip (pushes and the final
    flush: a mean, since frames come out in windows), after a first frame that only primes it."""
    stabilizer.reset()
    stabilizer.push(clip[0], stylized)
    start = time.process_time()
    for frame in clip[1:]:
        stabilizer.push(frame, stylized)
    stabilizer.flush()
    return 1000 * (time.process_time() - start) / (len(clip) - 1)


def measure_cost(photo: np.ndarray, frames: int, preset: str, flow_width: int) -> dict:
    """Median ms per frame of the default stabiliser on the pan clip at 360p, 720p and 1080p.

    Per CPU core: OpenCV and torch on one thread, CPU time (process_time, so other processes'
    work on a shared machine is not counted), in one call and split into its two steps (motion,
    which runs ahead on other threads, and the sequential apply). Also wall time with the default
    threads, in one call per frame and pipelined as `video` runs it, and at 720p on one core where
    the time goes (cProfile). Then the apply step with the state in float32 (`precise`, as `video`
    runs it) and the two-pass stabiliser, per core, over twice its window (at least)."""
    per_core, motion, apply, default_threads, pipelined, by_call, precise, two_pass = {}, {}, {}, {}, {}, {}, {}, {}
    workers = max(1, min(4, (os.cpu_count() or 2) // 2))
    for name, (width, height) in COST_SIZES.items():
        two = TwoPassStabilizer(preset=preset, flow_width=flow_width)
        long_clip = pan_clip(photo, max(frames, 2 * two.most_held) + 1, width, height)
        clip = long_clip[:frames + 1]
        stylized = still_clip(photo, 1, width, height)[0]
        stabilizer = Stabilizer(preset=preset, flow_width=flow_width)
        default_threads[name] = statistics.median(frame_times(stabilizer, clip, stylized, time.perf_counter))
        pipelined[name] = pipelined_ms(stabilizer, clip, stylized, workers)
        with one_core():
            per_core[name] = statistics.median(frame_times(stabilizer, clip, stylized, time.process_time))
            motions, applies = step_times(stabilizer, clip, stylized)
            motion[name], apply[name] = statistics.median(motions), statistics.median(applies)
            if name == "720p":
                by_call = calls_profile(stabilizer, clip, stylized)
            precise[name] = statistics.median(step_times(Stabilizer(preset=preset, flow_width=flow_width, precise=True),
                                                         clip, stylized)[1])
            two_pass[name] = two_pass_ms(two, long_clip, stylized)
    return {"per_core": per_core, "motion_per_core": motion, "apply_per_core": apply, "default_threads": default_threads,
            "pipelined": pipelined, "motion_workers": workers, "threads": cv2.getNumThreads(), "720p_by_call": by_call,
            "precise_apply_per_core": precise, "two_pass_per_core": two_pass, "two_pass_strength": two.strength}


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


def print_table(result: dict) -> None:
    print(f"\n{result['clip']} {result['resolution']}, {result['frames']} frames; input E_warp {result['input_e_warp']:.5f}")
    print(f"{'variant':<24} {'E_warp':>9} {'ratio':>7} {'PSNR dB':>8}")
    for row in result["rows"]:
        print(f"{row['variant']:<24} {row['e_warp']:9.5f} {row['ratio']:7.2f} {row['psnr']:8.2f}")
    for average, better in result["beats_moving_average"].items():
        print(f"better than {average} (lower E_warp and higher PSNR): {', '.join(better) or 'none'}")


def print_cost(costs: dict) -> None:
    print("\nstabiliser cost, one pass with the 8-bit state (live's), median ms per frame: per core (1 thread, CPU time) "
          + ", ".join(f"{name} {ms:.2f}" for name, ms in costs["per_core"].items())
          + f"; {costs['threads']} threads (wall) " + ", ".join(f"{name} {ms:.2f}" for name, ms in costs["default_threads"].items()))
    print("split per core (CPU time): motion (runs ahead, beside the network) " + ", ".join(
        f"{name} {ms:.2f}" for name, ms in costs["motion_per_core"].items()) + "; apply (sequential) " + ", ".join(
        f"{name} {ms:.2f}" for name, ms in costs["apply_per_core"].items()))
    print(f"pipelined as video runs it (motion on {costs['motion_workers']} workers, wall): "
          + ", ".join(f"{name} {ms:.2f}" for name, ms in costs["pipelined"].items()))
    print("720p, one core, by call (ms per frame): " + ", ".join(f"{name} {ms:.2f}" for name, ms in costs["720p_by_call"].items()))
    print("apply with the state in float32 (video), per core: " + ", ".join(
        f"{name} {ms:.2f}" for name, ms in costs["precise_apply_per_core"].items())
        + f"; two passes (strength {costs['two_pass_strength']}), whole stabiliser per core, mean: "
        + ", ".join(f"{name} {ms:.2f}" for name, ms in costs["two_pass_per_core"].items()))


def run(args: argparse.Namespace) -> int:
    check_input_files((args.video, "--video"), (args.photo, "--photo"), (args.style, "--style"))
    for path in (args.json, args.figure):
        if path:
            check_output_file(path)  # before minutes of measuring, not after
            check_results_file(path, [args.video, args.photo, args.style])
    if args.json and args.figure and real_path(args.json) == real_path(args.figure):
        raise UserError(f"{args.figure}: --json and --figure name one file")
    photo, style_image = read_image(args.photo), read_style(args.style, args.size, "--size")
    width, height = 2 * round(args.size * 16 / 9 / 2), args.size
    check_photo(args.photo, photo, [width] + [w for w, _ in COST_SIZES.values()])
    with opened_video(args.video) as probe:  # (a file that is no video: one line, before the weights load)
        check_pixel_budget(args.video, probe.height, probe.width, args.size, style_budget(), "--size", None)
        video_size = short_side_size(probe.height, probe.width, args.size)
    check_fits_in_memory(args, video_size, (width, height))
    with out_of_memory_as_user_error("bench temporal", "lower --frames, --size or --cost-frames"):
        return measured(args, photo, style_image, width, height)


IMAGE_HINT = "(use `realtime-adain image`)"  # the reader's hint for a picture, which no bench stylizes


def opened_video(path: Path) -> VideoReader:
    """`path` opened to read; a picture given as --video is refused asking for a video file, not
    pointing to `image` as `video`'s message does (the bench measures video, it stylizes no image)."""
    try:
        return VideoReader(path)
    except UserError as exc:
        if len(exc.args) == 1 and isinstance(exc.args[0], str) and IMAGE_HINT in exc.args[0]:
            raise UserError(exc.args[0].replace(IMAGE_HINT, "(give a video file)")) from None
        raise


def check_fits_in_memory(args: argparse.Namespace, video_size: tuple[int, int], pan_size: tuple[int, int]) -> None:
    """Refuse clips that cannot be held in the memory available now (`--frames 1000 --size 1080`:
    tens of GB), as `bench model` refuses its shapes: the three clips (`video_size` and twice
    `pan_size`, width x height), one being measured, and the cost's pan clip at 1080p."""
    video_px, pan_px = video_size[0] * video_size[1], pan_size[0] * pan_size[1]
    cost_frames = max(args.cost_frames, 2 * TwoPassStabilizer(preset=args.preset).most_held) + 1
    need = (args.frames * ((video_px + 2 * pan_px) * CLIP_BYTES + max(video_px, pan_px) * MEASURE_BYTES)
            + cost_frames * COST_SIZES["1080p"][0] * COST_SIZES["1080p"][1] * CLIP_BYTES)
    free = free_memory(torch.device("cpu"))
    if free is not None and need > free:
        raise UserError(f"--frames {args.frames} at --size {args.size} needs about {need / 2**30:.1f} GiB (with --cost-frames "
                        f"{args.cost_frames}), and {free / 2**30:.1f} GiB is available; lower --frames or --size")


def measured(args: argparse.Namespace, photo: np.ndarray, style_image: np.ndarray, width: int, height: int) -> int:
    """The measurements `run` checked the inputs of, reported."""
    clips = {args.video.stem: video_clip(args.video, args.frames, args.size)}  # (fewer than 2 frames: before the weights)
    with tempfile.TemporaryDirectory(prefix="bench-temporal-") as tmp:
        vgg, decoder, which = benchmark_weights(args, Path(tmp))
        for path in (args.json, args.figure):
            check_results_file(path, [vgg, decoder])
        stylizer = Stylizer.from_settings(ModelSettings(str(vgg), str(decoder), "cpu"))  # (the CLI's words)
    style = stylizer.style_stats(style_image, args.size)
    clips["pan+zoom"] = pan_clip(photo, args.frames, width, height)
    clips["still+noise"] = still_clip(photo, args.frames, width, height)
    print(f"weights: {which}; style {args.style.name}; photo {args.photo.name}", flush=True)
    results = []
    for name, clip in clips.items():
        results.append(measure_clip(name, clip, stylizer, style, args))
        print_table(results[-1])
    # (written with the results at the end: an interrupted run left a figure without them)
    figure = [(args.figure, figure_png(clips["pan+zoom"], stylizer, style, args))] if args.figure else []
    costs = measure_cost(photo, args.cost_frames, args.preset, args.flow_width)
    print_cost(costs)
    result = {
        **stamp("temporal", torch.device("cpu")), "opencv": cv2.__version__,
        "weights": which, "style": args.style.name, "size": args.size, "momentum": args.momentum,
        "preset": args.preset, "flow_width": args.flow_width,
        "clips": results, "cost_ms_per_frame_1_thread": costs["per_core"],
        "cost_ms_per_frame_default_threads": costs["default_threads"], "threads": costs["threads"],
        "cost_720p_ms_by_call": costs["720p_by_call"], "cost_ms_per_frame_motion_1_thread": costs["motion_per_core"],
        "cost_ms_per_frame_apply_1_thread": costs["apply_per_core"], "cost_ms_per_frame_pipelined": costs["pipelined"],
        "motion_workers": costs["motion_workers"], "cost_ms_per_frame_precise_apply_1_thread": costs["precise_apply_per_core"],
        "cost_ms_per_frame_two_pass_1_thread": costs["two_pass_per_core"],
    }
    report_json(result, args.json, figure)
    return 0


def figure_png(clip: Clip, stylizer: Stylizer, style, args: argparse.Namespace) -> bytes:
    """`--figure`'s PNG: `difference_figure` of the per-frame, one-pass and two-pass outputs."""
    per_frame = stylize_clip(stylizer, clip, style)
    one_pass = stabilize(clip, per_frame, Stabilizer(preset=args.preset, flow_width=args.flow_width, precise=True))
    two_passes = stabilize(clip, per_frame, TwoPassStabilizer(preset=args.preset, flow_width=args.flow_width))
    figure = cv2.cvtColor(difference_figure(clip, input_flows(clip), [per_frame, one_pass, two_passes]), cv2.COLOR_RGB2BGR)
    return cv2.imencode(".png", figure, [cv2.IMWRITE_PNG_COMPRESSION, 9])[1].tobytes()
