"""`realtime-adain live`: a camera, file or stream stylized in real time, styles switched by key."""

from __future__ import annotations

import argparse
import contextlib
import os
import stat
import sys
import time
from pathlib import Path

from realtime_adain.commands import argtypes, common
from realtime_adain.errors import UserError
from realtime_adain.live import keys
from realtime_adain.descriptors import STANDARD_INPUT, descriptor_path
from realtime_adain.settings import LIVE_SIZE_TEXT, LiveSettings
from realtime_adain.video.sequence import MIN_FRAMERATE


EPILOG = """examples:
  realtime-adain live --styles styles/        # webcam 0, window, keys below
  realtime-adain live --source clip.mp4 --styles a.jpg b.jpg   # a looping file
  realtime-adain live --styles styles/ --no-window --stream udp://127.0.0.1:5000
  # headless, the first 300 frames recorded:
  realtime-adain live -s a.jpg --no-window -o out.mp4 --max-frames 300

keys:
""" + "\n".join(f"  {k:<10} {d}" for k, d in keys.help_lines())


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "live", help="stylize a webcam, file or stream live, with keys to switch styles",
        description="Stylize a camera, video file or stream in real time in a window (or headless).",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    source = parser.add_argument_group("source")
    source.add_argument("--source", default="0", metavar="SRC",
                        help="camera index (default 0), device path (/dev/video0), video file (loops), URL, or - "
                             "for standard input (a pipe, read once; pipe:N another open descriptor)")
    source.add_argument("--resolution", type=argtypes.camera_resolution, metavar="WxH",
                        help=f"camera resolution to ask for, WIDTHxHEIGHT with each side at least "
                             f"{argtypes.MIN_RESOLUTION_SIDE}, at most 7680x4320 either way up, or "
                             f"{'/'.join(argtypes.RESOLUTION_PRESETS)}; files and URLs are scaled to it")
    source.add_argument("--fps", type=argtypes.frames_per_second, metavar="FPS",
                        help=f"frames per second, above {MIN_FRAMERATE} (a frame every {1 / MIN_FRAMERATE} s) and at "
                             f"most {argtypes.MAX_FRAMERATE} (30, 29.97, 30000/1001): the "
                             "rate to ask a camera for (default: the camera's own), or an image sequence's (default 25); "
                             "files and URLs play at their own")
    source.add_argument("--loop", action=argparse.BooleanOptionalAction, default=True,
                        help="play a video file, or a recording behind a URL, in a loop (default: on); --no-loop "
                             "ends at its end")

    common.add_library_options(parser, "style images and/or directories of them (keys 1-9, n/p pick one)")

    out = parser.add_argument_group("window and outputs")
    out.add_argument("--no-window", dest="window", action="store_false",
                     help="run headless: needs -o, --stream or --virtual-cam")
    out.add_argument("--fullscreen", action="store_true", help="start the window in fullscreen")
    # (-o, --stream and --log: appended, so that one given twice is refused, not the last one kept: `once`)
    out.add_argument("-o", "--output", metavar="FILE.mp4", action="append",
                     help="record the whole session's stylized stream to MP4 (video only: no sound)")
    out.add_argument("--stream", metavar="URL", action="append",
                     help="send the stylized stream: udp://HOST:PORT, srt://, tcp:// (MPEG-TS), rtp://HOST:PORT "
                          "(MPEG-TS over RTP), rtmp://... (FLV)")
    out.add_argument("--virtual-cam", action="store_true", help="send it to a virtual webcam (needs pyvirtualcam)")
    out.add_argument("--max-frames", type=argtypes.positive_int, metavar="N", help="stop after N frames shown/written")
    out.add_argument("--snapshot-dir", type=argtypes.nonempty_path, metavar="DIR",
                     help="where the window's `s` key writes PNGs (default: .)")
    out.add_argument("--record-dir", type=argtypes.nonempty_path, metavar="DIR",
                     help="where the window's `r` key writes MP4s (default: .)")
    out.add_argument("--log", metavar="FILE", action="append", help="also append the event log (style switches, ...) to FILE")

    temporal = parser.add_argument_group("temporal stability (docs/temporal.md)")
    common.add_stabilize_options(temporal, "stabiliser mode at the start, key t cycles it (default flow; stats needs the eager engine)")
    temporal.add_argument("--carry-motion", action="store_true",
                          help="when the stylizer is slower than the camera, show the last stylized frame carried "
                               "along the optical flow onto each new camera frame")

    common.add_model_options(parser, default_size=None, size_default_text=LIVE_SIZE_TEXT)
    parser.set_defaults(func=run)


