"""The folder a download goes into: checked, made with its missing parents, held against a
second download into it at once, and the folders made removed again while empty when it fails."""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from realtime_adain.errors import UserError
from realtime_adain.writable_folders import check_writable_dir, nearest_folder


@contextmanager
def _only_download_into(directory: Path) -> Iterator[int | None]:
    """Hold `directory` for this download (an advisory lock on the folder itself: no lock file is
    left); yields the handle holding it (for `folder_moved`). A second `weights download` into the
    same folder at once appended to the same `.part`: the bytes interleaved, and the first to finish
    renamed the other's half-written file. Where the system has no `flock` (Windows), nothing is
    held (None)."""
    try:
        import fcntl
    except ImportError:
        yield None
        return
    handle = os.open(directory, os.O_RDONLY)
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise UserError(f"{directory}: another download into this folder is running; wait for it to end, "
                            "or give another folder with --dir") from None
        yield handle
    finally:
        os.close(handle)  # (releases the lock)


# Room kept beside the files' own bytes: their last blocks, the folder's entry, a file system's own
# records (a tmpfs with exactly the two files' bytes free took the VGG, then failed the decoder).
ROOM_MARGIN = 1 << 20


def check_room(directory: Path, names: list[str], needed: int) -> None:
    """Refuse a download of `names`, taking up to `needed` bytes at once (known in advance), that
    does not fit in the free space where `directory` is (or would be made), before any is fetched:
    the 80 MB VGG landed on a nearly full disk, then the decoder failed "No space left on device".
    A read-only file system is left to the folder's own check, which says so."""
    if not needed:
        return
    try:
        stats = os.statvfs(nearest_folder(directory) or directory)
    except OSError:  # (a folder this user cannot search: making the download folder says why)
        return
    free = stats.f_bavail * stats.f_frsize
    if stats.f_flag & os.ST_RDONLY or free >= needed + ROOM_MARGIN:
        return
    asked, free_said = f"{(needed + ROOM_MARGIN) / 1e6:.1f} MB", f"{free / 1e6:.1f} MB"
    if asked == free_said:  # (95,174,515 and 95,170,560 bytes were both "95.2 MB")
        asked, free_said = f"{needed + ROOM_MARGIN:,} bytes", f"{free:,} bytes"
    raise UserError(f"{directory}: no room for the download ({' and '.join(names)} need{'s' if len(names) == 1 else ''} "
                    f"{asked}, {free_said} free); free some space or choose another --dir")


@contextmanager
def held_folder(directory: Path) -> Iterator[int | None]:
    """Create `directory` (and missing parents) and hold it (`_only_download_into`, whose handle it
    yields); on failure remove those it created, if still empty.

    So a run without network leaves the filesystem as it found it, but a `.part` kept for
    resuming keeps the directory it is in. Removed only while held: a second first-time run,
    refused the folder the first had just made, removed it from under that run.
    """
    check_writable_dir(directory, "the download folder")  # (mkdir behind a dead link: "Too many levels of symbolic links")
    created = [path for path in (directory, *directory.parents) if not path.exists()]  # deepest first
    try:  # (its own record of what it made, not `make_folders`': a folder another run holds is left)
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # (out of space or inodes: the parents made stayed, and the error was a bare strerror)
        _remove_created(created)
        raise UserError(f"{directory}: the download folder cannot be made ({exc.strerror or exc})") from None
    with _only_download_into(directory) as held:
        try:
            yield held
        except BaseException:
            _remove_created(created)
            raise


def _remove_created(created: list[Path]) -> None:
    """Remove the folders `held_folder` made (deepest first) while empty."""
    for path in created:
        try:
            path.rmdir()
        except FileNotFoundError:  # (one that could not be made)
            continue
        except OSError:  # not empty: leave it and its parents
            break
