"""Session 56's live fixes: a recording begun and ended within one pause kept the frame that was
being stylized when `space` was pressed; keys typed close together merged without docs/live.md
saying so."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from live_support import REPO
from test_live_window import display  # noqa: F401 (the fixture: a private Xvfb)
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


# Five keys typed while the window does not look (as while a picture is composed on a busy CPU),
# then asked for over and over, as a loop reading "all the queued keys" would.
QUEUED_KEYS_PROBE = """
import subprocess, time, cv2, numpy as np
cv2.namedWindow("probe", cv2.WINDOW_NORMAL | cv2.WINDOW_GUI_NORMAL)
cv2.imshow("probe", np.zeros((90, 160, 3), np.uint8))
deadline = time.monotonic() + 30
while time.monotonic() < deadline:
    cv2.waitKeyEx(10)
    window = subprocess.run(["xdotool", "search", "--name", "probe"], capture_output=True, text=True).stdout.split()
    if window:
        break
for _ in range(20):
    cv2.waitKeyEx(5)
subprocess.run(["xdotool", "key", "--window", window[0], "--delay", "1", "a", "b", "c", "d", "e"], check=True)
time.sleep(0.5)
print([key for key in [cv2.waitKeyEx(1) for _ in range(20)] + [cv2.pollKey() for _ in range(20)] if key != -1])
"""


def test_docs_say_that_keys_typed_close_together_may_merge(display):  # noqa: F811
    """20 `n` 12 ms apart switched the style 11 times, `s r` lost the `s`, and docs/live.md's "one
    line a press" implied every press acts. HighGUI keeps only the last key that came between two
    of its looks, and asking again does not give the others (the probe), so no loop can read them:
    the docs say so."""
    probe = subprocess.run([sys.executable, "-c", QUEUED_KEYS_PROBE], env={**os.environ, "DISPLAY": display},
                           capture_output=True, text=True, timeout=60)
    assert probe.returncode == 0, probe.stderr
    assert probe.stdout.split("\n")[-2] == str([ord("e")]), probe.stdout  # the last key alone
    assert ("Keys typed very close together may merge into the last of them: OpenCV's window keeps only the "
            "last key that came while it was not looking, and asking it again does not give the others.") in DOCS
    assert "the log has a line for each press that acted" in DOCS
