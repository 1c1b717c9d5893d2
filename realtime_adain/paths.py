"""Checks on output paths made before any compute: never overwrite an input, fail early."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Iterable

from realtime_adain.errors import UserError


def refuse_overwriting_inputs(outputs: Iterable[Path], inputs: Iterable[Path]) -> None:
    resolved_inputs = {Path(p).resolve() for p in inputs}
    for path in outputs:
        if Path(path).resolve() in resolved_inputs:
            raise UserError(f"{path}: output would overwrite an input")


def ensure_writable_dir(directory: Path) -> None:
    """Create `directory` if needed and prove a file can be written there (root ignores modes)."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=directory):
            pass
    except OSError as exc:
        raise UserError(f"{directory}: output directory is not writable ({exc.strerror or exc})") from None
