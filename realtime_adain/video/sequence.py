"""Numbered image files read as one clip: `render/frame_%04d.png`, as `ffmpeg -i` reads them.

Renders (Blender, After Effects, Nuke) and frame-by-frame tools hand over folders of numbered
pictures, not video files. A path with one printf number in its name (`%d`, `%04d`; `%%` is a
percent sign) that is not itself a file is such a sequence when files match it. FFmpeg's image2
demuxer plays it from the lowest number found (told `start_number`: on its own it looks only at
0-4) at `--framerate` (25 by default, as FFmpeg), and stops at the first missing number; the files
after such a gap are named in a note, so a dropped render frame does not silently end the clip.
A render still being written leaves an empty file where it works: the clip stops before it, said
so. Only regular files are pictures: FFmpeg would open a FIFO named like a frame and wait on it
forever, so it is never let past the last picture played (`Sequence.options`).
"""

from __future__ import annotations

import functools
import math
import numbers
import os
import re
import stat
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from realtime_adain.errors import UserError, shown_number
from realtime_adain.times import as_fraction, is_finite
from realtime_adain.notes import note

DEFAULT_FRAMERATE = Fraction(25)  # FFmpeg's image2 default
MAX_FRAMERATE = 1000  # fps; beyond it no display or encoder keeps up, and 1/rate underflows time bases
MIN_FRAMERATE = Fraction(1, 2002)  # fps, itself refused: the slowest taken show a frame for just under 2002 s
# The largest term of a rate FFmpeg takes as it is given (`av_parse_video_rate`): one of larger
# terms opens at another rate (1001/2004001 fps opened at 1/2002).
FFMPEG_RATE_TERMS = 1001000
MAX_DIGITS = 9  # a frame number fits in FFmpeg's int
NTSC_WHOLE_RATES = (24, 30, 48, 60, 120, 240)  # rates x 1000/1001 that are written rounded: 23.976, 29.97, ...
_DIRECTIVE = re.compile(r"%(\d*)d")  # FFmpeg's av_get_frame_filename: %d, or %Nd / %0Nd zero-padded to N
_ANY_PERCENT = re.compile(r"%(%|\d*d|.?)")
_PRINTF_NUMBER = re.compile(r"%%|%[-+0-9]*(?:hh|h|ll|l|j|z|t)?[diuxX]")  # what C's printf would number
# What FFmpeg's url_find_protocol takes for a protocol: a name of its scheme characters (none
# too) before a colon, or `subfile,` with a colon anywhere after it (`subfile,,start,0,end,0,,:x.mp4`).
_PROTOCOL = re.compile(r"[A-Za-z0-9+.-]*:|subfile,.*:", re.DOTALL)


def ffmpeg_name(path: str | os.PathLike) -> str:
    """A file's name as FFmpeg is to open it: one that starts like a URL (`take:2.mp4`, or its
    temporary `.take:2.mp4.PID-x.part.mp4`) gets `file:` before it, else FFmpeg took the part
    before the colon for a protocol ("Protocol not found"), or opened another file (`subfile,...:x.mp4`
    reads a part of x.mp4)."""
    text = os.fspath(path)
    return f"file:{text}" if _PROTOCOL.match(text) else text


def named_file(name: str) -> str:
    """The file a name `ffmpeg_name` gave names, for a message (a container's `name`)."""
    return name.removeprefix("file:")


def pattern_directive(name: str) -> re.Match | None:
    """The one printf number in a file `name` (`%d`, `%04d`), None when there is none, or where
    the name holds any other `%` directive or two numbers (not a sequence FFmpeg reads as one)."""
    directives = [m for m in _ANY_PERCENT.finditer(name) if m.group(0) != "%%"]
    if len(directives) != 1:
        return None
    directive = _DIRECTIVE.fullmatch(name, directives[0].start(), directives[0].end())
    return directive if directive and len(directive.group(1)) <= 2 and int(directive.group(1) or 0) <= MAX_DIGITS else None


