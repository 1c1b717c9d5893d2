"""Session 46's live-window fixes: `s` while paused, fullscreen and view, keypad arrows, rescans."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading

import numpy as np
import pytest
from PIL import Image

from test_live_window import display  # noqa: F401 (a private Xvfb display, as a fixture)
from realtime_adain.live.controller import Controller
from realtime_adain.live.effects import KeyEffects
from realtime_adain.live.inference import Result
from realtime_adain.live.sources import Frame, Latest
from realtime_adain.live.styles import StyleLibrary


def result_in(look: tuple, value: int) -> Result:
    picture = np.full((24, 32, 3), value, np.uint8)
    return Result(Frame(picture, 0.0, 1), picture, picture, look)


def snapshot_after_n_while_paused(folder, key: str = "n", stop: threading.Event | None = None):
    """`key` (`n`) then `s` at once, paused, with a result in the old look on screen: the effects,
    the controller, the results they wait on and the (event, fields) logged."""
    events: list = []
    controller, results = Controller(["a", "b"]), Latest()
    effects = KeyEffects(lambda event, **fields: events.append((event, fields)), stop or threading.Event(), controller,
                         None, folder, folder, (32, 24), 24.0)
    effects.results = results
    controller.press(ord(" "))
    shown = result_in(controller.state.look, 10)
    results.put(shown)
    controller.press(ord(key))
    effects.perform(controller.press(ord("s")), shown)
    return effects, controller, results, events


def test_a_snapshot_right_after_a_key_while_paused_waits_for_the_new_look(tmp_path):
    """Paused, `n` then `s` at once saved the picture still on screen, the old style's: the held
    frame stylized again came later from inference. Now `s` waits for it."""
    effects, controller, results, events = snapshot_after_n_while_paused(tmp_path)
    restylized = threading.Timer(0.2, lambda: results.put(result_in(controller.state.look, 200)))
    restylized.start()
    effects.join(10)
    restylized.join()
    saved, = tmp_path.glob("*-stylized.png")
    assert np.asarray(Image.open(saved)).max() == 200, "the old look was saved"
    assert [event for event, _ in events] == ["snapshot"]


def test_a_snapshot_while_paused_with_no_picture_in_the_new_look_is_skipped_and_said(tmp_path):
    """The session ending before the held frame is stylized again: no snapshot of the old look."""
    effects, controller, results, events = snapshot_after_n_while_paused(tmp_path)
    results.close()
    effects.join(10)
    assert not list(tmp_path.glob("*.png"))
    assert events == [("snapshot-skipped", {"reason": "the session ended before the paused frame was stylized again "
                                                       "in the new look"})]  # (the results closed: the session's end)


# A real window (96x64 frames: shown at 540x360, or made WxH as by the user) taking keys through the
# controller and KeyEffects, as the window loop passes them; prints the window's width after each
# (xdotool: the X window's).
WINDOW_KEYS = r"""
import subprocess, sys, threading, time
import cv2
import numpy as np
from realtime_adain.live.controller import Controller
from realtime_adain.live.effects import KeyEffects
from realtime_adain.live.window import WINDOW, Window
window, controller = Window((64, 96, 3), False), Controller(["a"])
effects = KeyEffects(lambda *args, **fields: None, threading.Event(), controller, None, ".", ".", (96, 64), 24.0)
effects.window = window
def width():
    end = time.monotonic() + 0.2
    while time.monotonic() < end:
        window.key()
    geometry = subprocess.run(["xdotool", "search", "--name", WINDOW, "getwindowgeometry"], capture_output=True,
                              text=True, timeout=10).stdout
    return int(geometry.split()[-1].split("x")[0])
window.show(np.zeros((360, 540, 3), np.uint8))
if len(sys.argv) > 2:
    cv2.resizeWindow(WINDOW, *map(int, sys.argv[2].split("x")))
widths = [width()]
for key in sys.argv[1]:
    effects.perform(controller.press(ord(key)), None)
    widths.append(width())
