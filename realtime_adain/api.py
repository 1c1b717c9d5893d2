"""The Python API: load once, style once, stylize many.

    import realtime_adain as ra
    st = ra.Stylizer.load()                       # weights as the CLI finds them; device/dtype/engine "auto"
    style = st.style("starry.jpg")                # path, PIL image or (H, W, 3) uint8 array -> StyleStats
    out = st.stylize_image("photo.jpg", style, alpha=0.8)
    ra.stylize_video("in.mp4", "out.mp4", style="starry.jpg")

Everything here checks its arguments and raises TypeError/ValueError naming the one that is wrong;
file problems (missing, unreadable, wrong weights) are `UserError`, as in the CLI.
"""

from __future__ import annotations

import contextlib
import dataclasses
import numbers
import os
import re
import stat
from fractions import Fraction
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

import numpy as np

from realtime_adain.adain import StyleStats, check_stats
from realtime_adain.api_images import (ImageLike, as_rgb, check_path, file_of, in_api_functions,
                                       made_folders_removed_on_failure)
from realtime_adain.checks import check_number, check_whole
from realtime_adain.errors import UserError, out_of_memory_as_user_error
from realtime_adain.imageio import MAX_SIDE, fit_short_side, over_budget, resize, style_budget
from realtime_adain.interrupts import finished_before_exit
from realtime_adain.settings import (DEFAULT_MAX_PIXELS, FLOW_MODES, STATS_MODES, STATS_NEED_EAGER, ModelSettings,
                                     StyleSettings, VideoSettings, check_time, check_weights)
from realtime_adain.stylizer import OutOfMemory, Stylizer
from realtime_adain import notes
from realtime_adain.video.formats import EncodeSettings
from realtime_adain.video.picture_output import is_picture_pattern, picture_pattern_mistake
from realtime_adain.video.pipeline import frames_within
from realtime_adain.video.sequence import check_framerate, find_sequence


def check_budget(image: np.ndarray, size: int | None, max_pixels: int, name: str, size_name: str = "size",
                 budget: str | None = None) -> None:
    """Refuse to process `image` at `size` (the argument `size_name`) beyond `max_pixels` or MAX_SIDE
    a side: a thin strip scaled by its short side would otherwise become gigapixels that exhaust memory.
    `budget` says what `max_pixels` is where it is not the caller's max_pixels."""
    height, width = image.shape[:2]
    if (found := over_budget(height, width, size, max_pixels)) is None:
        return
    new_w, new_h, over = found
    if size:  # the sides exactly: over_budget's float scale said 10**30 as 1000000000000000019884624838656
        new_w, new_h = (max(1, round(Fraction(side * size, min(height, width)))) for side in (width, height))
    at = f"{name} ({width}x{height}) at {size_name} {size} is {new_w}x{new_h}" if size else f"{name} is {width}x{height}"
    smaller = f"lower {size_name}" if size else "pass a smaller image"
    if over == "side":
        raise ValueError(f"{at}, longer than {MAX_SIDE} pixels on a side ({smaller})")
    raise ValueError(f"{at}, over {budget or f'max_pixels={max_pixels} ({smaller}, or raise max_pixels)'}")


def check_alpha(alpha: float) -> float:
    return check_number(alpha, "alpha")


def check_real(value: Any, name: str, text_too: bool = False) -> Any:
    """A TypeError for what is no number (nor text, with `text_too`: a time such as '1:30'), as for
    every argument of the wrong kind: framerate='24' and start=[1] were ValueErrors ('not str')."""
    if isinstance(value, bool) or not isinstance(value, (numbers.Real, str) if text_too else numbers.Real):
        wanted = "seconds (a number) or text such as '1:30'" if text_too else "a number"
        raise TypeError(f"{name} must be {wanted}, got {type(value).__name__}")
    return value


def check_kind(value: Any, kind: type, name: str) -> Any:
    if not isinstance(value, kind):
        raise TypeError(f"{name} must be {kind.__name__}, got {type(value).__name__}")
    return value


