"""The C library, for the few calls Python does not wrap (glibc's `malloc_trim`, C exit handlers,
Linux's `fallocate`)."""

from __future__ import annotations

import ctypes
import functools


@functools.cache
def c_library() -> ctypes.CDLL | None:
    """The process's own symbols, libc's among them (dlopen of the program itself: no search for
    the library's file, which `ctypes.util.find_library` does by running ldconfig); None where
    there is nothing to open so (Windows). Its calls save errno for `ctypes.get_errno` (at the
    cost of a copy per call): one handle for those that need it too (fallocate's refusal)."""
    try:
        return ctypes.CDLL(None, use_errno=True)
    except (OSError, TypeError):
        return None
