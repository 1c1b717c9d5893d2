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

import os
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

import numpy as np

from realtime_adain.adain import StyleStats
from realtime_adain.imageio import fit_short_side, read_image, resize
from realtime_adain.settings import DEFAULT_MAX_PIXELS, FLOW_MODES, ModelSettings, StyleSettings, VideoSettings
from realtime_adain.stylizer import Stylizer
from realtime_adain.video.formats import EncodeSettings

ImageLike = Any  # a path (str or os.PathLike), a PIL image, or an (H, W, 3) / (H, W) uint8 array


def as_rgb(image: ImageLike, name: str = "image") -> np.ndarray:
    """Any supported image kind as a contiguous (H, W, 3) uint8 RGB array."""
    if isinstance(image, (str, os.PathLike)):
        return read_image(image)
    if hasattr(image, "convert") and hasattr(image, "size"):  # a PIL image, without importing PIL
        image = np.asarray(image.convert("RGB"))
    if not isinstance(image, np.ndarray):
        raise TypeError(f"{name} must be a path, a PIL image or a numpy array, got {type(image).__name__}")
    if image.dtype != np.uint8:
        raise TypeError(f"{name} must be uint8 (0..255), got {image.dtype}")
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    if image.ndim != 3 or image.shape[2] != 3 or 0 in image.shape:
        raise ValueError(f"{name} must be (H, W, 3) RGB or (H, W) grey, got shape {image.shape}")
    return np.ascontiguousarray(image)


def check_number(value: float, name: str, low: float = 0.0, high: float = 1.0) -> float:
    """A real number (not a bool) in [low, high]; nan fails."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a number in [{low:g}, {high:g}], got {type(value).__name__}")
    if not low <= value <= high:  # nan fails too
        raise ValueError(f"{name} must be in [{low:g}, {high:g}], got {value}")
    return float(value)


def check_alpha(alpha: float) -> float:
    return check_number(alpha, "alpha")


def check_whole(value: int | None, name: str, minimum: int = 0, none_ok: bool = False) -> int | None:
    """A whole number (not a bool) of at least `minimum` (or None where `none_ok`)."""
    if value is None and none_ok:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be a whole number{' or None' if none_ok else ''}, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {value}")
    return int(value)


def check_path(value: str | os.PathLike, name: str) -> Path:
    if not isinstance(value, (str, os.PathLike)):
        raise TypeError(f"{name} must be a path (str or os.PathLike), got {type(value).__name__}")
    return Path(value)


def check_kind(value: Any, kind: type, name: str) -> Any:
    if not isinstance(value, kind):
        raise TypeError(f"{name} must be {kind.__name__}, got {type(value).__name__}")
    return value


def check_style(style: StyleStats) -> StyleStats:
    if not isinstance(style, StyleStats):
        raise TypeError(f"style must be StyleStats (from Stylizer.style), got {type(style).__name__}")
    return style


def check_size(size: int | None) -> int | None:
    return check_whole(size, "size", none_ok=True)


def style(stylizer: Stylizer, image: ImageLike, size: int | None = 512) -> StyleStats:
    """A style's statistics, computed once: encode it at `size` (shorter side; None/0: as it is)."""
    return stylizer.style_stats(as_rgb(image, "image"), check_size(size))


def stylize_image(stylizer: Stylizer, image: ImageLike, style: StyleStats, alpha: float = 1.0,
                  size: int | None = 512) -> np.ndarray:
    """One image of any size and kind -> (H, W, 3) uint8 RGB at its own size, processed at `size`."""
    original = as_rgb(image, "image")
    result = stylizer.stylize(fit_short_side(original, check_size(size)), check_style(style), check_alpha(alpha))
    return resize(result, original.shape[1::-1])


