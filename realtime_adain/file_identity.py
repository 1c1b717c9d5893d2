"""Which file a path is: its links followed, the directory entry it names, the regular file it
leads to; whether writing one path would replace another, or lands inside a folder; whether a
folder's file system takes names that differ in case as one."""

from __future__ import annotations

import functools
import itertools
import os
import stat
import sys
import unicodedata
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
    return folder.st_dev, folder.st_ino, folded(real.name, real.parent)


def folded(name: str, folder: str | os.PathLike) -> str:
    """`name` (of an entry in `folder`, or a path under it) as its file system compares names: in
    NFC and case-folded where it ignores case (`ignores_case`), else as it is. Two outputs named
    Photo.jpg and photo.jpg (or café.jpg composed and decomposed) are one file on macOS's APFS and
    on Windows: the second silently replaced the first."""
    return unicodedata.normalize("NFC", name).casefold() if ignores_case(folder) else name


def ignores_case(folder: str | os.PathLike) -> bool:
    """Whether the file system holding `folder` (or its nearest existing parent, for one not made
    yet) finds a name under its other case too, as macOS's APFS (which ignores how an accented
    letter is composed as well) and Windows do by default. Looked up, nothing written: a name there
    (or the folder's own) under its other case; where none has an ASCII letter, the system's way.
    (An empty folder that folds case in a parent that does not, Linux's `chattr +F`, is taken as
    its parent: nothing in it to look up, and its own name is looked up on the parent.)"""
    path = real_path(folder)
    while not os.path.isdir(path) and path != path.parent:  # (an unreadable one is not: no PermissionError)
        path = path.parent
    try:
        return _finds_other_case(str(path), os.stat(path).st_dev)
    except OSError:
        return _SYSTEM_IGNORES_CASE


_SYSTEM_IGNORES_CASE = sys.platform in ("darwin", "win32")


@functools.lru_cache(maxsize=256)  # (the device in the key: another file system mounted there is probed anew)
def _finds_other_case(folder: str, device: int) -> bool:
    candidates = []
    try:
        with os.scandir(folder) as entries:
            candidates = [entry.path for entry in itertools.islice(entries, 64)]
    except OSError:
        pass
    parent = os.path.dirname(folder)
    if parent != folder and os.stat(parent).st_dev == device:  # (its name is looked up on its parent's)
        candidates.append(folder)
    for path in candidates:
        head, name = os.path.split(path)
        other = name.swapcase()
        if other == name or not name.isascii():
            continue
        try:
            entry = os.lstat(path)
        except OSError:  # (gone meanwhile)
            continue
        try:
            found = os.lstat(os.path.join(head, other))
        except FileNotFoundError:
            return False
        except OSError:
            continue
        return (found.st_dev, found.st_ino) == (entry.st_dev, entry.st_ino)
    return _SYSTEM_IGNORES_CASE


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
    on one in Python 3.11, a traceback), and so does a path through a link that cannot be read
    (/proc/1/root, even for root: realpath raised PermissionError, where `ignores_case` never errs)."""
    try:
        return Path(os.path.realpath(path))
    except OSError:
        return Path(os.path.abspath(path))


def is_inside(path: str | os.PathLike, folder: str | os.PathLike) -> bool:
    """Whether `path` is somewhere under `folder`, links followed in both (a cache's files are
    inputs: a file written there replaced or changed one)."""
    return real_path(folder) in real_path(path).parents
