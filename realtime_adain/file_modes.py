"""The modes our files and folders get, whatever the process's umask.

The umask is read once, as this module is imported (without setting it: see `_process_umask`).
"""

from __future__ import annotations

import os


def _process_umask() -> int:
    """The umask, read from /proc/self/status where Linux shows it: `os.umask` reads it only by
    setting another, and for that instant the files other threads create get that one's modes."""
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    umask = os.umask(0o077)  # (elsewhere: for that instant, other threads' files are private, not open to all)
    os.umask(umask)
    return umask


# mkstemp creates 0600 files; finished outputs get the usual mode (0666 less the umask), but
# always readable and writable by their owner: under `umask 0777` mkstemp's file was 0000, so a
# writer opening it by name (OpenCV, PyAV) failed with "Permission denied" after all the work.
_UMASK = _process_umask()
OWNER_RW = 0o600
FILE_MODE = (0o666 & ~_UMASK) | OWNER_RW
FOLDER_MODE = (0o777 & ~_UMASK) | 0o700
