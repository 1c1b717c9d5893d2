"""One-line remarks on stderr for every module (the video reader and writer, live, serve, the
commands), and the lock all writers of stderr share; for `image` over many pictures, the same
remark about each counted instead of repeated."""

from __future__ import annotations

import contextlib
import sys
import threading
from typing import Callable, Iterable, Iterator

from tqdm import tqdm

from realtime_adain.errors import one_line


_said: set[str] = set()
_lock = threading.Lock()
_subjects: frozenset[str] = frozenset()  # the names a `repeats_counted` run groups notes by
_longest = 0  # characters in the longest of them
_repeats: dict[str, int] = {}  # what a note says after its subject's name -> pictures it was said of
_local = threading.local()  # .gathered: this thread's notes while `collected`, else None; .reword: `worded`'s
# fd 2 is shared: a thread that redirects it to catch a native library's lines (native_stderr's capture,
# off the main thread in `live`'s rescan) holds this, and writers of our own lines take it.
STDERR_LOCK = threading.RLock()


def note(message: str, once: bool = False) -> None:
    """A one-line remark on stderr (`write_line`) that does not break a progress bar; with `once`, not
    again in this process (a file opened twice: checked up front, then read). Within
    `repeats_counted`, a remark said of another of its subjects in the same words is counted,
    not printed. Within `collected`, gathered instead."""
    gathered = getattr(_local, "gathered", None)
    if gathered is not None:
        gathered.append(message)
        return
    if (reword := getattr(_local, "reword", None)) is not None:
        message = reword(message)
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
    write_line(f"note: {message}")


def write_line(line: str) -> None:
    """`line` on stderr as one line, without breaking a progress bar. A newline in a file name or
    a stream's metadata ("...\\nerror: ...") printed a second line that read as an error of ours.
    One write, the newline with it: tqdm writes them apart, and two loading processes' notes met
    on one line."""
    with STDERR_LOCK, _bars_locked():
        tqdm.write(one_line(line) + "\n", file=sys.stderr, end="", nolock=True)


BARS_LOCK_WAIT_S = 2.0


@contextlib.contextmanager
def _bars_locked() -> Iterator[None]:
    """Hold tqdm's write lock (the progress bars'), or, where it does not come within
    `BARS_LOCK_WAIT_S`, go on without it: a thread interrupted while drawing a bar (a signal's
    KeyboardInterrupt inside tqdm's `refresh`, which releases it in no `finally`) keeps it for
    ever, and a note from another thread (`video`'s encoder) waited for it: the run hung."""
    taken = []
    try:
        for lock in getattr(tqdm.get_lock(), "locks", []):
            if not lock.acquire(timeout=BARS_LOCK_WAIT_S):
                break
            taken.append(lock)
        yield
    finally:
        for lock in reversed(taken):
            lock.release()


@contextlib.contextmanager
def collected() -> Iterator[list[str]]:
    """Within it, this thread's notes are gathered in the list it gives, not written: a training
    data loader's process hands them to the main process, which says each once (`once` holds
    in one process only: a cut-short picture was noted once per loader process)."""
    previous = getattr(_local, "gathered", None)
    _local.gathered = gathered = []
    try:
        yield gathered
    finally:
        _local.gathered = previous


@contextlib.contextmanager
def worded(reword: Callable[[str], str] | None) -> Iterator[None]:
    """Within it, this thread's notes are said as `reword` words them: the API's notes name its
    arguments, not the CLI's options (`note: ... --deinterlace film ...` reached a caller of
    `stylize_video(deinterlace='film')`). A thread of this one's work takes it on (`wording`);
    other threads, a CLI run's beside an API call, keep their own words."""
    previous = getattr(_local, "reword", None)
    _local.reword = reword
    try:
        yield
    finally:
        _local.reword = previous


def wording() -> Callable[[str], str] | None:
    """This thread's rewording (`worded`), for a thread it starts to take on."""
    return getattr(_local, "reword", None)


def _remark(message: str) -> str | None:
    """What `message` says after the name of the subject it starts with ("NAME: ..." or "NAME
    has ..."), or None outside `repeats_counted` or when it names none of its subjects."""
    # Each place a name may end, latest first, looked up in a set (10 000 subjects tried in turn
    # for each note took 3.2 s)
    ends = (at for at in range(min(len(message) - 1, _longest), 0, -1) if message[at] in ": ")
    return next((message[at:] for at in ends if message[:at] in _subjects), None)


@contextlib.contextmanager
def repeats_counted(subjects: Iterable[object], noun: str = "pictures") -> Iterator[None]:
    """Within it, a note said of several of `subjects` (paths, named as the notes name them) in the
    same words is printed for the first only, and once the body has run, one line counts the rest:
    a folder of 300 HDR pictures gave 300 "tone-mapped" lines, which hid anything else said (as
    FFmpeg's "Last message repeated N times", but counted per kind of remark). Not on an error:
    the error is the last line."""
    global _subjects, _longest
    with _lock:
        _subjects = frozenset(str(subject) for subject in subjects)
        _longest = max(map(len, _subjects), default=0)
        _repeats.clear()
    try:
        yield
        with _lock:
            counted = [(count, remark) for remark, count in _repeats.items() if count > 1]
        for count, remark in counted:
            said = remark if remark.startswith(":") else f": each{remark}"  # ("NAME has 12 frames; ...")
            more = noun if count > 2 else noun.removesuffix("s")
            write_line(f"note: likewise {count - 1} more {more} ({count} in all){said}")
    finally:
        with _lock:
            _subjects, _longest = frozenset(), 0
            _repeats.clear()
