"""Folders made for outputs (removed again after a failed command while they hold nothing), and
folders watched while a run writes into them: a handle held on one, and what to say when it, or
a temporary in it, was removed or renamed mid-run."""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

from realtime_adain.errors import UserError
from realtime_adain.file_modes import FOLDER_MODE
from realtime_adain.output_paths import refuse_missing_before_dotdot


def make_folders(folder: Path) -> bool:
    """`folder` and its missing parents, like `mkdir -p`, each usable by its owner whatever the
    umask (`mkdir -p` does the same for the parents): under `umask 0777` Path.mkdir made a folder
    nobody could write into, so the output failed and the empty folder stayed. Whether this call
    made `folder` itself (not there before, nor made meanwhile by another process). Unlike
    `mkdir -p`, no folder is made only to step out of it with `..` (`refuse_missing_before_dotdot`)."""
    refuse_missing_before_dotdot(folder)
    if folder.is_dir():
        return False
    if folder.parent != folder:
        make_folders(folder.parent)
    try:
        folder.mkdir()
    except FileExistsError:
        if folder.is_dir():  # made meanwhile
            return False
        raise
    _made_folders.append((folder, _identity(os.stat(folder))))
    os.chmod(folder, FOLDER_MODE)
    return True


# The folders `make_folders` made in this process, in the order made, each with its (device, inode).
_made_folders: list[tuple[Path, tuple[int, int]]] = []


def _identity(status: os.stat_result) -> tuple[int, int]:
    return status.st_dev, status.st_ino


def remove_made_folders_left_empty() -> None:
    """After a failed command: remove the folders it made that hold nothing, deepest first (a
    run that filled the disk left `-o new/out.mp4`'s `new/` behind, empty); one that holds a file
    (an earlier output, a partial video, a download's .part to resume) stays, and so does another
    folder now at its path: one the user made there after moving the run's folder away was removed."""
    while _made_folders:
        folder, made = _made_folders.pop()
        with contextlib.suppress(OSError):
            if _identity(os.stat(folder, follow_symlinks=False)) == made:
                folder.rmdir()


def folder_handle(folder: Path) -> int | None:
    """An open handle on `folder` (None where it cannot be had): a file in it can still be removed
    by name after the folder is renamed or moved mid-run, when its path no longer leads there."""
    flags = getattr(os, "O_PATH", os.O_RDONLY) | os.O_DIRECTORY | getattr(os, "O_CLOEXEC", 0)
    try:
        return os.open(folder, flags)
    except OSError:
        return None


def folder_gone(target: Path | str, folder: Path | str, what: str = "its folder") -> UserError:
    """The error for `target` whose `folder` was removed or renamed while the run wrote into it
    (outputs, downloads, the engine cache say it alike)."""
    return UserError(f"{target}: cannot write ({what} {folder} was removed or renamed during the run)")


def folder_moved(folder: Path, handle: int | None) -> bool:
    """Whether `folder` is no longer at its path: removed, renamed, or renamed with another made in
    its place (told by `handle`, held on it since the run began; without one, only whether a folder
    is there)."""
    try:
        now = os.stat(folder)
    except OSError:
        return True
    if handle is None:
        return not stat.S_ISDIR(now.st_mode)
    held = os.fstat(handle)
    return (held.st_dev, held.st_ino) != (now.st_dev, now.st_ino)


def lost_during_run(target: Path | str, lost: Path, what: str, folder: Path, handle: int | None,
                    folder_what: str = "its folder") -> UserError:
    """The error for `target` whose temporary `lost` (`what`: a file or folder in `folder`) vanished
    mid-run: `folder_gone` where the folder went, else `lost` alone was removed (a `.part` deleted,
    a build folder cleared by `engines clear` elsewhere), which "its folder was removed" misstated."""
    if folder_moved(folder, handle):
        return folder_gone(target, folder, folder_what)
    return UserError(f"{target}: cannot write ({what} {lost} was removed during the run)")
