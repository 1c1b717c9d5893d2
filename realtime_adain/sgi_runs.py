"""Whether an RLE SGI picture's rows run past its file's end (`sgi_rows_cut_short`, before FFmpeg
decodes it: FFmpeg read the missing bytes as zeros), its rows' runs walked as FFmpeg reads them,
within a budget of steps that rows which do not overlap cannot exceed."""

from __future__ import annotations

import struct

import numpy as np


def sgi_rows_cut_short(data: np.ndarray) -> bool:
    """Whether an RLE SGI (its tables there: `sgi_data_short`) has a row that runs past the file's
    end: FFmpeg read the missing bytes as zeros, a file cut by a byte or two with no word, a run's
    value black. Only the rows whose stated length runs past the end are read, as FFmpeg reads them
    (runs until the row is full): a writer's length may be too long, and FFmpeg does not use it."""
    return _sgi_rows_walked(data)[0]


def _sgi_rows_walked(data: np.ndarray) -> tuple[bool, int]:
    """`sgi_rows_cut_short`'s answer, and the runs it read to find it: at most `_sgi_walk_budget`.
    Rows may start anywhere in one shared data area, so reading each whole took pixels x channels
    steps of a tiny file (a 90 KB 8192x8192 one: 27 s); an honest file's rows do not overlap (those
    that share their data share their start, read once), so past the budget they do, and the
    check stops there: not cut short (FFmpeg reads such rows within the file). The rows are read
    together, a run of each at a time (`_sgi_runs_read`): as many steps as the widest row has runs."""
    head = bytes(data[:12])
    if head[2] != 1:  # (verbatim: `sgi_data_short` checks its samples)
        return False, 0
    width, height, channels = struct.unpack(">HHH", head[6:12])
    rows, sample = height * channels, head[3]
    tables = np.frombuffer(bytes(data[512:512 + 8 * rows]), ">u4").astype(np.int64)
    starts, lengths = tables[:rows], tables[rows:]
    at = np.unique(starts[starts + lengths > data.size])
    budget, runs, left = _sgi_walk_budget(data.size, at.size, sample), 0, np.full(at.size, width, np.int64)
    while at.size:
        if runs + at.size > budget:  # (rows that overlap)
            return False, runs
        runs += at.size
        if at.max() + sample > data.size:  # (a run's count missing)
            return True, runs
        at, left, cut_short = _sgi_runs_read(data, at, left, sample)
        if cut_short:
            return True, runs
    return False, runs


def _sgi_walk_budget(size: int, rows: int, sample: int) -> int:
    """The most runs `rows` RLE rows that do not overlap can hold in a file of `size` bytes: each
    run but a row's last (a zero count, or one past the end) takes at least two samples."""
    return size // (2 * sample) + rows


def _sgi_runs_read(data: np.ndarray, at: np.ndarray, left: np.ndarray,
                   sample: int) -> tuple[np.ndarray, np.ndarray, bool]:
    """The run at byte `at` of each SGI RLE row with `left` samples to set, its count within the
    file, read as FFmpeg decodes it (a count, then that many samples or one repeated, each
    `sample` bytes, big-endian; a zero count ends the row, as does its last sample): where the
    rows that go on have their next run and the samples they have left, and whether a row that
    ended has samples past the file's end."""
    control = data[at + (sample - 1)].astype(np.int64)
    count = control & 0x7F
    at = at + sample * (1 + np.where(control & 0x80, count, 1))
    left = left - count
    ended = (count == 0) | (left <= 0)
    if not ended.any():
        return at, left, False
    return at[~ended], left[~ended], bool((at[ended & (count > 0)] > data.size).any())
