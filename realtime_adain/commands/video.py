"""`realtime-adain video`: stylize video files, keeping every frame's timestamp and the sound."""

from __future__ import annotations

import argparse
import re
from fractions import Fraction
from pathlib import Path

from realtime_adain.checked_inputs import StylePictures, file_digest
from realtime_adain.commands import argtypes, common
from realtime_adain.commands.jobs import output_paths, plan_jobs
from realtime_adain.imageio import WRITABLE_EXTENSIONS, check_style, decode_image, is_image_path, read_image_bytes
from realtime_adain.pillow_stills import note_first_frame_only
from realtime_adain.output_checks import (folder_ending, refuse_earlier_results, refuse_overwriting_inputs,
                                           refuse_results_read_back)
from realtime_adain.writable_folders import check_writable_dir
from realtime_adain.settings import DEFAULT_MAX_PIXELS, DEINTERLACE_MODES, STABILIZE_MODES, STABILIZE_STRENGTH, VideoSettings
from realtime_adain.errors import UserError, as_given, refuse_inputs
from realtime_adain.video.probing import is_video_path
from realtime_adain.video.picture_output import is_picture_pattern, picture_pattern_mistake
from realtime_adain.video.sequence import MIN_FRAMERATE, find_sequence, pattern_directive
from realtime_adain.video.containers import CONTAINER_FORMATS
from realtime_adain.video.encoder_check import check_encoder
from realtime_adain.video.encoder_settings import MAX_BITRATE, EncodeSettings

EPILOG = """examples:
  realtime-adain video clip.mp4 --style starry.jpg -o clip_starry.mp4
  realtime-adain video clips/ -s a.jpg -s b.jpg -o out/   # every clip x style
  realtime-adain video clip.mp4 -s starry.jpg --codec h264_nvenc -o out.mp4
  realtime-adain video clip.mp4 -s starry.jpg --codec ffv1 -o lossless.mkv
  # one scene:
  realtime-adain video in.mkv -s a.jpg --start 1:02:30 --duration 45 -o cut.mkv
  # looping, no sound:
  realtime-adain video clip.mp4 -s a.jpg --size 256 --no-keep-size -o share.gif
"""


