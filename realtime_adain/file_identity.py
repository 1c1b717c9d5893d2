"""Which file a path is: its links followed, the directory entry it names, the regular file it
leads to; whether writing one path would replace another, or lands inside a folder."""

from __future__ import annotations

import os
import stat
from pathlib import Path


def entry_key(path: str | os.PathLike) -> tuple[int, int, str] | None:
    """The directory entry `path` names, its links followed, as (device, inode of its folder, name);
    None where the folder does not exist. Two paths with one key are one file to replace: a bind
    mount (or a second mount of one file system) gives a folder two real paths, and `-o
    bind/in.mp4` replaced `same/in.mp4`. (A hard link's other name is another entry: renaming over
    it leaves the file behind it alone, and breaks the link: `file_identity` tells that.)"""
    real = real_path(path)
    try:
        folder = os.stat(real.parent)
    except OSError:
        return None
    return folder.st_dev, folder.st_ino, os.path.normcase(real.name)  # (Windows: any case is one name)


def file_identity(path: str | os.PathLike) -> tuple[int, int] | None:
    """The regular file `path` leads to, links followed, as (device, inode); else None. An output
    that is a hard link of an input is that input under another name (`-o hl.mp4` after `ln in.mp4
    hl.mp4`): its result silently broke the link, where a symbolic link was refused."""
    try:
        status = os.stat(path)
    except (OSError, ValueError):
        return None
    return (status.st_dev, status.st_ino) if stat.S_ISREG(status.st_mode) else None


def same_entry(first: str | os.PathLike, second: str | os.PathLike) -> bool:
    """Whether writing `first` would replace `second`: one real path, or one `entry_key`."""
    key = entry_key(first)
    return real_path(first) == real_path(second) or (key is not None and key == entry_key(second))


def real_path(path: str | os.PathLike) -> Path:
    """`path` with its links followed; a link loop stays as it is (Path.resolve raises RuntimeError
    on one in Python 3.11, a traceback)."""
    return Path(os.path.realpath(path))


def is_inside(path: str | os.PathLike, folder: str | os.PathLike) -> bool:
    """Whether `path` is somewhere under `folder`, links followed in both (a cache's files are
    inputs: a file written there replaced or changed one)."""
    return real_path(folder) in real_path(path).parents