def check_style(style: StyleStats) -> StyleStats:
    if not isinstance(style, StyleStats):
        raise TypeError(f"style must be StyleStats (from Stylizer.style), got {type(style).__name__}")
    check_stats(style, "style")
    return style


def check_size(size: int | None) -> int | None:
    return check_whole(size, "size", none_ok=True)


def check_mix(mix: Sequence[float] | None, count: int) -> tuple[float, ...] | None:
    """One finite, non-negative weight per style with a positive sum (None: no mix), scaled to at
    most 1 as `StyleStats.mix` scales them: [1e308, 1e308] is an even mix there, not a sum too large."""
    check_weights(mix)  # (its kinds: StyleSettings' check)
    if mix is None:
        return None
    weights = tuple(check_number(w, f"mix[{i}]", 0.0, float("inf")) for i, w in enumerate(mix))
    if len(weights) != count:
        raise ValueError(f"mix has {len(weights)} weight{'s' * (len(weights) != 1)} for {count} style{'s' * (count != 1)}")
    largest = max(weights, default=0.0)
    if not largest > 0:
        raise ValueError(f"mix weights must have a positive sum, got {list(weights)}")
    return tuple(w / largest for w in weights)


# The CLI options whose messages reach a caller of `stylize_video`, each said as the argument that
# sets it (stylize_video's, or ModelSettings'/Stylizer.load's): --max-pixels becomes max_pixels.
API_ARGUMENTS = ("size", "keep-size", "max-pixels", "style-size", "alpha", "mix", "preserve-color", "stabilize",
                 "stabilize-strength", "stabilize-passes", "frames", "codec", "crf", "bitrate", "pix-fmt",
                 "deinterlace", "framerate", "start", "duration", "device", "dtype", "engine", "vgg", "decoder")
# The CLI's switches that turn an option off, said as the argument's value.
API_SWITCHES = {"no-keep-size": "keep_size=False"}
# An option with its value's placeholder ("pass --decoder PATH") is said as the argument given it: decoder=PATH.
_OPTION = re.compile(r"(?<![\w-])--(" + "|".join(sorted([*API_ARGUMENTS, *API_SWITCHES], key=len, reverse=True))
                     + r")(?![\w-])(?: (PATH|N)\b)?")


def _api_argument(option: re.Match) -> str:
    name = API_SWITCHES.get(option.group(1)) or option.group(1).replace("-", "_")
    return f"{name}={option.group(2)}" if option.group(2) else name


def in_api_words(message: str, paths: Sequence[Path] = ()) -> str:
    """`message`, written for the CLI, with the options a call sets by argument named as those
    arguments; the names of `paths` in it are left as they are (a file may be called --size.mp4)."""
    names = sorted({str(p) for p in paths if str(p)}, key=len, reverse=True)
    parts = re.split("(" + "|".join(map(re.escape, names)) + ")", message) if names else [message]
    return "".join(part if index % 2 else in_api_functions(_OPTION.sub(_api_argument, part))
                   for index, part in enumerate(parts))


class ArgumentMistake(ValueError, UserError):
    """A mistaken argument found by a check written for the CLI: a ValueError naming it, as every
    other mistake in a call; a UserError too, for the commands that call the API (`export` and
    `bench` load through `Stylizer.load`), which say it in one line."""


def _as_value_error(check: Callable[[], Any], paths: Sequence[Path] = ()) -> Any:
    """Run a settings check written for the CLI (its value returned); its refusal is a ValueError
    naming the argument (--style-size becomes style_size), as every other mistake in a call; the
    names of `paths` in it left as they are."""
    try:
        return check()
    except UserError as exc:
        raise ArgumentMistake(in_api_words(str(exc), paths)) from None


