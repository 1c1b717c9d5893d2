from __future__ import annotations

# This module's docstring and `bench video --help`'s text: a constant, which `python -OO` keeps.
DESCRIPTION = """Video files end to end: our pipeline against the reference repository's per-frame loop.

Times a clip (default: cutBunny.mp4 of the test material, $REALTIME_ADAIN_TEST_DATA or
../shared/data beside the checkout) from the first decoded packet to the
closed output file, for `realtime-adain video`'s pipeline (style encoded once, decode / network /
encode overlapped in threads, audio copied) and for the loop of naoto0804/pytorch-AdaIN
`test_video.py`, reproduced step for step on the same network modules and weights: OpenCV
decodes a frame (BGR, fed as is, as there), PIL + torchvision transforms make tensors, the style
image is resized and encoded again for every frame, the output goes through NumPy and a bicubic
resize, and is encoded in the same thread (PyAV libx264 at our CRF standing in for imageio's
ffmpeg pipe). Variants run interleaved, repeat after repeat, so load from other processes hits
them alike; medians and the ratio of medians are printed. `--frames N` times a prefix: at native
640x360 in fp32 a CPU needs seconds per frame. Weights: the installed ones if found, else
generated stand-ins (speed does not depend on the values).
"""
__doc__ = DESCRIPTION

import argparse
import math
import statistics
import tempfile
import time
from fractions import Fraction
from pathlib import Path
from typing import Callable

import av
import cv2
import numpy as np
import torch

from realtime_adain.adain import adain, calc_mean_std
from realtime_adain.commands.argtypes import (frame_batch, frame_resolution, frame_side, int_between, name, non_negative_int,
                                              nonempty_path, results_file, thread_count_or_default)
from realtime_adain.settings import DEFAULT_MAX_PIXELS, ENGINE_CHOICES, FLOW_MODES, ModelSettings, VideoSettings
from realtime_adain.video.job import stylize_file
from realtime_adain.engines.base import frames_within
from realtime_adain.errors import UserError, one_line, out_of_memory_as_user_error
from realtime_adain.imageio import read_image, read_style
from realtime_adain.writable_folders import check_output_file
from realtime_adain.picture_sizes import check_pixel_budget, short_side_size
from realtime_adain.stylizer import Stylizer
from realtime_adain.temporal import MODES
from realtime_adain.benchmarks.setup import (benchmark_weights, check_input_files, check_results_file, engine_list,
                                             material_file, report_json, stamp, timed_once)
from realtime_adain.benchmarks.temporal_clips import bench_hints, opened_video
from realtime_adain.video.sequence import ffmpeg_name
from realtime_adain.opencv_names import opencv_name
from realtime_adain.notes import note
from realtime_adain.video.encoder_check import check_encoder
from realtime_adain.video.encoder_settings import DEFAULT_CRF, EncodeSettings
from realtime_adain.video.pixel_formats import choose_pix_fmt

MAX_REPEATS = 100  # each repeat runs every variant over the whole clip


def thread_counts(text: str) -> list[int]:
    """argparse type for --threads: comma-separated counts, 0 for torch's default."""
    return [thread_count_or_default(part.strip()) for part in text.split(",")]


