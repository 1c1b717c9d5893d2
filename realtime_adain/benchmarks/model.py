from __future__ import annotations

# This module's docstring and `bench model --help`'s text: a constant, which `python -OO` keeps.
DESCRIPTION = """Model step by engine: ms per step, end-to-end fps, peak memory and share of the compute floor.

For each engine that runs here and each resolution, at batch 1 and a throughput batch: the model
step alone (device images in, device images out; CUDA events on a GPU, perf_counter on the CPU;
median and p95 after warm-up), end to end with upload and download (uint8 frames in and out, one
call at a time, and on a GPU also through the double-buffered stream), peak memory, and the share of the compute floor reached. The floor: the network does about
0.97 MFLOP per pixel (1080p: ~2.0 TFLOP per frame), against the matrix-multiply throughput
measured here (dense fp16 on a GPU, fp32 on the CPU). Engines are measured side by side in one
run; `speedup` is each engine's step against eager's at the same shape. Weights: the installed
ones if found, else generated stand-ins (timings do not depend on the values).
"""
__doc__ = DESCRIPTION

import argparse
import itertools
import resource
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from realtime_adain import engines
from realtime_adain.adain import StyleStats
from realtime_adain.commands.argtypes import (MAX_STEPS, MAX_WARMUP_STEPS, RESOLUTION_PRESETS, frame_batch,
                                              frame_resolution, int_between, results_file, step_count, thread_count)
from realtime_adain.writable_folders import check_output_file
from realtime_adain.settings import DTYPE_NAMES, ModelSettings
from realtime_adain.stylizer import Stylizer
from realtime_adain.devices import DTYPES, pick_device, pick_dtype
from realtime_adain.available_memory import free_memory
from realtime_adain.benchmarks.setup import benchmark_weights, check_results_file, engine_list, report_json, stamp
from realtime_adain.errors import UserError, out_of_memory_as_user_error

FLOP_PER_PIXEL = 0.97e6  # encoder and decoder ~241k multiply-adds per pixel each, 2 FLOP each
# The widest tensors are 64 channels at full resolution (after the encoder's first layer, before the
# decoder's last): a step holds at least three of them, so this many elements per pixel at least.
ELEMENTS_PER_PIXEL = 3 * 64


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--engine", type=engine_list(engines.ENGINES), action="extend", metavar="LIST",
                        help=f"engines to measure ({', '.join(engines.ENGINES)}), comma-separated or repeated "
                             "(default: every one that runs here)")
    parser.add_argument("-r", "--resolution", type=frame_resolution, action="append", metavar="WxH",
                        help="WIDTHxHEIGHT of 16 to 4096 a side or 360p/720p/1080p; repeatable (default: all three)")
    parser.add_argument("--batch", type=frame_batch, default=None, metavar="N",
                        help="throughput batch measured besides batch 1, up to 64 (default: 8 on a GPU, none on the CPU)")
    parser.add_argument("--device", default="auto", help="auto (CUDA if present, else an Apple GPU, else the CPU), cpu, "
                                                         "cuda, cuda:N or mps, as `live --device`")
    parser.add_argument("--dtype", choices=("auto", *DTYPE_NAMES), default="auto",
                        help="precision: auto (fp16 on a GPU, fp32 on the CPU), fp32, fp16, bf16 (default auto)")
    parser.add_argument("--warmup", type=int_between(0, MAX_WARMUP_STEPS, "warmup"), default=None, metavar="N",
                        help=f"untimed steps first, 0 to {MAX_WARMUP_STEPS} (default 10 GPU, 1 CPU; 0 times the "
                             "first step, which an engine's compile or build, done before, is not part of)")
    parser.add_argument("--iters", type=step_count, default=None, metavar="N",
                        help=f"timed steps, 1 to {MAX_STEPS} (default 100 GPU, 5 CPU)")
    parser.add_argument("--threads", type=thread_count, default=None, metavar="N", help="CPU threads (default: torch's)")
    parser.add_argument("--vgg", metavar="PATH", help="encoder weights (default: installed, else generated)")
    parser.add_argument("--decoder", metavar="PATH", help="decoder weights (default: installed, else generated)")
    parser.add_argument("--json", type=results_file, metavar="PATH", help="also write the results to this JSON file")


