"""`realtime-adain image`: stylize images, every content with every style (or one mix/mask)."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np
from tqdm import tqdm

from realtime_adain.checked_inputs import ChangedSinceChecked, StylePictures, changed_since_checked, file_digest
from realtime_adain.commands import common, sheet
from realtime_adain.commands.jobs import Job, output_paths, plan_jobs
from realtime_adain.errors import UserError, not_all_written, out_of_memory_as_user_error, refuse_inputs, stopped_at
from realtime_adain.interrupts import SignalGuard
from realtime_adain.paths import check_writable_dir, refuse_earlier_results, refuse_overwriting_inputs
from realtime_adain.settings import ModelSettings
from realtime_adain.notes import note, repeats_counted
from realtime_adain.imageio import (
    WRITABLE_EXTENSIONS, check_encodable, check_pixel_budget, decode_image, fit_short_side, is_image_path,
    is_writable_image_path, mask_labels, output_suffix, read_image_bytes, read_mask, resize, short_side_size,
    write_image,
)

if TYPE_CHECKING:  # loaded when the command runs: parsing (and refusing) the options needs no torch
    from realtime_adain.styles import StyleSet
    from realtime_adain.stylizer import Stylizer

EPILOG = """examples:
  realtime-adain image photo.jpg --style starry.jpg -o out.jpg
  realtime-adain image photos/ --style styles/ -o results/            # every combination
  realtime-adain image photo.jpg -s a.jpg -s b.jpg --mix 0.7,0.3 -o mix.png
  realtime-adain image photo.jpg -s a.jpg -s b.jpg --mask mask.png -o split.png
  realtime-adain image photo.jpg --style styles/ --sheet sheet.jpg    # every style on one contact sheet
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


def check_outputs(outputs: list[Path], jobs: list[Job], inputs: list[Path]) -> None:
    """Refuse to overwrite an input or another job's result, and fail before any compute if the
    target is unwritable (without creating it: a refused run leaves no empty folder). (A result
    too large for its format is refused with the inputs, `check_inputs`: its size is the content's.)"""
    refuse_earlier_results([(job.source, output) for job, output in zip(jobs, outputs)], [job.source for job in jobs])
    refuse_overwriting_inputs(outputs, inputs)
    for path in outputs:
        if not is_writable_image_path(path):
            raise UserError(f"{path}: cannot write '{path.suffix}' images; use one of {', '.join(WRITABLE_EXTENSIONS)}")
    for parent in {p.parent for p in outputs}:
        check_writable_dir(parent)


def expand_given(args: argparse.Namespace) -> tuple[list[Path], list[Path]]:
    """The contents and styles given, folders expanded. A path that gives none (missing, an empty
    folder) is refused naming every other bad input in the same line, with `-o` or `--sheet`
    (the sheet named the first missing file alone). A path given as content and as style
    (however spelled: `./a.jpg`, `a.jpg`) is named once."""
    both = {path: "content or style" for path in set(map(Path, args.content)) & set(map(Path, args.style))}
    contents, missing = common.expand_each(args.content, "content", is_image_path, roles=both)
    styles, missing_styles = common.expand_each(args.style, "style", is_image_path, roles=both)
    if missing or missing_styles:  # refused: every other bad input is named in the same line
        check_inputs(args, contents, styles, known=missing_styles + missing)
    return contents, styles


def check_inputs(
    args: argparse.Namespace, contents: list[Path], styles: list[Path], known: Sequence[str] = (),
    results: dict[Path, list[Path]] | None = None,
) -> tuple[dict[Path, str], np.ndarray | None]:
    """Decode every input once before any work and refuse, naming each bad file, if one is
    unreadable or over the pixel budget, or its result too large for the format of an output
    `results` gives it (a WebP's side): a folder run then never stops halfway. Returns the
    SHA-256 of each style's file as decoded (`StylePictures` reads it again: a large library need
    not stay in memory; the sheet's style library names a style by it too) and the mask; contents
    are decoded (and checked) again when processed. `known`: problems found already (missing
    files), named in the same line. A file given as content and style is named once where it
    fails both the same way."""
    problems: list[str] = list(known)
    results = results or {}
    digests: dict[Path, str] = {}

    def check(path: Path, size: int | None, option: str) -> tuple[np.ndarray, str] | None:
        try:
            checked = read_checked(args, path, size, option)
            common.note_first_frame_only(path)
            return checked
        except UserError as exc:
            problems.append(str(exc))
            return None

    for path in dict.fromkeys(styles):
        if checked := check(path, args.style_size, "--style-size"):
            digests[path] = checked[1]
    for path in dict.fromkeys(contents):
        if checked := check(path, args.size, "--size"):
            for out in results.get(path, []):
                try:
                    check_encodable(out, *result_size(args, checked[0].shape[:2]))
                except UserError as exc:
                    problems.append(str(exc))
    mask = None
    if args.mask:
        try:
            mask = read_mask(args.mask)
            common.note_first_frame_only(Path(args.mask))
            if mask.all() or not mask.any():
                which = ("white: only the first style", "black: only the second style")[not mask.any()]
                note(f"{args.mask}: the mask is all {which} is used")
        except UserError as exc:
            problems.append(str(exc))
    given = [*args.content, *args.style, *([args.mask] if args.mask else [])]  # (as `known` names them)
    outputs = [out for outs in results.values() for out in outs]
    refuse_inputs(list(dict.fromkeys(problems)), map(str, [*contents, *styles, *map(Path, given), *outputs]))
    return digests, mask