def stabilize_modes(text: str) -> list[str]:
    """argparse type for --stabilize: comma-separated modes of `video --stabilize`, each with
    `:1` or `:2` for `--stabilize-passes` (2 only where there is a flow stabiliser: flow:2, both:2;
    none: the command's default). Returned with the passes spelled out (flow -> flow:2), so each
    row says what ran and one setup cannot be timed twice under two names."""
    modes = []
    for token in text.split(","):
        mode, colon, passes = token.partition(":")
        if mode not in MODES:
            raise argparse.ArgumentTypeError(f"'{mode}' is not one of {', '.join(MODES)}")
        if colon and not (passes in ("1", "2") and (passes == "1" or mode in FLOW_MODES)):
            raise argparse.ArgumentTypeError(f"'{token}': a mode takes :1 or :2 passes (two only with flow or both)")
        default = VideoSettings(stabilize=mode).passes
        modes.append(f"{mode}:{passes or default}" if mode in FLOW_MODES else mode)
    if len(set(modes)) < len(modes):  # each is one labelled row; a repeat would merge two rows' timings
        raise argparse.ArgumentTypeError(f"'{text}' names a mode twice")
    return modes


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--video", type=nonempty_path, default=material_file("video"), metavar="FILE",
                        help="clip to time (default: the test material's cutBunny.mp4)")
    parser.add_argument("--style", type=nonempty_path, default=material_file("style"), metavar="FILE",
                        help="style image (default: the test material's brushstrokes.jpg)")
    parser.add_argument("--frames", type=non_negative_int, default=0, metavar="N", help="time the first N frames (default 0: all)")
    parser.add_argument("--size", type=frame_side, default=0, metavar="PX",
                        help="processing size up to 4096, 0 = native (default)")
    parser.add_argument("--style-size", type=frame_side, default=512, metavar="PX",
                        help="style size up to 4096, 0 = native (default 512, as the reference)")
    parser.add_argument("--repeats", type=int_between(1, MAX_REPEATS, "repeats"), default=3, metavar="N",
                        help=f"interleaved repeats of every variant, up to {MAX_REPEATS} (default 3)")
    parser.add_argument("--threads", type=thread_counts, default="0,1", metavar="LIST",
                        help="network threads for our pipeline, one variant each; 0 = torch's default (default 0,1)")
    parser.add_argument("--engine", type=engine_list(ENGINE_CHOICES), action="extend", metavar="LIST",
                        help=f"engines for our pipeline ({', '.join(ENGINE_CHOICES)}), comma-separated or repeated, one "
                             "variant each (default eager)")
    parser.add_argument("--batch", type=frame_batch, default=1, metavar="N",
                        help="frames per network call in our pipeline, up to 64 (default 1)")
    parser.add_argument("--stabilize", type=stabilize_modes, default="off", metavar="LIST",
                        help="our pipeline's --stabilize modes, one variant each, e.g. off,flow:1,flow:2 (passes; "
                             "default off, as the reference loop)")
    parser.add_argument("--no-baseline", action="store_true", help="skip the reference loop")
    parser.add_argument("--resolution", type=frame_resolution, metavar="WxH",
                        help="time a copy of the clip's frames scaled to this size, e.g. 1920x1080 (16 to 4096 a side; "
                             "the copy has no audio: the pipeline's audio copy is not timed)")
    parser.add_argument("--device", default="cpu", help="cpu (default, as the reference loop ran), cuda or cuda:N")
    parser.add_argument("--dtype", default="fp32", choices=("fp32", "fp16", "bf16"),
                        help="precision of our pipeline (the reference loop stays fp32)")
    parser.add_argument("--codec", type=name, default="libx264", help="our pipeline's encoder, e.g. h264_nvenc (default libx264)")
    parser.add_argument("--vgg", metavar="PATH", help="encoder weights (default: installed, else generated)")
    parser.add_argument("--decoder", metavar="PATH", help="decoder weights (default: installed, else generated)")
    parser.add_argument("--json", type=results_file, metavar="PATH", help="also write the results to this JSON file")