def pattern_mistake(name: str) -> str | None:
    """Why file `name`, written as a printf number pattern (`%010d`, `%x`, `%-4d`, two numbers),
    is not one FFmpeg reads or writes, as words after the path; None where it is one, or has no
    such number. Such a name was "no such input file" or, as an output, an "unknown video
    format '.png'"."""
    if pattern_directive(name) is not None:
        return None
    numbers = [m.group(0) for m in _PRINTF_NUMBER.finditer(name) if m.group(0) != "%%"]
    if not numbers:
        return None
    numbered_at = {m.start() for m in _PRINTF_NUMBER.finditer(name)}
    lone = [m.group(0) for m in _ANY_PERCENT.finditer(name) if m.start() not in numbered_at]
    if len(numbers) == 1 and lone and pattern_directive(name.replace(lone[0], "", 1)) is not None:
        # (`shot%_%04d.png` was said to have "%04d", the one part FFmpeg reads)
        return f"a percent sign in an image-sequence pattern is written %% (as FFmpeg's); this name has {lone[0]!r}"
    said = numbers[0] if len(numbers) == 1 else f"{len(numbers)} numbers ({', '.join(numbers)})"
    return f"an image-sequence pattern holds one %d or %0Nd (N at most {MAX_DIGITS}), as FFmpeg's; this name has {said}"


@dataclass(frozen=True)
class PatternNames:
    """A pattern's file names, FFmpeg's way: `head`, the number zero-padded to `width`, `tail`."""

    head: str
    width: int
    tail: str

    def name(self, number: int) -> str:
        return f"{self.head}{number:0{self.width}d}{self.tail}"

    def digits(self, name: str) -> str | None:
        """The digits in file `name` where the pattern's number goes, however many."""
        if len(name) <= len(self.head) + len(self.tail) or not (name.startswith(self.head) and name.endswith(self.tail)):
            return None
        digits = name[len(self.head):len(name) - len(self.tail)]
        return digits if digits.isascii() and digits.isdigit() else None

    def number(self, name: str) -> int | None:
        """The frame number file `name` holds, None where the pattern does not write that name."""
        digits = self.digits(name)
        if digits is None or len(digits) > MAX_DIGITS:
            return None
        number = int(digits)
        return number if f"{number:0{self.width}d}" == digits else None

    def pattern_of(self, digits: str) -> str:
        """The pattern that names a file numbered with `digits` (`0042` -> `%04d`)."""
        number = f"%0{len(digits)}d" if digits.startswith("0") and len(digits) > 1 else "%d"
        return self.head.replace("%", "%%") + number + self.tail.replace("%", "%%")


@functools.lru_cache(maxsize=64)
def pattern_names(name: str) -> PatternNames | None:
    """Pattern `name` parsed once, not once a picture (a pass over 100 000 of them parsed it
    100 000 times: seconds); None where it is no pattern."""
    directive = pattern_directive(name)
    if directive is None:
        return None
    return PatternNames(name[:directive.start()].replace("%%", "%"), int(directive.group(1) or 0),
                        name[directive.end():].replace("%%", "%"))


def numbered(name: str, number: int) -> str:
    """Pattern `name` (`frame_%04d.png`) with `number` in it, as FFmpeg names the file."""
    return pattern_names(name).name(number)


@dataclass(frozen=True)
class Sequence:
    """A pattern's matching names: `numbers` sorted, `start` the first, `run` how many pictures
    follow it without a gap (what FFmpeg plays: regular files that are not empty)."""

    pattern: Path
    numbers: tuple[int, ...]
    run: int

    @property
    def start(self) -> int:
        return self.numbers[0]

    def file(self, number: int) -> Path:
        """The file of frame `number`, as the pattern formats it."""
        return self.pattern.with_name(numbered(self.pattern.name, number))

    @property
    def ffmpeg_pattern(self) -> str:
        """The pattern as FFmpeg's image2 reads it: it formats the whole path, so a `%` in a folder's
        name (`my 100% take/`, `shots%04d/`) is doubled, or it was taken for a number."""
        return os.path.join(str(self.pattern.parent).replace("%", "%%"), self.pattern.name)

    def open_arguments(self, rate: Fraction) -> dict:
        """`av.open`'s arguments for FFmpeg's image2: from the first number, at `rate`. `probesize`
        32 makes opening read one picture: it read ahead past the run (`avformat_find_stream_info`),
        into a FIFO named like a frame, and waited on it forever; readers stop after `run` pictures
        (`within_run`)."""
        return {"format": "image2",
                "options": {"framerate": str(rate), "start_number": str(self.start), "probesize": "32"}}

    def note_gap(self) -> None:
        """Say where the clip stops when what follows the last picture played is not one (missing,
        empty, a folder or FIFO) and names follow it."""
        last = self.start + self.run - 1
        after = self.file(last + 1)
        left = len(self.numbers) - self.run
        if left:
            why = _not_a_picture(after)
            dropped = f"{left} later file(s)" if why == "is missing" else f"it and {left - 1} later file(s)"
            note(f"{self.pattern}: the sequence stops at {self.file(last).name} ({self.run} pictures): "
                 f"{after.name} {why}, so {dropped} are left out, as FFmpeg leaves them (number them without "
                 "a gap to include them)", once=True)


