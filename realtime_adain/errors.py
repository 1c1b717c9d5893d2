"""The one exception type the CLI turns into a single clear line and a non-zero exit."""

from __future__ import annotations

import contextlib
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


@contextlib.contextmanager
def out_of_memory_as_user_error(what: str, hint: str = "lower --size") -> Iterator[None]:
    """A size the machine cannot hold is bad input, not a bug: the allocator's error (torch, OpenCV
    or numpy) becomes one line naming what was being processed, and `hint` (what to lower)."""
    import cv2  # here, not at the top: this module is imported before anything heavy
    import torch

    try:
        yield
    except (MemoryError, torch.OutOfMemoryError):
        raise UserError(f"{what}: out of memory; {hint}") from None
    except Exception as exc:  # torch's CPU allocator (RuntimeError), OpenCV, onnxruntime's own classes
        allocator = isinstance(exc, (RuntimeError, cv2.error)) or type(exc).__module__.startswith("onnxruntime")
        text = str(exc).lower()
        if not allocator or ("memory" not in text and "alloc" not in text):
            raise
        raise UserError(f"{what}: out of memory; {hint}") from None


