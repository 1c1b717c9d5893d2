"""What native libraries (libpng, libjpeg, libtiff, OpenCV's log) print straight to the process's
stderr while a picture decodes, caught (`native_stderr_captured`) and read as words
(`readable_line`): a bad file says one line of ours, a harmless warning nothing. Apart from the
decoders because fd 2 is the process's, shared by every thread (STDERR_LOCK; `capturing_here`
for the threads that decode)."""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
import threading
from typing import IO, Iterator

from realtime_adain.notes import STDERR_LOCK


@contextlib.contextmanager
def native_stderr_captured() -> Iterator[list[str]]:
    """libpng and libjpeg print warnings and errors straight to the process's stderr; collect them
    (as lines) so a bad file is one line of ours and a harmless warning is not shown at all.
    On the main thread, or one `capturing_here` (fd 2 is shared: another thread's output must not
    be taken; our own line writers wait on STDERR_LOCK meanwhile)."""
    lines: list[str] = []
    if threading.current_thread() is not threading.main_thread() and not getattr(_capture, "here", False):
        yield lines
        return
    with STDERR_LOCK:
        sys.stderr.flush()
        saved = os.dup(2)
        try:
            with _stderr_sink() as sink:
                os.dup2(sink.fileno(), 2)
                try:
                    yield lines
                finally:
                    os.dup2(saved, 2)
                    sink.seek(0)
                    lines += sink.read(4096).decode(errors="replace").splitlines()
        finally:
            os.close(saved)


def _stderr_sink() -> IO[bytes]:
    """A file for `native_stderr_captured` to collect lines in: in memory where the system allows
    (Linux's memfd), as a temporary file elsewhere. A temporary file alone made every decode need a
    writable $TMPDIR: in a container with a read-only root and one writable output volume, `image`
    and `video` stopped with "No usable temporary directory found"."""
    if hasattr(os, "memfd_create"):
        try:
            return os.fdopen(os.memfd_create("realtime-adain-native-stderr", os.MFD_CLOEXEC), "w+b")
        except OSError:  # (a kernel without memfd)
            pass
    return tempfile.TemporaryFile()


_capture = threading.local()


@contextlib.contextmanager
def capturing_here() -> Iterator[None]:
    """Within it, this thread (not the main one) catches the native libraries' lines as the main
    thread does: `live`'s rescan, whose decoder printed "libpng error: ..." lines between the log's
    and left out the "cut short" note the first scan gives. The other threads' writers of that
    session take STDERR_LOCK."""
    _capture.here = True
    try:
        yield
    finally:
        _capture.here = False


_LOG_PREFIX = re.compile(r"^\[\s*\w+:\d+@[\d.]+\]\s+global\s+\S+\s+\S+\s+")  # "[ERROR:0@1.3] global loadsave.cpp:1390 imdecode_ "

_CV_ERROR = re.compile(r"OpenCV\([^)]*\) \S+: error: \([^)]*\) ")  # "OpenCV(5.0.0) /io/.../bitstrm.cpp:59: error: (-2:...) "


def readable_line(line: str) -> str:
    """A native library's log line as the words that say what is wrong (no log prefix, no source path)."""
    line = _CV_ERROR.sub("", _LOG_PREFIX.sub("", line.strip()))
    return re.sub(r"^im(?:decode|read)_\('[^']*'\): ", "", line).strip()  # (imread_: `_imread_copy`'s file)
