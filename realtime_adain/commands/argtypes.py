"""argparse value types shared by the commands: a bad value is one usage line, never a traceback."""

from __future__ import annotations

import argparse
import math
import os
import re
import sys
from fractions import Fraction
from pathlib import Path
from typing import Callable

from realtime_adain.errors import UserError, one_line, quoted
from realtime_adain.picture_sizes import MAX_SIDE
from realtime_adain.settings import MAX_RESOLUTION, MAX_STYLE_SIZE
from realtime_adain.times import check_time
from realtime_adain.video.sequence import MAX_FRAMERATE, check_framerate

RESOLUTION_PRESETS = {"360p": (640, 360), "720p": (1280, 720), "1080p": (1920, 1080)}


def plain(text: str) -> bool:
    """Whether a number is written plainly: ASCII only, no underscores (Python's int, float and
    Fraction read "١" as 1, "1_000" too). Spaces around it are taken, as every number option takes
    them (`--alpha ' 0.5'` was refused where `--mix ' 0.5 , 0.5'`, `--bitrate` and `--start` took them)."""
    return text.isascii() and "_" not in text


def _shown(text: str) -> str:
    """A value as typed, quoted for a message: escaped and cut short (`errors.quoted`; a 5,000-digit
    one was quoted whole, a 5,131-character line). Unicode spaces and invisible characters are
    escaped too: `--size $'\\u00a05'` was quoted as ' 5', which looks like a plain space that numbers
    may have around them, and `$'\\u200b64'` as '64'."""
    return quoted(one_line("".join(_visible(character) for character in text)))


def _visible(character: str) -> str:
    """A character a terminal shows blank or not at all (a space other than ASCII's, a zero-width
    one, U+FEFF) as Python writes it escaped (U+00A0 as \\xa0), else itself."""
    return character.encode("unicode_escape").decode() if not (character.isascii() or character.isprintable()) else character


def _as_typed(number: str) -> str:
    """A number as typed, unquoted (`--alpha 2` is said as 2), or `_shown` where it is long."""
    number = number.strip()
    shown = _shown(number)
    return number if shown == f"'{number}'" else shown


def _number(text: str, kind: type) -> float:
    """`text` as `kind`, written `plain`ly; -0 as 0 (a `--json` record said -0.0)."""
    try:
        if not plain(text):
            raise ValueError(text)
        value = kind(_without_leading_zeros(text) if kind is int else text) + 0  # (-0.0 + 0 is 0.0)
    except (ValueError, OverflowError):
        # (only its length is refused: Python's limit; ASCII, as `plain` asks: str.strip takes U+00A0 too)
        if kind is int and text.isascii() and _WHOLE.fullmatch(text.strip()):
            raise argparse.ArgumentTypeError(
                f"{_shown(text)} is far out of range (more than {sys.get_int_max_str_digits()} digits)") from None
        noun = "whole number" if kind is int else "number"
        raise argparse.ArgumentTypeError(f"{_shown(text)} is not a {noun}") from None
    if kind is float and not math.isfinite(value):  # ints are finite (and may be too big for isfinite)
        raise argparse.ArgumentTypeError(f"{_shown(text)} is not a finite number")
    return value


# A whole number as `int` reads it, ASCII digits only: one of over 4300 digits (Python's limit on
# reading) was said to be "not a whole number"; leading zeros do not count ("0" * 4301 is 0).
_WHOLE = re.compile(r"([+-]?)0*([0-9]+)")


def _without_leading_zeros(text: str) -> str:
    whole = _WHOLE.fullmatch(text.strip())
    return whole.group(1) + whole.group(2) if whole else text


def _checked(kind: type, ok: Callable[[float], bool], complaint: str, name: str) -> Callable[[str], float]:
    """A parser of a `kind` number that `ok` accepts; a refused one is said as typed (`--alpha 2`
    said "2.0 is outside [0, 1]", a number the user never wrote)."""
    def parse(text: str) -> float:
        value = _number(text, kind)
        if not ok(value):
            raise argparse.ArgumentTypeError(f"{_as_typed(text)} {complaint}")
        return value

    parse.__name__ = name
    return parse


