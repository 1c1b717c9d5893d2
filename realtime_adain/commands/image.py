"""`realtime-adain image`: stylize images, every content with every style (or one mix/mask)."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from realtime_adain.commands import common
from realtime_adain.errors import UserError
from realtime_adain.paths import ensure_writable_dir, expand_images, output_is_one_file, refuse_overwriting_inputs
from realtime_adain.imageio import (
    fit_short_side, is_image_path, mask_labels, read_image, read_mask, resize, write_image,
)

EPILOG = """examples:
  realtime-adain image photo.jpg --style starry.jpg -o out.jpg
  realtime-adain image photos/ --style styles/ -o results/            # every combination
  realtime-adain image photo.jpg -s a.jpg -s b.jpg --mix 0.7,0.3 -o mix.png
  realtime-adain image photo.jpg -s a.jpg -s b.jpg --mask mask.png -o split.png
"""


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "image", help="stylize images", description="Stylize content images with one or more styles.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("content", nargs="+", metavar="CONTENT", help="content image(s) or directories")
    parser.add_argument("-o", "--output", required=True, metavar="OUT",
                        help="output image (one result) or directory (several)")
    common.add_style_options(parser)
    parser.add_argument("--mask", metavar="PATH",
                        help="spatial control with two styles: white areas get the first style, black the second")
    parser.add_argument("--ext", metavar="EXT", help="output format in directory mode (default: the content's)")
    parser.add_argument("--keep-size", action=argparse.BooleanOptionalAction, default=True,
                        help="scale the result back to the content's size (default: on)")
    common.add_model_options(parser, default_size=512)
    parser.set_defaults(func=run)


@dataclass
class Job:
    content: Path
    styles: list[Path]
    name: str  # what the output is called after the content's stem


def plan_jobs(args: argparse.Namespace, contents: list[Path], styles: list[Path]) -> list[Job]:
    """Every content x style, or one job per content when the styles are mixed or masked."""
    if args.mask:
        if args.mix is not None:
            raise UserError("--mask and --mix cannot be combined: the mask already says where each style goes")
        if len(styles) != 2:
            raise UserError(f"--mask needs exactly two styles, got {len(styles)}")
        return [Job(c, styles, "mask") for c in contents]
    if args.mix is not None:
        common.check_mix(args, styles)
        return [Job(c, styles, "mix") for c in contents]
    return [Job(c, [s], s.stem) for c in contents for s in styles]


def output_paths(args: argparse.Namespace, jobs: list[Job]) -> list[Path]:
    out = Path(args.output)
    if output_is_one_file(args.output, is_image_path, len(jobs), "image"):
        return [out]
    ext = "." + args.ext.lstrip(".") if args.ext else None
    return [out / f"{j.content.stem}_stylized_{j.name}{ext or j.content.suffix}" for j in jobs]


def check_outputs(outputs: list[Path], inputs: list[Path]) -> None:
    """Refuse to overwrite an input, and fail before any compute if the target is unwritable."""
    refuse_overwriting_inputs(outputs, inputs)
    for path in outputs:
        if not is_image_path(path):
            raise UserError(f"{path}: unknown image format '{path.suffix}'")
    for parent in {p.parent for p in outputs}:
        ensure_writable_dir(parent)


def run(args: argparse.Namespace) -> int:
    contents = expand_images(args.content, "content")
    styles = expand_images(args.style, "style")
    jobs = plan_jobs(args, contents, styles)
    outputs = output_paths(args, jobs)
    mask_paths = [Path(args.mask)] if args.mask else []
    check_outputs(outputs, contents + styles + mask_paths)
    mask = read_mask(args.mask) if args.mask else None
    style_images = {p: read_image(p) for p in dict.fromkeys(styles)}

    stylizer = common.stylizer_from_args(args, sizes_vary=True)
    style_set = common.StyleSet(stylizer, style_images, args.style_size, args.preserve_color)

    for job, out in tqdm(list(zip(jobs, outputs)), desc="stylizing", unit="image", disable=None):
        original = read_image(job.content)
        content = fit_short_side(original, args.size)
        if mask is not None:
            stats = [style_set.stats(p, content) for p in job.styles]
            result = stylizer.stylize_masked(content, mask_labels(mask, content.shape[:2]), stats, args.alpha)
        else:
            result = stylizer.stylize(content, style_set.combined(job.styles, content, args.mix), args.alpha)
        if args.keep_size:
            result = resize(result, original.shape[1::-1])
        write_image(out, result)
        tqdm.write(str(out))
    return 0