def run(args: argparse.Namespace) -> int:
    if args.json:
        check_output_file(args.json)  # before the timing, not after
    if args.threads:
        torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    on_gpu = device.type == "cuda"
    dtype = pick_dtype(args.dtype, device)
    dtype_name = next(name for name, each in DTYPES.items() if each == dtype)  # auto as the precision it picked
    names = list(dict.fromkeys(args.engine or engines.available(device, dtype)))  # one row per engine
    for name in names:
        engines.require(name, device, dtype)
    warmup = args.warmup if args.warmup is not None else (10 if on_gpu else 1)  # (0 asked for is 0)
    iters = args.iters or (100 if on_gpu else 5)
    batches = sorted({1, args.batch or (8 if on_gpu else 1)})
    sizes = list(dict.fromkeys(args.resolution or RESOLUTION_PRESETS.values()))
    for width, height in sizes:  # at once, not after minutes of timing the smaller shapes
        check_fits(device, dtype, max(batches), height, width)
    with tempfile.TemporaryDirectory() as workdir, out_of_memory_as_user_error("bench model", "lower --resolution or --batch"):
        vgg, decoder, which = benchmark_weights(args, Path(workdir))
        check_results_file(args.json, [vgg, decoder])
        # Its net only (eager): "auto" looked for the engines below first, and said a note of what
        # was in the way that their error then said again.
        stylizer = Stylizer.for_command(ModelSettings(str(vgg), str(decoder), str(device), dtype_name, "eager"))  # (the CLI's words)
        peak = matmul_peak(device, dtype)
        result = {
            **stamp("model", device), "dtype": dtype_name,
            "threads": torch.get_num_threads(), "weights": which, "warmup": warmup, "iters": iters,
            "matmul_tflops": peak, "rows": [],
        }
        runners = [engines.create(name, stylizer.net, device, dtype, stylizer.weights_id) for name in names]
        for width, height in sizes:
            for batch in batches:
                if "compile" in names and result["rows"]:  # torch compiles a module for 8 shapes at most:
                    torch._dynamo.reset()                  # each shape gets a fresh compile, none runs eager
                    runners = [engines.create(name, stylizer.net, device, dtype, stylizer.weights_id) for name in names]
                for row in measure(runners, batch, height, width, warmup, iters, peak):
                    result["rows"].append(row)
                    print_row(row, len(result["rows"]) == 1)
    add_speedups(result["rows"])
    print_summary(result)
    report_json(result, args.json)
    return 0


def check_fits(device: torch.device, dtype: torch.dtype, batch: int, height: int, width: int) -> None:
    """Refuse a shape whose step cannot fit in the memory free now (a lower bound: engines such as
    onnxruntime need more), rather than page the machine to a halt or meet the OOM killer."""
    need = batch * height * width * ELEMENTS_PER_PIXEL * torch.finfo(dtype).bits // 8
    free = free_memory(device)
    if free is not None and need > free:
        raise UserError(f"{width}x{height} at batch {batch} needs at least {need / 2**30:.1f} GiB, and {device} has "
                        f"{free / 2**30:.1f} GiB free; lower --resolution or --batch")


class Timer:
    """CUDA events on a GPU (device time, no host sync per step), perf_counter on the CPU."""

    def __init__(self, device: torch.device) -> None:
        self.device = device

    def time(self, fn, warmup: int, iters: int) -> list[float]:
        for _ in range(warmup):
            fn()
        if self.device.type != "cuda":
            times = []
            for _ in range(iters):
                start = time.perf_counter()
                fn()
                times.append((time.perf_counter() - start) * 1e3)
            return times
        torch.cuda.synchronize(self.device)
        events = [(torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)) for _ in range(iters)]
        for start, end in events:
            start.record()
            fn()
            end.record()
        torch.cuda.synchronize(self.device)
        return [start.elapsed_time(end) for start, end in events]


