"""Session 53's fixes: a long value attached to its option (`--engine=VALUE`, `-rVALUE`) is quoted
short as the same value given apart is, and a window made huge from outside is fitted back to the
picture's aspect, not the window's (16000x100 became a 1280x8 sliver)."""

from __future__ import annotations

import pytest

from realtime_adain.live.window import fitted_back

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
