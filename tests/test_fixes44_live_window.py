"""The display going away after `live`'s start-up window check but before the window opened (an
`ssh -X` connection dropping while a large style library loads): Qt aborted the process inside
cv2.namedWindow (exit 134, only Qt's lines, no `error:` line) and left a 0-byte hidden -o file."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import pytest
from live_support import FAST, cli_env, live_command, start
from realtime_adain.commands.live import WINDOW_CHECK_LASTS_S
from realtime_adain.doctor.probes import WINDOW_PROBE


def window_probe_of(parent: int) -> int | None:
    """The process id of `parent`'s window probe (`doctor.probes.WINDOW_PROBE` in a child Python), if one runs."""
    for entry in Path("/proc").iterdir():
        try:
            if (entry.name.isdigit() and int((entry / "stat").read_text().rpartition(")")[2].split()[1]) == parent
                    and WINDOW_PROBE.encode() in (entry / "cmdline").read_bytes()):
                return int(entry.name)
        except (OSError, ValueError, IndexError):  # (gone meanwhile)
            pass
    return None


def wait_until(predicate, what: str, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.005)
    return value


@pytest.mark.slow  # (default run's time: waits out the display check)
def test_the_display_gone_before_the_window_opens_is_one_line_and_no_file(published_weights, data_dir, tmp_path):
    server = subprocess.Popen(["Xvfb", "-displayfd", "1", "-screen", "0", "640x480x24", "-nolisten", "tcp"],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    number = server.stdout.readline().strip()
    log, stderr = tmp_path / "live.log", tmp_path / "stderr.txt"
    env = cli_env(published_weights, tmp_path / "home") | {"DISPLAY": f":{number}"}
    cmd = live_command("--source", data_dir / "videos" / "cutBunny.mp4", "-s", data_dir / "style" / "mondrian.jpg",
                       "-o", tmp_path / "rec.mp4", "--log", log, *FAST)
    process = start(cmd, env, tmp_path, stderr)
    try:
        # Held still from its start-up window check until the display is gone and the check is old:
        # a style library loading for longer than that, without depending on this machine's speed.
        probe = wait_until(lambda: window_probe_of(process.pid) or process.poll() is not None, "the window check")
        assert process.poll() is None, stderr.read_text()
        process.send_signal(signal.SIGSTOP)
        wait_until(lambda: not window_probe_of(process.pid), "the window check to end")
        server.terminate()
        server.wait(timeout=10)
        time.sleep(WINDOW_CHECK_LASTS_S + 0.5)
        process.send_signal(signal.SIGCONT)
        code = process.wait(timeout=120)
    finally:
        for running in (process, server):
            if running.poll() is None:
                running.kill()  # (stopped or not)
    err = stderr.read_text()
    assert probe and code == 2 and err.count("\n") == 1, err
    assert err.startswith(f"error: the window cannot open (OpenCV's Qt cannot reach a display through its 'xcb' "
                          f"platform plugin; DISPLAY=:{number}): check the display, or use --no-window"), err
    assert log.read_text() == f"live: error reason=\"{err[len('error: '):].strip()}\"\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["home", "live.log", "stderr.txt"]  # no rec.mp4, no .part
