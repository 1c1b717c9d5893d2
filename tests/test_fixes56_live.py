"""Session 56's live fixes: a recording begun and ended within one pause kept the frame that was
being stylized when `space` was pressed; keys typed close together merged without docs/live.md
saying so."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from live_support import REPO
from realtime_adain.live.controller import Controller
from realtime_adain.live.effects import KeyEffects
from realtime_adain.live.inference import Result
from realtime_adain.live.sources import Frame
from realtime_adain.settings import LiveSettings

DOCS = " ".join((REPO / "docs" / "live.md").read_text(encoding="utf-8").split())
SIZE = (32, 24)


def stylized_frame(index: int) -> Result:
    """A frame captured now, as inference hands it on (stylized at SIZE)."""
    image = np.full((SIZE[1], SIZE[0], 3), 20 * index, np.uint8)
    return Result(Frame(image, time.monotonic(), index), image, image)


def session_with_keys(tmp_path: Path, events: list):
    """A session as its window loop sees it (no source, no model): its controller, its keys'
    effects and its delivery of shown pictures to the outputs and the `r` recording."""
    from realtime_adain.live.app import LiveSession

    session = LiveSession(LiveSettings(styles=("a",), record_dir=tmp_path))
    session.controller = Controller(["a", "b"])
    session.effects = KeyEffects(lambda event, **fields: events.append((event, fields)), session.stop_event,
                                 session.controller, None, tmp_path, tmp_path, SIZE, 24.0)
    return session


def press(session, *keys: str) -> None:
    for key in keys:
        session.effects.perform(session.controller.press(ord(key)), None)


def record_stops(session, events: list) -> list[dict]:
    session.effects.join(60)
    return [fields for event, fields in events if event == "record-stop"]


def test_a_recording_begun_and_ended_within_one_pause_keeps_nothing(tmp_path):
    """`space r`, 2 s, `r`: the frame being stylized when `space` was pressed came after the pause
    and went into the recording begun after it, which kept it as a 1-frame MP4 (3 tries in 4),
    where docs/live.md says `record-stop ... frames=0 kept=none`."""
    events: list = []
    session = session_with_keys(tmp_path, events)
    assert session._deliver(stylized_frame(1))  # on screen before the pause
    in_flight = stylized_frame(2)  # captured before the pause, still being stylized when it came
    press(session, " ", "r")
    session._deliver(in_flight)  # it arrives now: shown as the paused picture
    press(session, "r", " ")
    stop, = record_stops(session, events)
    assert stop["frames"] == 0 and stop.get("kept") == "none", stop
    assert not list(tmp_path.glob("*.mp4")) and not list(tmp_path.glob(".*part*")), list(tmp_path.iterdir())


def test_a_recording_keeps_the_frames_captured_once_it_began(tmp_path):
    """What the fix leaves out is only what was captured before `r`: a frame captured after it,
    paused or not, is recorded."""
    events: list = []
    session = session_with_keys(tmp_path, events)
    before = stylized_frame(1)
    press(session, "r")
    assert session._deliver(before)  # (shown, and sent to any `-o` output, but not this recording's)
    assert session._deliver(stylized_frame(2))
    press(session, " ")
    press(session, "r")
    stop, = record_stops(session, events)
    assert stop["frames"] == 1 and "kept" not in stop, stop
    assert Path(stop["path"]).is_file()

