"""Input discovery before any compute: the files each path given as an input stands for (folders
expanded, image-sequence patterns kept), and why one that is neither a file nor a folder cannot be read."""

from __future__ import annotations

import errno
import os
import stat
import unicodedata
from pathlib import Path
from typing import Callable, Sequence

from realtime_adain.errors import UserError
from realtime_adain.imageio import REFUSED_EXTENSIONS, is_image_path
from realtime_adain.notes import note
from realtime_adain.video.sequence import find_sequence
from realtime_adain.writable_folders import dead_link_is


def expand_inputs(
    paths: Sequence[str | Path], what: str, accept: Callable[[Path], bool], noun: str = "images",
    sequences: bool = False,
) -> list[Path]:
    """Files as given, directories expanded to the files `accept` takes (sorted); with `sequences`,
    image-sequence patterns (`render/%04d.png`, video/sequence.py) as given. Errors name the culprit."""
    found: list[Path] = []
    for raw in paths:
        if not str(raw).strip():  # Path("") is the current folder: an unset shell variable, not a wish
            raise UserError(f"an empty {what} path (an unset variable?); give a file or directory")
        path = Path(raw)
        if path.is_dir():
            # Hidden files are skipped: macOS's ._NAME companions, and our own temporaries (atomic.py).
            visible = [p for p in path.iterdir() if not p.name.startswith(".")]
            entries = [p for p in visible if accept(p)]
            # In the byte order of the names, as `ls` in the C locale (and README) lists them: sorted as
            # text, a name that is not UTF-8 (its bytes as surrogates) came after every CJK one.
            matches = sorted((p for p in entries if p.is_file()), key=os.fsencode)
            odds = (p for p in entries if not p.is_file() and not p.is_dir())
            for odd in sorted(odds, key=os.fsencode):  # never opened: a FIFO blocks
                note(f"{odd}: left out, {_not_usable(odd, what)}", once=True)
            left_out = {p: why for p in visible if (why := _left_out(p, accept)) and p.is_file()}
            for odd in sorted(left_out, key=os.fsencode):
                note(f"{odd}: left out, {left_out[odd][0]} ({left_out[odd][1]} to include it)", once=True)
            if not matches:
                raise UserError(f"{path}: no {noun} in this {what} directory")
            found += matches
        elif path.is_file() or (sequences and find_sequence(path)):
            if reason := _odd_ending(path, accept):  # (read all the same: by its contents)
                note(f"{path}: {reason}, so {Path(path.name.rstrip(' .')).suffix!r} is not taken as its extension",
                     once=True)
            found.append(path)
        else:
            raise UserError(f"{path}: {_not_usable(path, what)}")
    return found


def _left_out(path: Path, accept: Callable[[Path], bool]) -> tuple[str, str] | None:
    """Why a folder's file that `accept` does not take is named in a note, and what would include
    it: a name with spaces or dots after its extension (`_odd_ending`), a format refused by its
    extension (`imageio.REFUSED_EXTENSIONS`: JPEG XL, SVG, PDF), or no extension at all; each was
    left out without a word (a folder's other files, its text files, still are). The last two only
    where the folder is read for images: a video folder's README or PDF is no image that was meant,
    and converting it to PNG includes nothing there. None for others."""
    if accept(path):
        return None
    if reason := _odd_ending(path, accept):
        return reason, "rename it"
    if accept is not is_image_path:
        return None
    if not path.suffix:
        return "its name has no extension", "rename it"
    return REFUSED_EXTENSIONS.get(path.suffix.lower())


def _odd_ending(path: Path, accept: Callable[[Path], bool]) -> str | None:
    """Why a name `accept` would take but for the spaces or dots after it is not taken (`a.jpg `,
    a slip of a script or an unzipped Windows name): its extension is not `.jpg`, and a folder
    run left it out without a word. None for any other name."""
    trimmed = path.name.rstrip(" .")
    if trimmed == path.name or not trimmed or accept(path) or not accept(path.with_name(trimmed)):
        return None
    return f"its name ends in {'a space' if path.name.endswith(' ') else 'a dot'}"


# Why `-` (standard input, as FFmpeg writes it) is no input here, a --mask too: each is read again.
STDIN_UNREADABLE = "standard input cannot be read: every input is read more than once; save it to a file first"


def _not_usable(path: Path, what: str) -> str:
    """Why a path that is neither a file nor a folder cannot be read: a device or a pipe exists
    (`video /dev/stdin < clip.mp4` works, that is the file; `cat clip.mp4 | video /dev/stdin`
    cannot: every input is opened twice, checked first, and most formats seek)."""
    a_what = f"{'an' if what[0] in 'aeiou' else 'a'} {what} file or directory"
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return f"a symbolic link loop, not {a_what}"
        if str(path) == "-":  # (as FFmpeg writes standard input)
            return STDIN_UNREADABLE
        if path.is_symlink():  # (not "no such file": `ls` shows the link)
            return dead_link_is(path)
        return f"no such {what} file or directory{other_composition(path)}"
    pipe = " (a pipe is read more than once: save it to a file first)" if stat.S_ISFIFO(mode) else ""
    return f"a device, fifo or socket, not {a_what}{pipe}"


def other_composition(path: Path) -> str:
    """For a missing `path`, words on a file or folder beside it whose name is the same in another
    Unicode composition (`café` typed as NFC, U+00E9, and saved as NFD, e + U+0301, by macOS or an
    unzip tool): the two look alike, and "no such file" beside an `ls` that shows it misled."""
    if path.name.isascii():
        return ""
    try:
        listed = os.listdir(path.parent)
    except (OSError, ValueError):
        return ""
    wanted = unicodedata.normalize("NFC", path.name)
    twin = next((name for name in sorted(listed) if name != path.name and unicodedata.normalize("NFC", name) == wanted), None)
    if twin is None:
        return ""
    form = next((form for form in ("NFC", "NFD") if unicodedata.is_normalized(form, twin)), "mixed")
    return f" ({path.with_name(twin)} exists: the same name in another Unicode composition, {form})"


def expand_images(paths: Sequence[str | Path], what: str) -> list[Path]:
    return expand_inputs(paths, what, is_image_path)
