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

import dataclasses
import os
import stat
from fractions import Fraction
from pathlib import Path
from typing import Sequence

from realtime_adain.adain import StyleStats, check_stats
from realtime_adain.api_images import (ImageLike, as_rgb, check_budget, check_file_to_write, check_path, file_of,
                                       made_folders_removed_on_failure)
from realtime_adain.api_words import ArgumentMistake, api_words, as_value_error, in_api_words  # noqa: F401 (ArgumentMistake: callers catch api.ArgumentMistake)
from realtime_adain.checks import check_alpha, check_flag, check_kind, check_number, check_real, check_whole
from realtime_adain.errors import UserError
from realtime_adain.interrupts import finished_before_exit
from realtime_adain.picture_sizes import fit_short_side, style_budget
from realtime_adain.settings import (DEFAULT_MAX_PIXELS, FLOW_MODES, STATS_MODES, STATS_NEED_EAGER, ModelSettings,
                                     StyleSettings, VideoSettings, check_time, check_weights, scaled_weights,
                                     weight_values)
from realtime_adain.stylizer import Stylizer
from realtime_adain import notes
from realtime_adain.video.encoder_settings import EncodeSettings
from realtime_adain.video.picture_output import is_picture_pattern, picture_pattern_mistake
from realtime_adain.video.sequence import check_framerate, find_sequence


def check_mix(mix: Sequence[float] | None, count: int) -> tuple[float, ...] | None:
    """One finite, non-negative weight per style with a positive sum (None: no mix), scaled to at
    most 1 as `StyleStats.mix` scales them: [1e308, 1e308] is an even mix there, not a sum too large."""
    check_weights(mix)  # (its kinds: StyleSettings' check)
    if mix is None:
        return None
    weights = weight_values(mix)  # (`check_weights`: real numbers a float holds)
    if len(weights) != count:
        raise ValueError(f"mix has {len(weights)} weight{'s' * (len(weights) != 1)} for {count} style{'s' * (count != 1)}")
    return scaled_weights(weights)


def _eager_for_stats(stylizer: Stylizer, stabilize: str) -> Stylizer:
    """An eager `Stylizer` on the network of `stylizer` (no second load), whose engine 'auto' chose:
    modes stats/both smooth statistics inside the network, where 'auto' means eager, as it does for
    a `model=` (`settings.model_for_stabilizer`); else on the CPU a cached ONNX export made the same
    call fail. An engine asked for by name stays a ValueError."""
    if getattr(stylizer, "engine_asked", None) != "auto":  # (found only once the output was open, as --stabilize)
        raise ValueError(f"stabilize={stabilize!r} {STATS_NEED_EAGER}; this stylizer runs {stylizer.engine_name} "
                         "(load it with engine='eager')")
    return Stylizer(stylizer.net, stylizer.device, stylizer.dtype, stylizer.weight_paths, engine="eager")


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
    seconds (a float as the decimal it prints as: 1.3 is "1.3") or as FFmpeg writes times ("1:30",
    "0:01:30.5"), as `ffmpeg -ss START -i in -t DUR`;
    the output starts at zero (`frames` counts from `start`). `keep_size` False: the output at the
    processing size (`size`), not scaled back to the input's display size."""
    from realtime_adain.output_checks import refuse_overwriting_inputs
    from realtime_adain.video.job import stylize_file
    from realtime_adain.video.many_files import stylize_videos
    from realtime_adain.video.partial_outputs import refuse_partial_over_inputs
    from realtime_adain.video.encoder_check import check_encoder
    from realtime_adain.weight_paths import files_used

    source, output = check_path(source, "source"), check_file_to_write(output, "output")
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
    from realtime_adain.temporal.checks import check_choice

    check_choice(stabilize, "stabilize", MODES)  # (a TypeError for what is no str: an array's `in` is elementwise)
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
        style=StyleSettings(check_alpha(alpha), mix, check_flag(preserve_color, "preserve_color"),
                            check_whole(style_size, "style_size")),
        size=check_whole(size, "size"), keep_size=check_flag(keep_size, "keep_size"),
        frames=check_whole(frames, "frames"), stabilize=stabilize,
        stabilize_strength=None if stabilize_strength is None else check_number(stabilize_strength, "stabilize_strength"),
        stabilize_passes=None if stabilize_passes is None else int(stabilize_passes),
        max_pixels=check_whole(max_pixels, "max_pixels", minimum=1), deinterlace=check_kind(deinterlace, str, "deinterlace"),
        framerate=(None if framerate is None
                   else as_value_error(lambda: check_framerate(check_real(framerate, "framerate")))),
        start=as_value_error(lambda: check_time(check_real(start, "start", text_too=True), "--start")),
        duration=(None if duration is None else as_value_error(
            lambda: check_time(check_real(duration, "duration", text_too=True), "--duration", positive=True))),
    )
    settings.check()  # (in the API's words: `VideoSettings.check`)
    if framerate is not None and not find_sequence(source):  # (was ignored: the file's own rate, silently)
        raise ValueError(f"framerate is the frame rate of an image-sequence source ('frames/%04d.png'); "
                         f"{source.name} is a video file, which keeps its own timestamps")
    settings.style.check(len(styles) if mix is not None else None)
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
        as_value_error(lambda: check_encoder(encode, output))
    elif encode != EncodeSettings():
        raise ValueError(f"codec, crf, bitrate and pix_fmt encode video files; {output.name} names pictures")
    images = {}  # each style image read and checked before the model loads, kept at the size it is encoded at
    if not isinstance(styles[0], StyleStats):
        for index, given in enumerate(styles):
            name = f"style[{index}]" if len(styles) > 1 else "style"
            # (max_pixels bounds the frames, often far below a style; a style gets at least st.style's default)
            limit = style_budget(settings.max_pixels)
            image = as_rgb(given, name, lambda height, width, name=name, limit=limit: check_budget(  # (before any copy)
                (height, width), settings.style.style_size, limit, name, "style_size",
                f"the {limit} pixels a style may have (4096 x 4096, or max_pixels where higher; lower style_size)"))
            images[Path(f"style-{index}")] = fit_short_side(image, settings.style.style_size)
    weights = [Path(p) for p in (settings.model.vgg, settings.model.decoder) if isinstance(p, (str, os.PathLike))]
    paths = [source, output, *style_paths, *weights]
    with (made_folders_removed_on_failure(output), api_words(paths),
          notes.worded(lambda line: in_api_words(line, paths)), finished_before_exit(str(output))):
        # (as Stylizer.load says it: a device or dtype that cannot be had is a ValueError naming it)
        stylizer = stylizer or Stylizer.load(**dataclasses.asdict(settings.engine_model))
        if not images:
            mixed = StyleStats.mix(styles, mix) if mix is not None else styles[0]
            stylize_file(source, output, stylizer, lambda first: mixed, settings, encode)
        else:
            stylize_videos([(source, list(images), output)], stylizer, images, settings, encode)
    return output
