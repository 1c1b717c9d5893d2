"""Ctrl-C and SIGTERM against real `realtime-adain` processes: at start-up, while encoding, while finishing.

Every case: one line on stderr (no traceback), the documented exit status (130 SIGINT, 143 SIGTERM, 129 SIGHUP),
a playable NAME.partial.mp4 where frames were finished, and no hidden temporary file left behind.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import av
import pytest

from live_support import cli_env
from video_samples import wait_until_encoding
from realtime_adain import stale_temporaries
from realtime_adain.stale_temporaries import process_tag

SIZE = ("--size", "32", "--style-size", "64", "--threads", "1")


def spawn(args: list[str | os.PathLike], env: dict[str, str], cwd: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "realtime_adain", *map(str, args)], env=env, cwd=cwd,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for_frames_in_file(process: subprocess.Popen, folder: Path, stem: str) -> None:
    """Until the run is encoding into its hidden temporary file (`video_samples.wait_until_encoding`)."""
    if not wait_until_encoding(process, folder, stem):
        pytest.fail(f"the run ended, or never started encoding: {process.communicate()[1]}")


def decoded_frames(path: Path) -> int:
    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(video=0))


@pytest.fixture
def env(published_weights, tmp_path):
    return cli_env(published_weights, tmp_path / "home")


@pytest.fixture
def video_args(data_dir, tmp_path):
    return ["video", data_dir / "videos" / "cutBunny.mp4", "-s", data_dir / "style" / "brushstrokes.jpg",
            *SIZE, "-o", tmp_path / "out" / "bunny.mp4"]


@pytest.mark.parametrize("signals, code, said", [
    ((signal.SIGTERM,), 143, "terminated"),
    # the terminal closed, an SSH connection dropped (slow: test_changing_inputs.py's closed
    # terminal sends SIGHUP in the default run)
    pytest.param((signal.SIGHUP,), 129, "terminated", marks=pytest.mark.slow),
    # the later ones while finishing (slow: test_video_cli.py's Ctrl-C test presses it three times
    # in the default run)
    pytest.param((signal.SIGINT, signal.SIGINT, signal.SIGINT), 130, "interrupted", marks=pytest.mark.slow),
])
def test_signals_while_encoding_keep_a_playable_partial(env, video_args, tmp_path, signals, code, said):
    if signal.getsignal(signal.SIGHUP) == signal.SIG_IGN and signal.SIGHUP in signals:
        pytest.skip("run under nohup: the command inherits an ignored SIGHUP, as it should")
    out = tmp_path / "out"
    out.mkdir()
    process = spawn(video_args, env, tmp_path)
    wait_for_frames_in_file(process, out, "bunny")
    for sig in signals:
        if process.poll() is None:
            process.send_signal(sig)
            time.sleep(0.02)
    _, err = process.communicate(timeout=60)
    assert process.returncode == code, err
    last = err.strip().splitlines()[-1]  # (one line: the signal's word and what was kept)
    assert "Traceback" not in err and last.startswith(f"{said}: ") and last.endswith("bunny.partial.mp4"), err
    assert sorted(p.name for p in out.iterdir()) == ["bunny.partial.mp4"], err
    assert 0 < decoded_frames(out / "bunny.partial.mp4") < 240


def wait_until_importing_torch(process: subprocess.Popen) -> None:
    """Until torch's shared library is being loaded: the seconds-long import at every start."""
    maps = Path(f"/proc/{process.pid}/maps")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if "libtorch" in maps.read_text():
                return
        except OSError:
            pass
        time.sleep(0.005)
    pytest.fail("torch was never loaded")


@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="needs /proc to see torch being imported")
@pytest.mark.parametrize("command", ["video", "export", "live"])
@pytest.mark.parametrize("sig, code, said", [  # (4-6 s each: SIGINT at start-up runs by default in test_interrupts21)
    pytest.param(signal.SIGINT, 130, "interrupted", marks=pytest.mark.slow), (signal.SIGTERM, 143, "terminated")])
@pytest.mark.slow_cases('15-143-terminated-live', '15-143-terminated-export')  # (default run's time: 4 s)
def test_signal_at_start_up_is_one_line(env, video_args, tmp_path, command, sig, code, said):
    args = {
        "video": video_args,
        "export": ["export", "--format", "onnx", "-o", tmp_path / "out" / "a.onnx"],
        "live": ["live", "--source", video_args[1], "-s", video_args[3], "--no-window", "-o", tmp_path / "out" / "l.mp4"],
    }[command]
    process = spawn(args, env, tmp_path)
    wait_until_importing_torch(process)
    process.send_signal(sig)
    _, err = process.communicate(timeout=60)
    assert (process.returncode, err) == (code, f"{said}\n")
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())


