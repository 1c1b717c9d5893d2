"""One-line remarks on stderr for the video modules (kept apart: the reader and writer both note)."""

from __future__ import annotations

import sys

from tqdm import tqdm


def note(message: str) -> None:
    """A one-line remark on stderr that does not break a progress bar."""
    tqdm.write(f"note: {message}", file=sys.stderr)
