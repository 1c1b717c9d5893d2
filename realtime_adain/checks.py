"""Argument checks shared by the library's entry points (the API, the stabilisers): a wrong type is
a TypeError and a value out of range a ValueError, each naming the argument, never a failure deep
in OpenCV or torch. Free of torch, so the lightest modules can use them."""

from __future__ import annotations

import numbers
import sys
from typing import Any

import numpy as np

from realtime_adain.errors import shown_number


def check_number(value: float, name: str, low: float = 0.0, high: float = 1.0) -> float:
    """A real number (not a bool) in [low, high], as a float; nan fails."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number in [{low:g}, {high:g}], got {type(value).__name__}")
    if _past_floats(value):
        raise ValueError(f"{name} must be in [{low:g}, {high:g}], got an integer too large for a float")
    if not low <= value <= high:  # nan fails too
        raise ValueError(f"{name} must be in [{low:g}, {high:g}], got {shown_number(value)}")
    return float(value) + 0.0  # (-0.0 as 0.0: a settings record said -0.0)


def check_positive(value: float, name: str) -> float:
    """A real number (not a bool) above 0, infinity included, as a float; nan fails. Said as
    "positive" whatever is wrong: "in [0, inf]" for -1 and "positive" for 0 read as two rules."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a positive number, got {type(value).__name__}")
    if _past_floats(value):
        raise ValueError(f"{name} must be positive (above 0), got an integer too large for a float")
    if not value > 0:  # nan fails too
        raise ValueError(f"{name} must be positive (above 0), got {shown_number(value)}")
    return float(value)


def _past_floats(value: numbers.Real) -> bool:
    """An integer `float` cannot hold (10**400: a bare OverflowError that named no argument, or
    thousands of digits in the message)."""
    return isinstance(value, numbers.Integral) and not -1e308 <= value <= 1e308


def ascii_whole(text: str) -> int | None:
    """`text` as a whole number where it is written in ASCII digits, else None. `str.isdigit` also
    takes "²", which `int` refuses (a ValueError traceback from a weights key, a header or an
    option), and other scripts' digits. Past `MOST_DIGITS` it is None too: `int` refuses a string
    of more than 4300 digits (Python's limit against slow conversions)."""
    return int(text) if len(text) <= MOST_DIGITS and text.isascii() and text.isdigit() else None


MOST_DIGITS = 4000


MAX_WHOLE = 10 ** 300  # past any count, size or rate, short of float's range (where arithmetic overflowed)


def check_whole(value: int | None, name: str, minimum: int = 0, none_ok: bool = False,
                maximum: int | None = None) -> int | None:
    """A whole number (not a bool) in [minimum, maximum] (or None where `none_ok`), as an int."""
    if value is None and none_ok:
        return None
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be a whole number{' or None' if none_ok else ''}, got {type(value).__name__}")
    if abs(value) > MAX_WHOLE:  # (10**400 was an OverflowError deep inside, or quoted in 400 digits)
        raise ValueError(f"{name} is far too {'large' if value > 0 else 'small'} (a number of {digit_count(value)} digits)")
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be at most {maximum}, got {value}")
    return int(value)


def digit_count(value: int) -> str:
    """How many digits a whole number has, in words: Python refuses to write one of over 4300
    (`Stabilizer(flow_width=10**5000)` failed as "Exceeds the limit", naming nothing)."""
    try:
        return str(len(str(abs(int(value)))))
    except ValueError:
        return f"more than {sys.get_int_max_str_digits()}"


def check_alpha(alpha: float) -> float:
    return check_number(alpha, "alpha")


def check_real(value: Any, name: str, text_too: bool = False) -> Any:
    """A TypeError for what is no number (nor text, with `text_too`: a time such as '1:30'), as for
    every argument of the wrong kind: framerate='24' and start=[1] were ValueErrors ('not str')."""
    if isinstance(value, bool) or not isinstance(value, (numbers.Real, str) if text_too else numbers.Real):
        wanted = "seconds (a number) or text such as '1:30'" if text_too else "a number"
        raise TypeError(f"{name} must be {wanted}, got {type(value).__name__}")
    return value


def check_flag(value: Any, name: str) -> bool:
    """True or False, numpy's too (a flag from `(array > 0).any()` was refused as "must be bool, got
    bool"), as a bool; a TypeError for anything else."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be bool, got {type(value).__name__}")
    return bool(value)


def check_kind(value: Any, kind: type, name: str) -> Any:
    if not isinstance(value, kind):
        raise TypeError(f"{name} must be {kind.__name__}, got {type(value).__name__}")
    return value


def check_size(size: int | None) -> int | None:
    return check_whole(size, "size", none_ok=True)