print(*widths)
window.close()
"""


@pytest.mark.slow  # (default run's time: 4 s)
def test_leaving_fullscreen_fits_the_window_to_a_view_chosen_meanwhile(display, tmp_path):  # noqa: F811
    """`f o o f`: side by side chosen in fullscreen (not fitted there), then fullscreen off, left
    both views squeezed into the single view's window."""
    widths = window_widths(display, tmp_path, "foof")
    assert widths[-1] == 2 * widths[0], widths


@pytest.mark.slow  # (default run's time: 4 s)
def test_side_by_side_keeps_the_window_within_the_screen(display, tmp_path):  # noqa: F811
    """A window made 1080x720 on a 1280x720 screen: `o o` made it 2160 wide, past the screen's edge."""
    widths = window_widths(display, tmp_path, "oo", "1080x720")
    assert widths[0] == 1080 and widths[-1] == 1280, widths


def window_widths(x_display: str, folder, keys: str, *size: str) -> list[int]:
    done = subprocess.run([sys.executable, "-c", WINDOW_KEYS, keys, *size], env=os.environ | {"DISPLAY": x_display},
                          cwd=folder, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return [int(width) for width in done.stdout.split()]


def test_the_keypad_arrows_with_numlock_off_work_as_the_arrows():
    """KP_Left, KP_Up, KP_Right, KP_Down (X11 keysyms, as `cv2.waitKeyEx` reports them under Qt with
    NumLock off) did nothing."""
    controller = Controller(["a", "b", "c"], alpha=0.5)
    assert controller.press(65432)[0].detail["name"] == "b"  # KP_Right
    assert controller.press(65430)[0].detail["name"] == "a"  # KP_Left
    assert controller.press(65431)[0].detail == {"alpha": 0.6}  # KP_Up
    assert controller.press(65433)[0].detail == {"alpha": 0.5}  # KP_Down


def test_a_rescan_keeps_the_selected_file_not_its_display_name(stylizer, data_dir, tmp_path, one_thread):
    """trial.jpg and trial.png are named trial and trial~2, renumbered each scan: a rescan looked
    the selection up by that name, so it jumped to another style, or went silently to another file."""
    folder, style = tmp_path / "styles", data_dir / "style"
    folder.mkdir()
    shutil.copy(style / "brushstrokes.jpg", folder / "a.jpg")
    shutil.copy(style / "mondrian.jpg", folder / "z.jpg")
    library = StyleLibrary([folder], stylizer, 64, tmp_path / "cache").load()
    events: list = []
    controller = Controller(library.names, style_files=library.files)
    effects = KeyEffects(lambda event, **fields: events.append((event, fields)), threading.Event(), controller,
                         library, tmp_path, tmp_path, (32, 24), 24.0)

    def keys(*typed: str) -> list:
        events.clear()
        for key in typed:
            effects.perform(controller.press(ord(key)), None)
            effects.join(60)
        return [(event, fields) for event, fields in events if event in ("rescan", "style")]

    shutil.copy(style / "trial.jpg", folder / "trial.jpg")
    Image.open(style / "asheville.jpg").save(folder / "trial.png")
    assert keys("l") == [("rescan", {"styles": 4, "added": "trial,trial~2"})]  # (was "trial,trial")
    (folder / "trial.jpg").unlink()
    assert keys("3", "l")[1:] == [("rescan", {"styles": 3, "added": ""}),
                                  ("style", {"index": 2, "name": "trial"})]  # trial.png, now "trial" (was z)
    shutil.copy(style / "trial.jpg", folder / "trial.jpg")
    assert keys("l") == [("rescan", {"styles": 4, "added": "trial"}), ("style", {"index": 3, "name": "trial~2"})]
    (folder / "trial.jpg").unlink()
    assert keys("2", "l")[1:] == [("rescan", {"styles": 3, "added": ""}),
                                  ("style", {"index": 2, "name": "trial"})]  # another file: said (was silent)
    assert library[controller.state.style].path == folder / "trial.png"
