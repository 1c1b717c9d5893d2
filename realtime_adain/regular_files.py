"""Opening a user's file only if it is a regular one, without blocking on anything else."""

from __future__ import annotations

import os
import stat
from typing import BinaryIO

from realtime_adain.errors import UserError


def open_regular(path: str | os.PathLike, what: str = "not a regular file (a pipe, device or socket)") -> BinaryIO:
    """`path` opened for reading, checked on the open file to be a regular one (else a UserError
    saying `what`). The open does not block: a FIFO swapped in for a listed file after a check by
    name (a style folder rescanned, a dataset changing mid-run) would block the open, or the read,
    for good. OSErrors of the open pass through."""
    descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    handle = open(descriptor, "rb")
    if not stat.S_ISREG(os.fstat(descriptor).st_mode):
        handle.close()
        raise UserError(f"{path}: {what}")
    return handle


def file_head(path: str | os.PathLike, size: int = 1024) -> bytes | None:
    """The first `size` bytes of regular file `path`, to tell its format by; None where it is no
    regular file or cannot be read (a pipe, a device, a URL: what opens it says why)."""
    try:
        with open_regular(path) as handle:
            return handle.read(size)
    except (OSError, ValueError, UserError):  # (ValueError: a NUL in the name)
        return None


def content_size(path: str | os.PathLike) -> int:
    """How many bytes regular file `path` holds: its size, or where that says 0 (a /proc or /sys
    file, made as it is read) what a read gives. /proc/self/maps was "empty" to `video`, and
    `weights info` said 0 bytes of /proc/self/environ and then hashed what it held. 0 where it
    cannot be read (what reads it says why); the stat's OSError passes through."""
    size = os.stat(path).st_size
    if size:
        return size
    try:
        with open_regular(path) as handle:
            return sum(len(block) for block in iter(lambda: handle.read(1 << 20), b""))
    except (OSError, UserError):
        return 0