def _not_a_picture(path: Path) -> str:
    """Why `path` ends a sequence, as words after its name."""
    if not os.path.lexists(path):
        return "is missing"
    if path.is_file():
        return "is empty (a render still writing it?)"
    return "is not a picture file (a folder, FIFO, socket or broken link)"


def _is_picture(path: str) -> bool:
    """Whether `path` may be played: a regular file (through links) with bytes in it."""
    try:
        status = os.stat(path)
    except (OSError, ValueError):  # a link loop, a name too long
        return False
    return stat.S_ISREG(status.st_mode) and status.st_size > 0


def _run(pattern: Path, numbers: tuple[int, ...]) -> int:
    """How many pictures from the first number play without a gap; a UserError where the first
    is no picture, or one of them cannot be read (FFmpeg skipped an unreadable first file and
    ended the clip at a later one without a word)."""
    names, folder = pattern_names(pattern.name), os.path.join(pattern.parent, "")
    count = 0
    while count < len(numbers) and numbers[count] == numbers[0] + count:
        file = folder + names.name(numbers[count])
        if not _is_picture(file):
            break
        if not os.access(file, os.R_OK):
            raise UserError(f"{file}: cannot read this picture of the sequence (permission denied)")
        count += 1
    if not count:
        first = pattern.with_name(names.name(numbers[0]))
        raise UserError(f"{pattern}: its first file, {first.name}, {_not_a_picture(first)}")
    return count


def find_sequence(path: Path) -> Sequence | None:
    """`path` as an image sequence (its matching files), or None where it is no pattern or an
    existing file (a name with a real `%` in it). A pattern that matches nothing is an error. A
    `%` in a folder's name is that character (`Sequence.ffmpeg_pattern`)."""
    names = pattern_names(path.name)
    if names is None or path.exists():
        if names is None and not os.path.lexists(path) and (mistake := pattern_mistake(path.name)):
            raise UserError(f"{path}: {mistake}")
        return None
    folder = path.parent
    if not folder.is_dir():
        raise UserError(f"{path}: no such folder for the image sequence: {folder}")
    try:
        listed = os.listdir(folder)  # names, not Path objects: a third of a second a pass for 100 000
    except OSError as exc:  # a folder that may be entered but not listed (mode 711)
        raise UserError(f"{path}: cannot list its folder {folder} ({exc.strerror or exc})") from None
    numbers = tuple(sorted({number for number in map(names.number, listed) if number is not None}))
    if not numbers:
        near = min((name for name in listed if names.digits(name)), default=None)
        hint = f" ({near} is there: {names.pattern_of(names.digits(near))} names it)" if near else ""
        raise UserError(f"{path}: no files match this image-sequence pattern in {folder}{hint}")
    return Sequence(path, numbers, _run(path, numbers))


def files_of(paths: list[Path]) -> list[Path]:
    """`paths` with each image-sequence pattern among them replaced by its pictures' files."""
    files = []
    for path in map(Path, paths):
        sequence = find_sequence(path) if pattern_directive(path.name) else None
        files += [sequence.file(number) for number in sequence.numbers] if sequence else [path]
    return files