def bitrate(text: str) -> int:
    """argparse type for --bitrate: bits per second, with an optional k/M suffix (e.g. 4M)."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kKmM]?)\s*", text, re.ASCII)
    if not match:
        raise argparse.ArgumentTypeError(f"{text!r} is not a bitrate such as 800k or 4M")
    scale = {"": 1, "k": 1_000, "m": 1_000_000}[match.group(2).lower()]
    value = float(match.group(1)) * scale
    if value > MAX_BITRATE:  # also keeps an endless digit string from overflowing int()
        raise argparse.ArgumentTypeError(f"{text!r} is above {MAX_BITRATE // 1_000_000}M")
    return int(value)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "video", help="stylize video files",
        description="Stylize video files: every frame with its timestamp, audio and subtitles copied.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("input", nargs="+", metavar="INPUT",
                        help="video file(s), directories of them, or numbered pictures as one clip: "
                             "'render/frame_%%04d.png' (quoted; FFmpeg's pattern)")
    parser.add_argument("-o", "--output", required=True, metavar="OUT",
                        help="output video (one result), directory (several), or numbered pictures: "
                             "'out/frame_%%04d.png' (also .jpg, .tif, .bmp, .ppm, .webp)")
    common.add_style_options(parser)
    encode = parser.add_argument_group("encoding")
    encode.add_argument("--codec", type=argtypes.name, help="video encoder (default libx264, libvpx-vp9 for .webm, gif for .gif); e.g. libx265, "
                                                               "ffv1 (lossless, .mkv), h264_nvenc (NVIDIA GPUs with an encoder)")
    encode.add_argument("--crf", type=argtypes.whole_number, metavar="Q", help="constant quality, lower is better: 0 to 51 (0 to 63 for VP8, VP9 and AV1) (default 18)")
    encode.add_argument("--bitrate", type=bitrate, metavar="RATE",
                        help="target bitrate in bits per second instead of CRF, e.g. 800k or 4M (at least 10k)")
    encode.add_argument("--pix-fmt", type=argtypes.name, metavar="FMT",
                        help="pixel format (default yuv420p; yuv444p when a dimension is odd; else the closest "
                             "the encoder takes, e.g. yuvj420p for mjpeg)")
    encode.add_argument("--ext", metavar="EXT", help="output container in directory mode (default mp4)")
    parser.add_argument("--keep-size", action=argparse.BooleanOptionalAction, default=True,
                        help="scale frames back to the input's display size, at most 35651584 pixels (8192x4352, "
                             "the most H.264/HEVC/AV1 take) or --max-pixels where higher (default: on)")
    parser.add_argument("--batch", type=argtypes.positive_int, metavar="N",
                        help="frames per network call (default: 1 on CPU, 4 on GPU; fewer where they would hold more than "
                             "--max-pixels in all)")
    parser.add_argument("--frames", type=argtypes.positive_int, metavar="N",
                        help="only the first N frames (a quick preview; sound up to there); with --start, N "
                             "frames from there")
    parser.add_argument("--start", type=argtypes.start_time, metavar="T",
                        help="begin at this time in the input, as FFmpeg's -ss: seconds or [HH:]MM:SS[.frac] "
                             "(90, 1:30, 0:01:30.5); the output starts at zero with the frame shown then")
    parser.add_argument("--duration", type=argtypes.duration, metavar="D",
                        help="only this long a segment (from --start), as FFmpeg's -t: seconds or [HH:]MM:SS[.frac]; "
                             "with --frames, whichever ends first")
    parser.add_argument("--framerate", type=argtypes.framerate, metavar="FPS",
                        help=f"frames per second of an image-sequence input, above {MIN_FRAMERATE} (a frame every "
                             f"{1 / MIN_FRAMERATE} s) and at most {argtypes.MAX_FRAMERATE}: 24, 29.97, 30000/1001 "
                             "(default 25, as FFmpeg)")
    parser.add_argument("--deinterlace", default="auto", choices=DEINTERLACE_MODES,
                        help="auto: rebuild frames the file flags interlaced (camcorders, DV, DVD, broadcast) "
                             "with FFmpeg's bwdif, one picture per frame, before stylizing (default); on: every "
                             "frame (interlaced but not flagged); off: the fields as they are; film: inverse telecine for NTSC "
                             "film on DVD or broadcast (3:2 pulldown): the film's own frames, fewer, same timeline")
    common.add_max_pixels_option(parser, "a video whose frames at --size (a thin strip grows fast, scaled by its short side) are")
    parser.add_argument("--threads", type=argtypes.thread_count, metavar="N",
                        help="CPU threads for the network (default: torch's, one per core); on a busy "
                             "machine 1 can be faster, leaving a core to decoding and encoding")
    steady = parser.add_argument_group("temporal stability (docs/temporal.md)")
    steady.add_argument("--stabilize", default="flow", choices=STABILIZE_MODES,
                        help="flow: blend the previous output along the content's optical flow (default); stats: "
                             "smooth the content statistics inside the network (eager engine); both; off: every "
                             "frame on its own, as `image` does at the same --size")
    steady.add_argument("--stabilize-strength", type=argtypes.unit_interval, metavar="S",
                        help="how much of the previous output is kept where the flow is trusted, in [0, 1] "
                             f"(default {STABILIZE_STRENGTH[2]} with two passes, {STABILIZE_STRENGTH[1]} with one)")
    steady.add_argument("--stabilize-passes", type=argtypes.whole_number, choices=(1, 2), metavar="{1,2}",
                        help="2: smooth along the flow forward, then backward, holding a window of frames "
                             "(steadier and sharper); 1: forward only, each frame out as soon as it is made "
                             "(default 2 with flow or both)")
    common.add_json_option(parser)
    common.add_model_options(parser, default_size=0)
    parser.set_defaults(func=run)


def plan(args: argparse.Namespace, inputs: list[Path], styles: list[Path]) -> list[tuple[Path, list[Path], Path]]:
    """(input, styles, output) per job: every input x style, or one job per input with --mix."""
    if args.mix is not None:
        common.check_mix(args, styles)
    jobs = plan_jobs(inputs, styles, "mix" if args.mix is not None else None)
    if mistake := picture_pattern_mistake(Path(args.output)):
        raise UserError(mistake)
    if is_picture_pattern(Path(args.output)) and not folder_ending(args.output):  # ('f_%04d.png/.': a folder)
        check_picture_output(args, len(jobs))
        return [(jobs[0].source, jobs[0].styles, Path(args.output))]
    refuse_numbered_video(args.output)
    outputs = output_paths(args.output, jobs, tuple(CONTAINER_FORMATS), "video", args.ext,
                           own_suffix=lambda _: ".mp4")
    return [(job.source, job.styles, output) for job, output in zip(jobs, outputs)]


def check_picture_output(args: argparse.Namespace, jobs: int) -> None:
    """Numbered pictures (`-o 'out/%04d.png'`) are one clip's frames, encoded by their extension."""
    if jobs != 1:
        raise UserError(f"-o {args.output}: numbered pictures hold one result; this run makes {jobs} (one input and "
                        "one style, or --mix; for several, give a folder)")
    if args.ext is not None:
        raise UserError(f"--ext {as_given(args.ext)}: --ext applies to a folder -o; {args.output} names numbered pictures, "
                        f"written as {Path(args.output).suffix} files")
    given = [name for name, value in (("--codec", args.codec), ("--crf", args.crf), ("--bitrate", args.bitrate),
                                      ("--pix-fmt", args.pix_fmt)) if value is not None]
    if given:
        apply = "applies" if len(given) == 1 else "apply"
        raise UserError(f"{', '.join(given)}: {apply} to a video file; numbered pictures are written as "
                        f"{Path(args.output).suffix} files: leave {'it' if len(given) == 1 else 'them'} out")