def live_settings(args: argparse.Namespace) -> LiveSettings:
    """The session's settings from the options, checked once here."""
    output = once(args.output, "-o/--output", "one recording a session")
    stream = once(args.stream, "--stream", "one stream a session; send more with a relay (e.g. ffmpeg's tee muxer)")
    log = once(args.log, "--log", "one log file a session")
    refuse_window_options_without_window(args)
    settings = LiveSettings(
        styles=tuple(args.styles), model=common.model_settings(args), source=args.source,
        resolution=args.resolution, fps=args.fps, loop=args.loop, alpha=args.alpha,
        preserve_color=args.preserve_color, style_size=args.style_size,
        style_cache=common.style_cache_dir(args.style_cache), size=args.size, window=args.window,
        fullscreen=args.fullscreen, output=output, stream=stream,
        virtual_cam=args.virtual_cam, max_frames=args.max_frames, snapshot_dir=args.snapshot_dir or Path("."),
        record_dir=args.record_dir or Path("."), log=log, stabilize=args.stabilize,
        stabilize_strength=args.stabilize_strength, carry_motion=args.carry_motion,
    )
    settings.check()
    check_files_written(settings)
    return settings


def refuse_window_options_without_window(args: argparse.Namespace) -> None:
    """--fullscreen, --snapshot-dir and --record-dir are for the window (its keys): with --no-window
    they were ignored without a word."""
    if args.window:
        return
    for option, given, used_by in (("--fullscreen", args.fullscreen, "the window"),
                                   ("--snapshot-dir", args.snapshot_dir is not None, "the window's s key"),
                                   ("--record-dir", args.record_dir is not None, "the window's r key")):
        if given:
            raise UserError(f"{option} is for {used_by}, and --no-window opens no window: leave one of them out")


def once(values: list[str] | None, option: str, why: str) -> str | None:
    """The value of an option a session takes once (None: not given); one given more often is
    refused, saying `why` (argparse kept the last, the others dropped without a word), and so is an
    empty one (an unset variable: `-o ''` recorded nothing without a word)."""
    if values and len(values) > 1:
        raise UserError(f"{option} given {len(values)} times: {why}")
    if values and not values[0].strip():
        raise UserError(f"{option} '{values[0]}': empty (an unset variable?); give a value, or leave {option.split('/')[0]} out")
    return values[0] if values else None


def check_files_written(settings: LiveSettings) -> None:
    """-o and --log: never into the source video (by any name, a hard link's too), a style image,
    the model's weights or each other; --log also not into a picture of an image sequence, the
    engine cache or the style cache. (A typo such as `--log clip.mp4` appended event lines to the
    user's video, `--log decoder.pth` to the model; `-o` a style image's name replaced the image.)"""
    from realtime_adain.engines.cache import inside_engine_cache
    from realtime_adain.file_identity import is_inside
    from realtime_adain.input_paths import expand_images
    from realtime_adain.output_checks import folder_ending
    from realtime_adain.video.sequence import names_a_picture
    from realtime_adain.weight_paths import files_used

    if not (settings.output or settings.log):
        return
    log = Path(settings.log) if settings.log else None
    if log is not None and (log.is_dir() or folder_ending(str(settings.log))):
        raise UserError(f"--log {settings.log}: a folder; give a file name")
    styles = expand_images(settings.styles, "style")  # the images in style folders too
    inputs = [given for given in (settings.source_file, *styles, *files_used(settings.model.vgg, settings.model.decoder))
              if os.path.isfile(given)]
    refuse_writing_into_pipe(settings)
    if settings.output:
        refuse_writing_into("-o", settings.output, inputs)
    if log is None:
        return
    refuse_writing_into("--log", settings.log, inputs, recording=settings.output)
    if names_a_picture(Path(settings.source), log):
        raise UserError(f"{settings.log}: --log would write into a picture of the image sequence "
                        f"{settings.source}; give another file")
    if inside_engine_cache(log):  # (appended to an ONNX export, it was silently not used again)
        raise UserError(f"{settings.log}: inside the engine cache, which `realtime-adain engines` manages; "
                        "give another file")
    if (cache := style_cache(settings)) is not None and is_inside(log, cache):
        raise UserError(f"{settings.log}: inside the style cache {cache}, whose files the session reads; "
                        "give another file")


