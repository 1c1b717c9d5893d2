"""What the video reader says of the pictures as it reads them: a colour description, display
rotation or pixel shape that changes mid-stream, a rotation that is not a quarter turn, closed
captions and transparency the output leaves out."""

from __future__ import annotations

import dataclasses
from fractions import Fraction

from realtime_adain.notes import note
from realtime_adain.video.hdr import HDR_TRANSFERS
from realtime_adain.video.pictures import Colour
from realtime_adain.video.picture_orientation import Orientation, quarter_turns

CAPTIONS_LEFT_OUT = "closed captions in the video are not kept"


def note_colour_change(name: str, first: Colour, now: Colour) -> None:
    """Say that the colour description changes mid-stream (broadcast SDR joined to HDR, BT.601 to
    BT.709): each picture is read to RGB with its own matrix and range, and the output, tagged as
    the first picture is, holds them right; a change of transfer or primaries (SDR to HDR PQ) is
    not converted: such pictures keep their values, shown as the first's kind (FFmpeg too)."""
    names = ("matrix", "range", "primaries", "transfer")
    changed = [f"{label} {a} to {b}" for label, a, b in zip(names, dataclasses.astuple(first), dataclasses.astuple(now))
               if a != b]
    if {first.color_trc, now.color_trc} & set(HDR_TRANSFERS):
        kept = "HDR pictures are tone-mapped to SDR BT.709 as read, so both kinds show right"
    elif now.color_primaries != first.color_primaries or now.color_trc != first.color_trc:
        kept = "each picture's matrix and range are converted, its primaries and transfer are not (a slight shift)"
    else:
        kept = "every picture is converted with its own, so colours stay right"
    note(f"{name}: the colour description changes mid-stream ({', '.join(changed)}, FFmpeg's numbers); the output "
         f"is tagged as the first picture; {kept}", once=True)


def note_odd_turn(name: str, turn: Orientation) -> None:
    """Say that a display rotation that is not a quarter turn is applied as the nearest quarter turn
    (`picture_orientation.upright`, by the same `quarter_turns`): it was done without a word. The angle is
    read from the matrix where there is one: PyAV's `frame.rotation` is cut to whole degrees (a 30-degree
    matrix said -29; 45.5 said "turned 270" and was left unturned)."""
    angle, turns, mirrored = quarter_turns(turn)
    applied = turns * 90
    if abs((angle - applied + 180) % 360 - 180) >= 1:
        done = f"turned {applied} degrees counter-clockwise" if applied else "left unturned"
        way = "clockwise" if angle < 0 else "counter-clockwise"
        mirror, mirrored_too = (" and mirrored", " and mirrored left to right") if mirrored else ("", "")
        note(f"{name}: the display rotation is {round(abs(angle), 1):g} degrees {way}{mirror}, not a quarter turn; "
             f"the pictures are {done}{mirrored_too} (the nearest quarter turn)", once=True)


def note_turn_change(name: str, first: Orientation, now: Orientation) -> None:
    """Say that the display matrix changes mid-stream (a phone turned while recording, clips joined):
    every frame is turned as the first is, as FFmpeg turns them; turning each its own way made
    frames of another shape, squeezed into the first one's."""
    note(f"{name}: the display rotation changes mid-stream, from {round(first[0]) % 360} to {round(now[0]) % 360} "
         "degrees; every frame is turned as the first one is (one stream keeps one shape)", once=True)


def note_aspect_change(name: str, first: Fraction, now: Fraction) -> None:
    """Say that the stored pixels change shape mid-stream (clips joined into one MPEG-TS): every
    frame keeps the first frame's, as `ffmpeg` keeps it (later frames show stretched, in its output
    as in ours); resampling each to its own shape would still end at the output's size."""
    note(f"{name}: the pixel shape (sample aspect ratio) changes mid-stream, from {first.numerator}:"
         f"{first.denominator} to {now.numerator}:{now.denominator}; every frame keeps the first frame's, "
         "as FFmpeg keeps it", once=True)


def note_captions_left_out(name: str) -> None:
    """Say that the pictures' closed captions are dropped: PyAV cannot give an encoded picture
    side data (`ffmpeg` passes them to libx264, which writes them again); `--json` lists them
    with the streams (`stream_reports.with_captions`)."""
    note(f"{name}: {CAPTIONS_LEFT_OUT}", once=True)


def note_transparency_left_out(name: str, shown_over_white: bool = False) -> None:
    """The network sees RGB (`ffmpeg -i in.webm out.mp4` drops the alpha channel as well);
    `shown_over_white`: the alpha was decoded, and composited (`frame_to_rgb`)."""
    how = ("transparent areas are shown over white, as `realtime-adain image` shows them, and the pictures "
           "stylized" if shown_over_white else "the pictures are stylized")
    note(f"{name}: its transparency (alpha channel) is left out: {how} and written opaque", once=True)
