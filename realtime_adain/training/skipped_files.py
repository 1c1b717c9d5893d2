"""Unusable training files and the notes reading them made, as the run says them.

A loading process hands the main process the files it skipped (path and reason) and the notes
reading them made (`item_streams.ImageStream.item`); the main process warns once per file, for
the first WARNED_SKIPS of them, and counts them all (`SkipReport`), and says each note once
(`say_notes`). `warn` is the trainer's one stderr line.
"""

from __future__ import annotations

from typing import Sequence

from realtime_adain.notes import note, write_line

# The share of a folder's files found unusable at which the run says so, once (past the skipped
# files named one by one, WARNED_SKIPS: only counted in log.csv, they went unremarked).
MOSTLY_UNUSABLE = 0.9


def warn(message: str) -> None:
    """A line on stderr (a warning, a checkpoint's path) that does not break a progress bar, and is
    one line where a file's name holds a newline."""
    write_line(message)


class DataWarning(str):
    """A warning among the notes a loading process hands the main process (`say_notes`)."""


_warned: set[str] = set()


def say_notes(said: Sequence[str]) -> None:
    """The notes of a batch's reading (`ImageStream.item`), each once in the run; the warning that
    a folder is nearly all unusable as a warning, once, however many loading processes found it."""
    for message in said:
        if not isinstance(message, DataWarning):
            note(message, once=True)
        elif message not in _warned:
            _warned.add(message)
            warn(message)


# Skipped files named one by one; past that (a folder removed mid-run) they are only counted.
WARNED_SKIPS = 20


class SkipReport:
    """Warn once per unusable file, for the first WARNED_SKIPS of them, and count them all; the run
    goes on. (A subfolder removed mid-run warned once per file: thousands of lines.)"""

    def __init__(self, already: Sequence[str] = (), count: int = 0) -> None:
        """`already`: files a resumed run skipped, of `count` in all (a checkpoint names only the first
        SAVED_SKIPS: an unnamed one skipped again after the resume is counted twice)."""
        self.paths: set[str] = set(already)
        self.unnamed = max(0, count - len(self.paths))
        self.warned = 0

    def add(self, skipped: list[tuple[str, str]], warn) -> None:  # noqa: ANN001
        for path, why in skipped:
            if path in self.paths:
                continue
            self.paths.add(path)
            if self.warned < WARNED_SKIPS:
                self.warned += 1
                more = "; more are counted in log.csv, not named" if self.warned == WARNED_SKIPS else ""
                warn(f"warning: skipped {path}: {why} ({self.count} skipped so far{more})")

    @property
    def count(self) -> int:
        return len(self.paths) + self.unnamed