def read_checked(args: argparse.Namespace, path: Path, size: int | None, option: str) -> tuple[np.ndarray, str]:
    """`path` decoded, refused where it is over --max-pixels at `size` (`option`'s), and the
    SHA-256 of the bytes decoded (as `weights.file_sha256` gives a file's)."""
    data = read_image_bytes(path)
    image = decode_image(data, str(path))
    check_pixel_budget(path, *image.shape[:2], size, args.max_pixels, option)
    return image, file_digest(data)


def result_size(args: argparse.Namespace, shape: tuple[int, int]) -> tuple[int, int]:
    """(width, height) of the result of a content of `shape` (height, width): its own with
    --keep-size, else at --size."""
    return (shape[1], shape[0]) if args.keep_size else short_side_size(*shape, args.size)


def run(args: argparse.Namespace) -> int:
    model = common.model_settings(args)  # a bad --device is refused before any work
    if args.sheet is not None:  # '' too: refused by the sheet's checks
        args.size = sheet.TILE_SIZE if args.size is None else args.size
        return sheet.run(args, model)
    sheet.refuse_sheet_options(args)
    if args.mask is not None and not args.mask.strip():
        raise UserError("--mask needs an image file's name")
    args.size = 512 if args.size is None else args.size
    args.keep_size = True if args.keep_size is None else args.keep_size  # (None: not given; --sheet refuses it)
    contents, styles = expand_given(args)
    jobs = plan(args, contents, styles)
    outputs = output_paths(args.output, jobs, WRITABLE_EXTENSIONS, "image", args.ext, output_suffix)
    mask_paths = [Path(args.mask)] if args.mask else []
    from realtime_adain.weights import files_used  # (torch: loaded by `model_settings` already)

    check_outputs(outputs, jobs, contents + styles + mask_paths + files_used(model.vgg, model.decoder))
    with repeats_counted(contents + styles + mask_paths):  # a folder's pictures: one line per kind of note
        stylize_all(args, model, jobs, outputs, contents, styles)
    return 0


def stylize_all(args: argparse.Namespace, model: ModelSettings, jobs: list[Job], outputs: list[Path],
                contents: list[Path], styles: list[Path]) -> None:
    """Every job, after every input is checked; each output reported as it is written (a signal
    waits for the report of a file written). A job whose input changed since the check fails
    alone: the others are made, then one line names each such input (a folder run never stops
    halfway). Another error (a full disk) stops the run there, saying how many were written and
    how many not tried."""
    results: dict[Path, list[Path]] = {}
    for job, out in zip(jobs, outputs):
        results.setdefault(job.source, []).append(out)
    digests, mask = check_inputs(args, contents, styles, results=results)

    from realtime_adain.styles import StyleSet
    from realtime_adain.stylizer import Stylizer

    stylizer = Stylizer.from_settings(model, sizes_vary=True)
    style_set = StyleSet(stylizer, StylePictures(digests, args.style_size, keep=args.preserve_color), args.style_size,
                         args.preserve_color)
    # A mask's spatial control runs the eager network (`stylize_masked`): no engine holds it. Said,
    # and reported so (--json said the engine asked for).
    ran = {"engine": "eager"} if mask is not None else None
    if mask is not None and stylizer.engine_name != "eager":
        note(f"--mask runs the eager network (spatial control is in no {stylizer.engine_name} engine)")

    failed: list[str] = []
    written = 0
    for index, (job, out) in enumerate(tqdm(list(zip(jobs, outputs)), desc="stylizing", unit="image", disable=None)):
        started = time.monotonic()
        try:
            with out_of_memory_as_user_error(str(job.source)):
                result = stylize_one(args, job, out, stylizer, style_set, mask)
            # (a signal between the rename and the report lost the report of a file written: held till it is out)
            with SignalGuard(None, hold=True):
                write_image(out, result)
                written += 1
                common.report_output(args, stylizer, job.source, job.styles, out, result.shape[1::-1],
                                     time.monotonic() - started, extra=ran)
        except ChangedSinceChecked as exc:
            failed.append(str(exc))
        except UserError as exc:  # (a full disk, memory): the others would fail the same way
            raise stopped_at(exc, written, len(jobs) - index - 1, failed, len(jobs), "results") from None
    if failed:
        raise not_all_written(failed, len(failed), len(jobs), "results")


def stylize_one(
    args: argparse.Namespace, job: Job, out: Path, stylizer: Stylizer, style_set: StyleSet, mask: np.ndarray | None
) -> np.ndarray:
    """One job's result for `out`, at the content's size unless --no-keep-size. The content is
    checked again as it is read: one replaced since the check by a 1000x1000 went through at
    --size 0 --max-pixels 20000."""
    with changed_since_checked():
        original, _ = read_checked(args, job.source, args.size, "--size")
        check_encodable(out, *result_size(args, original.shape[:2]))
    content = fit_short_side(original, args.size)
    if mask is not None:
        note_mask_stretched(args.mask, mask.shape, content.shape)
        stats = [style_set.stats(p, content) for p in job.styles]
        result = stylizer.stylize_masked(content, mask_labels(mask, content.shape[:2]), stats, args.alpha)
    else:
        result = stylizer.stylize(content, style_set.combined(job.styles, content, args.mix), args.alpha)
    return resize(result, original.shape[1::-1]) if args.keep_size else result


def note_mask_stretched(mask_path: str, mask_shape: tuple[int, ...], shape: tuple[int, ...]) -> None:
    """Say so where the mask's shape is not the photo's: it is stretched to fit, which may move
    the boundary between the styles from where it was drawn."""
    (mask_h, mask_w), (height, width) = mask_shape[:2], shape[:2]
    if abs((mask_w / mask_h) / (width / height) - 1) > 0.02:
        note(f"{mask_path}: a {mask_w}x{mask_h} mask is stretched to fit photos of another shape",
             once=True)  # (the same words for every photo: one line for a folder of them)
