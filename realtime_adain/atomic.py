"""Outputs that appear under their final name only when complete.

Every file the tool writes (images, videos, checkpoints, engines, caches) is written under a
hidden temporary name beside its destination, synced to the disk and renamed into place on
success, so an interrupted or failed run (or a power loss) never leaves a half-written file that
looks finished.

The temporary name holds the writer's process id (`.NAME.PID-XXXXXXXX.partEXT`): a run killed
too hard to clean up (SIGKILL, power loss) leaves one behind, and the next output into that folder
removes those whose process is gone (and untouched for `STALE_AFTER_S`, in case the folder is shared
with another machine or container, where the id means nothing). A name without an id (the older
naming) is left: a user's own hidden file may look just like one.
"""

from __future__ import annotations

import contextlib
import errno
import math
import os
import re
import shutil
import stat
import tempfile
import time
import weakref
from pathlib import Path

from realtime_adain.errors import UserError, as_given


def _process_umask() -> int:
    """The umask, read from /proc/self/status where Linux shows it: `os.umask` reads it only by
    setting another, and for that instant the files other threads create get that one's modes."""
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    umask = os.umask(0o077)  # (elsewhere: for that instant, other threads' files are private, not open to all)
    os.umask(umask)
    return umask


# mkstemp creates 0600 files; finished outputs get the usual mode (0666 less the umask), but
# always readable and writable by their owner: under `umask 0777` mkstemp's file was 0000, so a
# writer opening it by name (OpenCV, PyAV) failed with "Permission denied" after all the work.
_UMASK = _process_umask()
OWNER_RW = 0o600
FILE_MODE = (0o666 & ~_UMASK) | OWNER_RW
FOLDER_MODE = (0o777 & ~_UMASK) | 0o700

NAME_MAX = 255  # bytes in one file name (Linux, macOS)
PATH_MAX = 4096  # bytes in a whole path (Linux)
STALE_AFTER_S = 120.0
STALE_UNKNOWN_AFTER_S = 3600.0
_TEMP_FOLDER = re.compile(r"\..+\.(?:(?P<pid>\d+)-)?[a-z0-9_]{8}\.part")  # mkstemp: 8 of [a-z0-9_]
_TEMP_NAME = re.compile(rf"{_TEMP_FOLDER.pattern}(?:\.[^.]*)?")  # a file: its output's extension after .part
_swept: set[Path] = set()
MOST_PARTIAL_NUMBERS = 1000  # NAME.partial-999.EXT at most


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
    # (names without a process id are never removed: the older naming cannot be told apart from a
    # user's own `.holiday.20231231.part.jpg`, which an hour-old sweep deleted without a word)
    return remove_stale(folder, files=_TEMP_NAME, folders=_TEMP_FOLDER)


def sweep_once(folder: Path) -> None:
    """`remove_stale_temporaries` in `folder`, once a process."""
    folder = folder.resolve()
    if folder not in _swept:
        _swept.add(folder)
        remove_stale_temporaries(folder)


def link_first_free(path: Path, names: list[Path]) -> tuple[Path | None, bool]:
    """Give `path` the first of `names` that no file has, as a hard link (it fails where the name
    exists, even one made meanwhile): (name, True). Where the file system has no hard links (FAT):
    (the first name found free, False), for the caller to rename onto. (None, False): all taken."""
    for candidate in names:
        try:
            os.link(path, candidate)
        except FileExistsError:
            continue
        except OSError:
            if os.path.lexists(candidate):
                continue
            return candidate, False
        return candidate, True
    return None, False


def name_too_long(path: Path) -> str | None:
    """Why no file can be named `path` (None: one can): a part over NAME_MAX bytes, or the whole
    over PATH_MAX; pathlib's `exists()` and `is_file()` raise ENAMETOOLONG rather than say False."""
    longest = max((len(os.fsencode(part)) for part in path.parts), default=0)
    if longest > NAME_MAX:
        return f"file name too long ({longest} bytes in one name; a name holds at most {NAME_MAX})"
    if len(os.fsencode(str(path))) >= PATH_MAX:
        return f"path too long ({len(os.fsencode(str(path)))} bytes; a path holds at most {PATH_MAX - 1})"
    return None