def reference_loop(stylizer: Stylizer, video: Path, style_path: Path, output: Path, size: int, style_size: int,
                   frames: int) -> int:
    """The per-frame loop of pytorch-AdaIN test_video.py (image style branch), on our modules."""
    from PIL import Image
    from torchvision import transforms

    def test_transform(target: int) -> transforms.Compose:
        steps = [transforms.Resize(target)] if target != 0 else []
        return transforms.Compose(steps + [transforms.ToTensor()])

    vgg, decoder, device = stylizer.net.encoder, stylizer.net.decoder, stylizer.device
    content_tf, style_tf = test_transform(size), test_transform(style_size)
    with opencv_name(video) as name:  # (a name not UTF-8 crashed OpenCV)
        capture = cv2.VideoCapture(ffmpeg_name(name))
    fps = capture.get(cv2.CAP_PROP_FPS)
    width, height = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)), int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
    out = av.open(ffmpeg_name(output), "w")
    stream = out.add_stream("libx264", rate=round(fps))
    # As the pipeline picks it: yuv420p, or yuv444p at an odd size (4:2:0 was libx264's traceback at 65x49)
    stream.width, stream.height, stream.pix_fmt = width, height, choose_pix_fmt(EncodeSettings("libx264"), width, height)
    stream.options = {"crf": str(DEFAULT_CRF)}
    # (read as every command reads a style: PIL's own open gave a grey, palette, CMYK, RGBA or 16-bit
    # picture to ToTensor as it is stored, a traceback in the encoder's first convolution)
    style_img = Image.fromarray(read_image(style_path))
    count = 0
    while not frames or count < frames:
        ret, content_img = capture.read()
        if not ret:
            break
        content = content_tf(Image.fromarray(content_img))
        style = style_tf(style_img)  # resized and converted again for every frame, as there
        style = style.to(device).unsqueeze(0)
        content = content.to(device).unsqueeze(0)
        with torch.no_grad():
            content_f = vgg(content)
            style_f = vgg(style)  # the style encoded again for every frame, as there
            feat = adain(content_f, *calc_mean_std(style_f))
            output_t = decoder(feat * 1.0 + content_f * 0.0)
        result = output_t.cpu().squeeze(0).numpy() * 255  # np.array(tensor) there, the same copy
        result = np.transpose(result, (1, 2, 0))
        result = cv2.resize(result, (width, height), interpolation=cv2.INTER_CUBIC)
        frame = av.VideoFrame.from_ndarray(np.clip(result, 0, 255).astype(np.uint8), format="rgb24")
        frame.pts = count
        for packet in stream.encode(frame):
            out.mux(packet)
        count += 1
    for packet in stream.encode(None):
        out.mux(packet)
    out.close()
    capture.release()
    return count


def our_pipeline(stylizer: Stylizer, video: Path, style_path: Path, output: Path, size: int, style_size: int,
                 frames: int, batch: int, codec: str, stabilize: str = "off") -> int:
    """`realtime-adain video` on one clip, style read and encoded inside the timing (stabiliser
    off by default: the reference loop has none). `stabilize`: a mode, `:2` for two passes.
    Returns the frames written."""
    mode, _, passes = stabilize.partition(":")
    settings = VideoSettings(size=size, batch=batch, frames=frames, stabilize=mode,
                             stabilize_passes=int(passes) if passes else None)
    style = stylizer.style_stats(read_image(style_path), style_size)
    return stylize_file(video, output, stylizer, lambda first: style, settings, EncodeSettings(codec),
                        keep_interrupted=False)[0]


def rates(done: dict[str, int], medians: dict[str, float], baseline: str | None
          ) -> tuple[dict[str, float], dict[str, float | None]]:
    """Each variant's fps (`done` frames in its `medians` seconds) and its speed-up, as a ratio of
    fps to the `baseline` variant's: where OpenCV's loop decodes fewer frames than the pipeline,
    their times are of different work (0 frames gave 1.00x against 0.02x); that is said on stderr."""
    fps = {label: done[label] / median for label, median in medians.items()}
    if len(set(done.values())) > 1:
        note("the variants went through different numbers of frames ("
             + ", ".join(f"{done[label]}: {label}" for label in medians) + "); speed-ups are ratios of fps")
    base = fps.get(baseline) if baseline is not None else None
    return fps, {label: rate / base if base else None for label, rate in fps.items()}


def resolved_engines(names: list[str], load: Callable[[str], Stylizer]) -> dict[str, Stylizer]:
    """A stylizer per engine that runs (`timed_once`), labelled with what `auto` became (`onnx (auto)`)."""
    stylizers = timed_once(names, load, lambda stylizer: stylizer.engine_name, "--engine")
    return {asked if asked == stylizer.engine_name else f"{stylizer.engine_name} ({asked})": stylizer
            for asked, stylizer in stylizers.items()}


