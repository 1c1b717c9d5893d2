from __future__ import annotations

# This module's docstring and `bench live --help`'s text: a constant, which `python -OO` keeps.
DESCRIPTION = """Live pipeline: sustained fps and capture-to-output latency (p50/p95) of a headless session.

Runs the real `live` session (capture thread -> inference thread -> consumer) on a video file
paced at its own frame rate, as a camera would deliver it, with no window and no encoder, so the
figures are the pipeline's. By default the file is a generated 640x360 clip at 30 fps (content
does not change the speed); `--source` takes any file. The first `--warmup` seconds are left
out. `--carry-motion` runs the session twice, without and with motion carried onto every camera
frame, and reports the shown fps of both. Weights: the installed ones if found, else generated stand-ins in the published formats
(timings do not depend on the values); the report says which.
"""
__doc__ = DESCRIPTION

import argparse
import signal
import tempfile
import threading
import time
from dataclasses import replace
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from realtime_adain import interrupts
from realtime_adain.commands import common
from realtime_adain.errors import UserError, one_line
from realtime_adain.imageio import write_image
from realtime_adain.live.app import LiveSession
from realtime_adain.devices import DTYPES
from realtime_adain.settings import LIVE_SIZE_TEXT
from realtime_adain.video.sequence import ffmpeg_name
from realtime_adain.commands.argtypes import (MAX_FPS, MAX_SECONDS, frame_rate, frame_resolution, nonempty_path, results_file, seconds_from,
                                              seconds_or_none)
from realtime_adain.benchmarks.setup import benchmark_weights, check_results_file, report_json, stamp
from realtime_adain.writable_folders import check_output_file
from realtime_adain.settings import STABILIZE_MODES, LiveSettings


# A shorter window holds a frame or two over a few milliseconds: --seconds 0.001 reported 790
# frames stylized a second from a 30 fps source.
MIN_SECONDS = 1.0
measured_seconds = seconds_from(MIN_SECONDS, "measured_seconds")  # (bench serve's too: one range, said as parsed)


def source_file(text: str) -> Path:
    """A video file: a URL became a path ("http:/host/x.mp4: no such file"), and a stream's or a
    camera's rate is theirs, not the session's (`live --source` takes those)."""
    if "://" in text:
        raise argparse.ArgumentTypeError(f"{text!r} is a URL: bench live measures a video file (a stream's "
                                         "rate is the network's); give a file, or run `live --source URL`")
    return nonempty_path(text)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--source", type=source_file, metavar="FILE",
                        help="video file (default: a generated clip, see --resolution)")
    parser.add_argument("--resolution", type=frame_resolution, metavar="WxH",
                        help="size of the generated clip, even sides of 16 to 4096 (default 640x360)")
    parser.add_argument("--source-fps", type=frame_rate, metavar="FPS",
                        help=f"frame rate of the generated clip, 1 to {MAX_FPS}, e.g. 29.97 or 30000/1001 (default 30)")
    parser.add_argument("--seconds", type=measured_seconds, default=20.0, metavar="S",
                        help=f"measured duration in seconds, {MIN_SECONDS:g} to {MAX_SECONDS:g} (default 20)")
    parser.add_argument("--warmup", type=seconds_or_none, default=3.0, metavar="S",
                        help="seconds left out at the start (default 3)")
    parser.add_argument("--stabilize", default="flow", choices=STABILIZE_MODES, metavar="{%s}" % ",".join(STABILIZE_MODES),
                        help="temporal stabiliser mode, as `live --stabilize` (default flow)")
    parser.add_argument("--carry-motion", action="store_true",
                        help="run twice, without and with `live --carry-motion`, and report the shown fps of both")
    parser.add_argument("--json", type=results_file, metavar="PATH", help="also write the results to this JSON file")
    common.add_model_options(parser, default_size=None, size_default_text=LIVE_SIZE_TEXT)
    benchmark_weights_options(parser)


def benchmark_weights_options(parser: argparse.ArgumentParser) -> None:
    """--vgg and --decoder as the other benchmarks say them, replacing the model options' ones: the
    default falls back to generated stand-ins (`benchmark_weights`), where a command's is an error."""
    parser.conflict_handler = "resolve"  # (inherited by the group below, whose options replace the others)
    weights = parser.add_argument_group("weights")
    weights.add_argument("--vgg", metavar="PATH", help="encoder weights (default: installed, else generated)")
    weights.add_argument("--decoder", metavar="PATH", help="decoder weights (default: installed, else generated)")


def generated_clip(path: Path, size: tuple[int, int], fps: float, seconds: int = 4) -> Path:
    """A moving gradient, H.264, long enough to loop smoothly."""
    with av.open(ffmpeg_name(path), "w") as container:
        stream = container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001))  # (29.97: 2997/100)
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
        x = np.linspace(0, 255, size[0], dtype=np.float32)[None, :]
        y = np.linspace(0, 255, size[1], dtype=np.float32)[:, None]
        for i in range(round(seconds * fps)):
            shift = 4.0 * i
            image = np.stack([(x + shift) % 256 + 0 * y, (y + shift) % 256 + 0 * x, (x + y) / 2 + 0 * y], axis=2)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image.astype(np.uint8), format="rgb24")))
        container.mux(stream.encode(None))
    return path


