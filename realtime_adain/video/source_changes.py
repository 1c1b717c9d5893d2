"""The input changing under a run: a file that grew or shrank while it was read (a recording
still being written, a file cut short), said once the output is made or with the reader's failure,
and a picture whose shape changes mid-stream (`job.stylize_file`)."""

from __future__ import annotations

import os
from pathlib import Path

from realtime_adain.errors import UserError
from realtime_adain.notes import note


def stat_or_none(path: Path) -> os.stat_result | None:
    try:
        return path.stat()
    except OSError:
        return None


def size_change(path: Path, opened: os.stat_result | None) -> tuple[int, int] | None:
    """(bytes when opened, bytes now) where `path` is still the file opened (`opened`, its stat
    then) and another size: a recording still being written, or a file cut short under the run.
    None where it is the same size, or was replaced or removed (the file opened stays readable
    as it was: the run read all of it)."""
    now = stat_or_none(path)
    if opened is None or now is None or (now.st_dev, now.st_ino) != (opened.st_dev, opened.st_ino):
        return None
    return (opened.st_size, now.st_size) if now.st_size != opened.st_size else None


def note_changed(source: Path, opened: os.stat_result | None, frames: int) -> None:
    """Say that `source` changed size while it was read to its end: the reader, as FFmpeg, reads a
    file still being written up to where it ends at that moment, and the output lacked the
    recording's end without a word."""
    change = size_change(source, opened)
    if change is None:
        return
    before, now = change
    if now > before:
        note(f"{source.name}: the file grew while it was read ({before} to {now} bytes: a recording still being "
             f"written?); the output holds the {frames} frames there were when the reading reached its end")
    else:
        note(f"{source.name}: the file shrank while it was read ({before} to {now} bytes); the output holds "
             f"the {frames} frames read")


def said_changed(exc: BaseException, source: Path, opened: os.stat_result | None) -> BaseException:
    """`exc`, a failure reading `source`, saying so when the file changed size under the run: the
    reader's "truncated or corrupt" blamed a file that was whole when the run began."""
    change = size_change(source, opened)
    if change is None or not isinstance(exc, UserError) or not str(exc).startswith(f"{source}:"):
        return exc
    return UserError(f"{exc} (the file changed while it was read: {change[0]} bytes when opened, {change[1]} now)")


def changed_shape(size: tuple[int, int], first: tuple[int, int]) -> bool:
    """Whether a frame of `size` (height, width, at the processing size) shows another shape than
    the first frame's, `first` (the same scaling rule, so a frame like it comes out the same):
    more than 2% apart in aspect beyond what rounding each side to a pixel explains (at --size 8,
    320x240 is 11x8, 3% wider than 4:3, and no change of shape)."""
    if size == first:
        return False
    (h, w), (h0, w0) = size, first
    rounding = 0.5 / h + 0.5 / w + 0.5 / h0 + 0.5 / w0
    return abs((w / h) / (w0 / h0) - 1) > 0.02 + rounding
