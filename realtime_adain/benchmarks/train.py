from __future__ import annotations

# This module's docstring and `bench train --help`'s text: a constant, which `python -OO` keeps.
DESCRIPTION = """Training speed: iterations/s of the decoder trainer, with and without AMP, and the time to 160k.

Times `TrainingStep.step` - exactly what `tools/train.py` runs per iteration (encoder passes,
decoder, losses, backward, Adam) - on random batches already on the device, so the figure is the
model's speed; image loading runs in DataLoader workers beside it during real training. The
weights are generated stand-ins (timings do not depend on their values). Reports the median of
the per-iteration times, and the modes side by side in one run.
"""
__doc__ = DESCRIPTION

import argparse
import statistics
import time

import torch

from realtime_adain.commands.argtypes import (MAX_STEPS, MAX_WARMUP_STEPS, int_between, results_file, step_count, thread_count,
                                              warmup_steps)
from realtime_adain.benchmarks.setup import (check_results_file, installed_weights, machine, report_json,
                                             stamp, timed_once)
from realtime_adain.encoders import ENCODER_KINDS, NORMALISED_VGG, build_encoder, torchvision_state_dict
from realtime_adain.errors import out_of_memory_as_user_error
from realtime_adain.writable_folders import check_output_file
from realtime_adain.devices import pick_device
from realtime_adain.synthetic import published_vgg_state_dict, torchvision_vgg_state_dict
from realtime_adain.training.config import AMP_MODES, MAX_BATCH_SIZE, TrainConfig
from realtime_adain.training.memory import check_fits
from realtime_adain.training.process import AUTOCAST_NAMES, pick_amp
from realtime_adain.training.step import TrainingStep
from realtime_adain.weights import DECODER_BUILDERS

PAPER_ITERATIONS = 160_000
MAX_CROP = 4096  # the trainer's largest --load-size
_crop_range = int_between(16, MAX_CROP, "crop_side")


def crop_side(text: str) -> int:
    """argparse type for --size: as the trainer's --crop-size, a multiple of 8 from 16 to MAX_CROP."""
    value = _crop_range(text)
    if value % 8:
        raise argparse.ArgumentTypeError(f"{value} is not a multiple of 8")
    return value


def amp_modes(text: str) -> list[str]:
    """argparse type for --amp: comma-separated modes, each once (each is one row of the table)."""
    modes = [mode.strip() for mode in text.split(",")]
    for mode in modes:
        if mode not in AMP_MODES:
            raise argparse.ArgumentTypeError(f"'{mode}' is not one of {', '.join(AMP_MODES)}")
    if len(set(modes)) < len(modes):
        raise argparse.ArgumentTypeError(f"'{text}' names a mode twice")
    return modes


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--batch-size", type=int_between(1, MAX_BATCH_SIZE, "batch_size"), default=8, metavar="N",
                        help=f"batch, up to {MAX_BATCH_SIZE} (default 8, the paper's)")
    parser.add_argument("--size", type=crop_side, default=256, metavar="PX",
                        help=f"crop side in pixels, a multiple of 8 from 16 to {MAX_CROP} (default 256, the paper's)")
    parser.add_argument("--iterations", type=step_count, default=30, metavar="N",
                        help=f"timed iterations per mode, 1 to {MAX_STEPS} (default 30)")
    parser.add_argument("--warmup", type=warmup_steps, default=5, metavar="N",
                        help=f"untimed iterations first, 0 to {MAX_WARMUP_STEPS} (default 5)")
    parser.add_argument("--amp", type=amp_modes, default=None, metavar="LIST",
                        help="comma-separated modes to compare: auto, off, bf16, fp16 "
                             "(default: off,bf16,fp16 on CUDA, off on the CPU)")
    parser.add_argument("--decoder", default="plain", choices=list(DECODER_BUILDERS), help="decoder architecture")
    parser.add_argument("--encoder", default=NORMALISED_VGG, choices=ENCODER_KINDS, help="encoder")
    parser.add_argument("--compile", action="store_true",
                        help="torch.compile the step (compiling is the first step, never timed: at least 1 untimed "
                             "step even with --warmup 0)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    parser.add_argument("--threads", type=thread_count, default=None, metavar="N",
                        help="CPU threads (default: torch's; 1 on a loaded machine, where 2 waited on each other)")
    parser.add_argument("--json", type=results_file, metavar="PATH", help="also write the results to this JSON file")