def run(args: argparse.Namespace) -> int:
    clip_options = [flag for flag, value in (("--resolution", args.resolution), ("--source-fps", args.source_fps)) if value]
    if args.source is not None and clip_options:  # (they were ignored without a word)
        raise UserError(f"{' and '.join(clip_options)} {'are' if len(clip_options) > 1 else 'is'} for the generated "
                        "clip; --source plays its file at its own size and rate")
    resolution, source_fps = args.resolution or (640, 360), args.source_fps or 30.0
    if args.source is None and any(side % 2 for side in resolution):  # the clip is H.264 in 4:2:0
        raise UserError("--resolution %dx%d: the generated clip needs even sides, e.g. %dx%d"
                        % (*resolution, *(side + side % 2 for side in resolution)))
    if args.json:
        check_output_file(args.json)  # before the measurement, not after
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-live-") as tmp:
        workdir = Path(tmp)
        vgg, decoder, which_weights = benchmark_weights(args, workdir / "weights")
        check_results_file(args.json, [vgg, decoder] + ([args.source] if args.source else []))
        model = replace(common.model_settings(args), vgg=str(vgg), decoder=str(decoder))
        source = str(args.source) if args.source else str(generated_clip(workdir / "clip.mp4", resolution, source_fps))
        style = workdir / "style.png"
        write_image(style, np.random.default_rng(0).integers(0, 256, (256, 256, 3), dtype=np.uint8))
        # Headless with no output at all: the pipeline's own figures (a `live` command would refuse
        # this, so only the parts that apply are checked).
        settings = LiveSettings(
            styles=(str(style),), model=model, source=source, style_size=256,
            style_cache=workdir / "cache", size=args.size, window=False, snapshot_dir=workdir, record_dir=workdir,
            stabilize=args.stabilize,
        )
        settings.model.check_for_command()
        for carry in ((False, True) if args.carry_motion else (False,)):
            session = LiveSession(replace(settings, carry_motion=carry))
            marks: dict[str, float] = {}
            threading.Thread(target=stop_after, args=(session, args.warmup, args.seconds, marks), daemon=True).start()
            session.run()
            stopped_by(session)
            results.append(summarise(session, which_weights, marks))
    for result in results:
        print_result(result)
    common_keys = ("benchmark", "date", "machine", "torch")  # --carry-motion: both runs in one object
    report_json(results[0] if len(results) == 1 else {**{k: results[0][k] for k in common_keys}, "runs": results}, args.json)
    return 0


def stopped_by(session: LiveSession) -> None:
    """A signal ends a `live` session the normal way; a benchmark it cuts short is interrupted,
    as every other one (130 or 143, no figures of a shorter run, no second run started)."""
    if session.signal_name is not None:
        signum = signal.Signals[session.signal_name]
        raise KeyboardInterrupt() if signum == signal.SIGINT else interrupts.Terminated(signum)


def stop_after(session: LiveSession, warmup: float, seconds: float, marks: dict[str, float]) -> None:
    """Measure `seconds` of frames after a `warmup` from the first frame (loading is not timed).

    The warm-up's frames are left out by restarting the statistics at its end (the dropped
    count, like the inference thread's, stays the whole session's); `marks` gets the frames
    stylized by then, by the window's end, and its length in seconds.
    """
    while not session.stats.frames and not session.stop_event.is_set():
        time.sleep(0.05)
    if warmup > 0 and not session.stop_event.wait(warmup):
        session.stats.restart()
    marks["stylized"] = session.inference.stylized if session.inference else 0
    started = time.monotonic()
    session.stop_event.wait(seconds)
    marks["stylized_end"] = session.inference.stylized if session.inference else marks["stylized"]
    marks["span"] = time.monotonic() - started
    session.stop_event.set()


def summarise(session: LiveSession, which_weights: str, marks: dict[str, float]) -> dict:
    stats = session.stats
    if stats.frames < 3:
        raise UserError("fewer than 3 frames came through after the warm-up; raise --seconds or lower --warmup")
    span = stats.last_shown - stats.first_shown
    stylizer = session.stylizer
    return {
        **stamp("live", stylizer.device),
        "dtype": next(name for name, dtype in DTYPES.items() if dtype == stylizer.dtype),  # as --dtype names it
        "engine": session.engine_label,
        "weights": which_weights,
        "source": Path(session.settings.source).name,
        "source_resolution": "%dx%d" % session.capture_resolution,
        "source_fps": round(session.fps, 2),
        "processing_size": "%dx%d" % session.work_size,
        "stabilize": session.settings.stabilize,
        "carry_motion": session.settings.carry_motion,
        "frames": stats.frames,
        "seconds": round(span, 2),
        "fps": round((stats.frames - 1) / span, 2) if span > 0 else 0.0,
        # Frames stylized within the measured window over its length, as shown frames are counted
        # within theirs: the count to the session's end (frames stylized after the window, never
        # shown) over the shown span was above the shown rate and the camera's, nothing dropped.
        "stylized_fps": round((marks["stylized_end"] - marks["stylized"]) / marks["span"], 2) if marks.get("span") else 0.0,
        "latency_p50_ms": round(1000 * stats.latencies.percentile(50), 1),
        "latency_p95_ms": round(1000 * stats.latencies.percentile(95), 1),
        "dropped_total": session.inference.dropped + stats.skipped,
    }


def print_result(r: dict) -> None:
    print(f"live pipeline on {r['machine']} ({r['device']}), {r['dtype']}, engine {r['engine']}, {r['weights']} weights, torch {r['torch']}")
    print(f"source {one_line(r['source'])} {r['source_resolution']} @ {r['source_fps']} fps, processing {r['processing_size']}, "
          f"stabilize {r['stabilize']}" + (", motion carried" if r["carry_motion"] else ""))
    print(f"{'fps':>7} {'stylized':>8} {'p50 ms':>8} {'p95 ms':>8} {'frames':>7} {'seconds':>8} {'dropped':>8}")
    print(f"{r['fps']:>7.2f} {r['stylized_fps']:>8.2f} {r['latency_p50_ms']:>8.1f} {r['latency_p95_ms']:>8.1f} {r['frames']:>7} "
          f"{r['seconds']:>8.1f} {r['dropped_total']:>8}")
