from __future__ import annotations

# This module's docstring and `bench serve --help`'s text: a constant, which `python -OO` keeps.
DESCRIPTION = """Serve: N simulated WebRTC clients at 30 fps against `realtime-adain serve`, per-client fps and latency.

Starts the real `serve` command as a subprocess (so its CPU time is its own) and N aiortc
clients on loopback in this process, each sending a generated moving gradient at `--fps`,
stamped with its pts. Reports per client the sustained rate of stylized frames coming back;
for all clients together the p50/p95 latency from a frame's capture (when the client sent it)
to the arrival of the stylized frame's last packet back at the client (matched by pts; aiortc's
own receiver hands a frame over one frame interval later, reported as `aiortc_decoded_p50_ms`);
the server's CPU use (process CPU time / wall time; 1.0 = one core busy) and its own latency
figure (arrival at the server to hand-over to the outgoing track, from the data channel, for the
same frames). The first `--warmup` seconds after every client has a frame back are left out. The
clients' VP8 encoding and decoding run in this process, on the same machine's cores. Weights: the
installed ones if found, else generated stand-ins (timings do not depend on the values); the
report says which.
"""
__doc__ = DESCRIPTION

import argparse
import asyncio
import ctypes
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import suppress
from typing import Callable
from pathlib import Path

import numpy as np
import torch

from realtime_adain import interrupts
from realtime_adain.benchmarks.live import MIN_SECONDS, benchmark_weights_options, measured_seconds
from realtime_adain.benchmarks.setup import benchmark_weights, check_results_file, report_json, stamp
from realtime_adain.commands import argtypes, common
from realtime_adain.errors import UserError
from realtime_adain.imageio import write_image
from realtime_adain.writable_folders import check_output_file
from realtime_adain.serve.settings import MAX_CLIENTS
from realtime_adain.settings import LIVE_SIZE_TEXT, STABILIZE_MODES
from realtime_adain.notes import note

START_TIMEOUT = 180.0  # loading torch and the weights on a busy machine
CLOSE_TIMEOUT = 10.0  # closing the clients' peer connections at the end


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--clients", type=argtypes.int_between(1, MAX_CLIENTS, "clients"), default=1, metavar="N",
                        help=f"simulated clients, up to serve's --max-clients bound {MAX_CLIENTS} (default 1)")
    parser.add_argument("--seconds", type=measured_seconds, default=20.0, metavar="S",
                        help=f"measured duration in seconds, {MIN_SECONDS:g} to {argtypes.MAX_SECONDS:g} (default 20)")
    parser.add_argument("--warmup", type=argtypes.seconds_or_none, default=3.0, metavar="S",
                        help="seconds left out once every client has a frame back (default 3)")
    parser.add_argument("--fps", type=argtypes.frame_rate, default=30.0, metavar="FPS",
                        help=f"frame rate each client sends, 1 to {argtypes.MAX_FPS} (default 30)")
    parser.add_argument("--stabilize", default="flow", choices=STABILIZE_MODES, help="the server's --stabilize (default flow)")
    parser.add_argument("--json", type=argtypes.results_file, metavar="PATH", help="also write the results to this JSON file")
    common.add_model_options(parser, default_size=None, size_default_text=LIVE_SIZE_TEXT)
    benchmark_weights_options(parser)  # (conflicts now resolved: the group below replaces the model options' --size)
    # The clients' frame size is --frame-size: every other command's --size is the processing size
    # (here --process-size), and `bench serve --size 160` read as one. --size, its old name, still works.
    frames = parser.add_argument_group("frames")
    frames.add_argument("--frame-size", "--size", type=client_frame_size, default=(320, 240), metavar="WxH",
                        action=FrameSize,
                        help="frame size the clients send, 16 to 4096 a side (default 320x240; --size: its old name, deprecated)")
    frames.add_argument("--process-size", type=argtypes.side_length, default=None, metavar="PX",
                        help="the server's --size: processing size, shorter side (default: serve's, 160 on a CPU)")


def client_frame_size(text: str) -> tuple[int, int]:
    """`argtypes.frame_resolution`, where a bare number (`--size 64`, every other command's
    processing size) is pointed to --process-size."""
    try:
        return argtypes.frame_resolution(text)
    except argparse.ArgumentTypeError as exc:
        if text.strip().isascii() and text.strip().isdigit():
            raise argparse.ArgumentTypeError(f"{exc} (the processing size is --process-size)") from None
        raise


class FrameSize(argparse.Action):
    """--frame-size, remembering whether it came by its old name --size, to say so when the run starts
    (the help's "deprecated" was all: a user of --size never read it)."""

    def __call__(self, parser, namespace, values, option_string=None):
        setattr(namespace, self.dest, values)
        namespace.old_size_option = option_string == "--size"


def moving_frames(size: tuple[int, int], count: int = 30) -> list[np.ndarray]:
    """A moving gradient, `count` frames to cycle through (made once: the clients must not cost much)."""
    width, height = size
    x = np.linspace(0, 255, width, dtype=np.float32)[None, :]
    y = np.linspace(0, 255, height, dtype=np.float32)[:, None]
    return [np.stack([(x + 8 * k) % 256 + 0 * y, (y + 4 * k) % 256 + 0 * x, (x + y) / 2 + 0 * y], axis=2).astype(np.uint8)
            for k in range(count)]