@pytest.mark.slow  # (default run's time: 3 s)
def test_signal_while_loading_weights_is_one_line(env, video_args, tmp_path):
    """A little later: the command runs (weights, styles, encoder checks); still one line, nothing written."""
    process = spawn(video_args, env, tmp_path)
    wait_until_importing_torch(process)
    time.sleep(1.0)
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 143 and "Traceback" not in err, err
    assert err.strip().splitlines()[-1] == "terminated"
    assert not list((tmp_path / "out").glob(".*"))  # no temporary file (the folder may not exist)


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_stale_temporaries_are_removed_on_the_next_run(run_cli, weights_env, data_dir, tmp_path):
    old = time.time() - 2 * stale_temporaries.STALE_UNKNOWN_AFTER_S
    gone, alive = dead_pid(), os.getpid()
    names = {
        f".bunny.realtime-adain-{process_tag(gone)}-abcd_123.part.mp4": True,  # its process is gone: stale
        f".album.{gone}-abcd_123.part.mp4": False,  # the older naming, without our mark: a user's may look so
        ".photo.k2j4h5g6.part.png": False,  # the older naming (no id): a user's own file may look so
        ".holiday.20231231.part.jpg": False,  # ... as this one did, deleted by an hour-old sweep
        f".bunny.realtime-adain-{process_tag(alive)}-zzzz9999.part.mp4": False,  # its process runs (a concurrent run)
        ".notes.txt": False,  # not ours
        f"bunny.realtime-adain-{process_tag(gone)}-abcd_123.part.mp4": False,  # not hidden: not ours
    }
    for name in names:
        (tmp_path / name).write_bytes(b"x")
        os.utime(tmp_path / name, (old, old))
    fresh = tmp_path / f".clip.realtime-adain-{process_tag(gone)}-freshfre.part.mp4"  # gone but just written
    fresh.write_bytes(b"x")
    code, _, err = run_cli("image", data_dir / "content" / "cornell.jpg", "-s", data_dir / "style" / "trial.jpg",
                           "--size", "32", "--style-size", "32", "-o", tmp_path / "result.png")
    assert code == 0, err
    left = {p.name for p in tmp_path.iterdir()}
    assert left == {"result.png", fresh.name} | {name for name, stale in names.items() if not stale}


@pytest.mark.parametrize("name", [".x.part", ".x.realtime-adain--1-abcdefgh.part.mp4",
                                  ".x.realtime-adain-999999999-abcdefg.part.mp4",
                                  ".x.realtime-adain-999999999-ABCDEFGH.part.mp4",
                                  ".x.realtime-adain-99999999999999999999999-abcdefgh.part.mp4",
                                  ".x.realtime-adain-0-abcdefgh.part.mp4", ".x.1999-holidays.part.mp4"])
def test_names_that_are_not_our_temporaries_are_left_alone(tmp_path, name):
    """Near misses of `.NAME.realtime-adain-PID-XXXXXXXX.partEXT` (hostile or unlucky names) are never removed."""
    path = tmp_path / name
    path.write_bytes(b"x")
    (tmp_path / ".y.realtime-adain-999999999-abcdefgh.part.mp4").mkdir()  # a folder, and a link, named as ours are not ours
    (tmp_path / ".z.realtime-adain-999999999-abcdefgh.part.mp4").symlink_to(path)
    old = time.time() - 2 * stale_temporaries.STALE_UNKNOWN_AFTER_S
    os.utime(path, (old, old))
    for other in tmp_path.iterdir():
        os.utime(other, (old, old), follow_symlinks=False)
    removed = stale_temporaries.remove_stale_temporaries(tmp_path)
    assert removed == [] and path.exists() and len(list(tmp_path.iterdir())) == 3


LATE_SIGNAL = """
import os, signal, sys, threading, time
from realtime_adain import cli

def late():  # a worker thread still running when the command returns, joined at shutdown
    time.sleep(0.3)
    os.kill(os.getpid(), signal.SIGINT)
    time.sleep(0.3)

def finished_command(argv=None):
    threading.Thread(target=late).start()
    return 0

cli.main = finished_command
cli.entry()
"""


def test_a_signal_while_the_interpreter_shuts_down_changes_nothing():
    """Ctrl-C just as a finished command exits (threads being joined): exit 0, nothing printed,
    instead of CPython's 'Exception ignored ... KeyboardInterrupt' traceback or death by SIGINT."""
    done = subprocess.run([sys.executable, "-c", LATE_SIGNAL], capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stderr) == (0, ""), done.stderr


def test_torch_is_imported_with_signals_held(monkeypatch):
    """A signal during torch's import (C++ initialisers that abort the process if a handler raises
    inside them) is held and acted on once the import is done: here, an import that receives
    SIGTERM ends in `Terminated` after it has finished, not inside it."""
    from realtime_adain import interrupts, library_signals

    finished = []

    def slow_import(name, *args, **kwargs):
        if name == "torch":
            os.kill(os.getpid(), signal.SIGTERM)  # delivered while "importing"
            time.sleep(0.05)
            finished.append(name)
            return sys.modules.get("torch")
        return real_import(name, *args, **kwargs)

    import builtins

    real_import = builtins.__import__
    monkeypatch.delitem(sys.modules, "torch", raising=False)
    monkeypatch.setattr(builtins, "__import__", slow_import)
    with interrupts.sigterm_raises():
        with pytest.raises(interrupts.Terminated):
            library_signals.load_torch()
    assert finished == ["torch"]


def test_a_signal_while_a_file_is_finished_says_the_file_was_finished(capsys):
    """SIGTERM after the work, while the output was being finished: the file is whole and kept
    under its name, and the run stops there; "terminated" alone read as if the output were lost."""
    from realtime_adain import interrupts

    with interrupts.sigterm_raises():
        with pytest.raises(interrupts.Terminated):
            with interrupts.SignalGuard("clip_styled.mp4") as guard:
                guard.hold()
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(0.05)  # (delivered here: only said, held)
    assert capsys.readouterr().err.splitlines() == ["finishing clip_styled.mp4, please wait",
                                                    "finished clip_styled.mp4; stopping there"]
