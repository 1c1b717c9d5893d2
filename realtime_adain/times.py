"""Times as FFmpeg's options take them (`--start`, `--duration`, the API's start= and duration=),
read exactly as fractions of a second, and said back in messages."""

from __future__ import annotations

import math
import numbers
import re
from fractions import Fraction

from realtime_adain.errors import UserError, one_line, quoted, shown_number


# Times as FFmpeg's options take them (av_parse_time's durations): [[HH:]MM:]SS[.frac] (minutes and
# seconds below 60 once a colon is there), or seconds with a unit (90, 90.5s, 1500ms, 2000000us).
# (re.ASCII: \d also matched other scripts' digits, which int() and Fraction() then read)
CLOCK_TIME = re.compile(r"(?:(\d+):)?([0-5]?\d):([0-5]?\d(?:\.\d*)?)", re.ASCII)
SECONDS_TIME = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(s|ms|us)?", re.ASCII)
TIME_UNITS = {None: 1, "s": 1, "ms": Fraction(1, 1000), "us": Fraction(1, 1_000_000)}
MAX_TIME = 10**9  # seconds (31 years): longer than any file, and inside FFmpeg's 64-bit microseconds


def as_fraction(value: numbers.Real) -> Fraction:
    """A finite real number as the decimal it was written as: a float by its shortest digits, as
    Python (`str(1.3) == "1.3"`) and numpy (float32's own) say it, so `start=1.3` is 13/10 as "1.3"
    and `--start 1.3` are (its binary value, 1.3000000000000000444, cut the picture shown at 1.3 s
    and kept the one at exactly start + duration); a rational exactly. (`Fraction` took numpy's
    float32, neither float nor rational, for a TypeError from inside fractions.py.)"""
    if isinstance(value, numbers.Rational):
        return Fraction(value)
    if isinstance(value, float):  # (np.float64's repr is "np.float64(1.3)": float's own is "1.3")
        return Fraction(float.__repr__(value))
    return Fraction(str(value) if hasattr(value, "dtype") else repr(float(value)))


def is_finite(value: numbers.Real) -> bool:
    """Whether a real number is finite, read as itself: `math.isfinite` reads a float of it
    (numpy's longdouble 1e4000 was inf; 10**400 an OverflowError). Compared, not subtracted:
    numpy warns of inf - inf, and of abs() of int64's least (-2**63) as an overflow."""
    return bool(value == value and value != math.inf and value != -math.inf)  # (nan is not itself)


def check_time(value: str | float | Fraction, option: str, positive: bool = False) -> Fraction:
    """A time in seconds, exactly: a number, or text as FFmpeg takes it (`90`, `90.5`, `1:30`,
    `01:30.5`, `0:01:30`); at least 0 (above 0 if `positive`). The one parser of --start and
    --duration, and of the API's start= and duration=; raises `UserError` naming `option`."""
    if isinstance(value, str):
        text = value.strip()
        if len(text) > 64:  # (int() refuses over 4300 digits: a ValueError; no video lasts that long anyway)
            raise UserError(f"{option} {quoted(one_line(text))} is not a time such as 90 or 1:30")
        if clock := CLOCK_TIME.fullmatch(text):
            hours, minutes, secs = clock.groups()
            seconds = int(hours or 0) * 3600 + int(minutes) * 60 + Fraction(secs)
        elif plain := SECONDS_TIME.fullmatch(text):
            seconds = Fraction(plain[1]) * TIME_UNITS[plain[2]]
        elif text.startswith("-") and (CLOCK_TIME.fullmatch(text[1:]) or SECONDS_TIME.fullmatch(text[1:])):
            seconds = -check_time(text[1:], option)  # (-0 is 0, as FFmpeg takes it)
            if seconds:
                raise UserError(f"{option} {shown_seconds(value)} is negative")
        else:
            raise UserError(f"{option} {shown_seconds(value)} is not a time such as 90, 90.5, 1:30 or 0:01:30.5")
    elif isinstance(value, numbers.Real) and not isinstance(value, bool):
        # (±10**400, Fraction(±10**400): said without their hundreds of digits)
        if isinstance(value, numbers.Rational) and value > MAX_TIME:
            raise UserError(f"{option} is longer than any video ({MAX_TIME} s at most)")
        if not is_finite(value):
            raise UserError(f"{option} {shown_seconds(value)} is not a finite time")
        seconds = as_fraction(value)
    else:
        raise UserError(f"{option} must be seconds or text such as '1:30', not {type(value).__name__}")
    if seconds < 0 or (positive and seconds == 0):
        raise UserError(f"{option} {shown_seconds(value)} must be {'above' if positive else 'at least'} 0 seconds")
    if seconds > MAX_TIME:
        raise UserError(f"{option} {shown_seconds(value)} is longer than any video ({MAX_TIME} s at most)")
    return seconds


def shown_seconds(value: str | numbers.Real) -> str:
    """A time as it was given, for a message: text quoted ('-1:30'), a number plainly, as other
    arguments are said (`shown_number`)."""
    return repr(value) if isinstance(value, str) else shown_number(value)


def format_time(seconds: Fraction) -> str:
    """Seconds as a message shows them: 90.5 -> '90.5 s' (milliseconds at most)."""
    return f"{float(seconds):.3f}".rstrip("0").rstrip(".") + " s"