def stylize_frames(stylizer: Stylizer, frames: Iterable[np.ndarray], style: StyleStats, alpha: float = 1.0,
                   batch: int = 1) -> Iterator[np.ndarray]:
    """Frames streamed through the engine in order, `batch` at a time (one shape per batch).

    The arguments are checked at the call; each frame when it is reached (`frames` may be endless)."""
    check_style(style)
    alpha = check_alpha(alpha)
    batch = check_whole(batch, "batch", minimum=1)
    if isinstance(frames, np.ndarray) and frames.ndim != 4:
        raise ValueError(f"frames must be an (N, H, W, 3) array or an iterable of (H, W, 3) frames, "
                         f"got an array of shape {frames.shape}")
    if not isinstance(frames, Iterable) or isinstance(frames, (str, bytes, os.PathLike)):
        raise TypeError(f"frames must be an iterable of (H, W, 3) uint8 frames, got {type(frames).__name__}")

    def batches() -> Iterator[np.ndarray]:
        pending: list[np.ndarray] = []
        for index, frame in enumerate(frames):
            frame = as_rgb(frame, f"frames[{index}]")
            if pending and frame.shape != pending[0].shape:
                raise ValueError(f"frames[{index}] is {frame.shape}, but the frames batched with it are "
                                 f"{pending[0].shape}: frames of one batch share a shape")
            pending.append(frame)
            if len(pending) == batch:
                yield np.stack(pending)
                pending = []
        if pending:
            yield np.stack(pending)

    def results() -> Iterator[np.ndarray]:
        for stylized in stylizer.stylize_stream(batches(), style, alpha):
            yield from stylized

    return results()


def stylize_video(
    source: str | os.PathLike, output: str | os.PathLike, style: ImageLike | StyleStats | Sequence[ImageLike],
    *, mix: Sequence[float] | None = None, alpha: float = 1.0, preserve_color: bool = False, style_size: int = 512,
    size: int = 0, stabilize: str = "flow", stabilize_strength: float | None = None, stabilize_passes: int | None = None, frames: int = 0,
    codec: str | None = None, crf: int | None = None, stylizer: Stylizer | None = None, model: ModelSettings | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> Path:
    """The `video` command as a function: one file to another, sound kept; returns the output path.
    `codec` None: the container's default encoder (libx264; libvpx-vp9 for .webm).
    `stabilize_passes` None: two with a flow stabiliser; `stabilize_strength` None: 0.5 with two
    passes, 0.7 with one (docs/temporal.md)."""
    from realtime_adain.paths import refuse_overwriting_inputs
    from realtime_adain.video.job import stylize_file, stylize_videos
    from realtime_adain.video.formats import check_encoder

    source, output = check_path(source, "source"), check_path(output, "output")
    styles = list(style) if isinstance(style, (list, tuple)) else [style]
    if not styles:
        raise ValueError("style must name at least one style")
    if mix is not None:
        if not isinstance(mix, (list, tuple)):
            raise TypeError(f"mix must be a list of weights, one per style, got {type(mix).__name__}")
        mix = tuple(check_number(w, f"mix[{i}]", 0.0, float("inf")) for i, w in enumerate(mix))
    from realtime_adain.temporal import MODES

    if stabilize not in MODES:
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
    settings = VideoSettings(
        model=model or ModelSettings(),
        style=StyleSettings(check_alpha(alpha), mix, check_kind(preserve_color, bool, "preserve_color"),
                            check_whole(style_size, "style_size")),
        size=check_whole(size, "size"), frames=check_whole(frames, "frames"), stabilize=stabilize,
        stabilize_strength=None if stabilize_strength is None else check_number(stabilize_strength, "stabilize_strength"),
        stabilize_passes=None if stabilize_passes is None else int(stabilize_passes),
        max_pixels=check_whole(max_pixels, "max_pixels", minimum=1),
    )
    settings.check()
    settings.style.check(len(styles) if mix is not None else None)
    if len(styles) > 1 and mix is None:
        raise ValueError("several styles need mix weights (mix=[...]), one per style")
    refuse_overwriting_inputs([output], [source] + [Path(s) for s in styles if isinstance(s, (str, os.PathLike))])
    encode = EncodeSettings(None if codec is None else check_kind(codec, str, "codec"), check_whole(crf, "crf", none_ok=True))
    check_encoder(encode, output)
    stylizer = stylizer or Stylizer.from_settings(settings.engine_model)
    given = {Path(f"style-{i}"): s for i, s in enumerate(styles)}
    if all(isinstance(s, StyleStats) for s in styles):
        mixed = StyleStats.mix(styles, mix) if mix is not None else styles[0]
        stylize_file(source, output, stylizer, lambda first: mixed, settings, encode)
        return output
    images = {key: as_rgb(value, "style") for key, value in given.items()}
    stylize_videos([(source, list(images), output)], stylizer, images, settings, encode)
    return output
