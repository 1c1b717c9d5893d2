"""Session 48: an output named through a link to the descriptor folder (`fds/1` with fds ->
/proc/self/fd) replaced the file the descriptor writes to; the lines said while a file is being
finished printed its name unescaped (a name's escape sequences drove the terminal)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from realtime_adain.errors import UserError
from realtime_adain.interrupts import SignalGuard, Terminated
from realtime_adain.output_paths import writable_target

REPO = Path(__file__).resolve().parents[1]
REFUSED = r"is an open descriptor, not a file: the result would replace"
RED = "\x1b[31mred.mp4"  # an escape sequence in a legal file name


@pytest.fixture
def held_log(tmp_path):
    """(log.txt, its descriptor open for appending, as `>> log.txt` holds it)."""
    log = tmp_path / "log.txt"
    log.write_text("precious line\n")
    with open(log, "a") as held:
        yield log, held.fileno()
    assert log.read_text() == "precious line\n"


@pytest.mark.parametrize("link, folder, name", [
    ("fds", "/proc/self/fd", "fds/{fd}"),
    ("devfd", "/dev/fd", "devfd/{fd}"),
    ("thread", "/proc/thread-self", "thread/fd/{fd}"),
    ("proc", "/proc", "proc/self/fd/{fd}"),
    (None, None, "/proc/thread-self/fd/{fd}"),
    (None, None, "/proc/self/task/{tid}/fd/{fd}"),
])
def test_a_descriptor_named_through_a_folders_link_is_refused(tmp_path, held_log, link, folder, name):
    """The folder's link was not followed: `fds/1` was read as the file the descriptor leads to."""
    _, fd = held_log
    if link:
        os.symlink(folder, tmp_path / link)
    path = Path(name.format(fd=fd, tid=threading.get_native_id()))
    with pytest.raises(UserError, match=REFUSED):
        writable_target(tmp_path / path)


def test_a_link_to_a_descriptor_named_through_a_folders_link_is_refused(tmp_path, held_log):
    _, fd = held_log
    os.symlink("/proc/self/fd", tmp_path / "fds")
    os.symlink(f"fds/{fd}", tmp_path / "out.json")  # (relative: read beside the link)
    with pytest.raises(UserError, match=rf"out.json: leads to .*fds/{fd}, an open descriptor, not a file"):
        writable_target(tmp_path / "out.json")


def test_a_file_in_a_linked_folder_is_still_written(tmp_path):
    (tmp_path / "real").mkdir()
    os.symlink(tmp_path / "real", tmp_path / "linked")
    os.symlink("../real/file.json", tmp_path / "real" / "link.json")
    assert writable_target(tmp_path / "linked" / "out.json") == tmp_path / "linked" / "out.json"
    assert writable_target(tmp_path / "linked" / "link.json") == tmp_path / "real" / "file.json"


@pytest.mark.slow  # (a CLI run each: the refusal comes before the work, not before the imports)
def test_two_commands_refuse_a_descriptor_through_a_folders_link(tmp_path, held_log, weights_env, run_cli, data_dir):
    """The report's `bench model --json fds/1 >> log.txt` (exit 0, log.txt replaced by the results),
    and an image written to a link into that folder."""
    _, fd = held_log
    os.symlink("/proc/self/fd", tmp_path / "fds")
    code, out, err = run_cli("bench", "model", "--engine", "eager", "-r", "16x16", "--iters", "1", "--warmup", "0",
                             "--json", tmp_path / "fds" / str(fd))
    assert (code, out) == (2, ""), err
    assert f"fds/{fd}: {REFUSED.replace(chr(92), '')}" in err
    os.symlink(tmp_path / "fds" / str(fd), tmp_path / "out.jpg")
    code, out, err = run_cli("image", data_dir / "content" / "lenna.jpg", "--style",
                             data_dir / "style" / "mondrian.jpg", "-o", tmp_path / "out.jpg", "--size", "32")
    assert (code, out) == (2, ""), err
    assert f"out.jpg: leads to {tmp_path / 'fds' / str(fd)}, an open descriptor, not a file" in err


def test_the_lines_said_while_a_file_is_finished_are_escaped(tmp_path, capsys):
    """"finishing NAME, please wait" and "finished NAME; stopping there" printed the name's raw
    ESC bytes, though the "kept in" line after them was escaped."""
    name = str(tmp_path / RED)
    with pytest.raises(Terminated):
        with SignalGuard(name, hold=True):
            signal.raise_signal(signal.SIGTERM)
    err = capsys.readouterr().err
    assert "\x1b" not in err
    escaped = name.replace("\x1b", "\\x1b")
    assert err == f"finishing {escaped}, please wait\nfinished {escaped}; stopping there\n"


WORKER_SCRIPT = f"""
    import threading, time
    from realtime_adain.interrupts import finished_before_exit
    entered = threading.Event()

    def work():
        with finished_before_exit({RED!r}):
            entered.set()
            while True:  # (a video that takes long)
                time.sleep(0.05)

    worker = threading.Thread(target=work)
    worker.start()
    entered.wait(10)
    print("ready", flush=True)
    worker.join()
"""


def test_the_lines_said_while_the_exit_waits_are_escaped(tmp_path):
    """The API's "finishing NAME before exiting" and "exiting without finishing NAME" (a video
    on a thread the main thread joins, two Ctrl-C's)."""
    out, err = tmp_path / "out.txt", tmp_path / "err.txt"
    with open(out, "w") as stdout, open(err, "w") as stderr:
        process = subprocess.Popen([sys.executable, "-c", textwrap.dedent(WORKER_SCRIPT)], stdout=stdout,
                                   stderr=stderr, env=dict(os.environ, PYTHONPATH=str(REPO)))

    def wait_for(path: Path, text: str) -> None:
        deadline = time.monotonic() + 30
        while text not in path.read_text() and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert text in path.read_text(), err.read_text()

    wait_for(out, "ready")
    process.send_signal(signal.SIGINT)
    wait_for(err, "before exiting (Ctrl-C again to exit without it)")
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=30) == 130, err.read_text()
    said = err.read_text()
    assert "\x1b" not in said
    assert said.splitlines()[-2:] == ["finishing \\x1b[31mred.mp4 before exiting (Ctrl-C again to exit without it)",
                                      "exiting without finishing \\x1b[31mred.mp4"]  # (after the first's traceback)