def _encoder(kind: str) -> torch.nn.Module:
    encoder = build_encoder(kind)
    if kind == NORMALISED_VGG:
        state = {k: v for k, v in published_vgg_state_dict().items() if int(k.split(".")[0]) < len(encoder)}
    else:
        state = torchvision_state_dict(torchvision_vgg_state_dict())
    encoder.load_state_dict(state)
    return encoder


def measure(args: argparse.Namespace, device: torch.device, amp: str) -> dict:
    torch.manual_seed(0)
    config = TrainConfig(decoder=args.decoder, encoder=args.encoder, amp=amp, compile=args.compile)
    step = TrainingStep(_encoder(args.encoder), DECODER_BUILDERS[args.decoder](), config, device)
    shape = (args.batch_size, 3, args.size, args.size)
    content = step.to_device(torch.randint(0, 256, shape, dtype=torch.uint8))
    style = step.to_device(torch.randint(0, 256, shape, dtype=torch.uint8))
    times = []
    warmup = max(args.warmup, 1) if args.compile else args.warmup  # (--warmup 0 timed a 70 s compile as the step)
    for index in range(warmup + args.iterations):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        losses, _ = step.step(content, style)
        float(losses.total)  # waits for the GPU
        if index >= warmup:
            times.append(time.perf_counter() - start)
    median = statistics.median(times)
    return {
        "amp": amp, "batch": args.batch_size, "size": args.size, "decoder": args.decoder,
        "encoder": args.encoder, "compile": args.compile, "median_s": median, "iterations_per_s": 1 / median,
        "hours_to_160k": PAPER_ITERATIONS * median / 3600,
        "peak_memory_gib": torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None,
    }


def amp_label(result: dict) -> str:
    """A row's mode as given, with what it ran as where that differs (`auto (bf16)`)."""
    return result["amp"] if result["amp"] == result["autocast"] else f"{result['amp']} ({result['autocast']})"


def run(args: argparse.Namespace) -> int:
    if args.json:
        check_output_file(args.json)  # before the timing, not after
        check_results_file(args.json, installed_weights())  # (not read here, but refused as every bench refuses them)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    # (each checked before any timing; a mode that runs as another, `auto` as `off` on a CPU, timed once)
    modes = timed_once(args.amp or (["off", "bf16", "fp16"] if device.type == "cuda" else ["off"]),
                       lambda mode: AUTOCAST_NAMES[pick_amp(mode, device)], lambda autocast: autocast, "--amp")
    for autocast in modes.values():  # at once, not after timing the modes before
        check_fits(device, args.batch_size, args.size, autocast)
    name = machine(device)
    results = []
    for mode, autocast in modes.items():
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        with out_of_memory_as_user_error(f"bench train (amp {mode})", "lower --batch-size or --size"):
            results.append({**measure(args, device, mode), "autocast": autocast})
    print(f"training step on {name}, torch {torch.__version__}")
    print(f"{'amp':<11} {'batch':>5} {'size':>5} {'it/s':>8} {'ms/it':>9} {'h to 160k':>10}")
    for r in results:
        print(f"{amp_label(r):<11} {r['batch']:>5} {r['size']:>5} {r['iterations_per_s']:>8.3g} "
              f"{r['median_s'] * 1000:>9.1f} {r['hours_to_160k']:>10.1f}")
    base = results[0]["median_s"]
    for r in results[1:]:
        print(f"speed-up of {amp_label(r)} over {amp_label(results[0])}: {base / r['median_s']:.2f}x")
    report_json({**stamp("train", device), "threads": torch.get_num_threads(), "results": results}, args.json)
    return 0