def process_cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a running process (Linux /proc), None elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


PR_SET_PDEATHSIG = 1  # (linux/prctl.h)


def dies_with_parent() -> Callable[[], None] | None:
    """A `preexec_fn` that has the child sent SIGTERM when this process ends, however it ends: a
    bench killed with SIGKILL (or by the OOM killer) left its server running, listening, for ever.
    Linux only (prctl); libc is loaded here, before the fork."""
    if not sys.platform.startswith("linux"):
        return None
    libc = ctypes.CDLL(None, use_errno=True)
    return lambda: libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def start_server(args: argparse.Namespace, vgg: Path, decoder: Path, style: Path, workdir: Path) -> tuple[subprocess.Popen, str]:
    command = [sys.executable, "-m", "realtime_adain", "serve", "-s", str(style), "--port", "0", "--style-size", "256",
               "--style-cache", str(workdir / "cache"), "--max-clients", str(args.clients), "--idle-timeout", "600",
               "--stabilize", args.stabilize, "--vgg", str(vgg), "--decoder", str(decoder), "--device", args.device,
               "--dtype", args.dtype, "--engine", args.engine]
    if args.process_size is not None:
        command += ["--size", str(args.process_size)]
    with open(workdir / "server.log", "w") as log_file:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log_file, text=True,
                                   preexec_fn=dies_with_parent())
    try:  # a Ctrl-C while the server loads must not leave it running, orphaned
        line: list[str] = []
        reader = threading.Thread(target=lambda: line.append(process.stdout.readline()), daemon=True)
        reader.start()
        reader.join(START_TIMEOUT)
        if not line or not line[0].startswith("serving on "):
            process.kill()
            process.wait()
            log = (workdir / "server.log").read_text().strip().splitlines()
            raise UserError(f"the server did not start: {log[-1].removeprefix('error: ') if log else 'no output'}")
    except BaseException:
        stop_server(process)
        raise
    return process, line[0].removeprefix("serving on ").strip().rstrip("/")


def stop_server(process: subprocess.Popen) -> None:
    """SIGTERM first, so the server removes its uploads folder (a SIGKILL while it loaded left an
    empty realtime-adain-uploads-* in the temporary folder); SIGKILL if it does not end."""
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


async def measure(url: str, args: argparse.Namespace, pid: int) -> dict:
    from realtime_adain.serve.client import FrameSource, ServeClient

    frames = moving_frames(args.frame_size)
    clients = [ServeClient(url, FrameSource(lambda k: frames[k % len(frames)], args.fps), keep=0) for _ in range(args.clients)]
    try:
        return await timed(clients, args, pid)
    finally:  # after an error or a signal too: no connection is left pending when the event loop closes
        closing = asyncio.gather(*(client.close() for client in clients), return_exceptions=True)
        # Its outcome taken whatever happens: a cancel while the clients close (a signal then) made
        # wait_for cancel the gather and leave its CancelledError unread, printed at exit as
        # "_GatheringFuture exception was never retrieved" after `interrupted`.
        closing.add_done_callback(lambda done: done.cancelled() or done.exception())
        with suppress(asyncio.TimeoutError):  # (bounded: a peer connection's close may wait on its transports)
            await asyncio.wait_for(closing, CLOSE_TIMEOUT)


def measure_until_stopped(url: str, args: argparse.Namespace, pid: int) -> dict:
    """`measure` in an event loop where SIGINT, SIGTERM, SIGHUP and SIGQUIT cancel it, so that its
    clean-up runs in the loop; then raised as the CLI's other commands raise them (130/143). A
    SIGTERM raised from the CLI's handler inside the loop left the clients' tasks pending ("Task was
    destroyed but it is pending!" lines after "terminated"), or the exit hung on them."""
    received: list[int] = []

    async def main() -> dict:
        with interrupts.loop_signals(asyncio.get_running_loop(), received, asyncio.current_task().cancel):
            return await measure(url, args, pid)

    try:
        return asyncio.run(main())
    except asyncio.CancelledError:
        if received:
            interrupts.raise_received(received[0])
        raise


