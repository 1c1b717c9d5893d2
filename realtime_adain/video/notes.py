"""One-line remarks on stderr for the video modules (kept apart: the reader and writer both note),
and for `image` over many pictures, the same remark about each counted instead of repeated."""

from __future__ import annotations

import contextlib
import sys
import threading
from typing import Iterable, Iterator

from tqdm import tqdm


_said: set[str] = set()
_lock = threading.Lock()
_subjects: list[str] | None = None  # the names a `repeats_counted` run groups notes by, longest first
_repeats: dict[str, int] = {}  # what a note says after its subject's name -> pictures it was said of


def note(message: str, once: bool = False) -> None:
    """A one-line remark on stderr that does not break a progress bar; with `once`, not again in
    this process (a file opened twice: checked up front, then read). Within `repeats_counted`,
    a remark said of another of its subjects in the same words is counted, not printed."""
    with _lock:
        if once:
            if message in _said:
                return
            _said.add(message)
        remark = _remark(message)
        if remark is not None:
            _repeats[remark] = _repeats.get(remark, 0) + 1
            if _repeats[remark] > 1:
                return
    tqdm.write(f"note: {message}", file=sys.stderr)


def _remark(message: str) -> str | None:
    """What `message` says after the name of the subject it starts with ("NAME: ..." or "NAME
    has ..."), or None outside `repeats_counted` or when it names none of its subjects."""
    for subject in _subjects or ():
        if message.startswith(subject) and message[len(subject):len(subject) + 1] in (":", " "):
            return message[len(subject):]
    return None


@contextlib.contextmanager
def repeats_counted(subjects: Iterable[object], noun: str = "pictures") -> Iterator[None]:
    """Within it, a note said of several of `subjects` (paths, named as the notes name them) in the
    same words is printed for the first only, and once the body has run, one line counts the rest:
    a folder of 300 HDR pictures gave 300 "tone-mapped" lines, which hid anything else said (as
    FFmpeg's "Last message repeated N times", but counted per kind of remark). Not on an error:
    the error is the last line."""
    global _subjects
    with _lock:
        _subjects = sorted({str(subject) for subject in subjects}, key=len, reverse=True)
        _repeats.clear()
    try:
        yield
        with _lock:
            counted = [(count, remark) for remark, count in _repeats.items() if count > 1]
        for count, remark in counted:
            said = remark if remark.startswith(":") else f": each{remark}"  # ("NAME has 12 frames; ...")
            more = noun if count > 2 else noun.removesuffix("s")
            tqdm.write(f"note: likewise {count - 1} more {more} ({count} in all){said}", file=sys.stderr)
    finally:
        with _lock:
            _subjects = None
            _repeats.clear()
