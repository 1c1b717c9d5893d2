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
Each ratio is a variant's E_warp over the per-frame one's (the per-frame row's is 1), undefined
where the per-frame output does not move (E_warp 0: a flat clip or style): "-" in the table, null
in the JSON. Fidelity is the PSNR of each variant against the per-frame video, "inf" (in the JSON
too, a string: strict JSON has no infinity) for an identical output; for each moving average the
variants better on both are listed. Cost is the default stabiliser's median ms per frame at 360p,
720p and 1080p per CPU core (OpenCV and torch on one thread, CPU time) and with the default
threads (wall time), plus cProfile's split by call at 720p. Weights: the installed ones if
found, else generated stand-ins (their stylization means little; say which).
"""
__doc__ = DESCRIPTION

import argparse
import tempfile
from pathlib import Path

import cv2
import numpy as np
import torch

from realtime_adain.available_memory import free_memory
from realtime_adain.benchmarks.setup import (benchmark_weights, check_input_files, check_results_file, report_json,
                                             material_file, stamp)
from realtime_adain.benchmarks.temporal_clips import bench_hints, check_photo, opened_video, pan_clip, still_clip, video_clip
from realtime_adain.benchmarks.temporal_cost import COST_SIZES, measure_cost
from realtime_adain.benchmarks.temporal_quality import measure_clip
from realtime_adain.benchmarks.temporal_report import figure_png, json_clip, print_cost, print_table
from realtime_adain.commands.argtypes import file_name, flow_width, int_between, nonempty_path, results_file, unit_interval
from realtime_adain.errors import UserError, one_line, out_of_memory_as_user_error, quoted
from realtime_adain.imageio import read_image, read_style
from realtime_adain.file_identity import real_path
from realtime_adain.writable_folders import check_output_file
from realtime_adain.picture_sizes import MAX_SIDE, check_pixel_budget, short_side_size, style_budget
from realtime_adain.settings import ModelSettings
from realtime_adain.stylizer import Stylizer
from realtime_adain.temporal.flow import DIS_PRESETS
from realtime_adain.temporal.sampling import FLOW_MIN_SIDE
from realtime_adain.temporal.two_pass import TwoPassStabilizer

STRENGTHS = (0.15, 0.18, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


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
    parser.add_argument("--video", type=nonempty_path, default=material_file("video"), metavar="FILE",
                        help="real clip (default: the test material's cutBunny.mp4)")
    parser.add_argument("--photo", type=nonempty_path, default=material_file("photo"), metavar="FILE",
                        help="photo for the generated pan/zoom and still clips (default: the test material's golden_gate.jpg)")
    parser.add_argument("--style", type=nonempty_path, default=material_file("style"), metavar="FILE",
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


def run(args: argparse.Namespace) -> int:
    check_input_files((args.video, "--video"), (args.photo, "--photo"), (args.style, "--style"))
    for path in (args.json, args.figure):
        if path:
            check_output_file(path)  # before minutes of measuring, not after
            check_results_file(path, [args.video, args.photo, args.style])
    if args.json and args.figure and real_path(args.json) == real_path(args.figure):
        raise UserError(f"{args.figure}: --json and --figure name one file")
    with bench_hints():
        photo, style_image = read_image(args.photo), read_style(args.style, args.size, "--size")
    width, height = 2 * round(args.size * 16 / 9 / 2), args.size
    check_photo(args.photo, photo, [width] + [w for w, _ in COST_SIZES.values()])
    with opened_video(args.video) as probe:  # (a file that is no video: one line, before the weights load)
        check_pixel_budget(args.video, probe.height, probe.width, args.size, style_budget(), "--size", None)
        video_size = short_side_size(probe.height, probe.width, args.size)
    check_fits_in_memory(args, video_size, (width, height))
    with out_of_memory_as_user_error("bench temporal", "lower --frames, --size or --cost-frames"):
        return measured(args, photo, style_image, width, height)


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
        stylizer = Stylizer.for_command(ModelSettings(str(vgg), str(decoder), "cpu"))  # (the CLI's words)
    style = stylizer.style_stats(style_image, args.size)
    clips["pan+zoom"] = pan_clip(photo, args.frames, width, height)
    clips["still+noise"] = still_clip(photo, args.frames, width, height)
    print(f"weights: {which}; style {one_line(args.style.name)}; photo {one_line(args.photo.name)}", flush=True)
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
        "clips": [json_clip(clip) for clip in results], "cost_ms_per_frame_1_thread": costs["per_core"],
        "cost_ms_per_frame_default_threads": costs["default_threads"], "threads": costs["threads"],
        "cost_720p_ms_by_call": costs["720p_by_call"], "cost_ms_per_frame_motion_1_thread": costs["motion_per_core"],
        "cost_ms_per_frame_apply_1_thread": costs["apply_per_core"], "cost_ms_per_frame_pipelined": costs["pipelined"],
        "motion_workers": costs["motion_workers"], "cost_ms_per_frame_precise_apply_1_thread": costs["precise_apply_per_core"],
        "cost_ms_per_frame_two_pass_1_thread": costs["two_pass_per_core"],
    }
    report_json(result, args.json, figure)
    return 0
