"""The one exception type the CLI turns into a single clear line and a non-zero exit."""

from __future__ import annotations

import contextlib
import sys
from typing import Iterator


class UserError(Exception):
    """A problem with what the user asked for (a path, a value, a weights file), not a bug."""


def refuse_inputs(problems: list[str]) -> None:
    """Refuse with every bad input found, in one line (one at a time would stop a folder run once
    for each); nothing when there are none."""
    if len(problems) == 1:
        raise UserError(problems[0])
    if problems:
        raise UserError(f"{len(problems)} inputs cannot be used, nothing done: " + "; ".join(problems))


def is_out_of_memory(exc: BaseException) -> bool:
    """Whether `exc` is an allocator's failure: MemoryError, or torch's CPU allocator (a
    RuntimeError), OpenCV or onnxruntime (their own classes) saying memory or alloc."""
    if isinstance(exc, MemoryError):
        return True
    cv2 = sys.modules.get("cv2")
    allocator = (isinstance(exc, RuntimeError) or (cv2 is not None and isinstance(exc, cv2.error))
                 or type(exc).__module__.startswith("onnxruntime"))
    text = str(exc).lower()
    return allocator and ("memory" in text or "alloc" in text)


@contextlib.contextmanager
def out_of_memory_as_user_error(what: str, hint: str = "lower --size") -> Iterator[None]:
    """A size the machine cannot hold is bad input, not a bug: the allocator's error (torch, OpenCV
    or numpy) becomes one line naming what was being processed, and `hint` (what to lower)."""
    try:
        yield
    except Exception as exc:  # torch.OutOfMemoryError is a RuntimeError saying "out of memory"
        if not is_out_of_memory(exc):
            raise
        raise UserError(f"{what}: out of memory; {hint}") from None


def one_line(message: str) -> str:
    """A path or value holding a newline (a legal file name) must not split the error line."""
    return message.replace("\r", "\\r").replace("\n", "\\n")
