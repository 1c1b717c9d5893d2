"""Outputs that appear under their final name only when complete.

Every file the tool writes (images, videos, checkpoints, engines, caches) is written under a
hidden temporary name beside its destination and renamed into place on success, so an
interrupted or failed run never leaves a half-written file that looks finished.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from realtime_adain.errors import UserError

# mkstemp creates 0600 files; finished outputs get the usual mode (0666 less the umask).
_UMASK = os.umask(0)
os.umask(_UMASK)
FILE_MODE = 0o666 & ~_UMASK


class PendingOutput:
    """A temporary file beside `final` (same extension, so format-by-extension writers work).

    Use as a context manager (published on success, removed on error), or call `publish` /
    `discard` when the file's life spans more than one block (a video being encoded).
    """

    def __init__(self, final: str | os.PathLike) -> None:
        self.final = Path(final)
        try:
            self.final.parent.mkdir(parents=True, exist_ok=True)
            fd, name = tempfile.mkstemp(
                prefix=f".{self.final.stem}.", suffix=f".part{self.final.suffix}", dir=self.final.parent
            )
        except FileExistsError:  # what mkdir says when the folder's name is taken by a file
            raise UserError(f"{self.final}: cannot write here ({self.final.parent} is a file, not a folder)") from None
        except OSError as exc:
            raise UserError(f"{self.final}: cannot write here ({exc.strerror or exc})") from None
        os.close(fd)
        self.path = Path(name)

    def publish(self, destination: str | os.PathLike | None = None) -> Path:
        """Give the finished file its final name (or `destination`, e.g. a partial-result name)."""
        target = Path(destination) if destination is not None else self.final
        os.chmod(self.path, FILE_MODE)
        os.replace(self.path, target)
        return target

    def discard(self) -> None:
        self.path.unlink(missing_ok=True)

    def __enter__(self) -> "PendingOutput":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.publish()
        else:
            self.discard()


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write `data` to `path` through a temporary file, so no half-written file remains."""
    with PendingOutput(path) as pending:
        pending.path.write_bytes(data)
