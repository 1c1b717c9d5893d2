"""`realtime-adain image PHOTO --style styles/ --sheet sheet.jpg`: one photo under every style of a
library on one contact sheet, to choose styles before a live session.

Styles come from the same on-disk statistics cache as `live` (live.styles.StyleLibrary), so a
library is encoded once across sheets and live sessions. Every tile is exactly what `image` gives
for that style at the tile's size (`--size`, default TILE_SIZE; `--no-keep-size`).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
from tqdm import tqdm

from realtime_adain import sheet
from realtime_adain.progress_bars import bar_off
from realtime_adain.checked_inputs import StylePictures, changed_since_checked, file_changed
from realtime_adain.commands import common
from realtime_adain.errors import UserError, out_of_memory_as_user_error
from realtime_adain.imageio import WRITABLE_EXTENSIONS, check_encodable, is_writable_image_path, write_image
from realtime_adain.output_checks import folder_ending, refuse_overwriting_inputs
from realtime_adain.writable_folders import check_writable_dir
from realtime_adain.picture_sizes import fit_short_side
from realtime_adain.settings import ImageSettings, ModelSettings
from realtime_adain.notes import repeats_counted

if TYPE_CHECKING:  # (torch: loaded when the sheet is made)
    from realtime_adain.live.styles import StyleLibrary

TILE_SIZE = 384  # the tiles' shorter side unless --size says otherwise


def add_options(parser: argparse.ArgumentParser) -> None:
    """The sheet's options on the `image` parser (--sheet itself is beside -o)."""
    group = parser.add_argument_group("contact sheet (--sheet FILE)")
    group.add_argument("--sheet-columns", type=columns, metavar="N",
                       help=f"columns of the sheet, 1 to {sheet.MAX_COLUMNS} (default: about a square)")
    group.add_argument("--sheet-original", action=argparse.BooleanOptionalAction, default=None,
                       help="show the photo itself as the first tile (default: on)")
    group.add_argument("--style-cache", metavar="DIR",
                       help=f"where style statistics are cached, shared with `live` and `serve` ({common.STYLE_CACHE_DEFAULT})")


def columns(text: str) -> int:
    from realtime_adain.commands.argtypes import positive_int

    value = positive_int(text)
    if value > sheet.MAX_COLUMNS:
        raise argparse.ArgumentTypeError(f"{value} is over {sheet.MAX_COLUMNS} columns")
    return value


def refuse_sheet_options(args: argparse.Namespace) -> None:
    """Without --sheet, its options mean nothing: say so rather than ignore them."""
    for given, option in ((args.sheet_columns is not None, "--sheet-columns"),
                          (args.sheet_original is False, "--no-sheet-original"),
                          (args.sheet_original is True, "--sheet-original"), (args.style_cache is not None, "--style-cache")):
        if given:
            raise UserError(f"{option} applies to a contact sheet: give --sheet FILE")


def check_request(args: argparse.Namespace, contents: list[Path], styles: list[Path], model: ModelSettings) -> Path:
    """Refuse what a sheet cannot be made of, before any work; returns the sheet's path."""
    if len(contents) != 1:
        raise UserError(f"--sheet takes one content image, got {len(contents)}")
    for given, option in ((args.mix is not None, "--mix"), (args.mask, "--mask"), (args.ext, "--ext"),
                          (args.keep_size is not None, "--keep-size/--no-keep-size")):
        if given:
            raise UserError(f"{option} cannot be combined with --sheet (one tile per style, at --size)")
    if not args.sheet:
        raise UserError("--sheet needs a file name (e.g. --sheet sheet.jpg)")
    out = Path(args.sheet)
    formats = " ".join(WRITABLE_EXTENSIONS)
    if folder_ending(args.sheet):  # a folder meant (x.png/ and x.png/. would write x.png)
        raise UserError(f"--sheet {args.sheet}: give the sheet's file name, e.g. sheet.jpg (written: {formats})")
    if not out.suffix:
        raise UserError(f"--sheet {args.sheet}: the name says no image format; add one, e.g. {out.name}.jpg "
                        f"(written: {formats})")
    if not is_writable_image_path(out):
        raise UserError(f"{out}: unknown image format '{out.suffix}' (written: {formats})")
    tiles = len(styles) + args.sheet_original
    if tiles > sheet.MAX_TILES:
        fits_without_photo = " or give --no-sheet-original" if tiles - args.sheet_original <= sheet.MAX_TILES else ""
        raise UserError(f"--sheet: {tiles} tiles, at most {sheet.MAX_TILES} fit one sheet (split the style folder"
                        f"{fits_without_photo})")
    refuse_styles_given_twice(styles)
    from realtime_adain.weight_paths import files_used  # (torch: loaded by `model_settings` already)

    refuse_overwriting_inputs([out], contents + styles + files_used(model.vgg, model.decoder))
    check_writable_dir(out.parent)
    return out


