"""Temporaries that killed runs left behind, removed under one rule (`remove_stale`).

The temporary name of an output (atomic.py's `PendingOutput`) carries our mark, the writer's
process id and its `pid_space` (`.NAME.realtime-adain-PID-SPACE-XXXXXXXX.partEXT`): a run killed
too hard to clean up (SIGKILL) leaves one behind, and the next output into that folder removes
those whose process is gone. A process id means something only in the space it was given in: one
of another container or another machine sharing the folder cannot be looked up
(`os.kill` said gone of a live run in another container, whose temporary, left untouched for
minutes by x264 and the muxer, was removed), so such a temporary is removed only once untouched
for `OTHER_SPACE_AFTER_S`. A name without the mark (the older naming,
`.NAME.PID-XXXXXXXX.partEXT`) is left: a user's own hidden `.album.1999-holidays.part.zip` or
folder `.thesis.2022-versions.part` is just like one, and the sweep deleted both.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import math
import os
import platform
import re
import shutil
import sys
import time
from pathlib import Path

STALE_AFTER_S = 120.0
STALE_UNKNOWN_AFTER_S = 3600.0
OTHER_SPACE_AFTER_S = 86400.0  # a writer's id of another (or an unknown) `pid_space`: untouched a day
TEMPORARY_MARK = ".realtime-adain-"  # in every temporary name we make: no user's own name has it
# How `process_tag` is named, as a regular expression: the `space` absent in names of older versions.
PROCESS_TAG = r"(?P<pid>\d+)(?:-(?P<space>[0-9a-f]{8}))?"


@functools.cache
def pid_space() -> str | None:
    """Where this process's id means this process, as 8 hex digits: the machine's name and, on
    Linux, its PID namespace (a container has its own); None where that cannot be read (then no
    temporary of ours is judged by its id here). The same after a restart: a power cut's leftovers
    (a `live` recording kept as NAME.partial.mp4) are judged as a SIGKILL's."""
    where = platform.node()
    if sys.platform.startswith("linux"):
        try:
            where = f"{where} {os.stat('/proc/self/ns/pid').st_ino}"
        except OSError:  # (no /proc: which namespace is unknown)
            return None
    return hashlib.sha256(where.encode()).hexdigest()[:8] if where else None


def process_tag(pid: int | None = None) -> str:
    """`PID-SPACE` of this process, or of process `pid` beside it (`PID` alone where `pid_space` is
    unknown): what names of our temporaries carry to tell whether their writer is gone (`writer_gone`)."""
    pid, space = os.getpid() if pid is None else pid, pid_space()
    return f"{pid}-{space}" if space else str(pid)


def temporary_names(stem: str = ".*", suffix: str = "") -> re.Pattern[str]:
    """The names atomic.py's `temporary_prefix` gives temporaries (mkstemp's 8 of [a-z0-9_] after
    the `process_tag`): `stem` and `suffix` as regular expressions (`re.escape` one output's)."""
    return re.compile(rf"\.{stem}{re.escape(TEMPORARY_MARK)}{PROCESS_TAG}-[a-z0-9_]{{8}}\.part{suffix}")


_TEMP_FOLDER = temporary_names()
_TEMP_NAME = temporary_names(suffix=r"(?:\.[^.]*)?")  # a file: its output's extension after .part
_swept: set[Path] = set()


def process_gone(pid: int) -> bool:
    if pid <= 0 or pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # alive, another user's
        return False
    except (OverflowError, ValueError):  # no process can have that id: not a name we made
        return False
    return False


def of_this_space(match: re.Match[str]) -> bool:
    """Whether the writer's id in an entry's name (`match` of a pattern holding `PROCESS_TAG`) is of
    this process's `pid_space`: the only ids that `process_gone` can judge."""
    space = match.groupdict().get("space")
    return space is not None and space == pid_space()


