"""Session 51: what `live` says, or leaves, when nothing seems to happen. A signal while the model
loaded left an empty --log file; `l` said nothing until its rescan ended; a key that changes
nothing (`n` with one style, `+` at alpha 1) was silent."""

from __future__ import annotations

import signal
import threading
import time

import pytest

from live_support import cli_env, copy_styles, live_command, start, write_video
from realtime_adain.live.controller import Controller, Effect
from realtime_adain.live.effects import KeyEffects
from realtime_adain.live.events import EventLog
from realtime_adain.live.styles import StyleLibrary
from realtime_adain.notes import STDERR_LOCK
from test_live_hostile_libraries import tiny_png

SIZE = 64


# ---- the --log file of a session that never started ---------------------------------------------

def test_a_log_made_and_never_written_is_removed(tmp_path):
    log = EventLog(tmp_path / "live.log")
    log.close()
    assert not (tmp_path / "live.log").exists()


def test_a_log_that_was_there_or_was_written_is_kept(tmp_path):
    """An existing --log file (appended to: perhaps empty on purpose) stays as it was; one written stays."""
    (tmp_path / "there.log").write_text("")
    for name, line in (("there.log", None), ("written.log", "quit")):
        log = EventLog(tmp_path / name)
        if line:
            log(line)
        log.close()
        log.close()  # (twice, as a lost display's exit and the session's end both close it)
    assert (tmp_path / "there.log").read_text() == "" and (tmp_path / "written.log").read_text() == "live: quit\n"


@pytest.mark.slow
def test_a_signal_while_the_model_loads_leaves_no_empty_log(data_dir, published_weights, tmp_path):
    """`live ... --log x.log`, Ctrl-C while the model loaded: `interrupted`, status 130, and an
    empty x.log left behind, as if a session had run and logged nothing."""
    styles = copy_styles(data_dir, tmp_path / "styles", names=("trial.jpg",))
    clip, log, stderr = write_video(tmp_path / "clip.mp4"), tmp_path / "logs" / "x.log", tmp_path / "stderr.txt"
    process = start(live_command("--source", clip, "--styles", styles, "--no-window", "-o", tmp_path / "out.mp4",
                                 "--log", log, "--size", "32", "--style-size", "64", "--style-cache", tmp_path / "cache"),
                    cli_env(published_weights, tmp_path / "home"), tmp_path, stderr)
    try:
        deadline = time.monotonic() + 60
        while not log.exists():  # opened as the session is made: the source, the model and styles load next
            assert process.poll() is None and time.monotonic() < deadline, stderr.read_text()
            time.sleep(0.005)
        process.send_signal(signal.SIGINT)
        code = process.wait(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert (code, stderr.read_text()) == (130, "interrupted\n")
    assert not log.exists()


# ---- `l`: said at once -----------------------------------------------------------------------------

def test_rescan_is_said_at_once_and_a_second_press_only_as_busy(stylizer, tmp_path, one_thread):
    """`l` said nothing until its rescan ended (seconds, for many or large styles)."""
    folder = tmp_path / "styles"
    folder.mkdir()
    tiny_png(folder / "a.png", seed=1)
    events: list[str] = []
    log = lambda event, **fields: events.append(event)  # noqa: E731
    library = StyleLibrary([folder], stylizer, SIZE, tmp_path / "cache", log).load()
    tiny_png(folder / "b.png", seed=2)  # new: the rescan decodes it, which takes STDERR_LOCK
    controller = Controller(library.names, style_files=library.files)
    effects = KeyEffects(log, threading.Event(), controller, library, tmp_path, tmp_path, (48, 32), 24.0)
    with STDERR_LOCK:  # the rescan waits here, in its decode of b.png: still running on the second `l`
        effects.perform([Effect("rescan")], None)
        said_at_once = list(events)
        effects.perform([Effect("rescan")], None)
        said_then = list(events)
    effects.join(30)
    assert said_at_once == ["rescan-start"] and said_then == ["rescan-start", "rescan-busy"], events
    assert events == ["rescan-start", "rescan-busy", "rescan"] and library.names == ["a", "b"]


# ---- keys that change nothing say why ----------------------------------------------------------

def unchanged(action: str, reason: str) -> list[Effect]:
    return [Effect("unchanged", {"action": action, "reason": reason})]


@pytest.mark.parametrize("key, action", [("n", "next"), ("p", "previous"), ("m", "mix"), ("2", "select")])
def test_style_keys_with_one_style_say_so(key, action):
    controller = Controller(["only"])
    assert controller.press(ord(key)) == unchanged(action, "only one style")
    assert controller.state.style == 0 and controller.state.mix == 0.0


def test_digits_past_the_styles_or_on_the_one_shown_say_so():
    controller = Controller(["a", "b", "c"])
    assert controller.press(ord("9")) == unchanged("select", "only 3 styles")
    assert controller.press(ord("1")) == unchanged("select", "style 1 is already shown")
    assert controller.state.style == 0


def test_alpha_at_its_bounds_says_so():
    controller = Controller(["a", "b"], alpha=1.0)
    assert controller.press(ord("+")) == unchanged("alpha_up", "alpha is already 1, its maximum")
    controller = Controller(["a", "b"], alpha=0.0)
    assert controller.press(ord("-")) == unchanged("alpha_down", "alpha is already 0, its minimum")
    assert controller.state.alpha == 0.0


def test_each_press_that_changes_nothing_is_one_log_line(tmp_path):
    """Through KeyEffects into the log, as the window's key loop does it: one line a press."""
    log = EventLog(tmp_path / "live.log")
    controller = Controller(["only"], alpha=1.0)
    effects = KeyEffects(log, threading.Event(), controller, None, tmp_path, tmp_path, (48, 32), 24.0)
    for key in "nn+":
        effects.perform(controller.press(ord(key)), None)
    log.close()
    assert (tmp_path / "live.log").read_text().splitlines() == [
        'live: unchanged action=next reason="only one style"',
        'live: unchanged action=next reason="only one style"',
        'live: unchanged action=alpha_up reason="alpha is already 1, its maximum"',
    ]