# Any whole or finite number, in ASCII digits (options whose range the library checks: --crf, --seed, --lr).
whole_number = _checked(int, lambda v: True, "", "whole_number")
real_number = _checked(float, lambda v: True, "", "real_number")


def int_between(low: int, high: int, name: str) -> Callable[[str], float]:
    """A whole number in low..high (a count or size a benchmark holds in memory)."""
    return _checked(int, lambda v: low <= v <= high, f"is outside {low}..{high}", name)


def positive_up_to(high: float, name: str) -> Callable[[str], float]:
    """A number above 0 and at most `high` (0 and too large said in one message, not two)."""
    return _checked(float, lambda v: 0 < v <= high, f"is outside (0, {high:g}]", name)


unit_interval = _checked(float, lambda v: 0.0 <= v <= 1.0, "is outside [0, 1]", "unit_interval")  # alpha
positive_int = _checked(int, lambda v: v >= 1, "must be at least 1", "positive_int")
positive_float = _checked(float, lambda v: v > 0, "must be positive", "positive_float")
# A loss's weight: a larger one only overflows the weighted total to infinity (1e308 did; its JSON
# then said Infinity, which JSON readers refuse).
MAX_LOSS_WEIGHT = 1e12
loss_weight = _checked(float, lambda v: 0 <= v <= MAX_LOSS_WEIGHT, f"is outside 0..{MAX_LOSS_WEIGHT:g}", "loss_weight")
# CPU threads: torch.set_num_threads overflows on a 64-bit count; no machine has this many cores.
MAX_THREADS = 1024
thread_count = _checked(int, lambda v: 1 <= v <= MAX_THREADS, f"is outside 1..{MAX_THREADS}", "thread_count")
# Where 0 is torch's default (`bench video --threads 0,1`): the range said is the one taken.
thread_count_or_default = int_between(0, MAX_THREADS, "thread_count_or_default")
# Durations a user gives in seconds: a day at most (a thread's wait overflows near 1e10 s).
MAX_SECONDS = 86400.0
seconds = _checked(float, lambda v: 0 < v <= MAX_SECONDS, f"is outside (0, {MAX_SECONDS:g}] seconds", "seconds")
seconds_or_none = _checked(float, lambda v: 0 <= v <= MAX_SECONDS, f"is outside [0, {MAX_SECONDS:g}] seconds", "seconds_or_none")


def seconds_from(low: float, name: str) -> Callable[[str], float]:
    """Seconds from `low` to a day (a timeout a shorter one would break: said in this one message)."""
    return _checked(float, lambda v: low <= v <= MAX_SECONDS, f"is outside [{low:g}, {MAX_SECONDS:g}] seconds", name)

# Sizes where 0 means native, counts where 0 means all.
non_negative_int = _checked(int, lambda v: v >= 0, "is negative", "non_negative_int")
# Processing sizes (--size, --style-size): 0 means native.
side_length = _checked(int, lambda v: 0 <= v <= MAX_SIDE, f"is outside 0..{MAX_SIDE}", "side_length")
# --style-size: the library's own limit (`StyleSettings.check`), so every command says the same
style_side = _checked(int, lambda v: 0 <= v <= MAX_STYLE_SIZE, f"is outside 0 (native) to {MAX_STYLE_SIZE}", "style_side")
max_pixels = _checked(int, lambda v: 1 <= v <= MAX_SIDE * MAX_SIDE, f"is outside 1..{MAX_SIDE * MAX_SIDE}", "max_pixels")
# Optical flow working width (temporal.flow.FlowEstimator needs at least 16 pixels).
flow_width = _checked(int, lambda v: 16 <= v <= MAX_SIDE, f"is outside 16..{MAX_SIDE}", "flow_width")


