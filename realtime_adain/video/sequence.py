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

import math
import os
import re
import stat
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from realtime_adain.errors import UserError
from realtime_adain.video.notes import note

DEFAULT_FRAMERATE = Fraction(25)  # FFmpeg's image2 default
MAX_FRAMERATE = 1000  # fps; beyond it no display or encoder keeps up, and 1/rate underflows time bases
MAX_DIGITS = 9  # a frame number fits in FFmpeg's int
NTSC_WHOLE_RATES = (24, 30, 48, 60, 120, 240)  # rates x 1000/1001 that are written rounded: 23.976, 29.97, ...
_DIRECTIVE = re.compile(r"%(\d*)d")  # FFmpeg's av_get_frame_filename: %d, or %Nd / %0Nd zero-padded to N
_ANY_PERCENT = re.compile(r"%(%|\d*d|.?)")


def pattern_directive(name: str) -> re.Match | None:
    """The one printf number in a file `name` (`%d`, `%04d`), None when there is none, or where
    the name holds any other `%` directive or two numbers (not a sequence FFmpeg reads as one)."""
    directives = [m for m in _ANY_PERCENT.finditer(name) if m.group(0) != "%%"]
    if len(directives) != 1:
        return None
    directive = _DIRECTIVE.fullmatch(name, directives[0].start(), directives[0].end())
    return directive if directive and len(directive.group(1)) <= 2 and int(directive.group(1) or 0) <= MAX_DIGITS else None


def _formatted(number: int, directive: re.Match) -> str:
    """`number` as FFmpeg writes it in a file name: zero-padded to the directive's width."""
    return f"{number:0{int(directive.group(1) or 0)}d}"


def numbered(name: str, number: int) -> str:
    """Pattern `name` (`frame_%04d.png`) with `number` in it, as FFmpeg names the file."""
    directive = pattern_directive(name)
    return (name[:directive.start()].replace("%%", "%") + _formatted(number, directive)
            + name[directive.end():].replace("%%", "%"))


def _numbers(name: str, directive: re.Match) -> re.Pattern:
    """The file names `name`'s directive may match (checked exactly by `_formatted` after)."""
    return re.compile(re.escape(name[:directive.start()].replace("%%", "%")) + r"(\d+)"
                      + re.escape(name[directive.end():].replace("%%", "%")))


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
    count = 0
    while count < len(numbers) and numbers[count] == numbers[0] + count:
        file = os.path.join(pattern.parent, numbered(pattern.name, numbers[count]))
        if not _is_picture(file):
            break
        if not os.access(file, os.R_OK):
            raise UserError(f"{file}: cannot read this picture of the sequence (permission denied)")
        count += 1
    if not count:
        first = pattern.with_name(numbered(pattern.name, numbers[0]))
        raise UserError(f"{pattern}: its first file, {first.name}, {_not_a_picture(first)}")
    return count


def find_sequence(path: Path) -> Sequence | None:
    """`path` as an image sequence (its matching files), or None where it is no pattern or an
    existing file (a name with a real `%` in it). A pattern that matches nothing is an error."""
    directive = pattern_directive(path.name)
    if directive is None or path.exists() or "%" in str(path.parent):
        return None
    folder = path.parent
    if not folder.is_dir():
        raise UserError(f"{path}: no such folder for the image sequence: {folder}")
    matcher = _numbers(path.name, directive)
    numbers = []
    try:
        names = [entry.name for entry in folder.iterdir()]
    except OSError as exc:  # a folder that may be entered but not listed (mode 711)
        raise UserError(f"{path}: cannot list its folder {folder} ({exc.strerror or exc})") from None
    for name in names:
        match = matcher.fullmatch(name)
        digits = match.group(1) if match else ""
        if 0 < len(digits) <= MAX_DIGITS and _formatted(int(digits), directive) == digits:
            numbers.append(int(digits))
    if not numbers:
        raise UserError(f"{path}: no files match this image-sequence pattern in {folder}")
    numbers = tuple(sorted(set(numbers)))
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
    output `f_0003.gif` beside `f_%04d.gif` would replace frame 3); False for any other input."""
    directive = pattern_directive(pattern.name)
    if directive is None or pattern.exists():
        return False
    match = _numbers(pattern.name, directive).fullmatch(path.name)
    return (match is not None and _formatted(int(match.group(1)), directive) == match.group(1)
            and os.path.realpath(path.parent) == os.path.realpath(pattern.parent))


def _exact_rate(rate: Fraction) -> Fraction:
    """`rate` as the frame rate it stands for: 29.97 is NTSC's 30000/1001 (as 23.976, 59.94 are
    24000/1001, 60000/1001), else the nearest fraction over at most 1001 (0 under 1/2002 fps)."""
    for whole in NTSC_WHOLE_RATES:
        ntsc = Fraction(whole * 1000, 1001)
        if abs(rate - ntsc) < Fraction(1, 100):
            return ntsc
    return rate.limit_denominator(1001)


def check_framerate(rate: float | Fraction, option: str = "--framerate") -> Fraction:
    """A sequence's frame rate as an exact fraction (`_exact_rate`), or a UserError naming `option`."""
    if isinstance(rate, (int, float, Fraction)) and not isinstance(rate, bool) and math.isfinite(rate):
        exact = _exact_rate(Fraction(rate))
        if 0 < exact <= MAX_FRAMERATE:
            return exact
    raise UserError(f"{option} {rate}: give frames per second above 0, at most {MAX_FRAMERATE}")


def stem(path: Path) -> str:
    """A name for outputs made from `path`: a pattern's name without its number (`frame_%04d.png`
    -> `frame`; `%04d.png` -> the folder's name)."""
    directive = pattern_directive(path.name)
    if directive is None or path.exists():
        return path.stem
    name = (path.name[:directive.start()] + path.name[directive.end():]).removesuffix(path.suffix)
    name = name.replace("%%", "%").strip("_-. ")
    return name or path.parent.resolve().name or "sequence"
