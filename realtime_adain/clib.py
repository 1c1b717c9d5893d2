"""The C library, for the few calls Python does not wrap (glibc's `malloc_trim`, C exit handlers)."""

from __future__ import annotations

import ctypes
import functools


@functools.cache
def c_library() -> ctypes.CDLL | None:
    """The process's own symbols, libc's among them (dlopen of the program itself: no search for
    the library's file, which `ctypes.util.find_library` does by running ldconfig); None where
    there is nothing to open so (Windows)."""
    try:
        return ctypes.CDLL(None)
    except (OSError, TypeError):
        return None
