"""`realtime-adain image`: stylize images, every content with every style (or one mix/mask). Here
the options become `ImageSettings` and the jobs and their outputs are planned; `image_job` does
the work (`--sheet`: `commands/sheet.py`)."""

from __future__ import annotations

import argparse
from functools import partial
from pathlib import Path

from realtime_adain.commands import common, sheet
from realtime_adain.commands.jobs import Job, output_paths, plan_jobs
from realtime_adain.errors import UserError
from realtime_adain.image_job import check_inputs, stylize_all
from realtime_adain.input_paths import STDIN_UNREADABLE, other_composition
from realtime_adain.output_checks import refuse_earlier_results, refuse_overwriting_inputs, refuse_results_read_back
from realtime_adain.writable_folders import check_writable_dir
from realtime_adain.settings import ImageSettings, ModelSettings
from realtime_adain.notes import repeats_counted
from realtime_adain.imageio import WRITABLE_EXTENSIONS, is_image_path, is_writable_image_path, output_suffix

EPILOG = """examples:
  realtime-adain image photo.jpg --style starry.jpg -o out.jpg
  realtime-adain image photos/ --style styles/ -o results/   # every combination
  realtime-adain image photo.jpg -s a.jpg -s b.jpg --mix 0.7,0.3 -o mix.png
  realtime-adain image photo.jpg -s a.jpg -s b.jpg --mask mask.png -o split.png
  # every style on one contact sheet:
  realtime-adain image photo.jpg --style styles/ --sheet sheet.jpg
"""


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "image", help="stylize images", description="Stylize content images with one or more styles.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("content", nargs="+", metavar="CONTENT", help="content image(s) or directories")
    outputs = parser.add_mutually_exclusive_group(required=True)
    outputs.add_argument("-o", "--output", metavar="OUT", help="output image (one result) or directory (several)")
    outputs.add_argument("--sheet", metavar="FILE",
                         help="instead, one contact sheet of one photo under every style, each tile captioned "
                              "with the style's thumbnail and name")
    common.add_style_options(parser)
    parser.add_argument("--mask", metavar="PATH",
                        help="spatial control with two styles: white areas get the first style, black the second")
    parser.add_argument("--ext", metavar="EXT", help="output format in directory mode (default: the content's)")
    parser.add_argument("--keep-size", action=argparse.BooleanOptionalAction, default=None,
                        help="scale the result back to the content's size (default: on)")
    common.add_max_pixels_option(parser, "to process an image (content at --size, style at --style-size)")
    common.add_json_option(parser)
    sheet.add_options(parser)
    common.add_model_options(parser, default_size=None, size_default_text=f"512; {sheet.TILE_SIZE} for --sheet tiles")
    parser.set_defaults(func=run)


def plan(args: argparse.Namespace, contents: list[Path], styles: list[Path]) -> list[Job]:
    """Every content x style, or one job per content when the styles are mixed or masked."""
    if args.mask:
        if args.mix is not None:
            raise UserError("--mask and --mix cannot be combined: the mask already says where each style goes")
        if len(styles) != 2:
            raise UserError(f"--mask needs exactly two styles, got {len(styles)}")
        return plan_jobs(contents, styles, "mask")
    if args.mix is not None:
        common.check_mix(args, styles)
        return plan_jobs(contents, styles, "mix")
    return plan_jobs(contents, styles)


def check_outputs(outputs: list[Path], jobs: list[Job], inputs: list[Path], given: list[str]) -> None:
    """Refuse to overwrite an input or another job's result, or to read an earlier result found in
    a `given` folder as an input, and fail before any compute if the target is unwritable (without
    creating it: a refused run leaves no empty folder). (A result too large for its format is
    refused with the inputs, `check_inputs`: its size is the content's.)"""
    refuse_earlier_results([(job.source, output) for job, output in zip(jobs, outputs)], [job.source for job in jobs])
    refuse_results_read_back(outputs, [path for job in jobs for path in (job.source, *job.styles)], given)
    refuse_overwriting_inputs(outputs, inputs)
    for path in outputs:
        if not is_writable_image_path(path):
            raise UserError(f"{path}: cannot write '{path.suffix}' images; use one of {', '.join(WRITABLE_EXTENSIONS)}")
    for parent in {p.parent for p in outputs}:
        check_writable_dir(parent)


def expand_given(args: argparse.Namespace, settings: ImageSettings) -> tuple[list[Path], list[Path]]:
    """The contents and styles given, folders expanded. A path that gives none (missing, an empty
    folder) is refused naming every other bad input in the same line, with `-o` or `--sheet`
    (the sheet named the first missing file alone). A path given as content and as style
    (however spelled: `./a.jpg`, `a.jpg`) is named once."""
    both = {path: "content or style" for path in set(map(Path, args.content)) & set(map(Path, args.style))}
    contents, missing = common.expand_each(args.content, "content", is_image_path, roles=both)
    styles, missing_styles = common.expand_each(args.style, "style", is_image_path, roles=both)
    if missing or missing_styles:  # refused: every other bad input is named in the same line
        check_inputs(settings, contents, styles, given(args), known=missing_styles + missing)
    return contents, styles


def given(args: argparse.Namespace) -> list[str]:
    """The contents and styles as given (folders unexpanded), as the line refusing a missing one names them."""
    return [*args.content, *args.style]


def image_settings(args: argparse.Namespace, model: ModelSettings) -> ImageSettings:
    """The options as typed settings (--size and --keep-size with their defaults given), checked
    once here; library code sees nothing else."""
    settings = ImageSettings(model=model, style=common.style_settings(args), size=args.size,
                             keep_size=bool(args.keep_size), max_pixels=args.max_pixels, mask=args.mask)
    settings.check()
    return settings


def run(args: argparse.Namespace) -> int:
    model = common.model_settings(args)  # a bad --device is refused before any work
    if args.sheet is not None:  # '' too: refused by the sheet's checks
        args.size = sheet.TILE_SIZE if args.size is None else args.size
        return sheet.run(args, image_settings(args, model))
    sheet.refuse_sheet_options(args)
    if args.mask is not None and not args.mask.strip():
        raise UserError("--mask needs an image file's name")
    if args.mask == "-":  # (was "-: no such file")
        raise UserError(f"-: {STDIN_UNREADABLE}")
    if args.mask is not None and not Path(args.mask).exists() and not Path(args.mask).is_symlink():
        # (named as the content's and styles' are: "x.png: no such file" did not say which input)
        raise UserError(f"{args.mask}: no such mask file{other_composition(Path(args.mask))}")
    args.size = 512 if args.size is None else args.size
    args.keep_size = True if args.keep_size is None else args.keep_size  # (None: not given; --sheet refuses it)
    settings = image_settings(args, model)
    contents, styles = expand_given(args, settings)
    jobs = plan(args, contents, styles)
    outputs = output_paths(args.output, jobs, WRITABLE_EXTENSIONS, "image", args.ext, output_suffix)
    mask_paths = [Path(args.mask)] if args.mask else []
    from realtime_adain.weight_paths import files_used  # (torch: loaded by `model_settings` already)

    check_outputs(outputs, jobs, contents + styles + mask_paths + files_used(model.vgg, model.decoder), given(args))
    with repeats_counted(contents + styles + mask_paths):  # a folder's pictures: one line per kind of note
        stylize_all(settings, jobs, outputs, contents, styles, given(args), partial(common.report_output, args))
    return 0