def _rate(text: str) -> Fraction:
    """A frame rate as typed, a number or a ratio (24, 29.97, 30000/1001), exactly."""
    try:
        if not plain(text):
            raise ValueError(text)
        return Fraction(text)
    except (ValueError, ZeroDivisionError):
        raise argparse.ArgumentTypeError(f"{_shown(text)} is not a frame rate such as 24, 29.97 or "
                                         "30000/1001") from None


def framerate(text: str) -> Fraction:
    """Frames per second as a number or a ratio (24, 29.97, 30000/1001), above
    `MIN_FRAMERATE` (1/2002, a frame every 2002 s) and at most `MAX_FRAMERATE`."""
    value = _rate(text)
    try:
        # 29.97 -> 30000/1001. Above the limit all alike: 1e400 overflowed a float in the check (a traceback).
        return check_framerate(min(value, MAX_FRAMERATE + 1))
    except UserError as exc:  # its own words of the rate as typed ("1e-9" is above 0: "give more than 1/2002 ...")
        raise argparse.ArgumentTypeError(f"{_shown(text)}: {str(exc).split(': ', 1)[1]}") from None


def frames_per_second(text: str) -> float:
    """`framerate` as a float (`live --fps`): one range, said in one message, for a camera's rate
    and an image sequence's (0 was "must be positive", 2000 refused later in other words)."""
    return float(framerate(text))


def _time(option: str, positive: bool) -> Callable[[str], Fraction]:
    """A time as FFmpeg takes it (`times.check_time`, which the API uses too), in seconds."""
    def parse(text: str) -> Fraction:
        try:
            return check_time(text, option, positive)
        except UserError as exc:
            raise argparse.ArgumentTypeError(str(exc).removeprefix(f"{option} ")) from None

    parse.__name__ = "time"
    return parse


start_time = _time("--start", positive=False)
duration = _time("--duration", positive=True)


def name(text: str) -> str:
    """A non-empty name (an encoder's): an empty one is a missing value, not the default."""
    if not text.strip():
        raise argparse.ArgumentTypeError("an empty name")
    return text


def mix_weights(text: str) -> list[float]:
    """Comma-separated non-negative finite weights with a positive sum, e.g. '0.7,0.3'
    (StyleStats.mix normalises them without overflow, so '1e308,1e308' is an even mix)."""
    parts = [part.strip() for part in text.split(",")]
    if "" in parts and any(parts):  # ('0.5,,0.5' is a typo, not an even mix of two)
        raise argparse.ArgumentTypeError(f"{_shown(text)}: weight {parts.index('') + 1} is empty")
    try:
        values = [_number(part, float) for part in parts if part]
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"{_shown(text)} is not a comma-separated list of numbers") from None
    if not values or any(v < 0 for v in values) or max(values) <= 0:
        raise argparse.ArgumentTypeError("mix weights must be non-negative numbers with a positive sum")
    return values


MIN_RESOLUTION_SIDE = 16  # the shortest side a WIDTHxHEIGHT may have (`-r 0x0` is no frame size)


def resolution(text: str, most: int | tuple[int, int] = MAX_SIDE) -> tuple[int, int]:
    """'1280x720' or a preset (360p, 720p, 1080p) -> (width, height), each side MIN_RESOLUTION_SIDE to `most`
    (a (width, height) pair: each its own limit, said as the largest resolution); spaces around it
    are taken, as around a number."""
    if text.strip() in RESOLUTION_PRESETS:
        return RESOLUTION_PRESETS[text.strip()]
    try:
        if not plain(text) or len(text.split()) != 1:  # (none inside: `1280 x 720`)
            raise ValueError(text)
        width, height = (int(part) for part in text.lower().split("x"))
    except ValueError:
        presets = ", ".join(RESOLUTION_PRESETS)
        raise argparse.ArgumentTypeError(f"{_shown(text)} is not WIDTHxHEIGHT (e.g. 1280x720) or one of "
                                         f"{presets}") from None
    most_width, most_height = most if isinstance(most, tuple) else (most, most)
    least = MIN_RESOLUTION_SIDE
    if not (least <= width <= most_width and least <= height <= most_height):
        if isinstance(most, tuple):
            raise argparse.ArgumentTypeError(f"{_shown(text)}: between {least}x{least} and {most_width}x{most_height}")
        raise argparse.ArgumentTypeError(f"{_shown(text)}: both sides must be {least} to {most} pixels")
    return width, height


