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
