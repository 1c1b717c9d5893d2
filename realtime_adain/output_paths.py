"""Output paths named and checked before anything is written: names no file can have, the file an
output replaces (`writable_target`: links written through; folders, devices and open descriptors
refused), write-protected outputs, the mode a replaced file keeps, names cut to fit, the partial
result's name (`partial_path`) and the first free of several names (`link_first_free`)."""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

from realtime_adain.errors import UserError, as_given
from realtime_adain.file_modes import FILE_MODE

NAME_MAX = 255  # bytes in one file name (Linux, macOS)
PATH_MAX = 4096  # bytes in a whole path (Linux)
MOST_PARTIAL_NUMBERS = 1000  # NAME.partial-999.EXT at most


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
