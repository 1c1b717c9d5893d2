"""One-line remarks on stderr for the video modules (kept apart: the reader and writer both note)."""

from __future__ import annotations

import sys

from tqdm import tqdm


_said: set[str] = set()


def note(message: str, once: bool = False) -> None:
    """A one-line remark on stderr that does not break a progress bar; with `once`, not again in
    this process (a file opened twice: checked up front, then read)."""
    if once:
        if message in _said:
            return
        _said.add(message)
    tqdm.write(f"note: {message}", file=sys.stderr)