@contextlib.contextmanager
def _api_words(paths: Sequence[Path]) -> Iterator[None]:
    """A UserError from the video code (written for the CLI: a video over the pixel budget is
    '... raise it with --max-pixels, or lower --size') naming the caller's arguments instead; its
    type and traceback kept."""
    try:
        yield
    except UserError as exc:
        if len(exc.args) == 1 and isinstance(exc.args[0], str):
            exc.args = (in_api_words(exc.args[0], paths),)
        raise


def _eager_for_stats(stylizer: Stylizer, stabilize: str) -> Stylizer:
    """An eager `Stylizer` on the network of `stylizer` (no second load), whose engine 'auto' chose:
    modes stats/both smooth statistics inside the network, where 'auto' means eager, as it does for
    a `model=` (`settings.model_for_stabilizer`); else on the CPU a cached ONNX export made the same
    call fail. An engine asked for by name stays a ValueError."""
    if getattr(stylizer, "engine_asked", None) != "auto":  # (found only once the output was open, as --stabilize)
        raise ValueError(f"stabilize={stabilize!r} {STATS_NEED_EAGER}; this stylizer runs {stylizer.engine_name} "
                         "(load it with engine='eager')")
    return Stylizer(stylizer.net, stylizer.device, stylizer.dtype, stylizer.weight_paths, engine="eager")


def style(stylizer: Stylizer, image: ImageLike, size: int | None = 512,
          max_pixels: int = DEFAULT_MAX_PIXELS) -> StyleStats:
    """A style's statistics, computed once: encode it at `size` (shorter side; None/0: as it is)."""
    rgb, size = as_rgb(image, "image"), check_size(size)
    check_budget(rgb, size, check_whole(max_pixels, "max_pixels", minimum=1), "image")
    return stylizer.style_stats(rgb, size)


