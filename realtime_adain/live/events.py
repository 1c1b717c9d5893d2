"""The session's event log: one parseable line per event, for people and for tests."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import stat
import sys
import threading
from pathlib import Path

from realtime_adain.errors import UserError, unshown
from realtime_adain.made_folders import make_folders
from realtime_adain.notes import STDERR_LOCK
from realtime_adain.writable_folders import why_taken


def _append_descriptor(path: str | os.PathLike) -> tuple[int, bool]:
    """`path` opened to append, made if missing, in folders made if missing (as -o, --snapshot-dir
    and --record-dir make theirs), and whether it was made here (`EventLog.close` removes such a
    file left empty); a failure is one line naming --log. A FIFO is opened only where something
    reads it: with no reader the open blocked for good, before the session started, without a word."""
    folder = Path(path).parent
    try:
        make_folders(folder)
    except OSError as exc:  # ("File exists" named nothing there: what took the name, as -o says it)
        why = why_taken(folder) if isinstance(exc, FileExistsError) else exc.strerror or exc
        raise UserError(f"--log {path}: its folder {folder} cannot be made ({why})") from None
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        try:
            descriptor, made = os.open(path, flags | os.O_EXCL, 0o666), True
        except FileExistsError:  # (one there already, a FIFO, a device: appended to, never removed)
            descriptor, made = os.open(path, flags, 0o666), False
    except OSError as exc:
        if exc.errno == errno.ENXIO and stat.S_ISFIFO(os.stat(path).st_mode):  # (a socket says ENXIO too)
            raise UserError(f"{path}: a FIFO that nothing reads; start its reader first, or give --log a file") from None
        raise UserError(f"--log {path}: cannot write it ({exc.strerror or exc})") from None
    os.set_blocking(descriptor, True)  # (lines wait for a slow reader, as they would for a disk)
    return descriptor, made


STDERR_COPY_FROM = 100  # the lowest number the copy of stderr takes: none a user names (`--source pipe:3`)


def _stderr_copy() -> int | None:
    """A descriptor of stderr as it is at the start, for the log's lines: a rescan's decode catches
    fd 2 (the image libraries' lines, `capturing_here`) for as long as it decodes, and a line
    written to it meanwhile waited: seconds for a 10000x10000 picture, during which `q` and every
    other key froze the window. None where stderr is no file (a test's capture): written there.
    Numbered from STDERR_COPY_FROM: at the lowest free number (3) it was what `--source /dev/fd/3`,
    with no `3<`, then read. Under `ulimit -n 100` or less, the highest number there is (the copy
    was none, and the keys froze again); the lowest free one where even that is taken. (Windows,
    with no fcntl: no /dev/fd/N to name it by.)"""
    try:
        import fcntl
        import resource
    except ImportError:
        fcntl = None
    try:
        stderr = sys.stderr.fileno()
        if fcntl is not None:
            limit = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
            lowest = STDERR_COPY_FROM if limit == resource.RLIM_INFINITY else min(STDERR_COPY_FROM, limit - 1)
            with contextlib.suppress(OSError):  # (taken: os.dup's number below)
                return fcntl.fcntl(stderr, fcntl.F_DUPFD_CLOEXEC, lowest)
        return os.dup(stderr)  # (not inherited, as F_DUPFD_CLOEXEC's)
    except (AttributeError, OSError, ValueError):  # (io.UnsupportedOperation is both of the latter)
        return None


def _escaped(character: str) -> str:
    """`character` as JSON's escape where a terminal would not show it (`errors.unshown`; a surrogate
    pair beyond U+FFFF), else itself."""
    return json.dumps(character)[1:-1] if unshown(character) else character


def number(value: float) -> str:
    """A number as the log writes it (and the HUD shows it): `--alpha 0.35` is 0.35, not 0.3."""
    return f"{value:.4g}"


class HeldLines:
    """Lines for `log` held until `release`, then passed on: a pipe's or URL's capture begins as the
    model loads (`LiveSession.run`), and its `source-ended` came before the session's `start`."""

    def __init__(self, log: EventLog) -> None:
        self._log = log
        self._lock = threading.Lock()  # (a line logged while the held ones are said waits for them)
        self._held: list[tuple[str, dict[str, object]]] | None = []

    def __call__(self, event: str, **fields: object) -> None:
        with self._lock:
            if self._held is None:
                self._log(event, **fields)
            else:
                self._held.append((event, fields))

    def release(self) -> None:
        """The lines held said, and the next ones as they come (again: nothing more)."""
        with self._lock:
            held, self._held = self._held or [], None
            for event, fields in held:
                self._log(event, **fields)


class EventLog:
    """One parseable line per event, `live: EVENT key=value ...`, to stderr and optionally a file."""

    def __init__(self, path: str | os.PathLike | None = None) -> None:
        self._lock = threading.Lock()
        self.path = path
        self.error: str | None = None  # why the file stopped being written (the session then exits 1)
        self._file = None
        self._made = self._written = False  # the file made for this session; a line written to it
        if path:
            descriptor, self._made = _append_descriptor(path)
            # (backslashreplace: a reason naming a file whose name is not UTF-8 raised in the thread logging it)
            self._file = open(descriptor, "a", encoding="utf-8", errors="backslashreplace")
        self._stderr = _stderr_copy()

    @staticmethod
    def _value(value: object) -> str:
        """A value as one token: quoted (JSON) where it holds a space, `"`, `=`, a control character
        (a file name's ESC sequence drove the terminal, its CR rewrote the line, its U+202E showed it
        backwards) or an invisible one (U+3164 looked empty), all but the spaces escaped."""
        text = number(value) if isinstance(value, float) else str(value)
        quoted = not text or any(c in '"=' or c.isspace() or unshown(c) for c in text)  # (U+00A0, U+3000 too)
        # ("été.mp4", not "\u00e9t\u00e9.mp4"; json.dumps escapes C0 only, not DEL, C1, U+2028/9 or Cf)
        return "".join(map(_escaped, json.dumps(text, ensure_ascii=False))) if quoted else text

    def __call__(self, event: str, **fields: object) -> None:
        self._write(event, fields, to_stderr=True)

    def to_file_only(self, event: str, **fields: object) -> None:
        """A line for the file alone: what stderr says in other words (the error that stopped the
        session as the command's `error:` line)."""
        self._write(event, fields, to_stderr=False)

    def _write(self, event: str, fields: dict[str, object], to_stderr: bool) -> None:
        line = " ".join([f"live: {event}"] + [f"{k}={self._value(v)}" for k, v in fields.items()])
        with self._lock:
            if to_stderr:
                self._say(line)
            if self._file:
                try:
                    self._file.write(line + "\n")
                    self._file.flush()
                    self._written = True
                except OSError as exc:
                    self._give_up(exc)

    def _say(self, line: str) -> None:
        """`line` on stderr, never into a rescan's capture of the image libraries' lines."""
        if self._stderr is None:
            with STDERR_LOCK:  # (the capture holds it while it decodes)
                print(line, file=sys.stderr, flush=True)
            return
        data = (line + "\n").encode(getattr(sys.stderr, "encoding", None) or "utf-8", "backslashreplace")
        try:
            while data:
                data = data[os.write(self._stderr, data):]
        except OSError:  # (a closed pipe, `2>&1 | head`: from now on as before, through sys.stderr)
            os.close(self._stderr)
            self._stderr = None

    def _give_up(self, exc: OSError) -> None:
        """A log file that cannot be written (a full disk) is said once, naming it, and no longer
        written: raising from whichever thread logged would lose the session's recordings."""
        self.error = exc.strerror or str(exc)
        file, self._file = self._file, None
        with contextlib.suppress(OSError):
            file.close()  # its buffer cannot be written either
        print(f"live: log-failed path={self._value(os.fspath(self.path))} reason={self._value(self.error)}",
              file=sys.stderr, flush=True)

    def close(self) -> None:
        """The file closed, no longer written; stderr's lines go on through `sys.stderr` (a thread
        the exit no longer waits for may still log: never into a descriptor closed, its number
        perhaps reused). A file made for this session and never written (a signal while the model
        loaded) is removed: an empty log looked like a session that logged nothing."""
        with self._lock:
            if self._stderr is not None:
                os.close(self._stderr)
                self._stderr = None
            file, self._file = self._file, None
        if file:
            if self._made and not self._written:
                self._remove_unwritten(file)
            with contextlib.suppress(OSError):
                file.close()

    def _remove_unwritten(self, file) -> None:
        """`path` removed if it is still `file`, and empty (nothing else appended to it meanwhile)."""
        with contextlib.suppress(OSError):
            opened, there = os.fstat(file.fileno()), os.stat(self.path, follow_symlinks=False)
            if os.path.samestat(opened, there) and stat.S_ISREG(there.st_mode) and there.st_size == 0:
                os.unlink(self.path)
