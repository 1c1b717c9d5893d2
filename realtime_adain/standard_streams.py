"""The standard streams of a command that writes files: a closed one gets /dev/null (its number
would go to the next file opened), stderr drops what it cannot write (`ForgivingStream`: a closed
terminal or `2>/dev/full` is no reason to fail the work), and a file name the streams' encoding
cannot write is written escaped (`FILE_NAME_ERRORS`). `safe_standard_streams` sets them up as
a command starts; `closed_at_start` tells a command that must print its result.
"""

from __future__ import annotations

import codecs
import errno
import os
import sys

from realtime_adain.errors import escaped_byte, is_name_byte


class ForgivingStream:
    """stderr that drops what it cannot write instead of raising: a note, "finishing NAME", or
    the last "interrupted" line meeting a closed terminal (EIO: the window closed, before its
    SIGHUP arrives) or `2>/dev/full` became the run's error, raised in the decoder thread or in
    a signal handler: the file being finished was lost, or the exit hung on threads never
    stopped. (A message nobody can read is no reason to fail the work.)"""

    def __init__(self, stream) -> None:
        self.stream = stream

    def write(self, text: str) -> int:
        try:
            return self.stream.write(text)
        except (OSError, ValueError):  # (ValueError: closed)
            return len(text)

    def flush(self) -> None:
        try:
            self.stream.flush()
        except (OSError, ValueError):
            pass

    def __getattr__(self, name: str):
        return getattr(self.stream, name)


def _file_name_errors(exc: UnicodeError) -> tuple[str, int]:
    """How the standard streams write what their encoding cannot: a file name's bytes that are
    not valid UTF-8 (held as surrogates, PEP 383) as `\\xNN`, as `one_line` and `shell_quoted`
    write them (raw, a UTF-8 terminal showed 0xfe and 0xff alike as U+FFFD), and other text as
    \\x.. escapes. With PYTHONIOENCODING=ascii, or a real UTF-8 locale (strict errors), printing
    the name of an output just written raised UnicodeEncodeError: a traceback, exit status 1."""
    if isinstance(exc, UnicodeDecodeError):  # (a stream read back with these errors: pytest's capture)
        return codecs.backslashreplace_errors(exc)
    if not isinstance(exc, UnicodeEncodeError):
        raise exc
    char = exc.object[exc.start]
    if is_name_byte(char):
        return escaped_byte(char), exc.start + 1
    return codecs.backslashreplace_errors(UnicodeEncodeError(exc.encoding, exc.object, exc.start, exc.start + 1,
                                                             exc.reason))


FILE_NAME_ERRORS = "realtime_adain.file_names"
codecs.register_error(FILE_NAME_ERRORS, _file_name_errors)


_closed_at_start: set[int] = set()  # the standard descriptors `safe_standard_streams` found closed (or read-only)


def safe_standard_streams() -> None:
    """Make the standard streams safe for a command that writes files. A closed one
    (`realtime-adain ... >&- 2>&-`) gets /dev/null: left closed, its number went to the next file
    opened, and what writes there (a library's messages to fd 2) would land in that file; Python
    sets sys.stdout or sys.stderr to None, where reading an image failed with a traceback (no
    `flush` on None) that nobody saw, exit 1, and `print(..., file=sys.stderr)` wrote to stdout
    instead (`closed_at_start` tells a command that must print its result). stderr becomes a
    `ForgivingStream`."""
    try:
        import fcntl
    except ImportError:  # Windows: no descriptor flags to read
        fcntl = None
    for fd, mode in ((0, os.O_RDONLY), (1, os.O_WRONLY), (2, os.O_WRONLY)):
        if fcntl is None:
            break
        try:
            access = fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE
        except OSError:  # closed
            access = None
        # (read-only stdout or stderr: pyenv's shim script, which bash opened on the freed number)
        if access is None or (fd and access == os.O_RDONLY):
            _closed_at_start.add(fd)
            null = os.open(os.devnull, mode)  # (the lowest free number: `fd` itself, lower ones being open)
            if null != fd:
                os.dup2(null, fd)
                os.close(null)
    if sys.stdin is None:
        sys.stdin = open(0, closefd=False)
    if sys.stdout is None:
        sys.stdout = open(1, "w", closefd=False)
    if sys.stderr is None:
        sys.stderr = open(2, "w", buffering=1, errors="backslashreplace", closefd=False)
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure"):  # (not under pytest's capture, nor a ForgivingStream)
            stream.reconfigure(errors=FILE_NAME_ERRORS)
    if not isinstance(sys.stderr, ForgivingStream):
        sys.stderr = ForgivingStream(sys.stderr)
    if 1 in _closed_at_start and not isinstance(sys.stdout, ClosedStdout):
        sys.stdout = ClosedStdout(sys.stdout)


class ClosedStdout:
    """stdout closed at start (`>&-`), given /dev/null. While what is written there is the command's
    result (`--help`, `--version`, `engines list`: `results_on_stdout`), a write fails, as GNU
    tools' do (`ls --version >&-`: write error, exit 2), and the CLI says so in one `error:` line:
    those exited 0 with nothing printed. A command that writes files and names them (`image`)
    runs on, its names lost."""

    def __init__(self, stream) -> None:
        self.stream = stream
        self.refusing = False

    def write(self, text: str) -> int:
        if self.refusing and text:
            raise OSError(errno.EBADF, "it is closed")
        return self.stream.write(text)

    def __getattr__(self, name: str):
        return getattr(self.stream, name)


def results_on_stdout(results: bool) -> None:
    """Whether the command parsed prints its result (`ClosedStdout`): set once it is known."""
    if isinstance(sys.stdout, ClosedStdout):
        sys.stdout.refusing = results


def closed_at_start(fd: int) -> bool:
    """Whether standard descriptor `fd` was closed when the command started (`>&-`; read-only
    where a shim script took its number), before `safe_standard_streams` gave it /dev/null: what
    is written there now is lost without an error."""
    return fd in _closed_at_start
