"""Stylized frames written as numbered pictures: `video clip.mp4 -o 'out/frame_%04d.png'`.

Compositing and editing tools take frames as lossless numbered pictures. The frames are encoded
into a hidden folder beside where they go and given their names only when the run finishes (as
NAME.partial pictures when it is interrupted), so a failed run leaves nothing and replaces no
picture of an earlier run. Numbering starts at an image-sequence input's first number (a render
from frame 1001 stays 1001), else at 1, as FFmpeg numbers. An image sequence's pictures are
numbered by their timestamps, so each keeps its input picture's number: one that did not decode
leaves a gap, filled with the picture before (as FFmpeg's `-fps_mode cfr` repeats it); a
compositor lining the output up with the render was one frame off after it. A video file's
frames, timed at any rate, are numbered one after another. Pictures hold no timing and no
sound: a note gives the rate to play them at.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from fractions import Fraction
from pathlib import Path
from typing import Iterable, Sequence

import av
import cv2
import numpy as np

from realtime_adain.atomic import temporary_prefix
from realtime_adain.errors import UserError
from realtime_adain.file_modes import FOLDER_MODE
from realtime_adain.imageio import is_writable_image_path
from realtime_adain.made_folders import make_folders
from realtime_adain.notes import note
from realtime_adain.output_paths import (MOST_PARTIAL_NUMBERS, naming, partial_path, refuse_write_protected,
                                         replaced_mode)
from realtime_adain.stale_temporaries import sweep_once
from realtime_adain.video.output_streams import merged_notes
from realtime_adain.video.sequence import numbered, pattern_directive, pattern_mistake, pattern_names


def is_picture_pattern(path: Path) -> bool:
    """Whether output `path` names numbered pictures (`frame_%04d.png`: one printf number, an
    image extension OpenCV writes), not a video file."""
    return pattern_directive(path.name) is not None and is_writable_image_path(path) and not path.exists()


def picture_pattern_mistake(path: Path) -> str | None:
    """Why output `path`, an image's name with a printf number that FFmpeg does not take (`%010d`,
    `%x`, two numbers), names no pictures, as one line; None otherwise. Such a name was refused as
    an "unknown video format '.png'"."""
    if not is_writable_image_path(path) or path.exists():
        return None
    mistake = pattern_mistake(path.name)
    return f"{path}: {mistake}" if mistake else None


class PictureOutput:
    """Both ends of a numbered-picture output, as `atomic.PendingOutput` and `VideoWriter` are to a
    video file: `write_frame`/`write_packet`/`close` as the writer, `publish`/`discard`/`failed` as
    the pending output (the job uses one object for both)."""

    def __init__(self, final: Path, start: int, rate: Fraction | None, time_base: Fraction | None = None,
                 passthrough: Sequence[av.stream.Stream] = ()) -> None:
        """`start`: the first picture's number; with `time_base` (an image sequence's frames' and
        a `rate`), the number of timestamp 0, each frame numbered by its timestamp. `passthrough`:
        the input's carried streams, none of which pictures hold (`_note_left_out`)."""
        self.final, self.start, self.rate = Path(final), start, rate
        self.per_tick = time_base * rate if time_base is not None and rate else None  # pictures per tick
        self.frames_written = 0  # pictures, copies filling a gap included
        self._gaps: list[tuple[int, int]] = []  # (first, last) numbers filled with a copy
        self._last: bytes | None = None  # the latest picture, encoded
        folder = self.final.parent
        plain = self.final.with_name(numbered(self.final.name, start))  # a real name, for the prefix
        _refuse_folders_in_the_way(self.final, start, _folder_numbers(self.final))  # before any work
        try:
            make_folders(folder)
            sweep_once(folder)
            self.path = Path(tempfile.mkdtemp(prefix=temporary_prefix(plain), suffix=".part", dir=folder))
        except FileExistsError:
            raise UserError(f"{self.final}: cannot write here ({folder} is a file, not a folder)") from None
        except OSError as exc:
            raise UserError(f"{self.final}: cannot write here ({exc.strerror or exc})") from None
        os.chmod(self.path, FOLDER_MODE)
        self._note_left_out(passthrough)

    def _note_left_out(self, passthrough: Sequence[av.stream.Stream]) -> None:
        """Name every carried stream left out, as the output opens, alike ones in one note
        (`merged_notes`, as a .gif's): said by packet as they came, a second subtitle track went
        unnamed, and one whose first packet followed --frames' last frame too. Each line is kept by
        stream (`said`, as `VideoWriter.said`): `--json`'s reason is the note's words."""
        self.said = {  # (cover art: the only other pictures)
            stream.index: f"numbered pictures hold no {'cover art' if stream.type == 'video' else stream.type}; "
                          f"leaving out stream #{stream.index}" for stream in passthrough}
        # (merged before the name is put in front: a '#1' in it is no stream)
        for line in merged_notes(list(self.said.values())):
            note(f"{self.final}: {line}")

    def write_frame(self, image: np.ndarray, pts: int | None, duration: int) -> None:
        """The next picture, (H, W, 3) uint8 RGB, encoded by the pattern's extension."""
        if not self.frames_written:
            at = f" the video ran at {float(self.rate):.6g} fps" if self.rate else " play them at the input's rate"
            note(f"{self.final}: numbered pictures keep no timing:{at}", once=True)
        following = self.start + self.frames_written
        number = max(following, self._number(pts))  # (never one number twice)
        ok, encoded = cv2.imencode(self.final.suffix, cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
        if not ok:
            raise UserError(f"{self.final}: cannot encode a picture as '{self.final.suffix}'")
        if number > following:  # the picture before (before the first: this one) in the gap
            for missing in range(following, number):
                (self.path / numbered(self.final.name, missing)).write_bytes(self._last or encoded.tobytes())
            self._gaps.append((following, number - 1))
        self._last = encoded.tobytes()
        (self.path / numbered(self.final.name, number)).write_bytes(self._last)
        self.frames_written = number - self.start + 1

    def _number(self, pts: int | None) -> int:
        """The number of the picture at `pts`: by its time where frames are timed on the input's
        numbering, else the next one."""
        if self.per_tick is None or pts is None:
            return self.start + self.frames_written
        return self.start + round(pts * self.per_tick)

    def write_packet(self, packet: av.Packet) -> None:
        """Sound, subtitles, data and cover art: pictures hold none (named as the output opened)."""

    def close(self, whole: bool = True, within: str | None = None) -> None:
        """Nothing is held back: each picture is whole once written."""

    def publish(self, destination: str | os.PathLike | None = None) -> Path:
        """Give the pictures their names (`destination`'s pattern, e.g. a partial one) and remove the
        hidden folder; returns the pattern. A folder named like one of them fails it before any is
        renamed: the first pictures had replaced an earlier run's when the run failed."""
        pattern = Path(destination) if destination is not None else self.final
        numbers = range(self.start, self.start + self.frames_written)
        try:
            _refuse_folders_in_the_way(pattern, self.start, numbers)
            for number in numbers:
                made = self.path / numbered(self.final.name, number)
                picture = pattern.with_name(numbered(pattern.name, number))
                os.chmod(made, replaced_mode(picture))
                os.replace(made, picture)
            # (with what a failed write left: a cut-short picture on a full disk, a gap's copies)
            shutil.rmtree(self.path)
        except OSError as exc:
            self.discard()
            raise naming(pattern, exc) from None
        except BaseException:
            self.discard()
            raise
        self._note_gaps(pattern)
        _note_earlier_pictures(pattern, self.start + self.frames_written)
        return pattern

    def publish_partial(self) -> Path:
        """Give the pictures the pattern's partial names (`partial_path`: g_0001.partial.png, ...), or
        where any picture of that pattern is in the folder g_0001.partial-1.png, -2, ...: as a
        video's partial result, they replace no file (a second interrupted run overwrote the
        first one's pictures); returns that pattern."""
        for number in range(MOST_PARTIAL_NUMBERS):
            pattern = partial_path(self.final, number)
            if not _folder_numbers(pattern):
                return self.publish(pattern)
        self.discard()
        raise UserError(f"{partial_path(self.final)}: cannot keep the partial result (it and "
                        f"{MOST_PARTIAL_NUMBERS - 1} numbered patterns beside it have pictures)")

    def _note_gaps(self, pattern: Path) -> None:
        """Name the pictures that are copies, in one note: the input's pictures of those numbers
        did not decode (damaged, skipped as FFmpeg skips them)."""
        if not self._gaps:
            return
        names = pattern_names(pattern.name)
        spans = [names.name(first) if first == last else f"{names.name(first)} to {names.name(last)}"
                 for first, last in self._gaps]
        shown = ", ".join(spans[:3]) + (f" and {len(spans) - 3} more" if len(spans) > 3 else "")
        note(f"{pattern}: the input's pictures for {shown} did not decode (damaged); the picture before is repeated "
             "there (at the start: the first one made), so every picture keeps its input picture's number")

    def discard(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)

    def failed(self, exc: BaseException) -> BaseException:
        """`exc` as said about the pictures, not the hidden folder (a full disk names no file)."""
        if isinstance(exc, UserError) and str(self.path) in str(exc):
            return UserError(str(exc).replace(str(self.path), str(self.final)))
        if isinstance(exc, OSError):
            return naming(self.final, exc)
        return exc


def _folder_numbers(pattern: Path) -> list[int]:
    """The numbers of the entries in `pattern`'s folder that it names (pictures or not; none where
    the folder cannot be listed)."""
    names = pattern_names(pattern.name)
    try:
        listed = os.listdir(pattern.parent)
    except OSError:
        return []
    return [number for number in map(names.number, listed) if number is not None]


def _refuse_folders_in_the_way(pattern: Path, start: int, numbers: Iterable[int]) -> None:
    """A UserError where a folder has the name of one of `numbers`' pictures (from `start`): renaming
    a picture onto it fails, and `os.replace` had renamed the pictures before it already."""
    for number in sorted(n for n in numbers if n >= start):
        place = pattern.with_name(numbered(pattern.name, number))
        if place.is_dir() and not place.is_symlink():  # a link is replaced, not written through
            raise UserError(f"{place}: a folder where picture {number} of {pattern} goes; move it away "
                            "(no picture was written)")
        if not place.is_symlink():
            refuse_write_protected(place, place)


def _note_earlier_pictures(pattern: Path, after: int) -> None:
    """Say so where pictures of an earlier, longer run follow the last one written: a player reads
    them on as part of this sequence. They are left (a run of `--frames 10` may be a preview of a
    render already made), and named."""
    names, last = pattern_names(pattern.name), after
    while os.path.lexists(pattern.with_name(names.name(last))):
        last += 1
    if last > after:
        note(f"{pattern}: {last - after} picture(s) of an earlier run follow the last one written "
             f"({names.name(after)} to {names.name(last - 1)}), and are read as part of this sequence; "
             "remove them if they do not belong to it")