def matmul_peak(device: torch.device, dtype: torch.dtype) -> float:
    """Measured dense matmul throughput in TFLOP/s (fp16 on a GPU, fp32 on the CPU).

    The fastest of several runs: the floor is what the hardware can do, not a typical moment
    of a machine shared with other work. On the CPU the matmul is also run through oneDNN (as a
    1x1 convolution), since MKL's sgemm does not use AVX-512 on every CPU (AMD EPYC: half the
    rate) while the convolutions of the model do; the faster of the two is the floor.
    """
    on_gpu = device.type == "cuda"
    n = 8192 if on_gpu else 2048
    mm_dtype = torch.float16 if on_gpu else torch.float32
    a = torch.randn(n, n, device=device, dtype=mm_dtype)
    b = torch.randn(n, n, device=device, dtype=mm_dtype)
    timer = Timer(device)
    best = min(timer.time(lambda: torch.mm(a, b), 5 if on_gpu else 3, 50 if on_gpu else 10))
    if not on_gpu:
        side = 1024  # a (1024 x 1024) by (1024 x 4096) matmul as a convolution
        x = torch.randn(1, side, 64, 64).contiguous(memory_format=torch.channels_last)
        w = torch.randn(side, side, 1, 1)
        with torch.inference_mode():
            conv = min(timer.time(lambda: torch.nn.functional.conv2d(x, w), 3, 10))
        return max(2 * n**3 / (best / 1e3), 2 * side * side * 64 * 64 / (conv / 1e3)) / 1e12
    return 2 * n**3 / (best / 1e3) / 1e12


def interleaved(timer: Timer, fns: list, warmup: int, iters: int) -> list[list[float]]:
    """Time each function in turn, round after round: on a shared machine every engine sees
    the same background load, so their ratio holds even when absolute times drift."""
    times: list[list[float]] = [[] for _ in fns]
    for round_index in range(warmup + iters):
        for index, fn in enumerate(fns):
            measured = timer.time(fn, 0, 1)
            if round_index >= warmup:
                times[index] += measured
    return times


