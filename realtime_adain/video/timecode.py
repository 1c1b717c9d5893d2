"""SMPTE timecode moved with a cut's start. A camera's timecode (a `tmcd` track, Matroska's
TIMECODE tag) names its first picture; the output carries it as a tag, from which the MP4 and MOV
muxers write a new track. Cut with --start, the output's first picture is a later one, which the
source's timecode then misnamed (as `ffmpeg -ss` leaves it): editors line up several cameras'
clips by it."""

from __future__ import annotations

import math
import re
from fractions import Fraction

from realtime_adain.notes import note
from realtime_adain.video.segment import shown_too_briefly

# (FFmpeg writes one digit of frames at 10 fps or less, `01:00:00:4`, three above 100)
TIMECODE = re.compile(r"^(\d{1,2}):(\d{2}):(\d{2})([:;.,])(\d{1,3})$")
FRAMES_A_DAY = 24 * 3600  # (times the nominal rate): a timecode wraps at midnight


def later_timecode(timecode: str, seconds: Fraction, rate: Fraction | None) -> str | None:
    """`timecode` (HH:MM:SS:FF; `;` before the frames: drop-frame, at 29.97 or 59.94 fps) of the
    picture shown `seconds` after the one it names, at `rate` frames a second, its frames in as
    many digits as given. Unchanged where there is no move; None where it cannot be moved: not
    such a timecode, a frame number the rate has not, no rate."""
    if seconds <= 0:
        return timecode
    match = TIMECODE.match(timecode.strip())
    if not match or not rate:
        return None
    hours, minutes, secs, mark, frame = match.groups()
    fps = round(rate)  # the nominal rate a timecode counts in (30 for 29.97)
    drop = fps // 15 if mark in ";," and fps in (30, 60) else 0  # numbers skipped a minute
    if not fps or int(frame) >= fps:
        return None
    number = ((int(hours) * 60 + int(minutes)) * 60 + int(secs)) * fps + int(frame)
    if drop:  # the frames counted, without the numbers skipped in all minutes but every tenth
        total_minutes = int(hours) * 60 + int(minutes)
        number -= drop * (total_minutes - total_minutes // 10)
    number += pictures_before(seconds, rate)
    if drop:  # back to a number with the skipped ones (FFmpeg's av_timecode_adjust_ntsc_framenum2)
        ten_minutes = fps * 600 - drop * 9
        tens, rest = divmod(number, ten_minutes)
        number += 9 * drop * tens + (drop * ((rest - drop) // (fps * 60 - drop)) if rest > drop else 0)
    number %= FRAMES_A_DAY * fps
    secs_total, frame_now = divmod(number, fps)
    return (f"{secs_total // 3600:02d}:{secs_total // 60 % 60:02d}:{secs_total % 60:02d}"
            f"{mark}{frame_now:0{len(frame)}d}")


def pictures_before(seconds: Fraction, rate: Fraction) -> int:
    """The pictures at `rate` before the one a cut at `seconds` (exactly where it starts, not
    rounded to a tick) begins with: the one shown then, or the next where that one shows too
    briefly after it (`shown_too_briefly`, as `Segment.ends_before` skips it)."""
    shown = math.floor(seconds * rate)
    return shown + 1 if shown_too_briefly((shown + 1) / rate - seconds, 1 / rate) else shown


def cut_tags(tags: dict[str, str], seconds: Fraction, rate: Fraction | None, name: str,
             kept: bool = True) -> dict[str, str]:
    """`tags` with a timecode (`timecode`, Matroska's `TIMECODE`) moved `seconds` on; one that
    cannot be moved is kept as it is, with a note of input `name` where the output keeps it (it
    was kept silently, and named a picture the output does not start with)."""
    cut = {}
    for key, value in tags.items():
        moved = later_timecode(value, seconds, rate) if key.lower() == "timecode" else value
        if moved is None and kept:
            match = TIMECODE.match(value.strip())
            why = ("the video has no frame rate" if not rate else "it is not HH:MM:SS:FF" if not match else
                   f"frame {int(match[5])} is past the {round(rate)} a second of {float(rate):.6g} fps")
            note(f"{name}: its timecode {value!r} cannot be moved to the cut's start ({why}): kept as it is, it "
                 "names the input's first picture, not the output's", once=True)
        cut[key] = value if moved is None else moved
    return cut