def stylize_image(stylizer: Stylizer, image: ImageLike, style: StyleStats, alpha: float = 1.0,
                  size: int | None = 512, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """One image of any size and kind -> (H, W, 3) uint8 RGB at its own size, processed at `size`."""
    original, size = as_rgb(image, "image"), check_size(size)
    check_budget(original, size, check_whole(max_pixels, "max_pixels", minimum=1), "image")
    style, alpha = check_style(style), check_alpha(alpha)  # (before the resize: a mistake is said at once)
    # (one line, as stylize_video's; a MemoryError too, as Stylizer.stylize's: `except MemoryError` missed it)
    with out_of_memory_as_user_error("image", "lower size", OutOfMemory):
        result = stylizer.stylize(fit_short_side(original, size), style, alpha)
        return resize(result, original.shape[1::-1])


class CallersError(Exception):
    """An exception of the caller's own iterable, carried through the engine's stream
    (`errors_carried`) to be raised as itself (`callers_errors_raised`): a MemoryError of the
    caller's frame generator was said as the engine's ('frames: out of memory; lower batch'), the
    original suppressed."""

    def __init__(self, error: Exception) -> None:
        super().__init__(f"{type(error).__name__} from the caller's iterable")
        self.error = error


def errors_carried(items: Iterable) -> Iterator:
    """`items`, what iterating them raises carried as a `CallersError`."""
    try:
        iterator = iter(items)
    except Exception as exc:
        raise CallersError(exc) from None
    while True:
        try:
            item = next(iterator)
        except StopIteration:
            return
        except Exception as exc:
            raise CallersError(exc) from None
        yield item


def callers_errors_raised(results: Iterator) -> Iterator:
    """`results`, a `CallersError` raised as the caller's own error it carries."""
    try:
        yield from results
    except CallersError as carried:
        error = carried.error
    else:
        return
    raise error  # (outside the except: not "during handling of" the carrier)


def frame_batches(frames: Iterable[np.ndarray], batch: int, max_pixels: int) -> Iterator[np.ndarray]:
    """`frames` as (N, H, W, 3) batches of up to `batch` frames of one shape, each holding at most
    `max_pixels` pixels and the most one engine call takes (16384 x 16384: max_pixels=10**9 built
    300 frames of 1024x1024 into one batch, which the engine refused once they were copied). Each
    frame copied into its batch as it comes (a producer may reuse its buffer, as
    `cv2.VideoCapture.read(buf)` does: every frame of a batch was the last one); a frame of another
    size first sends the frames before it."""
    pending, count = np.empty((0,), np.uint8), 0
    for index, frame in enumerate(frames):
        frame = as_rgb(frame, f"frames[{index}]")
        check_budget(frame, None, max_pixels, f"frames[{index}]")
        if count and frame.shape != pending.shape[1:]:
            yield pending[:count]
            count = 0
        if not count:  # a new array each batch: the engine may still be reading the last one
            pending = np.empty((frames_within(batch, frame.shape, max_pixels), *frame.shape), np.uint8)
        pending[count] = frame
        count += 1
        if count == len(pending):  # (memory grows with a batch's pixels)
            yield pending
            count = 0
    if count:
        yield pending[:count]


def stylize_frames(stylizer: Stylizer, frames: Iterable[np.ndarray], style: StyleStats, alpha: float = 1.0,
                   batch: int = 1, max_pixels: int = DEFAULT_MAX_PIXELS) -> Iterator[np.ndarray]:
    """Frames streamed through the engine in order, `batch` at a time (one shape per batch; fewer
    where `batch` frames would hold more than `max_pixels` pixels in all, or than 16384 x 16384, the
    most one engine call takes: `frame_batches`).

    The arguments are checked at the call; each frame when it is reached (`frames` may be endless)."""
    check_style(style)
    alpha = check_alpha(alpha)
    batch = check_whole(batch, "batch", minimum=1)
    max_pixels = check_whole(max_pixels, "max_pixels", minimum=1)
    if isinstance(frames, np.ndarray) and frames.ndim != 4:
        raise ValueError(f"frames must be an (N, H, W, 3) array or an iterable of (H, W, 3) frames, "
                         f"got an array of shape {frames.shape}")
    if not isinstance(frames, Iterable) or isinstance(frames, (str, bytes, os.PathLike)):
        raise TypeError(f"frames must be an iterable of (H, W, 3) uint8 frames, got {type(frames).__name__}")

    def results() -> Iterator[np.ndarray]:
        with out_of_memory_as_user_error("frames", "lower batch, or pass smaller frames", OutOfMemory):
            for stylized in stylizer.stylize_stream(frame_batches(errors_carried(frames), batch, max_pixels),
                                                    style, alpha):
                yield from stylized

    return callers_errors_raised(results())


def stylize_video(
    source: str | os.PathLike, output: str | os.PathLike, style: ImageLike | StyleStats | Sequence[ImageLike],
    *, mix: Sequence[float] | None = None, alpha: float = 1.0, preserve_color: bool = False, style_size: int = 512,
    size: int = 0, keep_size: bool = True, stabilize: str = "flow", stabilize_strength: float | None = None,
    stabilize_passes: int | None = None, frames: int = 0,
    codec: str | None = None, crf: int | None = None, bitrate: int | None = None, pix_fmt: str | None = None,
    stylizer: Stylizer | None = None, model: ModelSettings | None = None, max_pixels: int = DEFAULT_MAX_PIXELS,
    deinterlace: str = "auto", framerate: float | Fraction | None = None,
    start: float | Fraction | str = 0, duration: float | Fraction | str | None = None,
) -> Path:
    """The `video` command as a function: one file to another, sound kept; returns the output path.
    `codec` None: the container's default encoder (libx264; libvpx-vp9 for .webm, gif for .gif); `bitrate` in
    bits per second instead of `crf`; `pix_fmt` None: yuv420p (yuv444p for odd sizes).
    `stabilize_passes` None: two with a flow stabiliser; `stabilize_strength` None: 0.5 with two
    passes, 0.7 with one (docs/temporal.md). `source` may be an image sequence ("render/%04d.png",
    at `framerate`, default 25), and `output` numbered pictures ("out/%04d.png"); `deinterlace`:
    "auto" (frames flagged interlaced), "on", "off", "film" (inverse telecine). `start` and `duration`: only that segment, in
    seconds or as FFmpeg writes times ("1:30", "0:01:30.5"), as `ffmpeg -ss START -i in -t DUR`;
    the output starts at zero (`frames` counts from `start`). `keep_size` False: the output at the
    processing size (`size`), not scaled back to the input's display size."""
    from realtime_adain.paths import refuse_overwriting_inputs
    from realtime_adain.video.job import refuse_partial_over_inputs, stylize_file, stylize_videos
    from realtime_adain.video.formats import check_encoder
    from realtime_adain.weights import files_used

    source, output = check_path(source, "source"), check_path(output, "output")
    if source.is_dir():
        raise UserError(f"{source}: a folder, not a video file")
    if source.exists() and not source.is_file():  # (was "no such file": the reader opens regular files only)
        pipe = " (a pipe is read more than once: save it to a file first)" if stat.S_ISFIFO(source.stat().st_mode) else ""
        raise UserError(f"{source}: a device, fifo or socket, not a video file{pipe}")
    styles = list(style) if isinstance(style, (list, tuple)) else [style]
    if not styles:
        raise ValueError("style must name at least one style")
    if any(isinstance(s, StyleStats) for s in styles) and not all(isinstance(s, StyleStats) for s in styles):
        raise TypeError("style must be all StyleStats or all images (paths, PIL images, arrays), not a mix of both")
    for index, given in enumerate(styles):
        if isinstance(given, StyleStats):
            check_stats(given, f"style[{index}]" if len(styles) > 1 else "style")
        elif isinstance(given, (str, os.PathLike)):
            check_path(given, "style")
    mix = check_mix(mix, len(styles))
    from realtime_adain.temporal import MODES

    if not isinstance(stabilize, str) or stabilize not in MODES:  # (an array's `in` is elementwise)
        raise ValueError(f"stabilize must be one of {', '.join(MODES)}, got {stabilize!r}")
    if stabilize_passes is not None and check_whole(stabilize_passes, "stabilize_passes", minimum=1) > 2:
        raise ValueError(f"stabilize_passes must be 1 or 2, got {stabilize_passes}")
    if stabilize_passes is not None and stabilize not in FLOW_MODES:
        raise ValueError(f"stabilize_passes needs stabilize='flow' or 'both', got {stabilize!r}")
    if stabilize_strength is not None and stabilize not in FLOW_MODES:
        raise ValueError(f"stabilize_strength needs stabilize='flow' or 'both', got {stabilize!r}")
    for value, name in ((stylizer, "stylizer"), (model, "model")):
        if value is not None:
            check_kind(value, Stylizer if name == "stylizer" else ModelSettings, name)
    if stylizer is not None and model is not None:  # (the model was ignored: another device or weights, silently)
        raise ValueError("give stylizer or model, not both: a Stylizer is loaded already, with its own weights, "
                         "device, dtype and engine")
    if stylizer is not None and stabilize in STATS_MODES and stylizer.engine_name != "eager":
        stylizer = _eager_for_stats(stylizer, stabilize)
    settings = VideoSettings(
        model=model or ModelSettings(),
        style=StyleSettings(check_alpha(alpha), mix, check_kind(preserve_color, bool, "preserve_color"),
                            check_whole(style_size, "style_size")),
        size=check_whole(size, "size"), keep_size=check_kind(keep_size, bool, "keep_size"),
        frames=check_whole(frames, "frames"), stabilize=stabilize,
        stabilize_strength=None if stabilize_strength is None else check_number(stabilize_strength, "stabilize_strength"),
        stabilize_passes=None if stabilize_passes is None else int(stabilize_passes),
        max_pixels=check_whole(max_pixels, "max_pixels", minimum=1), deinterlace=check_kind(deinterlace, str, "deinterlace"),
        framerate=(None if framerate is None
                   else _as_value_error(lambda: check_framerate(check_real(framerate, "framerate")))),
        start=_as_value_error(lambda: check_time(check_real(start, "start", text_too=True), "--start")),
        duration=(None if duration is None else _as_value_error(
            lambda: check_time(check_real(duration, "duration", text_too=True), "--duration", positive=True))),
    )
    _as_value_error(settings.check)
    if framerate is not None and not find_sequence(source):  # (was ignored: the file's own rate, silently)
        raise ValueError(f"framerate is the frame rate of an image-sequence source ('frames/%04d.png'); "
                         f"{source.name} is a video file, which keeps its own timestamps")
    _as_value_error(lambda: settings.style.check(len(styles) if mix is not None else None))
    if len(styles) > 1 and mix is None:
        raise ValueError("several styles need mix weights (mix=[...]), one per style")
    if settings.style.preserve_color and isinstance(styles[0], StyleStats):  # (was ignored: the style's colours)
        raise ValueError("preserve_color recolours the style image to the video's first frame, and StyleStats hold "
                         "no image: pass the style as a path, PIL image or array")
    style_paths = [path for path in map(file_of, styles) if path is not None]  # (a PIL image's file too)
    weight_files = ([Path(p) for p in stylizer.weight_paths] if stylizer is not None
                    else files_used(settings.model.vgg, settings.model.decoder))
    refuse_overwriting_inputs([output], [source, *style_paths, *weight_files])
    refuse_partial_over_inputs([output], [source, *style_paths, *weight_files])  # what an interrupted run keeps
    if pix_fmt is not None and not check_kind(pix_fmt, str, "pix_fmt").strip():  # (was taken as None, silently)
        raise ValueError("pix_fmt is an empty name (leave it None for the default)")
    encode = EncodeSettings(None if codec is None else check_kind(codec, str, "codec"), check_whole(crf, "crf", none_ok=True),
                            check_whole(bitrate, "bitrate", none_ok=True, minimum=1), pix_fmt)
    if mistake := picture_pattern_mistake(output):
        raise ValueError(mistake)
    if not is_picture_pattern(output):
        _as_value_error(lambda: check_encoder(encode, output))
    elif encode != EncodeSettings():
        raise ValueError(f"codec, crf, bitrate and pix_fmt encode video files; {output.name} names pictures")
    images = {}  # each style image read and checked before the model loads, kept at the size it is encoded at
    if not isinstance(styles[0], StyleStats):
        for index, given in enumerate(styles):
            name = f"style[{index}]" if len(styles) > 1 else "style"
            image = as_rgb(given, name)  # (its processing size was not bounded: a thin strip became gigapixels)
            # (max_pixels bounds the frames, often far below a style; a style gets at least st.style's default)
            limit = style_budget(settings.max_pixels)
            check_budget(image, settings.style.style_size, limit, name, "style_size",
                         f"the {limit} pixels a style may have (4096 x 4096, or max_pixels where higher; lower style_size)")
            images[Path(f"style-{index}")] = fit_short_side(image, settings.style.style_size)
    weights = [Path(p) for p in (settings.model.vgg, settings.model.decoder) if isinstance(p, (str, os.PathLike))]
    paths = [source, output, *style_paths, *weights]
    with (made_folders_removed_on_failure(output), _api_words(paths),
          notes.worded(lambda line: in_api_words(line, paths)), finished_before_exit(str(output))):
        # (as Stylizer.load says it: a device or dtype that cannot be had is a ValueError naming it)
        stylizer = stylizer or Stylizer.load(**dataclasses.asdict(settings.engine_model))
        if not images:
            mixed = StyleStats.mix(styles, mix) if mix is not None else styles[0]
            stylize_file(source, output, stylizer, lambda first: mixed, settings, encode)
        else:
            stylize_videos([(source, list(images), output)], stylizer, images, settings, encode)
    return output