def names_a_picture(pattern: Path, path: Path) -> bool:
    """Whether `path` is named as one of image-sequence `pattern`'s pictures, there or not (an
    output `f_0003.gif` beside `f_%04d.gif` would replace frame 3); False for any other input.
    The name is compared first: it is asked of every picture of a long input sequence."""
    names = pattern_names(pattern.name)
    return (names is not None and names.number(path.name) is not None
            and _same_folder(path.parent, pattern.parent) and not pattern.exists())


def _same_folder(one: Path, other: Path) -> bool:
    """Whether two paths lead to one folder (through links, `..`): by its identity, two stats, not
    `realpath`'s one a part of each path (seconds for the pictures of a long sequence)."""
    if one == other:
        return True
    try:
        first, second = os.stat(one), os.stat(other)
    except (OSError, ValueError):  # a folder not made yet holds no input, unless `..` leads out of it
        return (".." in one.parts or ".." in other.parts) and os.path.realpath(one) == os.path.realpath(other)
    return (first.st_dev, first.st_ino) == (second.st_dev, second.st_ino)


def _exact_rate(rate: Fraction) -> Fraction:
    """`rate` as the frame rate it stands for: 29.97 is NTSC's 30000/1001 (as 23.976, 59.94 are
    24000/1001, 60000/1001); else from 1 fps the nearest fraction over at most 1001 (1000.0000000001
    is 1000), and slower the rate of the nearest period (seconds a frame) over at most 1001, in
    terms FFmpeg keeps (`FFMPEG_RATE_TERMS`): as a rate over 1001, 0.0005 fps (a frame every 2000 s)
    was 1/1001, twice the rate asked. A rate above `MIN_FRAMERATE` stays above it, so the result
    passes `check_framerate` again (1001/2004001 fps became 1/2002, refused by the next check)."""
    for whole in NTSC_WHOLE_RATES:
        ntsc = Fraction(whole * 1000, 1001)
        if abs(rate - ntsc) < Fraction(1, 100):
            return ntsc
    if rate >= 1:
        return rate.limit_denominator(1001)
    period = 1 / rate
    terms = min(1001, FFMPEG_RATE_TERMS // math.ceil(period))
    return 1 / min(period.limit_denominator(terms), 1 / MIN_FRAMERATE - Fraction(1, terms))


def check_framerate(rate: float | Fraction, option: str = "--framerate") -> Fraction:
    """A sequence's frame rate as an exact fraction (`_exact_rate`), or a UserError naming `option`.
    The limits hold for the rate as given, before that rounding (which took 1000.0000000001 as 1000)."""
    if not isinstance(rate, numbers.Real) or isinstance(rate, bool):
        raise UserError(f"{option} must be a number of frames per second, not {type(rate).__name__}")
    # One range, said alike of 0, 1e-9 and 5000 (0 was told "above 0", 1e-9 "more than 1/2002").
    bounds = (f"give more than {MIN_FRAMERATE} frames per second (a frame every {1 / MIN_FRAMERATE} s), "
              f"at most {MAX_FRAMERATE}")
    if isinstance(rate, numbers.Integral) and rate > 10 ** 18:  # (10**400: isfinite's OverflowError)
        raise UserError(f"{option}: {bounds} (got a number of {len(str(int(rate)))} digits)")
    if is_finite(rate):  # (numpy's longdouble 1e-4000 read as itself, not as a float's 0.0)
        given = as_fraction(rate)
        if MIN_FRAMERATE < given <= MAX_FRAMERATE:
            return _exact_rate(given)
    raise UserError(f"{option} {shown_number(rate)}: {bounds}")  # (float32 1000.1 was 1000.0999755859375)


def stem(path: Path) -> str:
    """A name for outputs made from `path`: a pattern's name without its number (`frame_%04d.png`
    -> `frame`; `%04d.png` -> the folder's name)."""
    directive = pattern_directive(path.name)
    if directive is None or path.exists():
        return path.stem
    name = (path.name[:directive.start()] + path.name[directive.end():]).removesuffix(path.suffix)
    name = name.replace("%%", "%").strip("_-. ")
    return name or path.parent.resolve().name or "sequence"
