"""The styles of one run of `image` or `video`: each style image encoded once, mixed on demand."""

from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from realtime_adain.adain import StyleStats
from realtime_adain.errors import out_of_memory_as_user_error
from realtime_adain.stylizer import Stylizer


class StyleSet:
    """The styles of one run, each encoded once; with colour preservation, once per content
    (the style is recoloured to it), which is the paper's method and cannot be cached. `images`:
    each style's picture, looked up when it is encoded (`image` reads each again then:
    checked_inputs.py, StylePictures)."""

    def __init__(self, stylizer: Stylizer, images: Mapping[Path, np.ndarray], size: int | None,
                 preserve_color: bool) -> None:
        self.stylizer, self.images, self.size, self.preserve_color = stylizer, images, size, preserve_color
        self.cached: dict[Path, StyleStats] = {}

    def stats(self, path: Path, content: np.ndarray) -> StyleStats:
        """The style's statistics; memory running out while it is encoded names the style and
        --style-size (it named the content and --size, which change nothing there)."""
        with out_of_memory_as_user_error(str(path), "lower --style-size"):
            if self.preserve_color:
                return self.stylizer.style_stats(self.images[path], self.size, content)
            if path not in self.cached:
                self.cached[path] = self.stylizer.style_stats(self.images[path], self.size)
            return self.cached[path]

    def combined(self, paths: Sequence[Path], content: np.ndarray, mix: Sequence[float] | None) -> StyleStats:
        """One style, or the paper's interpolation of several with the `mix` weights."""
        stats = [self.stats(p, content) for p in paths]
        return StyleStats.mix(stats, mix) if mix is not None else stats[0]
