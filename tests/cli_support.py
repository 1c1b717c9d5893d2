"""The check every hostile-input test makes of a refused command: one `error: ...` line, no traceback."""

from __future__ import annotations

# Lines a training run may print before its error: progress it saved and warnings about its data.
TRAINING_PROGRESS = ("checkpoint: ", "warning: skipped", "warning: tensorboard")


def one_error_line(err: str, code: int | None = None, ignoring: tuple[str, ...] = ()) -> str:
    """The only line of stderr `err`, besides lines starting with `ignoring`: the `error: ` line.
    `code`, when given, is the exit status the command must have ended with."""
    assert code is None or code != 0, err
    assert "Traceback" not in err, err
    lines = [line for line in err.strip().splitlines() if not line.startswith(ignoring)] if ignoring else err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


def training_error_line(code: int, err: str) -> str:
    """A refused training run's error line: exit status 2, after whatever progress it printed."""
    assert code == 2, err
    return one_error_line(err, ignoring=TRAINING_PROGRESS)
