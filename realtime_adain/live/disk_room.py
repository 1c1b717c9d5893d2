"""Room held on the disk ahead of what a recording writes (`DiskRoom`), so that a disk that fills
up stops it at once, playable, rather than losing it.
"""

from __future__ import annotations

import ctypes
import errno
import math
import os
import shutil
from pathlib import Path
from typing import Callable

from realtime_adain.clib import c_library

# What an MP4 needs beyond its packets to be finished: the fragments' boxes, kept in the finished
# file, take up to 139 bytes a frame (one fragment a frame, at 1 fps or less; measured), the
# index about 19 more (uneven capture times), the header and the index's fixed part a few KiB.
CONTAINER_BYTES_PER_FRAME = 160
ROOM_SLACK = 64 * 1024
ROOM_AHEAD = 1 << 20  # reserved beyond the need at a time: most frames make no system call
FALLOC_FL_KEEP_SIZE = 1
# No room: the disk, the user's quota, or the process's file size limit (`ulimit -f`: EFBIG,
# Python ignores SIGXFSZ), which FFmpeg's writes meet just the same.
DISK_FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


def _fallocate() -> Callable[[int, int, int, int], int] | None:
    """Linux's fallocate(2) returning 0 or the errno (Python wraps only posix_fallocate, which
    grows the file); None where the C library has none (macOS, Windows)."""
    library = c_library()  # (its calls save errno)
    if library is None:
        return None
    for name in ("fallocate64", "fallocate"):
        try:  # by index: an object of its own, whose argument types below are for this use only
            function = library[name]
            break
        except AttributeError:  # not in this C library
            continue
    else:
        return None
    function.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64]
    function.restype = ctypes.c_int

    def call(fd: int, mode: int, offset: int, length: int) -> int:
        return 0 if function(fd, mode, offset, length) == 0 else ctypes.get_errno()

    return call


def file_size_limit() -> float:
    """The largest file this process may write (`ulimit -f`), inf where unlimited or unknown."""
    try:
        import resource
    except ImportError:  # (Windows)
        return math.inf
    soft = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
    return math.inf if soft == resource.RLIM_INFINITY else soft


class DiskRoom:
    """Room held on the disk for the rest of a recording, so that a full disk never costs the file.

    An MP4 plays only once its index, written last, is there, and FFmpeg's output stays failed after
    one refused write: a disk that filled up lost the whole recording. So each frame's packets go
    through only when the file can grow by them and still take its index. Where the file system
    allows, that room is reserved in the file itself (fallocate, its size unchanged: no other
    writer can take it, and FFmpeg's writes land in it); elsewhere the free space is checked.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._data = self._frames = 0  # the packets let through: bytes, count
        self._reserved = 0  # the file's first bytes held for it
        self._size_limit = file_size_limit()
        self._fallocate = _fallocate()
        try:
            self._fd: int | None = os.open(path, os.O_WRONLY | getattr(os, "O_CLOEXEC", 0))
        except OSError:  # (gone already: FFmpeg's own open says why)
            self._fd, self._fallocate = None, None

    def take(self, size: int, count: int, opened: bool) -> None:
        """Room for `count` packets of `size` bytes in all, or OSError (ENOSPC, EDQUOT, EFBIG). `opened`:
        FFmpeg has opened the file, which truncates it (freeing what was reserved before)."""
        end = self._data + size + (self._frames + count) * CONTAINER_BYTES_PER_FRAME + ROOM_SLACK
        if end > self._size_limit:  # (room reserved by fallocate is not checked against it: the writes are)
            raise OSError(errno.EFBIG, os.strerror(errno.EFBIG))
        if end > self._reserved:
            self._hold(end, opened)
        self._data += size
        self._frames += count

    def _hold(self, end: int, opened: bool) -> None:
        if opened and self._fallocate is not None:
            for want in (end + ROOM_AHEAD, end):
                refused = self._fallocate(self._fd, FALLOC_FL_KEEP_SIZE, self._reserved, want - self._reserved)
                if not refused:
                    self._reserved = want
                    return
                if refused not in DISK_FULL:  # not supported here (NFS, FAT, ...): free space from now on
                    self._fallocate = None
                    break
            else:
                raise OSError(refused, os.strerror(refused))
        try:
            written = os.fstat(self._fd).st_size if self._fd is not None else 0
            free = shutil.disk_usage(self.path.parent).free
        except OSError:
            return  # (the folder is gone: FFmpeg's write says so)
        if free < end - written:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def release(self) -> None:
        """Give back what was reserved beyond the finished file's end (a truncation to its own size)."""
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            if self._reserved:
                os.ftruncate(fd, os.fstat(fd).st_size)
        except OSError:
            pass
        finally:
            os.close(fd)
