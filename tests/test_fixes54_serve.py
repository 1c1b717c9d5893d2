"""`serve` as a tester found it in session 54: once the loop had ended and `interrupted` was said,
seconds of the interpreter's teardown followed (4 s on a loaded machine) with every signal ignored,
so a second Ctrl-C or SIGTERM then was swallowed: status 130 after 4.4 s, not at once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from realtime_adain import interrupts
from test_fixes53_serve import serve_command, started
from test_serve import env_with

# `python -m realtime_adain`, saying where the process ended: the `atexit` handlers run, and the
# interpreter's exit (whose teardown follows) reached
WATCHED_ENTRY = ("import atexit, os\n"
                 "atexit.register(os.write, 2, b'exit handlers ran\\n')\n"
                 "from realtime_adain.__main__ import entry\n"
                 "try:\n"
                 "    entry()\n"
                 "finally:\n"
                 "    os.write(2, b'the interpreter exit was reached\\n')\n")


def signals_as_in_a_terminal() -> None:
    """The child's Ctrl-C and Ctrl-\\ as a shell gives them (the test runner may ignore them)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGQUIT, signal.SIG_DFL)


@pytest.mark.slow  # (default run's time, 2026-12-07: a rarer case; `-m slow` runs keep it)
def test_a_stopped_server_ends_without_the_interpreter_teardown(weights_env, data_dir, tmp_path):
    """Ctrl-C, then SIGTERM 0.2 s later (the tester's case): the process ends through `end_now`,
    its exit handlers run, the first signal's line and status, the interpreter's exit (seconds of
    teardown, signals ignored) never reached, the upload folder removed."""
    (tmp_path / "tmp").mkdir()
    command = [sys.executable, "-c", WATCHED_ENTRY, *serve_command(data_dir, "--size", "64")[3:]]
    process = subprocess.Popen(command, env=env_with(weights_env, TMPDIR=str(tmp_path / "tmp")), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, preexec_fn=signals_as_in_a_terminal)
    try:
        started(process)
        process.send_signal(signal.SIGINT)
        time.sleep(0.2)
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        err = process.communicate(timeout=60)[1]
    finally:
        process.kill()
    assert process.returncode == 130, (process.returncode, err)
    assert err.strip().splitlines()[-2:] == ["exit handlers ran", "interrupted"], err
    assert "the interpreter exit was reached" not in err and "Traceback" not in err, err
    assert not list((tmp_path / "tmp").glob("realtime-adain-uploads-*"))


def test_a_signal_after_the_loop_has_taken_one_ends_the_process_at_once():
    """After the loop's end (asyncio's own end, the upload folder's removal, the exit handlers), a
    second signal ends the process there with the first's line and status; it raised the second's
    KeyboardInterrupt ("terminated", 143, through the teardown). A forked child: it ends by os._exit."""
    from realtime_adain.serve.process import later_signals_end_now

    read, write = os.pipe()
    child = os.fork()
    if child == 0:
        try:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)  # (as the command finds it, whatever the runner's)
            with interrupts.sigterm_raises(), later_signals_end_now([signal.SIGINT], write):
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(5)
        finally:
            os._exit(1)
    os.close(write)
    status = os.waitpid(child, 0)[1]
    with os.fdopen(read, "rb") as said:
        assert (os.waitstatus_to_exitcode(status), said.read()) == (130, b"interrupted\n")


def test_before_the_loop_takes_one_a_signal_is_raised_as_before():
    """While the model loads (nothing received yet) a signal is the command's KeyboardInterrupt."""
    from realtime_adain.serve.process import later_signals_end_now

    runners, stderr = signal.signal(signal.SIGTERM, signal.SIG_DFL), os.dup(2)
    try:
        with interrupts.sigterm_raises(), later_signals_end_now([], stderr):
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)
        raise AssertionError("the signal was not raised")
    except interrupts.Terminated as exc:
        assert exc.signum == signal.SIGTERM
    finally:
        signal.signal(signal.SIGTERM, runners)
        os.close(stderr)
