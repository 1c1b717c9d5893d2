"""Outputs that appear under their final name only when complete.

Every file the tool writes (images, videos, checkpoints, engines, caches) is written under a
hidden temporary name beside its destination, synced to the disk and renamed into place on
success, so an interrupted or failed run (or a power loss) never leaves a half-written file that
looks finished.

The temporary name holds our mark and the writer's process id and id space
(`.NAME.realtime-adain-PID-SPACE-XXXXXXXX.partEXT`), so that the next output into the folder can remove
one a killed run left, and only ours (stale_temporaries.py). The output's path
is checked first (output_paths.py), and the folders it needs are made (made_folders.py).
"""

from __future__ import annotations

import errno
import os
import tempfile
import weakref
from pathlib import Path

from realtime_adain.errors import UserError
from realtime_adain.file_modes import FILE_MODE, OWNER_RW
from realtime_adain.interrupts import SignalGuard
from realtime_adain.made_folders import folder_handle, lost_during_run, make_folders
from realtime_adain.output_paths import (MOST_PARTIAL_NUMBERS, NAME_MAX, cut_to_fit, link_first_free, naming, partial_path,
                                         refuse_write_protected, replaced_mode, writable_target)
from realtime_adain.stale_temporaries import TEMPORARY_MARK, process_tag, sweep_once


def temporary_prefix(target: Path) -> str:
    """`.STEM.realtime-adain-PID-SPACE-`, the stem cut so that the whole temporary name (with mkstemp's 8
    characters and `.partEXT`) fits in NAME_MAX bytes wherever the final name does: a 249-byte name that ffmpeg
    writes was refused ("File name too long")."""
    pid = f"{TEMPORARY_MARK}{process_tag()}-"
    room = NAME_MAX - len(os.fsencode(f".{pid}.part{target.suffix}")) - 8
    return f".{cut_to_fit(target.stem, room)}{pid}"


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
            name = self._made_and_minded()
        except FileExistsError:  # what mkdir says when the folder's name is taken by a file
            from realtime_adain.writable_folders import file_in_the_way  # (higher up too: a file as $REALTIME_ADAIN_HOME)

            blocker = file_in_the_way(self.final.parent) or self.final.parent
            raise UserError(f"{self.final}: cannot write here ({blocker} is a file, not a folder)") from None
        except OSError as exc:
            raise UserError(f"{self.final}: cannot write here ({exc.strerror or exc})") from None
        self.path = Path(name)
        self._folder = folder_handle(self.path.parent)
        self._close_folder = weakref.finalize(self, os.close, self._folder) if self._folder is not None else None

    def _made_and_minded(self) -> str:
        """The temporary file made (its name), with its removal registered should this
        object go unused, neither published nor discarded: a Ctrl-C between here and the caller's
        `with` or `try` (the start of `__enter__` is one such moment) left the hidden file behind
        until a later run into the folder swept it (after minutes, and only once its writer was gone).
        Signals wait until both are done (`SignalGuard`): one raised inside mkstemp, once it had
        made the file but not yet said its name, left it with no one to remove it (a checkpoint
        folder kept an empty `.trainer_iter_N...part.safetensors` after SIGTERM); one held is raised
        after, as the object is dropped, which removes the file."""
        with SignalGuard(None, hold=True):
            fd, name = tempfile.mkstemp(prefix=temporary_prefix(self.target), suffix=f".part{self.target.suffix}",
                                        dir=self.target.parent)
            try:
                self._abandoned = weakref.finalize(self, _remove_abandoned, name)
                os.chmod(fd, OWNER_RW)  # writers reopen it by name
            finally:
                os.close(fd)
        return name

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
            try:
                raise error from None
            finally:  # (a local holding it, and its traceback this frame: a cycle, see `__exit__`)
                del error
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
            try:
                raise reported from None
            finally:  # (a local holding it, and its traceback this frame, kept each other and every
                del reported  # caller's frame until a cyclic GC: a full disk in `write_image` kept its image twice, encoded)


def _remove_abandoned(name: str) -> None:
    """The temporary file of a `PendingOutput` dropped unused (garbage, or the interpreter exiting)."""
    try:
        os.unlink(name)
    except OSError:  # (its folder renamed meanwhile: swept by a later run)
        pass


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write `data` to `path` through a temporary file, so no half-written file remains."""
    with PendingOutput(path) as pending:
        pending.path.write_bytes(data)