def shown_seconds(seconds: float) -> str:
    """Seconds to three significant figures, without an exponent: to 0.1 s a one-frame run of 0.04 s
    read "0.0" beside its 24.7 fps, and one of two frames "0.1" beside 26.7 fps."""
    rounded = float(f"{seconds:.3g}")  # (first: 0.9996 is 1.00, not 1.000)
    decimals = max(0, 2 - math.floor(math.log10(rounded))) if rounded > 0 else 0
    return f"{rounded:.{decimals}f}"


def frame_count(frames: int, total: int) -> str:
    """The header's frames: of how many the container says it holds, where it says (.mkv and .ts
    do not: `--frames 1000` read "1000 of 0 frames")."""
    if total:
        return f"{frames} of {total} frames"
    return f"{f'up to {frames}' if frames else 'all'} frames (the container does not say how many)"


def check_batch_fits(batch: int, width: int, height: int) -> None:
    """Refuse a batch that `video` would lower (it holds at most its pixel budget a call): the
    table would name a batch that was not run."""
    fitting = frames_within(batch, (height, width), DEFAULT_MAX_PIXELS)  # (as `video` cuts its batches)
    if batch > fitting:
        raise UserError(f"--batch {batch} of {width}x{height} frames is over the {DEFAULT_MAX_PIXELS} pixels a call "
                        f"that `video` holds (at most {fitting} such frames); lower --batch or --size")


def upscaled_copy(video: Path, size: tuple[int, int], frames: int, output: Path) -> Path:
    """The clip's first `frames` frames at `size` (width, height), for GPU timings at 720p/1080p."""
    width, height = size
    with av.open(ffmpeg_name(video)) as source, av.open(ffmpeg_name(output), "w") as out:
        stream = source.streams.video[0]
        rate = stream.average_rate or Fraction(25)  # (none stated: FFmpeg's default)
        target = out.add_stream("libx264", rate=rate)
        target.width, target.height, target.pix_fmt = width, height, "yuv420p"
        target.options = {"crf": str(DEFAULT_CRF)}
        for index, frame in enumerate(source.decode(stream)):
            if frames and index == frames:
                break
            scaled = frame.reformat(width=width, height=height, format="yuv420p")
            # One frame apart at the encoder's rate (a pts of `index` in the source's time base, 1/12288
            # for cutBunny, put every picture at one time: the copy played as a still)
            scaled.pts, scaled.time_base = index, 1 / rate
            for packet in target.encode(scaled):
                out.mux(packet)
        for packet in target.encode(None):
            out.mux(packet)
    return output