def camera_resolution(text: str) -> tuple[int, int]:
    """`resolution` within 8K either way up (`live --resolution`): the parser said "16 to 16384
    pixels", and 16x16384 then got "at most 7680x4320"; portrait 4320x7680 was refused."""
    width, height = resolution(text, max(MAX_RESOLUTION))
    if min(width, height) > min(MAX_RESOLUTION):
        raise argparse.ArgumentTypeError(f"{_shown(text)}: at most {MAX_RESOLUTION[0]}x{MAX_RESOLUTION[1]}, "
                                         "either way up")
    return width, height


# Benchmarks and ahead-of-time engine builds hold whole frames (and a batch of them) in memory:
# up to 4K (DCI, 4096 wide) and a few dozen per call, beyond which one step needs tens of GiB.
MAX_FRAME_SIDE = 4096
MAX_FRAME_BATCH = 64
frame_batch = int_between(1, MAX_FRAME_BATCH, "frame_batch")
frame_side = int_between(0, MAX_FRAME_SIDE, "frame_side")  # a processing size, 0 = native
# Timed steps and untimed warm-up steps: plenty for any statistic, not days of running.
MAX_STEPS = 100_000
MAX_WARMUP_STEPS = 10_000
step_count = int_between(1, MAX_STEPS, "step_count")
warmup_steps = int_between(0, MAX_WARMUP_STEPS, "warmup_steps")
# Frame rates a benchmark sends or generates (a zero, tiny or huge rate stalls or floods it).
MAX_FPS = 240


def frame_rate(text: str) -> float:
    """A rate a benchmark sends or generates, 1..MAX_FPS, as a number or a ratio (30000/1001 was
    refused as "not a number")."""
    value = _rate(text)
    if not 1 <= value <= MAX_FPS:
        raise argparse.ArgumentTypeError(f"{_as_typed(text)} is outside 1..{MAX_FPS} fps")
    return float(value)


def frame_resolution(text: str) -> tuple[int, int]:
    """`resolution`, at most MAX_FRAME_SIDE on a side (frames a benchmark or an engine build hold;
    `-r 0x0` said "16 to 16384", a limit these never take)."""
    return resolution(text, MAX_FRAME_SIDE)


def nonempty_path(text: str) -> Path:
    """A non-empty path: '' (an unset variable) is no wish for the default, nor the current folder."""
    if not text.strip():
        raise argparse.ArgumentTypeError("an empty path (an unset variable?)")
    return Path(text)


def file_name(text: str) -> Path:
    """A file to write, not a name ending in a slash or in '.' or '..' (a folder's): a Path drops
    '/' and '/.', so `newdir/` wrote a file named newdir and `m1.json/.` replaced m1.json."""
    if text.endswith(("/", os.sep)):
        raise argparse.ArgumentTypeError(f"'{one_line(text)}' ends in a slash: give the file's name, not a folder")
    if os.path.basename(text) in (os.curdir, os.pardir):
        raise argparse.ArgumentTypeError(f"'{one_line(text)}' ends in '{os.path.basename(text)}', a folder: give the "
                                         "file's name")
    return nonempty_path(text)


def results_file(text: str) -> Path:
    """`--json PATH` of the benchmarks: a file's name; '-' (stdout, to other tools) made a file named '-'."""
    if text == "-":
        raise argparse.ArgumentTypeError("'-' is no file name: the results table is printed on stdout; give a file "
                                         "for the JSON")
    return file_name(text)
