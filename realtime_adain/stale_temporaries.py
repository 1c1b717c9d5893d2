"""Temporaries that killed runs left behind, removed under one rule (`remove_stale`).

The temporary name of an output (atomic.py's `PendingOutput`) carries our mark and the writer's
process id (`.NAME.realtime-adain-PID-XXXXXXXX.partEXT`): a run killed too hard to clean up
(SIGKILL, power loss) leaves one behind, and the next output into that folder removes those whose
process is gone (and untouched for `STALE_AFTER_S`, in case the folder is shared with another
machine or container, where the id means nothing). A name without the mark (the older naming,
`.NAME.PID-XXXXXXXX.partEXT`) is left: a user's own hidden `.album.1999-holidays.part.zip` or
folder `.thesis.2022-versions.part` is just like one, and the sweep deleted both.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import time
from pathlib import Path

STALE_AFTER_S = 120.0
STALE_UNKNOWN_AFTER_S = 3600.0
TEMPORARY_MARK = ".realtime-adain-"  # in every temporary name we make: no user's own name has it


def temporary_names(stem: str = ".*", suffix: str = "") -> re.Pattern[str]:
    """The names atomic.py's `temporary_prefix` gives temporaries (mkstemp's 8 of [a-z0-9_] after
    the process id): `stem` and `suffix` as regular expressions (`re.escape` one output's)."""
    return re.compile(rf"\.{stem}{re.escape(TEMPORARY_MARK)}(?P<pid>\d+)-[a-z0-9_]{{8}}\.part{suffix}")


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


ANY_AGE = -math.inf  # for `remove_stale`: removed however recently touched
NEVER = math.inf  # for `remove_stale`: never removed


def remove_stale(folder: Path, *, files: re.Pattern[str] | None = None, folders: re.Pattern[str] | None = None,
                 after_s: float = STALE_AFTER_S, unknown_after_s: float = NEVER, mine_only: bool = False) -> list[Path]:
    """Remove what killed runs left in `folder`, which no run will finish; what was removed.

    The one rule of the temporaries we write (outputs, engine builds, per-run caches): an entry is
    ours when its whole name matches `files` (a regular file) or `folders` (a folder, removed with
    what it holds; a link is never followed), and, with `mine_only`, this user owns it. The name's
    `pid` group is its writer's process id: it is stale once that process is gone and it was left
    untouched for `after_s` (a folder shared with another machine or container, where the id means
    nothing); one named without an id, once untouched for `unknown_after_s`.
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
            age, pid = now - status.st_mtime, match.group("pid")
            if not ((age > after_s and process_gone(int(pid))) if pid else age > unknown_after_s):
                continue
            if is_folder:
                shutil.rmtree(entry.path, ignore_errors=True)  # as much of it as can go
            else:
                os.unlink(entry.path)
        except OSError:  # gone meanwhile, or not ours to remove
            continue
        if not os.path.lexists(entry.path):
            removed.append(Path(entry.path))
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
