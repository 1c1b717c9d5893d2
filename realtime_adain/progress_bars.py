"""Whether a progress bar (tqdm, on stderr) is shown: only where it can be drawn."""

from __future__ import annotations

import os
import sys


def bar_off() -> bool | None:
    """tqdm's `disable` for a bar on stderr: None (tqdm's own rule: off unless stderr is a
    terminal) on a terminal with a size, True on one whose size is 0 (a pseudo-terminal nobody
    sized: `script`, `docker run -t` under a CI). There tqdm draws nothing, yet its close ends
    the line it did not draw: an empty line on the terminal ("\\r\\n" before `serving on`)."""
    try:
        size = os.get_terminal_size(sys.stderr.fileno())
    except (AttributeError, OSError, ValueError):  # not a terminal (tqdm's rule turns it off), or no stderr
        return None
    return True if size.columns == 0 or size.lines == 0 else None