def run(args: argparse.Namespace) -> int:
    check_input_files((args.video, "--video"), (args.style, "--style"))
    with bench_hints():
        read_style(args.style, args.style_size)  # (read again inside the timing, as the reference reads it)
    if args.json:
        check_output_file(args.json)  # before minutes of timing, not after
    if args.resolution and any(side % 2 for side in args.resolution):  # the copy is H.264 in 4:2:0
        raise UserError("--resolution %dx%d: the scaled copy needs even sides, e.g. %dx%d"
                        % (*args.resolution, *(side + side % 2 for side in args.resolution)))
    check_encoder(EncodeSettings(args.codec), Path("bench.mp4"))
    with opened_video(args.video) as probe:  # a clip that is no video is one error line
        total = probe.expected_frames  # (0: not said, as in .mkv and .ts; fps counts the frames decoded)
        shape = f"{probe.width}x{probe.height}"
        width, height = args.resolution or (probe.width, probe.height)
    # Before any variant: the reference loop ran a 5000x4000 clip at full size (no budget) until the
    # OOM killer came. `video`'s budget, which bench video does not raise.
    check_pixel_budget(args.video, height, width, args.size, DEFAULT_MAX_PIXELS, "--size", budget_option=None)
    check_batch_fits(args.batch, *short_side_size(height, width, args.size))
    n_frames = min(args.frames or total, total) if total else args.frames  # (--frames 0, the default: all)
    default_threads = torch.get_num_threads()
    with (tempfile.TemporaryDirectory(prefix="bench-video-") as tmp,
          out_of_memory_as_user_error(str(args.video), "lower --size, --resolution or --batch")):
        workdir = Path(tmp)
        vgg, decoder, which = benchmark_weights(args, workdir)
        check_results_file(args.json, [args.video, args.style, vgg, decoder])
        clip = args.video  # (the file timed; the user's clip is named in the header and the results)
        if args.resolution:
            shape = "%dx%d" % args.resolution
            clip = upscaled_copy(args.video, args.resolution, n_frames, workdir / f"clip_{shape}.mp4")
        stylizers = resolved_engines(args.engine or ["eager"], lambda name: Stylizer.for_command(
            ModelSettings(vgg, decoder, args.device, args.dtype, name)))  # (mistakes in the CLI's words)
        reference = Stylizer.for_command(ModelSettings(vgg, decoder, args.device, "fp32", "eager"))  # as the reference runs
        variants: list[tuple[str, callable]] = []
        if not args.no_baseline:
            variants.append(("reference loop (pytorch-AdaIN test_video.py)", lambda out, n, s=reference, t=default_threads: (
                torch.set_num_threads(t), reference_loop(s, clip, args.style, out, args.size, args.style_size, n))))
        for engine, stylizer in stylizers.items():
            for threads in dict.fromkeys(t or default_threads for t in args.threads):  # 0 may be a count given too
                for mode in args.stabilize:
                    label = f"pipeline, {engine} {args.dtype}, {threads} thread(s), batch {args.batch}"
                    label += f", stabilize {mode}" if args.stabilize != ["off"] else ""
                    variants.append((label, lambda out, n, s=stylizer, t=threads, m=mode: (
                        torch.set_num_threads(t),
                        our_pipeline(s, clip, args.style, out, args.size, args.style_size, n, args.batch,
                                     args.codec, m))))
        copy = " (a scaled copy, without audio)" if args.resolution else ""
        print(f"clip: {one_line(args.video.name)} {shape}{copy}, {frame_count(n_frames, total)}; size {args.size or 'native'}; "
              f"style {one_line(args.style.name)} at {args.style_size}; weights: {which}; on {args.device}, {args.dtype}", flush=True)
        for label, fn in variants:  # warm-up: one-time costs (allocator, oneDNN kernels, engine builds)
            if not fn(workdir / "warmup.mp4", 2)[1]:  # (OpenCV may not read what the pipeline reads)
                raise UserError(f"{args.video}: the {label} decoded no frame of it"
                                + ("; pass --no-baseline" if label == variants[0][0] and not args.no_baseline else ""))
        times: dict[str, list[float]] = {label: [] for label, _ in variants}
        done: dict[str, int] = {}  # frames each variant went through: fewer where the clip is shorter than said
        for repeat in range(args.repeats):
            for label, fn in variants:
                start = time.perf_counter()
                done[label] = fn(workdir / "out.mp4", n_frames)[1]
                times[label].append(time.perf_counter() - start)
                print(f"  repeat {repeat + 1}: {label}: {shown_seconds(times[label][-1])} s", flush=True)
        torch.set_num_threads(default_threads)
    n_frames = min(done.values())
    medians = {label: statistics.median(t) for label, t in times.items()}
    fps, speedups = rates(done, medians, None if args.no_baseline else variants[0][0])
    print(f"\n{'variant':<66} {'median s':>9} {'frames':>6} {'fps':>7} {'speed-up':>9}")
    rows = []
    for label, median in medians.items():
        speedup = speedups[label]
        rows.append({"variant": label, "median_s": median, "frames": done[label], "fps": fps[label], "speedup": speedup,
                     "times_s": times[label]})
        print(f"{label:<66} {shown_seconds(median):>9} {done[label]:6} {fps[label]:7.3f} {f'{speedup:.2f}x' if speedup else '':>9}")
    result = {
        **stamp("video", torch.device(args.device)), "dtype": args.dtype,
        "codec": args.codec, "clip": args.video.name,
        "resolution": shape, "frames": n_frames, "size": args.size, "style": args.style.name,
        "style_size": args.style_size, "weights": which, "repeats": args.repeats, "rows": rows,
    }
    report_json(result, args.json)
    return 0