def refuse_styles_given_twice(styles: list[Path]) -> None:
    """One style named twice (`-s a.jpg -s ./a.jpg`) is refused, as `-o` refuses it; a link in a
    style folder under another name is a tile of its own, as `-o` writes it an output of its own
    (the sheet said "asheville.jpg is given twice (also as favourite.jpg)" of one folder given)."""
    seen: dict[str, Path] = {}
    for style in styles:
        key = os.path.normcase(os.path.abspath(style))
        if key in seen:
            also = "" if str(seen[key]) == str(style) else f" (also as {style})"
            raise UserError(f"{seen[key]} is given twice{also}: give each once")
        seen[key] = style


def run(args: argparse.Namespace, settings: ImageSettings) -> int:
    from realtime_adain.commands.image import expand_given

    args.sheet_original = args.sheet_original is not False  # (None: not given, the default: on)
    contents, styles = expand_given(args, settings)  # (every bad input named in one line, as `-o` names them)
    with repeats_counted(contents + styles):  # a folder's pictures: one line per kind of note, as `image`
        return _make_sheet(args, settings, contents, styles)


def _make_sheet(args: argparse.Namespace, settings: ImageSettings, contents: list[Path], styles: list[Path]) -> int:
    """The sheet of inputs held to their check, as `-o` holds them: the sheet being one output, an
    input that changed since (a photo or style file replaced, cut short or removed; a photo now
    over --max-pixels) fails the run, and no sheet is written."""
    from realtime_adain.commands.image import given
    from realtime_adain.image_job import check_inputs, read_checked  # (looked up at the call, as the `-o` loop does)

    out = check_request(args, contents, styles, settings.model)
    digests, _ = check_inputs(settings, contents, styles, given(args))
    with changed_since_checked():
        photo, read_digest = read_checked(settings, contents[0], args.size, "--size")
    if read_digest != digests[contents[0]]:  # (one cut short reads with a note, half grey)
        raise file_changed(contents[0])
    side = sheet.fit_tile_side(photo.shape[:2], args.size, len(styles) + args.sheet_original,
                               args.sheet_columns, args.max_pixels)
    if side != (args.size or min(photo.shape[:2])):
        tqdm.write(f"note: tiles at --size {side} to keep the sheet within --max-pixels {args.max_pixels}", file=sys.stderr)
    content = fit_short_side(photo, side)
    # (a WebP holds 16383 pixels a side: refused now, not when written after every tile is made)
    check_encodable(out, *sheet.sheet_size(content.shape[1::-1], len(styles) + args.sheet_original, args.sheet_columns))
    from realtime_adain.live.style_cache import note_unwritable_style_cache, run_cache_dir
    from realtime_adain.live.styles import StyleLibrary
    from realtime_adain.stylizer import Stylizer

    cache_dir = common.style_cache_dir(args.style_cache) or run_cache_dir()  # (no home: a temporary one, noted)

    started = time.monotonic()
    stylizer = Stylizer.for_command(settings.model, sizes_vary=True)
    library = StyleLibrary(styles, stylizer, args.style_size, cache_dir, note_unwritable_style_cache,
                           max_pixels=args.max_pixels)
    for path in tqdm(styles, desc="style statistics", unit="style", disable=bar_off()):
        add_checked_style(library, path, digests[path])
    pictures = StylePictures({path: digests[path] for path in styles}, args.style_size)
    tiles, captions, thumbnails = ([content], ["original"], [None]) if args.sheet_original else ([], [], [])
    names = sheet.style_captions([style.path for style in library.styles])
    for index, style in enumerate(tqdm(library.styles, desc="contact sheet", unit="style", disable=bar_off())):
        stats = style.stats
        if args.preserve_color:  # recoloured to this photo, as `image --preserve-color` does
            stats = stylizer.style_stats(pictures[style.path], color_reference=content)
        with out_of_memory_as_user_error(str(style.path)):
            tiles.append(stylizer.stylize(content, stats, args.alpha))
        captions.append(names[index])
        thumbnails.append(cv2.cvtColor(style.thumbnail, cv2.COLOR_BGR2RGB))
    picture = sheet.compose_sheet(tiles, captions, thumbnails, args.sheet_columns)
    write_image(out, picture)
    common.report_output(args, stylizer, contents[0], styles, out, picture.shape[1::-1], time.monotonic() - started,
                         extra={"tiles": len(tiles)})
    return 0


def add_checked_style(library: StyleLibrary, path: Path, digest: str) -> None:
    """`path` joins the sheet's `library` only as the file the run checked (SHA-256 `digest`): the
    library holds a style to its own budget, at least 16 MP (`style_budget`), and leaves out one it
    cannot read, so a style replaced after the check by one over --max-pixels was encoded, and one
    cut short was a tile missing from a sheet made all the same. Compared before it is decoded,
    and again as the library hashed it."""
    from realtime_adain.weight_digests import file_sha256

    with changed_since_checked():  # (removed or unreadable now)
        if file_sha256(path) != digest:
            raise file_changed(path)
    if library.add(path).digest != digest:
        raise file_changed(path)