def refuse_numbered_video(output: str) -> None:
    """`-o 'f_%04d.mp4'` or `'%04d.gif'`: numbered pictures of a video format are no output we
    write, and one video file was written under that literal name."""
    path = Path(output)
    if (pattern_directive(path.name) is None or path.suffix.lower() not in CONTAINER_FORMATS
            or folder_ending(output) or path.is_dir()):
        return
    raise UserError(f"{output}: numbered pictures need a picture extension ({' '.join(WRITABLE_EXTENSIONS)}); "
                    f"a video file's name cannot hold {pattern_directive(path.name).group(0)}")


def check_outputs(outputs: list[Path], inputs: list[Path]) -> None:
    """Refuse to overwrite an input; prove the folders writable without creating them, so a run
    refused later leaves no empty folder (the output's temporary file creates it)."""
    refuse_overwriting_inputs(outputs, inputs)
    for parent in {p.parent for p in outputs}:
        check_writable_dir(parent)


def video_settings(args: argparse.Namespace) -> VideoSettings:
    """The options as typed settings, checked once here; library code sees nothing else."""
    settings = VideoSettings(
        model=common.model_settings(args), style=common.style_settings(args),
        size=args.size, keep_size=args.keep_size, batch=args.batch, frames=args.frames or 0, threads=args.threads,
        stabilize=args.stabilize, stabilize_strength=args.stabilize_strength, stabilize_passes=args.stabilize_passes,
        max_pixels=args.max_pixels, deinterlace=args.deinterlace, framerate=args.framerate,
        start=args.start or Fraction(0), duration=args.duration,
    )
    settings.check_for_command()
    return settings


