"""Session 54: a recording whose folder was removed before its first packet says so, with its
frames counted; the log quotes and escapes Unicode's format controls (bidi overrides, invisibles)."""

from __future__ import annotations

import json
import re
import shutil

import numpy as np
import pytest

from realtime_adain.live.events import EventLog
from realtime_adain.live.recorder import Recorder


def test_a_recording_folder_removed_before_the_first_packet_is_said_so_with_its_frames(tmp_path):
    """FFmpeg opens the file at the first packet, seconds in (x264 holds frames back): a folder
    removed before then was said as "No such file or directory", with frames=0 although 30 frames
    were given. Now as when it is removed later: its folder's words, and the frames it was given."""
    folder, events = tmp_path / "rec", []
    folder.mkdir()
    recorder = Recorder(folder / "live.mp4", (64, 48), 10.0, lambda event, **fields: events.append((event, fields)),
                        replaces=False)
    shutil.rmtree(folder)
    frame = np.zeros((48, 64, 3), np.uint8)
    for i in range(30):  # (fewer than the queue holds: none dropped)
        frame[:] = i * 8
        recorder.submit(frame, i / 10)
    assert recorder.close() is None
    said = f"{folder / 'live.mp4'}: cannot write (its folder {folder} was removed or renamed during the run)"
    assert recorder.error == said
    assert events == [("output-error", {"path": str(folder / "live.mp4"), "reason": said})]
    assert (recorder.written, recorder.dropped, recorder.outcome) == (30, 0, "")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", ["04_\u202eevil\u202c_x.png", "a\u200eb\u200f", "\u202a\u202b\u202c\u202d",
                                  "\u2066x\u2067y\u2068z\u2069", "zero\u200bwidth", "\ufeffbom", "tag\U000e0041",
                                  "soft\u00adhyphen"])
def test_format_controls_in_a_value_are_quoted_and_escaped(tmp_path, capsys, name):
    """A style named with U+202E (right-to-left override) showed `live: style ... name=04_` and
    the rest backwards, raw and unquoted, on stderr and in --log; so did the other bidi controls,
    and invisible ones (U+200B, U+FEFF, tags) hid in a name. Now quoted, escaped as JSON."""
    values = quoted_style_names(tmp_path, capsys, name)
    assert len(values) == 2
    for value in values:
        assert value.isascii() and json.loads(value) == name


def test_ordinary_letters_stay_unquoted(tmp_path, capsys):
    log = EventLog()
    log("style", index=1, name="été_東京.png")
    assert capsys.readouterr().err == "live: style index=1 name=été_東京.png\n"


@pytest.mark.parametrize("name", ["a\u00a0b.jpg", "a\u2003b.jpg", "a\u3000b.jpg", "a\tb"])
def test_a_value_with_any_space_is_one_quoted_token(tmp_path, capsys, name):
    """U+00A0, U+2003 and U+3000 are spaces to `str.split`, unquoted: a name holding one read as two
    tokens (an ASCII space is quoted, as these are now)."""
    EventLog()("style", index=1, name=name)
    value = re.fullmatch(r'live: style index=1 name=(".*")', capsys.readouterr().err.rstrip("\n")).group(1)
    assert json.loads(value) == name


def quoted_style_names(tmp_path, capsys, name: str) -> list[str]:
    """The quoted name of a `style` event for `name`, as --log and stderr each show it."""
    log = EventLog(tmp_path / "live.log")
    log("style", index=4, name=name)
    log.close()
    texts = ((tmp_path / "live.log").read_text(encoding="utf-8"), capsys.readouterr().err)
    return [re.fullmatch(r'live: style index=4 name=(".*")', line).group(1) for text in texts for line in text.splitlines()]