def refuse_missing_before_dotdot(path: Path) -> None:
    """Refuse a path whose `..` steps out of a folder that does not exist (`-o new/../out.jpg`):
    no system call can follow it (cp and the shell say "No such file or directory"), and making the
    folder to get through wrote ./out.jpg and left an empty `new/` nobody asked for."""
    parts = path.parts
    if ".." not in parts:
        return
    last = len(parts) - 1 - parts[::-1].index("..")
    for end in range(1, last + 1):
        if not os.path.lexists(missing := Path(*parts[:end])):
            raise UserError(f"{path}: {missing}: no such folder for the '..' after it to step out of; "
                            "make it first, or give the path without it")


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


def naming(path: Path, exc: OSError) -> UserError:
    """An error while writing `path` as one line that names it (a full disk's ENOSPC names no file)."""
    return UserError(f"{path}: cannot write ({exc.strerror or exc})")


def writable_target(path: Path) -> Path:
    """The file an output named `path` replaces: a symbolic link's target (written through, as cp
    and ffmpeg do; renaming over the link would replace the link itself). A folder, device, fifo
    or socket is refused: renaming a finished file over /dev/null, say, would replace the device.
    A link to a missing file is written through where the file's folder exists (as ffmpeg does);
    a link into a missing folder is refused: the folders would be made wherever it points; so is
    a `..` out of a missing folder (`refuse_missing_before_dotdot`). A name no file can have is
    refused here, before any work (it failed when its turn came, after the other results of the
    run were written)."""
    if reason := name_too_long(path):
        raise UserError(f"{as_given(path)}: {reason}")
    refuse_missing_before_dotdot(path)
    if descriptor := open_descriptor_on_the_way(path):
        how = "is" if descriptor == os.path.abspath(path) else f"leads to {descriptor},"
        raise UserError(f"{path}: {how} an open descriptor, not a file: the result would replace the file it "
                        "writes to; give that file's own name")
    target = Path(os.path.realpath(path)) if path.is_symlink() else path
    if target.is_symlink():  # realpath stops in a loop of links
        raise UserError(f"{path}: is a loop of symbolic links; remove it or give another name")
    if path.is_symlink() and not target.parent.is_dir():
        raise UserError(f"{path}: is a symbolic link to {os.readlink(path)}, in a folder that does not exist; "
                        "remove the link or give another name")
    if target.is_dir():
        raise UserError(f"{path}: is a folder; give a file name")
    if target.exists() and not target.is_file():
        raise UserError(f"{path}: is a device, fifo or socket; give a regular file's name")
    return target


# A process's open descriptor as the system names it (/dev/stdout is a link to /proc/self/fd/1; a
# thread's: /proc/thread-self/fd/N, /proc/PID/task/TID/fd/N).
DESCRIPTOR_ENTRY = re.compile(r"/proc/[^/]+(?:/task/[^/]+)?/fd/[0-9]+|/dev/fd/[0-9]+|/dev/std(?:in|out|err)")


def open_descriptor_on_the_way(path: Path, hops: int = 40) -> str | None:
    """The name on the way from `path` (itself, or a link's target) that is an open descriptor
    (/dev/stdout, /proc/self/fd/1, or a name in a link to their folder), None for none: `--json
    /dev/stdout >> log.txt` renamed the results over log.txt (its lines lost), where a pipe there
    was refused as a fifo. Each name's folder is resolved before it is compared and its link read:
    through a link to /proc/self/fd, `fds/1` read as the file it leads to, and was replaced."""
    name = os.path.abspath(path)
    for _ in range(hops):
        resolved = os.path.join(os.path.realpath(os.path.dirname(name)), os.path.basename(name))
        if DESCRIPTOR_ENTRY.fullmatch(name) or DESCRIPTOR_ENTRY.fullmatch(resolved):
            return name
        try:
            name = os.path.join(os.path.dirname(resolved), os.readlink(resolved))
        except OSError:  # (not a link, or none there)
            return None
    return None