def name_unjudged(path: str | os.PathLike, what: str, todo: str = "", *, removed: float | None = None) -> None:
    """One note naming `path` and its size, `what` whose writer's id cannot be looked up here (not
    `of_this_space`), then `todo`; with `removed` (its MB before), as removed. Such a leftover (a
    killed recording, a build) was kept or removed without a word, and a container's restart leaves
    all of its own so."""
    from realtime_adain.notes import note

    size = megabytes(path) if removed is None else removed
    note(f"{'removed ' if removed is not None else ''}{path} ({size:.1f} MB), {what} of another container or "
         f"machine, an older version, or from before a restart, whose process cannot be looked up here{todo}")


def megabytes(path: str | os.PathLike) -> float:
    """The size of the file at `path`, or of the files under the folder there, in MB."""
    if not os.path.isdir(path) or os.path.islink(path):
        return os.lstat(path).st_size / 1e6 if os.path.lexists(path) else 0.0
    total = 0
    for top, _, names in os.walk(path):
        for name in names:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(top, name)).st_size
    return total / 1e6


def writer_gone(match: re.Match[str]) -> bool:
    """Whether the process that named an entry (`match` as for `of_this_space`) is known to be gone."""
    return of_this_space(match) and process_gone(int(match["pid"]))


ANY_AGE = -math.inf  # for `remove_stale`: removed however recently touched
NEVER = math.inf  # for `remove_stale`: never removed


def remove_stale(folder: Path, *, files: re.Pattern[str] | None = None, folders: re.Pattern[str] | None = None,
                 after_s: float = STALE_AFTER_S, unknown_after_s: float = NEVER, mine_only: bool = False) -> list[Path]:
    """Remove what killed runs left in `folder`, which no run will finish; what was removed.

    The one rule of the temporaries we write (outputs, engine builds, per-run caches): an entry is
    ours when its whole name matches `files` (a regular file) or `folders` (a folder, removed with
    what it holds; a link is never followed), and, with `mine_only`, this user owns it. The name's
    `pid` and `space` groups (`PROCESS_TAG`) name its writer: it is stale once that process is gone
    and it was left untouched for `after_s`; one whose writer's id is of another space (or of none
    named: `of_this_space`), once untouched for `OTHER_SPACE_AFTER_S` (and `after_s`), named in a
    note as it goes (`name_unjudged`: a container's killed recording went unseen); one named
    without an id, once untouched for `unknown_after_s`.
    """
    removed = []
    now = time.time()
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        try:
            is_folder = entry.is_dir(follow_symlinks=False)
            pattern = folders if is_folder else files if entry.is_file(follow_symlinks=False) else None
            match = pattern.fullmatch(entry.name) if pattern else None
            if not match:
                continue
            status = entry.stat(follow_symlinks=False)
            if mine_only and status.st_uid != os.getuid():
                continue
            age = now - status.st_mtime
            unjudged = False
            if match.groupdict().get("pid") is None:
                stale = age > unknown_after_s
            elif of_this_space(match):
                stale = age > after_s and process_gone(int(match["pid"]))
            else:
                stale = unjudged = age > max(after_s, OTHER_SPACE_AFTER_S)
            if not stale:
                continue
            size = megabytes(entry.path) if unjudged else 0.0
            if is_folder:
                shutil.rmtree(entry.path, ignore_errors=True)  # as much of it as can go
            else:
                os.unlink(entry.path)
        except OSError:  # gone meanwhile, or not ours to remove
            continue
        if not os.path.lexists(entry.path):
            removed.append(Path(entry.path))
            if unjudged:
                name_unjudged(entry.path, "left untouched a day by a run", removed=size)
    return removed


def remove_stale_temporaries(folder: Path) -> list[Path]:
    """Remove temporary files of ours that no run will finish (see the module's docstring), and the
    hidden folders numbered pictures are made in (video/picture_output.py)."""
    # (names without our mark are never removed: the older naming cannot be told apart from a
    # user's own `.holiday.20231231.part.jpg`, which an hour-old sweep deleted without a word)
    return remove_stale(folder, files=_TEMP_NAME, folders=_TEMP_FOLDER)


def sweep_once(folder: Path) -> None:
    """`remove_stale_temporaries` in `folder`, once a process."""
    folder = folder.resolve()
    if folder not in _swept:
        _swept.add(folder)
        remove_stale_temporaries(folder)