async def timed(clients: list, args: argparse.Namespace, pid: int) -> dict:
    """Connect the clients, wait for every one's first frame and the warm-up, then measure."""
    for client in clients:
        await client.connect()
    for client in clients:
        await client.wait_frames(1, timeout=START_TIMEOUT)
    await asyncio.sleep(args.warmup)
    start, cpu_start, counts = time.monotonic(), process_cpu_seconds(pid), [len(c.frames) for c in clients]
    await asyncio.sleep(args.seconds)
    end, cpu_end = time.monotonic(), process_cpu_seconds(pid)
    await server_figures_through(clients, end)
    per_client, latencies, decoded, server, unmatched = [], [], [], [], 0
    for client, first in zip(clients, counts):
        window = [got for got in client.frames[first:] if got.at <= end]
        source = client.source
        matched = [got for got in window if source.frame_of(got.pts) in source.sent_at and got.complete is not None]
        mine = [got.complete - source.sent_at[source.frame_of(got.pts)] for got in matched]
        decoded += [got.at - source.sent_at[source.frame_of(got.pts)] for got in matched]
        server_by_pts = server_latencies(client.messages)
        server += [server_by_pts[got.pts] for got in matched if got.pts in server_by_pts]
        unmatched += len(window) - len(mine)
        latencies += mine
        per_client.append({"fps": round(len(window) / (end - start), 2), "frames": len(window),
                           "latency_p50_ms": round(1000 * float(np.percentile(mine, 50)), 1) if mine else None})
    cpu = (cpu_end - cpu_start) / (end - start) if cpu_start is not None and cpu_end is not None else None
    return {"per_client": per_client, "latencies": latencies, "unmatched": unmatched, "seconds": round(end - start, 2),
            "server_reported_p50_ms": round(float(np.percentile(server, 50)), 1) if server else None,
            "server_reported_frames": len(server),
            "aiortc_decoded_p50_ms": round(1000 * float(np.percentile(decoded, 50)), 1) if decoded else None,
            "server_cpu": round(cpu, 2) if cpu is not None else None}


async def server_figures_through(clients: list, end: float) -> None:
    """Wait (about a second: the server's stats interval) for each client's stats message sent after
    the last frame of the window came back, so the server's figures include the window's last frames."""
    for client in clients:
        shown = len([got for got in client.frames if got.at <= end])  # (the server counts at least these)
        with suppress(TimeoutError, asyncio.TimeoutError):
            await client.wait_message(lambda m: "stats" in m and m["stats"]["frames_out"] >= shown, timeout=3.0)


def server_latencies(messages: list[dict]) -> dict[int, float]:
    """The server's own latency of each frame it reported (ms, by pts), from all its stats messages
    (each has its last 60 frames'), so that the bench takes those of its window's frames: a message's
    p50, over its last 60 frames, reached back into the warm-up at a low --fps."""
    return {pts: ms for m in messages if "stats" in m for pts, ms in m["stats"]["latency_ms"].get("by_pts", [])}


def run(args: argparse.Namespace) -> int:
    if getattr(args, "old_size_option", False):
        note("bench serve --size WxH is deprecated: use --frame-size WxH (the server's processing size is --process-size)")
    common.model_settings(args)  # (a bad --device was found only once the server had failed to start)
    if args.json:
        check_output_file(args.json)
    from realtime_adain.commands.serve import check_extra

    check_extra()
    with tempfile.TemporaryDirectory(prefix="bench-serve-") as tmp:
        workdir = Path(tmp)
        vgg, decoder, which_weights = benchmark_weights(args, workdir / "weights")
        check_results_file(args.json, [vgg, decoder])
        style = workdir / "style.png"
        write_image(style, np.random.default_rng(0).integers(0, 256, (256, 256, 3), dtype=np.uint8))
        process, url = start_server(args, vgg, decoder, style, workdir)
        try:
            measured = measure_until_stopped(url, args, process.pid)
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
    latencies = measured.pop("latencies")
    if not latencies:
        raise UserError("no frame came back during the measurement; raise --seconds")
    device = "cuda" if args.device.startswith("cuda") or (args.device == "auto" and torch.cuda.is_available()) else "cpu"
    result = {
        **stamp("serve", torch.device(device)), "cpus": os.cpu_count(),
        "weights": which_weights,
        "clients": args.clients, "frame_size": "%dx%d" % args.frame_size, "client_fps": args.fps,
        "process_size": args.process_size, "stabilize": args.stabilize,
        "fps_per_client": [c["fps"] for c in measured["per_client"]],
        "fps_mean": round(float(np.mean([c["fps"] for c in measured["per_client"]])), 2),
        "latency_p50_ms": round(1000 * float(np.percentile(latencies, 50)), 1),
        "latency_p95_ms": round(1000 * float(np.percentile(latencies, 95)), 1),
        **measured,
    }
    print_result(result)
    report_json(result, args.json)
    return 0


def print_result(r: dict) -> None:
    cpu = f"{100 * r['server_cpu']:.0f} % of one core" if r["server_cpu"] is not None else "n/a"
    print(f"serve on {r['machine']}, {r['weights']} weights, torch {r['torch']}; {r['clients']} client(s) sending "
          f"{r['frame_size']} at {r['client_fps']:g} fps, stabilize {r['stabilize']}")
    print(f"{'fps/client':>10} {'p50 ms':>8} {'p95 ms':>8} {'server CPU':>18} {'seconds':>8}")
    print(f"{r['fps_mean']:>10.2f} {r['latency_p50_ms']:>8.1f} {r['latency_p95_ms']:>8.1f} {cpu:>18} {r['seconds']:>8.1f}")
    print("per client fps: " + ", ".join(f"{fps:.2f}" for fps in r["fps_per_client"]) +
          f"; server-reported p50 (arrival to track, {r['server_reported_frames']} of the frames) "
          f"{r['server_reported_p50_ms']} ms; "
          f"aiortc-decoded p50 {r['aiortc_decoded_p50_ms']} ms")
