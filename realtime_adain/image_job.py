"""Pictures stylized into pictures: every input checked before any work, then each content x style
(or one mix or mask per content) stylized and written, a job whose input changed since its check
failing alone and any other failure stopping the run there with what was written said.

Library code for the `image` command (and its contact sheet's checks): it takes typed settings
(`ImageSettings`), never the CLI's namespace, as `video/job.py` does for `video`; planning the
jobs and naming their outputs stays with the command.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Protocol, Sequence

import numpy as np
from tqdm import tqdm

from realtime_adain.progress_bars import bar_off
from realtime_adain.checked_inputs import (
    ChangedSinceChecked, StylePictures, changed_since_checked, file_changed, file_digest,
)
from realtime_adain.errors import (OutputClosed, UserError, not_all_written, out_of_memory_as_user_error,
                                   refuse_inputs, stopped_at, stopped_counts)
from realtime_adain.interrupts import SignalGuard
from realtime_adain.notes import note
from realtime_adain.utf8_names import name_text
from realtime_adain.imageio import check_encodable, check_stated_budget, decode_image, mask_labels, read_image_bytes, read_mask, write_image
from realtime_adain.picture_sizes import check_pixel_budget, fit_short_side, resize, short_side_size
from realtime_adain.pillow_stills import note_first_frame_only
from realtime_adain.settings import ImageSettings

if TYPE_CHECKING:  # loaded when the run starts: checking (and refusing) the inputs needs no torch
    from realtime_adain.styles import StyleSet
    from realtime_adain.stylizer import Stylizer


class ImageJob(Protocol):
    """A job as the loop reads it (the command's `commands.jobs.Job`): one content and its styles."""

    @property
    def source(self) -> Path: ...

    @property
    def styles(self) -> list[Path]: ...


# Each result written, as report(stylizer, source, styles, output, (width, height), seconds, extra=...):
# the command's `commands.common.report_output` with its options (its path, or --json's object).
Report = Callable[..., None]


def check_inputs(
    settings: ImageSettings, contents: list[Path], styles: list[Path], given: Sequence[str], known: Sequence[str] = (),
    results: dict[Path, list[Path]] | None = None,
) -> tuple[dict[Path, str], np.ndarray | None]:
    """Decode every input once before any work and refuse, naming each bad file, if one is
    unreadable or over the pixel budget, or its result too large for the format of an output
    `results` gives it (a WebP's side): a folder run then never stops halfway. Returns the
    SHA-256 of each input's file as decoded and the mask. Styles (`StylePictures`: a large library
    need not stay in memory; the sheet's style library names a style by it too) and contents are
    read again when used, each held to its digest: a content cut short since the check was still
    stylized (a JPEG reads with a note, half grey). `given`: the contents and styles as given
    (folders unexpanded). `known`: problems found already (missing files), named in the same
    line. A file given as content and style is named once where it fails both the same way."""
    problems: list[str] = list(known)
    results = results or {}
    digests: dict[Path, str] = {}

    def check(path: Path, size: int | None, option: str) -> tuple[np.ndarray, str] | None:
        try:
            checked = read_checked(settings, path, size, option)
            note_first_frame_only(path)
            return checked
        except UserError as exc:
            problems.append(str(exc))
            return None

    for path in dict.fromkeys(styles):
        if checked := check(path, settings.style.style_size, "--style-size"):
            digests[path] = checked[1]
    for path in dict.fromkeys(contents):
        if checked := check(path, settings.size, "--size"):
            digests[path] = checked[1]
            for out in results.get(path, []):
                try:
                    check_encodable(out, *result_size(settings, checked[0].shape[:2]))
                except UserError as exc:
                    problems.append(str(exc))
    mask = None
    if settings.mask:
        try:
            mask = read_mask(settings.mask)
            note_first_frame_only(Path(settings.mask))
            if mask.all() or not mask.any():
                which = ("white: only the first style", "black: only the second style")[not mask.any()]
                note(f"{settings.mask}: the mask is all {which} is used")
        except UserError as exc:
            problems.append(str(exc))
    named = [*given, *([settings.mask] if settings.mask else [])]  # (as `known` names them)
    outputs = [out for outs in results.values() for out in outs]
    refuse_inputs(list(dict.fromkeys(problems)), map(str, [*contents, *styles, *map(Path, named), *outputs]))
    return digests, mask


def read_checked(settings: ImageSettings, path: Path, size: int | None, option: str) -> tuple[np.ndarray, str]:
    """`path` decoded, refused where it is over --max-pixels at `size` (`option`'s), and the
    SHA-256 of the bytes decoded (as `weight_digests.file_sha256` gives a file's)."""
    data = read_image_bytes(path)
    check_stated_budget(data, path, size, settings.max_pixels, option)  # (before a decode of minutes)
    image = decode_image(data, str(path))
    check_pixel_budget(path, *image.shape[:2], size, settings.max_pixels, option)
    return image, file_digest(data)


def result_size(settings: ImageSettings, shape: tuple[int, int]) -> tuple[int, int]:
    """(width, height) of the result of a content of `shape` (height, width): its own with
    --keep-size, else at --size."""
    return (shape[1], shape[0]) if settings.keep_size else short_side_size(*shape, settings.size)


def stylize_all(settings: ImageSettings, jobs: Sequence[ImageJob], outputs: list[Path], contents: list[Path],
                styles: list[Path], given: Sequence[str], report: Report) -> None:
    """Every job, after every input is checked; each output reported as it is written (a signal
    waits for the report of a file written). A job whose input changed since the check fails
    alone: the others are made, then one line names each such input (a folder run never stops
    halfway). Another error (a full disk) stops the run there, saying how many were written and
    how many not tried; so does a reader of the reports gone (`OutputClosed`, exit status 141)."""
    results: dict[Path, list[Path]] = {}
    for job, out in zip(jobs, outputs):
        results.setdefault(job.source, []).append(out)
    digests, mask = check_inputs(settings, contents, styles, given, results=results)

    from realtime_adain.styles import StyleSet
    from realtime_adain.stylizer import Stylizer

    style = settings.style
    stylizer = Stylizer.for_command(settings.model, sizes_vary=True)
    style_digests = {path: digests[path] for path in styles}
    style_set = StyleSet(stylizer, StylePictures(style_digests, style.style_size, keep=style.preserve_color),
                         style.style_size, style.preserve_color)
    # --json says how each result was made beside its files: a mix's weights, a mask's file. A
    # mask's spatial control runs the eager network (`stylize_masked`): no engine holds it. Said,
    # and reported so (--json said the engine asked for).
    made: dict[str, object] = {}
    if style.mix is not None:
        made["mix"] = [float(weight) for weight in style.mix]
    if mask is not None:
        made.update(engine="eager", mask=name_text(settings.mask))
    if mask is not None and stylizer.engine_name != "eager":
        note(f"--mask runs the eager network (spatial control is in no {stylizer.engine_name} engine)")

    failed: list[str] = []
    written = 0
    for index, (job, out) in enumerate(tqdm(list(zip(jobs, outputs)), desc="stylizing", unit="image", disable=bar_off())):
        started = time.monotonic()
        try:
            with out_of_memory_as_user_error(str(job.source)):
                result = stylize_one(settings, job, digests[job.source], out, stylizer, style_set, mask)
            # (a signal between the rename and the report lost the report of a file written: held till it is out)
            with SignalGuard(None, hold=True):
                write_image(out, result)
                written += 1
                report(stylizer, job.source, job.styles, out, result.shape[1::-1], time.monotonic() - started, extra=made)
        except ChangedSinceChecked as exc:
            failed.append(str(exc))
        except UserError as exc:  # (a full disk, memory): the others would fail the same way
            raise stopped_at(exc, written, len(jobs) - index - 1, failed, len(jobs), "results") from None
        except BrokenPipeError:  # (a report's reader gone, `--json | head`: no more are read)
            if len(jobs) == 1:
                raise
            raise OutputClosed(stopped_counts(written, len(jobs) - index - 1, failed, len(jobs), "results")) from None
    if failed:
        raise not_all_written(failed, len(failed), len(jobs), "results")


def stylize_one(
    settings: ImageSettings, job: ImageJob, digest: str, out: Path, stylizer: Stylizer, style_set: StyleSet,
    mask: np.ndarray | None,
) -> np.ndarray:
    """One job's result for `out`, at the content's size unless --no-keep-size. The content is
    checked again as it is read (one replaced since the check by a 1000x1000 went through at
    --size 0 --max-pixels 20000), then held to the file checked (SHA-256 `digest`): one cut short
    reads with a note, half grey."""
    with changed_since_checked():
        original, read_digest = read_checked(settings, job.source, settings.size, "--size")
        check_encodable(out, *result_size(settings, original.shape[:2]))
    if read_digest != digest:
        raise file_changed(job.source)
    content = fit_short_side(original, settings.size)
    if mask is not None:
        note_mask_stretched(settings.mask, mask.shape, content.shape)
        stats = [style_set.stats(p, content) for p in job.styles]
        result = stylizer.stylize_masked(content, mask_labels(mask, content.shape[:2]), stats, settings.style.alpha)
    else:
        result = stylizer.stylize(content, style_set.combined(job.styles, content, settings.style.mix),
                                  settings.style.alpha)
    return resize(result, original.shape[1::-1]) if settings.keep_size else result


def note_mask_stretched(mask_path: str, mask_shape: tuple[int, ...], shape: tuple[int, ...]) -> None:
    """Say so where the mask's shape is not the photo's: it is stretched to fit, which may move
    the boundary between the styles from where it was drawn."""
    (mask_h, mask_w), (height, width) = mask_shape[:2], shape[:2]
    if abs((mask_w / mask_h) / (width / height) - 1) > 0.02:
        note(f"{mask_path}: a {mask_w}x{mask_h} mask is stretched to fit photos of another shape",
             once=True)  # (the same words for every photo: one line for a folder of them)