@torch.inference_mode()
def measure(runners: list[engines.Engine], batch: int, height: int, width: int, warmup: int, iters: int,
            peak_tflops: float) -> list[dict]:
    """One row per engine for this shape; the engines are timed side by side."""
    device = runners[0].device
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (batch, height, width, 3), dtype=np.uint8)
    styles = [StyleStats(torch.rand(512) * 10, torch.rand(512) * 10 + 1) for _ in range(2)]
    steps, memory = [], []
    for engine in runners:
        engine.prepare(batch, height, width)  # compile / build outside the timings
        images = engine.frames.upload(frames).clone()
        mean, std, alpha = engine.style_inputs(styles[0], 1.0)
        steps.append(lambda b=engine, x=images, m=mean, s=std, a=alpha: b.step(x, m, s, a))
        if warmup:  # (one engine after another: on the CPU the peak is the process's so far, each engine's here)
            memory.append(peak_memory_mb(device, steps[-1]))
    timer = Timer(device)
    step_times = interleaved(timer, steps, warmup, iters)
    if not warmup:  # --warmup 0 times the first step, so it is measured after (the CPU's peaks then the run's)
        memory = [peak_memory_mb(device, step) for step in steps]
    e2e_times = interleaved(Timer(torch.device("cpu")), [lambda b=b: b.stylize(frames, styles[0], 1.0) for b in runners],
                            1, max(3, iters // 4))
    streamed = [stream_fps(b, frames, styles[0], iters) if device.type == "cuda" else None for b in runners]
    rows = []
    for engine, step, end_to_end, stream, peak_mb in zip(runners, step_times, e2e_times, streamed, memory):
        switch = style_switch_ms(engine, styles)
        step_ms = statistics.median(step)
        flop = FLOP_PER_PIXEL * batch * height * width
        rows.append({
            "engine": engine.name, "resolution": f"{width}x{height}", "batch": batch,
            "step_ms_median": step_ms, "step_ms_p95": float(np.percentile(step, 95)),
            "end_to_end_fps": batch / (statistics.median(end_to_end) / 1e3),
            "stream_fps": stream,
            "style_switch_ms": statistics.median(switch),
            "tensorrt_builds": getattr(engine, "builds", None),
            "peak_memory_mb": peak_mb,
            "tflops": flop / (step_ms / 1e3) / 1e12,
            "floor_share": flop / (step_ms / 1e3) / 1e12 / peak_tflops,
        })
    return rows


def style_switch_ms(engine: engines.Engine, styles: list[StyleStats]) -> list[float]:
    """Wall time of a style switch until its statistics are on the device (host work, copies
    and a device sync counted); the graph or engine is reused as it is."""
    alternating = itertools.cycle(styles[::-1])

    def switch() -> None:
        engine.style_inputs(next(alternating), 1.0)
        if engine.device.type == "cuda":
            torch.cuda.synchronize(engine.device)

    return Timer(torch.device("cpu")).time(switch, 2, 20)


def stream_fps(engine: engines.Engine, frames: np.ndarray, style: StyleStats, count: int) -> float:
    """Frames per second through the double-buffered stream (copies overlap compute), GPU only."""
    for _ in engine.stylize_stream([frames] * 3, style):
        pass
    start = time.perf_counter()
    for _ in engine.stylize_stream([frames] * count, style):
        pass
    return frames.shape[0] * count / (time.perf_counter() - start)


def peak_memory_mb(device: torch.device, step) -> float:
    """GPU: peak memory torch allocates during one step (weights and buffers included); CPU: the
    process's peak resident memory so far (the OS keeps no per-step figure)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        step()
        torch.cuda.synchronize(device)
        return torch.cuda.max_memory_allocated(device) / 2**20
    step()
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def add_speedups(rows: list[dict]) -> None:
    eager = {(r["resolution"], r["batch"]): r["step_ms_median"] for r in rows if r["engine"] == "eager"}
    for row in rows:
        base = eager.get((row["resolution"], row["batch"]))
        row["speedup_vs_eager"] = base / row["step_ms_median"] if base else None


HEADER = (f"{'engine':<9} {'resolution':>10} {'batch':>5} {'step ms':>9} {'p95 ms':>9} {'e2e fps':>8} "
          f"{'strm fps':>8} {'switch ms':>9} {'peak MB':>8} {'TFLOP/s':>8} {'floor %':>7}")


def print_row(row: dict, first: bool) -> None:
    if first:
        print(HEADER)
    stream = "-" if row["stream_fps"] is None else f"{row['stream_fps']:.2f}"  # measured on a GPU only
    print(f"{row['engine']:<9} {row['resolution']:>10} {row['batch']:>5} {row['step_ms_median']:>9.1f} "
          f"{row['step_ms_p95']:>9.1f} {row['end_to_end_fps']:>8.2f} "
          f"{stream:>8} {row['style_switch_ms']:>9.3f} "
          f"{row['peak_memory_mb']:>8.0f} {row['tflops']:>8.3f} {100 * row['floor_share']:>6.1f}%", flush=True)


def print_summary(result: dict) -> None:
    print(f"{result['machine']}, {result['device']} {result['dtype']}, torch {result['torch']}, "
          f"{result['weights']} weights; matmul {result['matmul_tflops']:.3f} TFLOP/s")
    for row in result["rows"]:
        if row["engine"] != "eager" and row["speedup_vs_eager"]:
            print(f"  {row['engine']} vs eager at {row['resolution']} batch {row['batch']}: "
                  f"{row['speedup_vs_eager']:.2f}x")
