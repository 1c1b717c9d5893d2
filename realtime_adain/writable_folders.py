"""Folders proved writable before any work (made, or provable without making them), and what is in
the way where they are not: a file, a device, a symbolic link leading nowhere."""

from __future__ import annotations

import errno
import os
import tempfile
from pathlib import Path

from realtime_adain.errors import UserError

NO_TEMPORARY_FOLDER = "no writable temporary folder ($TMPDIR, /tmp, /var/tmp): set TMPDIR to a writable folder"


def temporary_folder_missing() -> str | None:
    """NO_TEMPORARY_FOLDER where tempfile finds no writable temporary folder, else None: torch's
    import and inductor's code cache ask tempfile for one whatever $TORCHINDUCTOR_CACHE_DIR says
    (a read-only container said "error: None: ...", then, with that variable set, a traceback)."""
    try:
        tempfile.gettempdir()  # (a folder found is kept by tempfile: later calls cost nothing)
    except FileNotFoundError:
        return NO_TEMPORARY_FOLDER
    return None


def no_temporary_folder(exc: BaseException) -> bool:
    """Whether `exc` is tempfile's own "No usable temporary directory found in ['/tmp', ...]", which
    a temporary file or folder made without a `dir` raises (said as NO_TEMPORARY_FOLDER: Python's
    words listed folders the user never named and left out what to do)."""
    return (isinstance(exc, FileNotFoundError) and exc.filename is None
            and str(exc.strerror or "").startswith("No usable temporary directory found"))


def file_in_the_way(folder: Path) -> Path | None:
    """The nearest existing part of `folder`'s path that is not a folder (a file or device where a
    folder must go: a mistyped $REALTIME_ADAIN_HOME), or None where the folder is or can be made."""
    for part in (folder, *folder.parents):
        if part.exists():
            return None if part.is_dir() else part
    return None


def dead_link(folder: Path) -> Path | None:
    """The part of `folder`'s path that is a symbolic link leading nowhere (a loop, or to something
    missing), past which no folder can be made ("File exists", naming nothing); else None."""
    for part in (folder, *folder.parents):
        if part.exists():
            return None
        if part.is_symlink():
            return part
    return None


def why_dead(link: Path) -> str:
    """What is wrong with a link `dead_link` found, in words."""
    try:
        os.stat(link)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return f"{link} is a loop of symbolic links"
    return f"{link} is a symbolic link to {os.readlink(link)}, which does not exist"


def dead_link_is(link: Path) -> str:
    """`why_dead` after the link's name, said of an input ("a symbolic link to x.jpg, which does
    not exist"): "no such file" was misleading, `ls` shows the link."""
    return why_dead(link).removeprefix(f"{link} is ")


def nearest_folder(folder: Path) -> Path | None:
    """`folder`, or the nearest folder above it that exists: where it would be made, and so the
    file system its files would take room on; None where none is (a path under a file)."""
    return next((part for part in (folder, *folder.parents) if part.is_dir()), None)


def check_writable_dir(directory: Path, what: str = "output directory") -> None:
    """Prove `directory` can be made and written to without making it, so a run refused later
    leaves no empty folder behind (the outputs' temporary files create it when written)."""
    from realtime_adain.output_paths import refuse_missing_before_dotdot

    refuse_missing_before_dotdot(directory)
    shown = directory if str(directory) != "." else f"{os.getcwd()} (the current folder)"  # (not ".", never typed)
    if (link := dead_link(directory)) is not None:
        raise UserError(f"{shown}: {what} cannot be made ({why_dead(link)})")
    existing = next(p for p in (directory, *directory.parents) if p.exists() or p == Path(p.anchor or "."))
    if existing.exists() and not existing.is_dir():
        kind = "a file" if existing.is_file() else "a device, fifo or socket"
        where = f"it is {kind}" if existing == directory else f"{existing} is {kind}"
        raise UserError(f"{shown}: {what} is not writable ({where}, not a folder)")
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as exc:  # (a folder that is not there was "not writable": its parent is what refuses)
        said = "is not writable" if existing == directory else f"cannot be made in {existing}"
        raise UserError(f"{shown}: {what} {said} ({why_not_writable(exc)})") from None


def why_not_writable(exc: OSError) -> str:
    """The reason a file could not be made in an existing folder: "No such file or directory"
    there means a virtual file system (/proc) that makes no files."""
    if exc.errno == errno.ENOENT:
        return "files cannot be created there"
    return exc.strerror or str(exc)


def check_output_file(path: str | os.PathLike) -> Path:
    """Fail before the work, not after it, when a file output (`--json`, `--figure`) cannot be
    written: a folder, device, fifo or socket (see `output_paths.writable_target`), or a folder that
    cannot be made or written to."""
    from realtime_adain.output_paths import refuse_write_protected, writable_target

    target = writable_target(Path(path))
    refuse_write_protected(Path(path), target)
    ensure_writable_dir(target.parent)
    return Path(path)


def ensure_writable_dir(directory: Path) -> None:
    """Create `directory` if needed and prove a file can be written there (root ignores modes)."""
    from realtime_adain.made_folders import make_folders

    existed = directory.is_dir()
    try:
        make_folders(directory)
        with tempfile.TemporaryFile(dir=directory):
            pass
    except FileExistsError:  # what mkdir says when the folder's name is taken: by what, in words
        if dead_link(directory) is not None:
            raise UserError(f"{directory}: output directory cannot be made ({why_taken(directory)})") from None
        raise UserError(f"{directory}: output directory is not writable ({why_taken(directory)})") from None
    except OSError as exc:  # (a folder that is not there, in a read-only one: it cannot be made, not "not writable")
        said = "is not writable" if existed or directory.is_dir() else "cannot be made"
        raise UserError(f"{directory}: output directory {said} ({why_not_writable(exc)})") from None


def why_taken(folder: Path) -> str:
    """What took `folder`'s name where mkdir said "File exists", which names nothing there: a dead
    symbolic link, or a file (device, fifo, socket) at the folder or higher up."""
    if (link := dead_link(folder)) is not None:
        return why_dead(link)
    blocker = file_in_the_way(folder) or folder
    kind = "a file" if blocker.is_file() else "a device, fifo or socket"
    return f"{'it' if blocker == folder else blocker} is {kind}, not a folder"