def read_styles(styles: list[Path], style_size: int | None, max_pixels: int = DEFAULT_MAX_PIXELS,
                problems: list[str] | None = None) -> StylePictures:
    """Each style image decoded and checked once, then read again when it is encoded, at
    `style_size` (`StylePictures`, as `image` does): a folder of 200 photos of 24 MP was held whole,
    14 GB, and at their --style-size for the whole run still. One larger at that size than 16384
    pixels a side or than the default budget (or --max-pixels where higher: it bounds the frames,
    often far below a style) is refused, naming each: a 1x200 strip became 512x102400 pixels, and
    the run ended out of memory, saying 'lower --size'. With `problems`, each bad style is added
    there instead (a run refused already names them all)."""
    digests, found = {}, []
    for path in dict.fromkeys(styles):
        try:
            data = read_image_bytes(path)
            check_style(path, decode_image(data, str(path)), style_size, max_pixels, budget_option="--max-pixels")
        except UserError as exc:
            found.append(str(exc))
            continue
        digests[path] = file_digest(data)
        note_first_frame_only(path)
    if problems is None:
        refuse_inputs(found)
    else:
        problems += found
    return StylePictures(digests, style_size)


def encode_settings(args: argparse.Namespace) -> EncodeSettings:
    return EncodeSettings(args.codec, args.crf, args.bitrate, args.pix_fmt)


def refuse_with_missing(missing_styles: list[str], missing_inputs: list[str], styles: list[Path], inputs: list[Path],
                        settings: VideoSettings, args: argparse.Namespace) -> None:
    """Refuse a run given files that are not there, naming in the same line every other input
    that cannot be used (the styles', then the videos'): the first missing one was all it said."""
    from realtime_adain.video.input_checks import check_inputs

    problems = list(missing_styles)
    read_styles(styles, settings.style.style_size, settings.max_pixels, problems)
    problems += missing_inputs
    check_inputs(inputs, settings, encode_settings(args), problems)
    refuse_inputs(problems)  # (never returns: a file is missing)


def run(args: argparse.Namespace) -> int:
    settings = video_settings(args)  # a bad --device is refused before any work
    inputs, missing = common.expand_each(args.input, "input", is_video_path, noun="video files", sequences=True)
    styles, missing_styles = common.expand_each(args.style, "style", is_image_path)
    if missing or missing_styles:
        refuse_with_missing(missing_styles, missing, styles, inputs, settings, args)
    if settings.framerate is not None and not any(find_sequence(path) for path in inputs):
        raise UserError("--framerate is the frame rate of an image-sequence input ('frames/%04d.png'); "
                        "a video file keeps its own timestamps")
    jobs = plan(args, inputs, styles)
    refuse_earlier_results([(source, out) for source, _, out in jobs], inputs)
    refuse_results_read_back([out for _, _, out in jobs], inputs + styles, [*args.input, *args.style])
    from realtime_adain.weight_paths import files_used  # (torch: loaded by `video_settings` already)

    read = inputs + styles + files_used(settings.model.vgg, settings.model.decoder)  # no output may replace one
    check_outputs([out for _, _, out in jobs], read)
    encode = encode_settings(args)
    for suffix_example in {out.suffix.lower(): out for _, _, out in jobs}.values():
        if not is_picture_pattern(suffix_example):
            check_encoder(encode, suffix_example)
    style_images = read_styles(styles, settings.style.style_size, settings.max_pixels)
    from realtime_adain.stylizer import Stylizer  # torch: only once the options are sound
    from realtime_adain.video.input_checks import check_inputs
    from realtime_adain.video.many_files import stylize_videos
    from realtime_adain.video.partial_outputs import refuse_partial_over_inputs

    refuse_partial_over_inputs([out for _, _, out in jobs], read)  # what Ctrl-C keeps
    outputs: dict[Path, list[Path]] = {}
    for source, _, out in jobs:
        outputs.setdefault(source, []).append(out)
    check_inputs(inputs, settings, encode, outputs=outputs)  # every input opens, fits and encodes, before the model loads

    stylizer = Stylizer.for_command(settings.engine_model)
    steadiness = {"stabilize": settings.stabilize, "stabilize_passes": settings.passes if settings.has_flow else None,
                  "stabilize_strength": settings.strength if settings.has_flow else None,
                  "start": float(settings.start),
                  "duration": None if settings.duration is None else float(settings.duration)}
    stylize_videos(jobs, stylizer, style_images, settings, encode, report=lambda done: common.report_output(
        args, stylizer, done.source, done.styles, done.output, done.size, done.seconds, done.frames,
        {**steadiness, "streams": [stream.as_json() for stream in done.streams]}))
    return 0