def refuse_writing_into_pipe(settings: LiveSettings) -> None:
    """-o and --log may not be the pipe the source is (standard input, pipe:N, a fifo) by any name
    (/dev/stdin, /dev/fd/0, /proc/self/fd/0, the fifo's path), told by its device and inode: --log
    /dev/stdin wrote the log into the source pipe, which then never ended (the session hung, deaf
    to SIGTERM); --log naming the fifo was refused as "a FIFO that nothing reads"."""
    try:
        pipe = os.fstat(0) if settings.source in STANDARD_INPUT else os.stat(descriptor_path(settings.source))
    except (OSError, ValueError):
        return
    if not (stat.S_ISFIFO(pipe.st_mode) or stat.S_ISSOCK(pipe.st_mode)):
        return  # (a file is compared by its path, `refuse_writing_into`)
    source = "standard input" if settings.source in STANDARD_INPUT else settings.source
    for option, written in (("-o", settings.output), ("--log", settings.log)):
        with contextlib.suppress(OSError, ValueError):
            if written and os.path.samestat(os.stat(written), pipe):
                raise UserError(f"{written}: {option} would write into {source}, the source; give another file")


def style_cache(settings: LiveSettings) -> Path | None:
    """The style cache folder the session reads (None: a temporary one, for a user with no home)."""
    from realtime_adain.userdirs import user_dir

    if settings.style_cache is not None:
        return settings.style_cache
    try:
        return user_dir("styles", "cache", home_name="cache/styles")  # (as `style_cache.default_cache_dir`, without torch)
    except UserError:
        return None


def refuse_writing_into(option: str, written: str, inputs: list[str], recording: str | None = None) -> None:
    """`written` (what `option` writes) may be none of `inputs` nor the `recording`: not one entry,
    nor one file under another name (a hard link: --log appends into it; -o would break the link,
    surely a slip)."""
    from realtime_adain.file_identity import same_entry

    path = Path(written)
    for given in [*inputs, *([recording] if recording else [])]:
        if same_entry(path, given) or (path.is_file() and os.path.isfile(given) and os.path.samefile(path, given)):
            what = "the -o recording" if given is recording else "an input"
            raise UserError(f"{written}: {option} would write into {given}, {what}; give another file")


def check_environment(settings: LiveSettings) -> None:
    """What the settings need of this machine: the virtual camera package, a display for the window."""
    if settings.virtual_cam:
        from realtime_adain.live.virtual_camera import VirtualCamera

        VirtualCamera.check_available()
    if settings.window and sys.platform.startswith("linux"):
        if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
            raise UserError("no display to open a window on: use --no-window with -o FILE or --stream URL")
        check_window_opens()


WINDOW_CHECK_LASTS_S = 2.0  # a window check this recent is trusted when the window opens (a probe takes 0.2 s)
_window_checked_at: float | None = None  # when the last check_window_opens began (None: never)


def check_window_opens() -> None:
    """Qt, inside OpenCV, aborts the whole process when it cannot reach the display (exit 134, a
    recording under way lost): probed first in a child process, before the model loads. A
    QT_QPA_PLATFORM the window does not open with (a Wayland desktop's wayland, a plugin
    opencv-python's Qt, xcb only, lacks) falls back to xcb, with a note, where that opens."""
    from realtime_adain.doctor.probes import window_failure, qt_platform_that_works

    global _window_checked_at
    _window_checked_at = time.monotonic()  # (the probe's start: the display was there at least until then)
    failure = window_failure()
    if failure is None:
        return
    if (platform := qt_platform_that_works()) is not None:
        print(f"note: {failure}; the window opens through {platform} instead", file=sys.stderr)
        os.environ["QT_QPA_PLATFORM"] = platform
        return
    shown = ", ".join(f"{n}={os.environ[n]}" for n in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM") if os.environ.get(n))
    raise UserError(f"the window cannot open ({failure}; {shown}): check the display, or use --no-window with "
                    "-o FILE or --stream URL")


def check_window_still_opens() -> None:
    """Run just before the window opens: the start-up check again where it is older than
    WINDOW_CHECK_LASTS_S. The display may have gone away while the model and styles loaded (an `ssh -X`
    connection dropping during a large library's first load), and Qt then aborted the process:
    exit 134, no error line. Nothing where no check was made (not Linux)."""
    if _window_checked_at is not None and time.monotonic() - _window_checked_at > WINDOW_CHECK_LASTS_S:
        check_window_opens()


def run(args: argparse.Namespace) -> int:
    settings = live_settings(args)
    check_environment(settings)
    from realtime_adain.live import app  # torch and OpenCV: only once the options are sound

    return app.run(settings, before_window=check_window_still_opens)
