"""Where stylized frames go besides the window: an MP4 file (`recorder.py`), a network stream
(`streamer.py`), a virtual camera (`virtual_camera.py`). Here: what they share, the `Output`
protocol the session feeds, and the frame size and rate they are told.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Protocol

import numpy as np

# The frame rate outputs are told: a source's own rate can be anything its file claims (one
# frame in hours, 90000 fps), and camera drivers report nonsense; the presentation times come
# from the capture times anyway, so this only sets the encoder's rate control and the stream's GOP.
OUTPUT_FPS = (1.0, 240.0)


def even(size: tuple[int, int]) -> tuple[int, int]:
    """H.264 in 4:2:0 needs even sides. Recordings and streams are 4:2:0 at an even size: the 4:4:4
    that `video` writes at an odd size (pixel_formats.choose_pix_fmt) plays neither in browsers nor in
    QuickTime nor on hardware decoders, and a 4:3 camera at the default --size 160 runs at 213x160."""
    return max(2, size[0] // 2 * 2), max(2, size[1] // 2 * 2)


def even_crop(image: np.ndarray) -> np.ndarray:
    """`image` less its last column or row where that side is odd: cropped, not scaled, as the one
    pixel is not worth resampling (softening) the whole picture for, nor padded, which would add
    an edge the picture never had."""
    width, height = even((image.shape[1], image.shape[0]))
    return image[:height, :width]


def output_rate(fps: float) -> Fraction:
    """`fps` as the outputs' frame rate, within OUTPUT_FPS (a rate that rounds to 0 divided by zero)."""
    fps = min(max(fps, OUTPUT_FPS[0]), OUTPUT_FPS[1]) if fps == fps else OUTPUT_FPS[0]
    return Fraction(round(fps * 1000), 1000).limit_denominator(1001)


class Output(Protocol):
    """What the session needs of an output: it is fed frames, named by `label`, closed once.

    `key` is how the event log names `label` ("path" for a file, "target" for the rest); a failed
    output's `error` says why and it writes nothing more.
    """

    key: str

    @property
    def label(self) -> str: ...

    @property
    def outcome(self) -> str:
        """What the closing log line says the output left (a file's path, "" if none; a target)."""

    @property
    def written(self) -> int: ...

    @property
    def dropped(self) -> int: ...

    @property
    def error(self) -> str | None: ...

    def submit(self, image: np.ndarray, captured: float) -> None: ...

    def close(self) -> Path | None: ...
