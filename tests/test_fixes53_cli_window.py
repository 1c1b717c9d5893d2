"""Session 53's fixes: a long value attached to its option (`--engine=VALUE`, `-rVALUE`) is quoted
short as the same value given apart is, and a window made huge from outside is fitted back to the
picture's aspect, not the window's (16000x100 became a 1280x8 sliver)."""

from __future__ import annotations

import os
import subprocess
import time

import pytest

from realtime_adain.live.window import fitted_back
from test_fixes52_live_window import geometry, window_loop, x_server  # noqa: F401 (x_server: a fixture)
from test_live_window import TITLE

LONG = "x" * 5000
SHORT = f"'{'x' * 80}...' (5000 characters)"
VIDEO = ["video", "a.mp4", "-s", "s.jpg", "-o", "o.mp4"]


@pytest.mark.parametrize("args, said", [
    (["live", "--styles", "a.jpg", f"--stabilize={LONG}"], f"invalid choice: {SHORT}"),
    ([*VIDEO, f"--engine={LONG}"], f"invalid choice: {SHORT}"),
    ([*VIDEO, f"--eng={LONG}"], f"invalid choice: {SHORT}"),
    (["export", f"--help={LONG}"], f"ignored explicit argument {SHORT}"),
    (["export", f"-h{LONG}"], f"ignored explicit argument {SHORT}"),
    (["export", f"-h={LONG}"], f"ignored explicit argument {SHORT}"),
], ids=["choice", "engine", "abbreviated", "flag", "short", "short="])
def test_a_long_value_attached_to_its_option_is_quoted_short(run_cli, weights_env, tmp_path, monkeypatch, args,
                                                              said):
    monkeypatch.chdir(tmp_path)
    code, out, err = run_cli(*args)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and said in err and len(err) < 400, err[:300]


def test_a_newline_value_attached_to_its_option_reads_as_the_same_value_given_apart(run_cli, weights_env,
                                                                                      tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for newlines in (60, 5000):
        value = "\n" * newlines
        attached, apart = run_cli(*VIDEO, f"--engine={value}"), run_cli(*VIDEO, "--engine", value)
        assert attached == apart and attached[2].count("\n") == 1 and len(attached[2]) < 400, attached[2][:300]


@pytest.mark.parametrize("window, shown, fitted", [
    ((16000, 100), (640, 360), (178, 100)),  # (the window's aspect: 1280x8, the picture in it 14x8)
    ((5000, 5000), (640, 360), (1280, 720)),  # (720x720)
    ((16000, 16000), (1080, 360), (1280, 427)),  # side by side
    ((100, 16000), (640, 360), (100, 56)),
    ((16000, 1), (640, 360), (2, 1)),
])
def test_a_window_made_huge_from_outside_is_fitted_back_to_the_picture_shown_in_it(window, shown, fitted):
    assert fitted_back(window, shown, (1280, 720)) == fitted


@pytest.mark.slow  # (a window under Xvfb, 3-13 s; the test above and test_fixes52_live_window's check the fit-back)
def test_a_window_made_huge_and_thin_from_outside_is_fitted_back_to_the_pictures_aspect(x_server, tmp_path):
    """A 540x360 picture (3:2) in a window made 16000x100 was shown at 150x100, and the window
    became 1280x8 (the window's aspect within the 1280x720 screen): now 150x100, the picture as it
    was shown. Made 5000x5000: the picture's aspect within the screen, 1080x720, not 720x720."""
    display, _ = x_server
    env = os.environ | {"DISPLAY": display}
    process = window_loop(display, tmp_path)
    try:
        window = subprocess.run(["xdotool", "search", "--name", TITLE], env=env, capture_output=True, text=True,
                                timeout=30).stdout.split()[0]
        for asked, fitted in (("16000x100", (150, 100)), ("5000x5000", (1080, 720))):
            subprocess.run(["xdotool", "windowsize", window, *asked.split("x")], env=env, timeout=30, check=True)
            deadline = time.monotonic() + 30
            while (size := geometry(env, window)) != fitted and time.monotonic() < deadline:
                assert process.poll() is None, process.communicate()[1]
                time.sleep(0.1)
            assert size == fitted, (asked, size)
    finally:
        process.kill()
        process.wait(timeout=30)
