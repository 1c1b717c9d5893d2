"""Open file descriptors named as a `live --source` (FFmpeg's pipe:N, /dev/fd/N, standard input):
which number a name means, and why one cannot be a source, asked before the session opens any
descriptor of its own."""

from __future__ import annotations

import os
import re

STANDARD_INPUT = ("-", "pipe:", "pipe:0", "/dev/stdin")  # `live --source` names for standard input

# An open descriptor named as a `live --source`: FFmpeg's pipe:N, the system's /dev/fd/N and
# /proc/self/fd/N (no leading zero there: /dev/fd/03 is no entry); /dev/stdout and /dev/stderr are 1 and 2.
DESCRIPTOR_NAME = re.compile(r"pipe:0*([1-9][0-9]*)|(?:/dev/fd|/proc/self/fd)/(0|[1-9][0-9]*)", re.ASCII)
STANDARD_OUTPUTS = {"/dev/stdout": 1, "/dev/stderr": 2}


def descriptor_number(spec: str) -> int | None:
    """The descriptor `spec` names (pipe:3, /dev/fd/3, /proc/self/fd/3); None for any other name."""
    if spec in STANDARD_OUTPUTS:
        return STANDARD_OUTPUTS[spec]
    named = DESCRIPTOR_NAME.fullmatch(spec)
    return int(named[1] or named[2]) if named else None


def descriptor_path(spec: str) -> str:
    """`spec` as a path: FFmpeg's pipe:N, another open descriptor (`3< clip.ts`, a pipe a program
    passed), is /dev/fd/N, as /dev/stdin is standard input; any other name as it is."""
    named = DESCRIPTOR_NAME.fullmatch(spec)
    return f"/dev/fd/{named[1]}" if named and named[1] else spec


def unreadable_descriptor(spec: str) -> str | None:
    """Why the descriptor `spec` names cannot be a source: standard output or error (the session's
    own lines, never a video: it waited 5 s for one), or not open; None otherwise. Asked before the
    session opens any descriptor of its own, which would take a closed one's number (its copy of
    stderr took 3: `--source /dev/fd/3` without `3<` read the program's own stderr)."""
    number = descriptor_number(spec)
    if number in (1, 2):
        return (f"{spec}: the session's standard {('output', 'error')[number - 1]}, which it writes, not a source; "
                "give the video on standard input (--source -) or another descriptor (pipe:3 with 3< clip.ts)")
    if number is not None and not os.path.exists(f"/dev/fd/{number}"):
        return f"{spec}: descriptor {number} is not open (give it a pipe: {number}< clip.ts, or a program's)"
    return None
