"""`bench temporal`'s test clips: the real clip's first frames, the pan and zoom and the noisy
still generated from a photo (and the checks of the photo and the video they are made from)."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Iterable

import cv2
import numpy as np

from realtime_adain.errors import UserError
from realtime_adain.picture_sizes import MAX_SIDE, over_budget, resize, short_side_size
from realtime_adain.unreadable_stills import VIDEO_HINT
from realtime_adain.video.frames import Frame
from realtime_adain.video.reader import VideoReader

Clip = list[np.ndarray]


def video_clip(path: Path, frames: int, size: int) -> Clip:
    """The first `frames` frames, the shorter side `size`; a picture whose size changes mid-stream
    is scaled to the first frame's, as `video` scales it (flow needs frames of one shape). At
    least two frames (E_warp compares consecutive ones: one gave a table of NaN)."""
    clip: Clip = []
    with VideoReader(path, max_frames=frames) as reader:
        for item in reader.items():
            if isinstance(item, Frame):
                target = (clip[0].shape[1], clip[0].shape[0]) if clip else short_side_size(*item.image.shape[:2], size)
                clip.append(resize(item.image, target))
    if len(clip) < 2:
        raise UserError(f"{path}: {len(clip)} frame(s) decoded; E_warp needs a clip of at least 2")
    return clip


def pan_scale(photo_shape: tuple[int, ...], width: int) -> tuple[float, tuple[int, int]]:
    """The scale of the copy of the photo `pan_clip` works from for frames `width` wide (~1.5x
    the output, no aliasing), and that copy's size (width, height) as OpenCV rounds it."""
    scale = 1.5 * width / photo_shape[1]
    return scale, (round(photo_shape[1] * scale), round(photo_shape[0] * scale))


# The most pixels of the photo's working copy (~200 MB RGB): a tall phone photo (1080x2340) copied
# 2880 wide for 1080p's cost is 18 Mpx, a strip (2000x1) 4320 wide billions.
PHOTO_COPY_PIXELS = MAX_SIDE * MAX_SIDE // 4


def check_photo(path: Path, photo: np.ndarray, widths: Iterable[int]) -> None:
    """Refuse, in one line, a photo whose working copy for frames of any of `widths` (the clips'
    and the cost's) is less than a pixel high, or over MAX_SIDE a side or PHOTO_COPY_PIXELS: the
    copy is scaled by width, so a 1x2000 strip was 6 GB and a segfault, a 2000x1 one OpenCV's
    assertion."""
    for width in (min(widths), max(widths)):
        copy_w, copy_h = pan_scale(photo.shape, width)[1]
        over = over_budget(*photo.shape[:2], min(copy_w, copy_h), PHOTO_COPY_PIXELS) if copy_h >= 1 else None
        if copy_h < 1:
            problem = "less than a pixel high"
        elif over is not None:
            problem = f"longer than {MAX_SIDE} pixels on a side" if over[2] == "side" else f"over {PHOTO_COPY_PIXELS} pixels"
        else:
            continue
        raise UserError(f"{path}: a {photo.shape[1]}x{photo.shape[0]} photo scaled {width} pixels wide for the pan clip "
                        f"is {problem} ({copy_w}x{copy_h}); give --photo a photo closer to 16:9")


def pan_clip(photo: np.ndarray, frames: int, width: int, height: int) -> Clip:
    """A slow pan (15 % of the photo's width) with a zoom from 1.0 to 1.2, 16:9 crops."""
    scale = pan_scale(photo.shape, width)[0]  # (`check_photo` bounds the copy)
    photo = cv2.resize(photo, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    ph, pw = photo.shape[:2]
    clip = []
    for t in np.linspace(0.0, 1.0, frames):
        zoom = 1.0 + 0.2 * t
        crop_w = min(pw, ph * width / height) / 1.2 / zoom * 1.15
        cx, cy = pw * (0.42 + 0.15 * t), ph / 2
        s = width / crop_w
        matrix = np.float32([[s, 0, width / 2 - s * cx], [0, s, height / 2 - s * cy]])
        clip.append(cv2.warpAffine(photo, matrix, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT))
    return clip


def still_clip(photo: np.ndarray, frames: int, width: int, height: int, sigma: float = 6.0) -> Clip:
    """The same still crop every frame plus Gaussian sensor noise (sigma in grey levels), seeded."""
    still = pan_clip(photo, 1, width, height)[0].astype(np.float32)
    rng = np.random.default_rng(0)
    return [np.clip(still + rng.normal(0, sigma, still.shape), 0, 255).astype(np.uint8) for _ in range(frames)]


IMAGE_HINT = "(use `realtime-adain image`)"  # the reader's hint for a picture, which no bench stylizes
# The image readers' hint for a video given as a picture (--style, --photo): no bench stylizes one either.
_BENCH_HINTS = {IMAGE_HINT: "(give a video file)", VIDEO_HINT: "(give an image file)"}


@contextlib.contextmanager
def bench_hints():
    """A picture given for a video, or a video for a picture, refused asking for the file the bench
    wants, not pointing to the command that would stylize it (a bench measures; it stylizes neither)."""
    try:
        yield
    except UserError as exc:
        message = exc.args[0] if len(exc.args) == 1 and isinstance(exc.args[0], str) else ""
        for hint, words in _BENCH_HINTS.items():
            if hint in message:
                raise UserError(message.replace(hint, words)) from None
        raise


def opened_video(path: Path) -> VideoReader:
    """`path` opened to read, a picture refused asking for a video file (`bench_hints`)."""
    with bench_hints():
        return VideoReader(path)