def cut_to_fit(stem: str, room: int) -> str:
    """`stem` cut to at most `room` bytes (at least one), not inside a UTF-8 character: a lead byte
    whose character the cut left incomplete goes, with its continuation bytes."""
    encoded = os.fsencode(stem)
    if len(encoded) <= room:
        return stem
    cut = encoded[:max(1, room)]
    tail = 0  # continuation bytes (10xxxxxx) at the end
    while tail < min(3, len(cut) - 1) and 0x80 <= cut[-1 - tail] <= 0xBF:
        tail += 1
    lead = cut[-1 - tail]
    needs = 2 if 0xC0 <= lead < 0xE0 else 3 if 0xE0 <= lead < 0xF0 else 4 if 0xF0 <= lead < 0xF8 else 1
    if tail + 1 < needs and len(cut) > tail + 1:
        cut = cut[:-(tail + 1)]
    return os.fsdecode(cut)


def refuse_write_protected(path: Path, target: Path) -> None:
    """An existing output this user may not write is refused, as `cp` and `ffmpeg -y` refuse it:
    a rename replaces a read-only file as readily as any other (only the folder's permission counts)."""
    if target.is_file() and not os.access(target, os.W_OK) and not _read_only_file_system(target):
        raise UserError(f"{path}: is write-protected; make it writable (chmod u+w) or give another name")


def _read_only_file_system(path: Path) -> bool:
    """Whether `path` is on a file system mounted read-only (where writing the temporary file says so)."""
    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def replaced_mode(target: Path) -> int:
    """The permissions of the file `target` replaces (a private 0600 output became 0644, readable by
    everyone, when a run renamed a new file over it), or the usual FILE_MODE for a new one."""
    try:
        return stat.S_IMODE(os.stat(target).st_mode) & 0o777
    except OSError:
        return FILE_MODE


def temporary_prefix(target: Path) -> str:
    """`.STEM.PID-`, the stem cut so that the whole temporary name (with mkstemp's 8 characters and
    `.partEXT`) fits in NAME_MAX bytes wherever the final name does: a 249-byte name that ffmpeg
    writes was refused ("File name too long")."""
    pid = f".{os.getpid()}-"
    room = NAME_MAX - len(os.fsencode(f".{pid}.part{target.suffix}")) - 8
    return f".{cut_to_fit(target.stem, room)}{pid}"


def folder_handle(folder: Path) -> int | None:
    """An open handle on `folder` (None where it cannot be had): a file in it can still be removed
    by name after the folder is renamed or moved mid-run, when its path no longer leads there."""
    flags = getattr(os, "O_PATH", os.O_RDONLY) | os.O_DIRECTORY | getattr(os, "O_CLOEXEC", 0)
    try:
        return os.open(folder, flags)
    except OSError:
        return None


# What fsync says on a file system that has none to do (a pipe-like FUSE file, Windows' read-only handle).
_NO_FSYNC = {errno.EINVAL, errno.EBADF, errno.ENOTSUP, errno.EOPNOTSUPP}


def flush_to_disk(path: str | os.PathLike, folder: bool = False) -> None:
    """The file's bytes (or with `folder`, a folder's names) on the disk now. Before a rename: after
    a power loss, a file renamed into place whose bytes the system had not written yet was empty
    (the newest checkpoint, which --resume could not read). A disk error is raised; a file system
    without fsync is let be, and so is a folder that cannot be opened for it."""
    try:
        handle = os.open(path, os.O_RDONLY | (getattr(os, "O_DIRECTORY", 0) if folder else 0))
    except OSError:
        if folder:
            return
        raise
    try:
        os.fsync(handle)
    except OSError as exc:
        if not folder and exc.errno not in _NO_FSYNC:
            raise
    finally:
        os.close(handle)


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


