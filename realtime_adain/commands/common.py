"""Options and helpers shared by the commands that stylize (image, video, live)."""

from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path
from typing import Iterator, Sequence

import cv2
import numpy as np
import torch

from realtime_adain import engines
from realtime_adain.adain import StyleStats
from realtime_adain.color import match_color
from realtime_adain.errors import UserError
from realtime_adain.commands import argtypes
from realtime_adain.imageio import fit_short_side
from realtime_adain.stylizer import DTYPES, Stylizer, pick_device


def add_model_options(parser: argparse.ArgumentParser, default_size: int | None, size_default_text: str | None = None) -> None:
    group = parser.add_argument_group("model")
    group.add_argument("--vgg", metavar="PATH", help="encoder weights (default: $REALTIME_ADAIN_VGG or the downloaded file)")
    group.add_argument("--decoder", metavar="PATH", help="decoder weights: decoder.pth or a trainer checkpoint")
    group.add_argument("--device", default="auto", help="auto (CUDA if present), cpu, cuda or cuda:N")
    group.add_argument("--dtype", default="auto", choices=["auto", *DTYPES],
                       help="compute precision: auto (fp16 on a GPU, fp32 on the CPU), fp32, fp16, bf16 (fp16/bf16 need CUDA)")
    group.add_argument("--engine", default="auto", choices=list(engines.CHOICES),
                       help="model engine: auto (tensorrt > compile > eager on a GPU), eager, compile, tensorrt, onnx")
    group.add_argument(
        "--size", type=argtypes.side_length, default=default_size, metavar="PX",
        help=f"processing size: shorter side in pixels up to {argtypes.MAX_SIDE}, 0 = native "
             f"(default: {size_default_text or default_size or 'native'})",
    )


def add_style_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("style")
    group.add_argument("--style", "-s", action="append", required=True, metavar="PATH",
                       help="style image or directory of them; repeat for several styles")
    group.add_argument("--alpha", type=argtypes.unit_interval, default=1.0, help="content/style trade-off in [0, 1] (default 1)")
    group.add_argument("--mix", type=argtypes.mix_weights, metavar="W1,W2,...",
                       help="blend all styles into one with these weights (one per style)")
    group.add_argument("--preserve-color", action="store_true", help="keep the content's colours")
    group.add_argument("--style-size", type=argtypes.side_length, default=512, metavar="PX",
                       help=f"shorter side the style is encoded at, up to {argtypes.MAX_SIDE}, 0 = native (default 512)")


def stylizer_from_args(args: argparse.Namespace, sizes_vary: bool = False) -> Stylizer:
    """The stylizer the options ask for. With `sizes_vary` (images of any size, each seen once),
    'auto' on a GPU is eager: compile and tensorrt build per frame size, minutes per new size."""
    engine = getattr(args, "engine", "auto")
    if engine == "auto" and sizes_vary and pick_device(args.device).type == "cuda":
        engine = "eager"
    return Stylizer.load(args.vgg, args.decoder, device=args.device, dtype=args.dtype, engine=engine)


def prepare_engine(stylizer: Stylizer, batch: int, height: int, width: int) -> None:
    """Compile or build the engine for this frame size before the first frame, saying so: a first
    inductor compile or TensorRT build takes minutes, which would look like a stalled run."""
    engine = stylizer.engine
    if engine.builds_per_shape:
        print(f"preparing the {engine.name} engine for {width}x{height}, batch {batch} "
              "(the first time for a size takes minutes; later runs reuse it)", file=sys.stderr, flush=True)
    engine.prepare(batch, height, width)


@contextlib.contextmanager
def out_of_memory_as_user_error(what: str) -> Iterator[None]:
    """A size the machine cannot hold is bad input, not a bug: the allocator's error (torch, OpenCV
    or numpy) becomes one line naming what was being processed."""
    try:
        yield
    except (MemoryError, torch.OutOfMemoryError):
        raise UserError(f"{what}: out of memory; lower --size") from None
    except (RuntimeError, cv2.error) as exc:
        text = str(exc).lower()
        if "memory" not in text and "alloc" not in text:
            raise
        raise UserError(f"{what}: out of memory; lower --size") from None


def check_mix(args: argparse.Namespace, styles: Sequence[Path]) -> None:
    if args.mix is not None and len(args.mix) != len(styles):
        raise UserError(f"--mix has {len(args.mix)} weights for {len(styles)} styles")


def style_stats(
    stylizer: Stylizer, style: np.ndarray, size: int | None, color_reference: np.ndarray | None = None
) -> StyleStats:
    """Statistics of one style image; with `color_reference`, of its recoloured version."""
    style = fit_short_side(style, size)
    if color_reference is not None:
        style = match_color(style, color_reference)
    return stylizer.style_stats(style)


class StyleSet:
    """The styles of one run, each encoded once; with colour preservation, once per content
    (the style is recoloured to it), which is the paper's method and cannot be cached."""

    def __init__(self, stylizer: Stylizer, images: dict[Path, np.ndarray], size: int | None, preserve_color: bool) -> None:
        self.stylizer, self.images, self.size, self.preserve_color = stylizer, images, size, preserve_color
        self.cached: dict[Path, StyleStats] = {}

    def stats(self, path: Path, content: np.ndarray) -> StyleStats:
        if self.preserve_color:
            return style_stats(self.stylizer, self.images[path], self.size, content)
        if path not in self.cached:
            self.cached[path] = style_stats(self.stylizer, self.images[path], self.size)
        return self.cached[path]

    def combined(self, paths: Sequence[Path], content: np.ndarray, mix: Sequence[float] | None) -> StyleStats:
        """One style, or the paper's interpolation of several with the `mix` weights."""
        stats = [self.stats(p, content) for p in paths]
        return StyleStats.mix(stats, mix) if mix is not None else stats[0]
