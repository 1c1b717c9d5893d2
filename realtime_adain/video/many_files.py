"""Every job of a `video` run (`stylize_videos`): one loaded network, style statistics once per
style, each output reported as it is made (`VideoDone`), an input that fails as it is read costing
its own outputs only, and one error naming each such input at the end."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping, Sequence

import numpy as np
import torch

from realtime_adain.adain import StyleStats
from realtime_adain.errors import OutputClosed, UserError, mark_said, not_all_written, stopped_at, stopped_counts
from realtime_adain.notes import note
from realtime_adain.settings import VideoSettings
from realtime_adain.styles import StyleSet
from realtime_adain.stylizer import Stylizer
from realtime_adain.video.encoder_settings import EncodeSettings
from realtime_adain.video.job import stylize_file
from realtime_adain.video.stream_reports import StreamReport

VideoJob = tuple[Path, Sequence[Path], Path]  # (input, the styles it gets, output)


@dataclass(frozen=True)
class VideoDone:
    """A finished output, for reports (`video --json`)."""

    source: Path
    styles: list[Path]
    output: Path
    size: tuple[int, int]  # (width, height)
    frames: int
    seconds: float
    streams: list[StreamReport]  # the input's other streams: kept, converted or left out


def stylize_videos(
    jobs: Sequence[VideoJob], stylizer: Stylizer, style_images: Mapping[Path, np.ndarray],
    settings: VideoSettings, encode: EncodeSettings, report: Callable[[VideoDone], None] = lambda _: None,
) -> None:
    """Every job with one loaded network; style statistics are computed once per style (with
    colour preservation, once per video: recoloured to its first frame, one palette per video).
    `style_images` is looked up as each is encoded (the CLI's reads the file again then).
    `report` gets each finished output with its figures. An input that fails as it is read
    (`fails_alone`) costs its own outputs only: a note says so at once, the others are made, then
    one `UserError` names each such input (a folder run stopped at the first damaged file, the
    later ones never named). A run stopped otherwise (a signal, a full disk) names them too: its
    last words were of the stop alone, and the failures before were lost. So does a reader of the
    reports gone (`OutputClosed`, exit status 141): the outputs not tried went unsaid."""
    style = settings.style
    style_set = StyleSet(stylizer, style_images, style.style_size, style.preserve_color)
    threads_before = torch.get_num_threads()
    if settings.threads:
        torch.set_num_threads(settings.threads)
    failed: dict[Path, str] = {}  # input -> why it failed
    not_written = written = index = 0
    try:
        for index, (source, used, output) in enumerate(jobs):
            if source in failed:  # (read again for another style, it fails the same way, after as much work)
                not_written += 1
                continue

            def style_of(first_frame: np.ndarray, used=used) -> StyleStats:
                return style_set.combined(used, first_frame, style.mix)

            def done(frames: int, size: tuple[int, int], streams: list[StreamReport], source=source, used=used,
                     output=output, index=index, started=time.monotonic()) -> None:
                nonlocal written
                written += 1  # (published: a report that fails to be written leaves it made)
                try:
                    report(VideoDone(source, list(used), output, size, frames, time.monotonic() - started, streams))
                except BrokenPipeError:  # (the reports' reader gone, `--json | head -1`: no more are read)
                    if len(jobs) == 1:
                        raise
                    raise OutputClosed(stopped_counts(written, len(jobs) - index - 1, list(failed.values()),
                                                      len(jobs), "outputs")) from None

            try:
                stylize_file(source, output, stylizer, style_of, settings, encode, on_done=done)
            except UserError as exc:
                if len(jobs) == 1 or not fails_alone(exc, source):
                    raise
                failed[source] = str(exc)
                not_written += 1
                going_on = any(other != source for other, _, _ in jobs[index + 1:])
                note(f"not written: {exc}{'; going on with the other inputs' if going_on else ''}")
    except UserError as exc:  # (a full disk stays full: what was made and what was never tried said)
        raise stopped_at(exc, written, len(jobs) - index - 1, list(failed.values()), len(jobs), "outputs") from None
    except KeyboardInterrupt as exc:
        if failed:  # (the line before the signal's own, said last even where a partial file's line said it)
            note(f"also not written: {problems(failed)}")
            mark_said(exc, False)
        raise
    finally:
        torch.set_num_threads(threads_before)
    if failed:
        raise not_all_written(failed.values(), not_written, len(jobs), "outputs")


def problems(failed: Mapping[Path, str]) -> str:
    """Why each input that failed did, in one line."""
    return "; ".join(failed.values())


def fails_alone(exc: UserError, source: Path) -> bool:
    """Whether `exc` is `source`'s own failure, which leaves the other inputs of a run to be made:
    one that names it (damage found as it is read, a frame over --max-pixels, the file changed
    since it was checked). One that names an output (a full disk, its folder gone), a style or
    standard output concerns every job, and stops the run."""
    return str(exc).startswith(f"{source}: ")