class PendingOutput:
    """A temporary file beside `final` (same extension, so format-by-extension writers work).

    Use as a context manager (published on success, removed on error), or call `publish` /
    `discard` when the file's life spans more than one block (a video being encoded).
    """

    def __init__(self, final: str | os.PathLike) -> None:
        self.final = Path(final)
        self.target = writable_target(self.final)
        refuse_write_protected(self.final, self.target)
        try:
            make_folders(self.target.parent)
            sweep_once(self.target.parent)
            fd, name = tempfile.mkstemp(prefix=temporary_prefix(self.target), suffix=f".part{self.target.suffix}",
                                        dir=self.target.parent)
        except FileExistsError:  # what mkdir says when the folder's name is taken by a file
            from realtime_adain.writable_folders import file_in_the_way  # (higher up too: a file as $REALTIME_ADAIN_HOME)

            blocker = file_in_the_way(self.final.parent) or self.final.parent
            raise UserError(f"{self.final}: cannot write here ({blocker} is a file, not a folder)") from None
        except OSError as exc:
            raise UserError(f"{self.final}: cannot write here ({exc.strerror or exc})") from None
        # Removed should this object go unused, neither published nor discarded: a Ctrl-C between
        # here and the caller's `with` or `try` (the start of `__enter__` is one such moment) left
        # the hidden file behind until a later run into the folder swept it.
        try:
            self._abandoned = weakref.finalize(self, _remove_abandoned, name)
        except BaseException:  # (a Ctrl-C as it is registered)
            os.close(fd)
            _remove_abandoned(name)
            raise
        try:
            os.chmod(fd, OWNER_RW)  # writers reopen it by name
        finally:
            os.close(fd)
        self.path = Path(name)
        self._folder = folder_handle(self.path.parent)
        self._close_folder = weakref.finalize(self, os.close, self._folder) if self._folder is not None else None

    def publish(self, destination: str | os.PathLike | None = None) -> Path:
        """Give the finished file its final name (or `destination`, e.g. a partial-result name)."""
        target = writable_target(Path(destination)) if destination is not None else self.target
        try:
            flush_to_disk(self.path)  # (before the mode of the file replaced, which may not let it be read)
            os.chmod(self.path, replaced_mode(target))
            os.replace(self.path, target)
            self._abandoned.detach()
            flush_to_disk(target.parent, folder=True)  # (the rename itself)
        except OSError as exc:  # e.g. a folder of that name: name it, not the temporary file
            lost = isinstance(exc, (FileNotFoundError, NotADirectoryError)) and not os.path.lexists(self.path)  # (or its folder)
            error = (lost_during_run(target, self.path, "its temporary file", self.path.parent, self._folder)
                     if lost else naming(target, exc))
            self.discard()
            raise error from None
        self._release_folder()
        return target

    def _release_folder(self) -> None:
        """Close the folder's handle once the file is published or removed: an error kept by a
        caller (its traceback holds this object) held one descriptor each, until `ulimit -n` ran out."""
        if self._close_folder is not None:
            self._close_folder()
        self._folder = None

    def publish_partial(self) -> Path:
        """Name the file as the final name's partial result (`partial_path`), or where that name is
        taken NAME.partial-1.EXT, -2, ...: never over an existing file. The user named the output,
        not the partial name: a Ctrl-C replaced an unrelated file that happened to be called so. A
        hard link claims the name (it fails where the name exists, even one made meanwhile); where
        the file system has none (FAT), a name found free is renamed onto. Named as the output was,
        in the folder of the file it would have replaced (an output that is a link into another
        file system: no rename reaches the link's folder)."""
        return self._claim([self.target.parent / partial_path(self.final, number).name
                            for number in range(MOST_PARTIAL_NUMBERS)], "the partial result")

    def publish_unclaimed(self) -> Path:
        """Give the finished file its final name if no file has it, else STEM-2.EXT, -3, ...: for a
        name chosen free when the work began (`live`'s `r` recordings), which a file made there
        meanwhile must not lose to a rename."""
        stem, suffix = self.target.stem, self.target.suffix
        return self._claim([self.target, *(self.target.with_name(f"{stem}-{number}{suffix}")
                                           for number in range(2, MOST_PARTIAL_NUMBERS + 1))], "the file")

    def _claim(self, names: list[Path], what: str) -> Path:
        """Name the file as the first of `names` that no file has. A hard link claims the name (it
        fails where the name exists, even one made meanwhile); where the file system has none
        (FAT), a name found free is renamed onto."""
        try:
            flush_to_disk(self.path)
            os.chmod(self.path, FILE_MODE)
        except OSError:  # (its folder renamed or removed mid-run: `publish` says so and cleans up)
            return self.publish(names[0])
        claimed, linked = link_first_free(self.path, names)
        if claimed is None:
            self.discard()
            raise UserError(f"{names[0]}: cannot keep {what} (it and {len(names) - 1} numbered names beside it are taken)")
        if not linked:
            return self.publish(claimed)
        self.discard()  # the hidden name; the file stays under the new one
        flush_to_disk(claimed.parent, folder=True)
        return claimed

    def failed(self, exc: BaseException) -> BaseException:
        """The error to report for `exc` raised while writing: an OS error without a file name, or
        naming the temporary file (a full disk), names the output instead; so does a UserError
        that names the temporary file (its hidden name means nothing to the user)."""
        if isinstance(exc, UserError) and str(self.path) in str(exc):
            return UserError(str(exc).replace(str(self.path), str(self.final)))
        if isinstance(exc, OSError) and (exc.filename is None or Path(os.fsdecode(exc.filename)).name == self.path.name):
            return naming(self.final, exc)
        return exc

    def discard(self) -> None:
        """Remove the temporary file, found through the folder's handle: a folder renamed mid-run
        kept it (hidden) until a later run there swept it."""
        self._abandoned.detach()
        try:
            if self._folder is None:
                self.path.unlink()
            else:
                os.unlink(self.path.name, dir_fd=self._folder)
        except FileNotFoundError:
            pass
        finally:
            self._release_folder()

    def __enter__(self) -> "PendingOutput":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.publish()
            return
        self.discard()
        reported = self.failed(exc)
        if reported is not exc:
            raise reported from None


def _remove_abandoned(name: str) -> None:
    """The temporary file of a `PendingOutput` dropped unused (garbage, or the interpreter exiting)."""
    try:
        os.unlink(name)
    except OSError:  # (its folder renamed meanwhile: swept by a later run)
        pass


def partial_path(output: str | os.PathLike, number: int = 0) -> Path:
    """Where an interrupted or failed run leaves what it finished of `output`: NAME.partial.EXT
    (with a `number`, NAME.partial-NUMBER.EXT). Where that is too long a name, NAME loses bytes
    before its last 16 characters (which hold a picture pattern's %04d, as a rule): a 250-byte `-o`
    was refused for the partial name's sake."""
    output = Path(output)
    tail = f".partial{f'-{number}' if number else ''}{output.suffix}"
    stem, room = output.stem, NAME_MAX - len(os.fsencode(tail))
    if len(os.fsencode(stem)) > room:
        end = stem[-16:]
        stem = cut_to_fit(stem[:-16], room - len(os.fsencode(end))) + end
    return output.with_name(stem + tail)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write `data` to `path` through a temporary file, so no half-written file remains."""
    with PendingOutput(path) as pending:
        pending.path.write_bytes(data)
