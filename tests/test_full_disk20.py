"""A `live` recording onto a disk that fills up, and a full or read-only home for the ONNX engine.

The disk: a real 2 MiB tmpfs (root only, else skipped), as in tests/test_full_disk.py; the
read-only home: a folder the test runs as `nobody` cannot write, as in tests/test_nohome16.py.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from live_support import FAST, cli_env, copy_styles, live_command, read_video, start
from realtime_adain.live.recorder import Recorder
from test_full_disk import FILLER, disk, fill  # noqa: F401


def noise(count: int, size: tuple[int, int] = (160, 120)) -> np.ndarray:
    """Frames that do not compress: a few fill a small disk."""
    return np.random.default_rng(0).integers(0, 256, (count, size[1], size[0], 3), dtype=np.uint8)


def test_a_recording_on_a_disk_that_fills_up_stops_at_once_and_plays(disk):
    """The MP4's index is written last, and FFmpeg's output stays failed after one refused write:
    a recording that filled the disk had no index, did not play, and was thrown away when the
    session ended (`live: output path=""`): the whole recording lost. Now room for the index is
    held ahead, the recording stops while it still fits, and its frames are kept, there and then,
    as NAME.partial.mp4."""
    fill(disk, leave=400_000)
    out, events = disk / "rec.mp4", []
    recorder = Recorder(out, (160, 120), 24.0, log=lambda event, **fields: events.append((event, fields)))
    for i, image in enumerate(noise(200)):
        recorder.submit(image, i / 24)
        time.sleep(0.01)
        if recorder.error:
            break
    deadline = time.monotonic() + 20
    while recorder.error is None and time.monotonic() < deadline:
        time.sleep(0.05)
    # Said and kept before close(): the session, still running, can say where the frames are.
    assert recorder.error == "No space left on device", events
    kept = disk / "rec.partial.mp4"
    assert recorder.outcome == str(kept) and read_video(kept)[0] > 5
    assert ("output-error", {"path": str(out), "reason": recorder.error}) in events
    assert recorder.close() == kept
    assert sorted(p.name for p in disk.iterdir()) == [FILLER, "rec.partial.mp4"]  # no hidden temporary


def test_a_recording_gives_back_the_room_it_held(tmp_path):
    """The room held ahead of the recording (up to a MiB, the file's size unchanged) is given
    back when it is finished: the file takes on the disk what its bytes take."""
    recorder = Recorder(tmp_path / "rec.mp4", (160, 120), 24.0, log=lambda *a, **k: None)
    for i, image in enumerate(noise(24)):
        recorder.submit(image, i / 24)
        time.sleep(0.01)
    path = recorder.close()
    assert path == tmp_path / "rec.mp4" and read_video(path)[0] == 24
    stat = path.stat()
    assert stat.st_blocks * 512 < stat.st_size + 64 * 1024, (stat.st_blocks * 512, stat.st_size)


def waited(condition, what: str, process: subprocess.Popen, stderr: Path, timeout: float = 60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        assert process.poll() is None, f"exited ({process.returncode}) waiting for {what}: {stderr.read_text()}"
        time.sleep(0.05)
    raise AssertionError(f"no {what} within {timeout} s: {stderr.read_text()}")


@pytest.mark.slow
def test_a_live_session_whose_recording_fills_the_disk_goes_on(published_weights, data_dir, disk, tmp_path):
    """`live -o` onto a disk that fills mid-session (with a stream beside it): the failure was said
    but the file was only dealt with when the user quit, and lost then. Now the moment it is said,
    NAME.partial.mp4 is there and plays, and the session goes on (the stream is still fed) until
    the user ends it; the exit status then is 1."""
    fill(disk, leave=90_000)
    out = disk / "rec.mp4"
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.bind(("127.0.0.1", 0))
    styles = copy_styles(data_dir, tmp_path / "styles", names=("trial.jpg",))
    stderr = tmp_path / "stderr.txt"
    command = live_command("--source", data_dir / "videos" / "cutBunny.mp4", "--styles", styles, "--no-window",
                           "-o", out, "--stream", f"udp://127.0.0.1:{receiver.getsockname()[1]}",
                           "--device", "cpu", *FAST, "--stabilize", "off")
    process = start(command, cli_env(published_weights, tmp_path / "home"), tmp_path, stderr)
    try:
        waited(lambda: "live: output-failed" in stderr.read_text(), "output-failed line", process, stderr)
        kept = disk / "rec.partial.mp4"
        assert kept.exists() and read_video(kept)[0] > 0
        shown = stderr.read_text().count("\n")
        time.sleep(1.0)
        assert process.poll() is None, stderr.read_text()  # still stylizing for the stream
        process.send_signal(signal.SIGINT)
        code = process.wait(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
        receiver.close()
    text = stderr.read_text()
    assert code == 1 and "Traceback" not in text and shown > 0, text
    assert f'live: output-failed path={out} reason="No space left on device"' in text
    assert f"live: output path={kept} " in text
    assert sorted(p.name for p in disk.iterdir()) == [FILLER, "rec.partial.mp4"]


# ---- the engine cache in a read-only or full home ----------------------------------------------

INSTALLED = ("import sys; from pathlib import Path; import realtime_adain.engines.cache as c; "
             "c.CHECKOUT_ENGINES = Path('/nonexistent'); ")  # an installed package: engines go under $HOME
BUILD_ONE = INSTALLED + (
    "cache = c.EngineCache.for_run(fallback=True); "
    "path, built = cache.get_or_build({'kind': 'onnx'}, '.onnx', lambda p: p.write_bytes(b'graph' * 40_000), "
    "lambda p: p); print(path, built, path.read_bytes() == b'graph' * 40_000)")
FALLBACK_NOTE = "this run builds its engine in a temporary folder"


@pytest.fixture
def home_env(published_weights, tmp_path):
    """No $REALTIME_ADAIN_HOME: the engine cache is the per-user one under $HOME; a $TMPDIR of
    its own (anyone may write there) to see that the temporary folder is gone at exit."""
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    scratch.chmod(0o1777)
    env = {k: v for k, v in cli_env(published_weights, tmp_path / "unused").items()
           if k not in ("REALTIME_ADAIN_HOME", "REALTIME_ADAIN_ENGINES", "XDG_CACHE_HOME", "XDG_DATA_HOME")}
    return {**env, "TMPDIR": str(scratch)}


def read_only_home(tmp_path: Path) -> tuple[Path, tuple[str, ...]]:
    """A home folder the run may read but not write: root's, with the run as a user that is not root."""
    from test_environment16 import as_user_without_home

    prefix = as_user_without_home()  # (skips unless root with setpriv)
    home = tmp_path / "home"
    home.mkdir(mode=0o755)
    return home, prefix


@pytest.mark.slow  # (default run's time: 3 s)
def test_a_read_only_home_builds_the_engine_in_a_temporary_folder(home_env, tmp_path):
    """$HOME read-only, $REALTIME_ADAIN_HOME unset: `--engine onnx` stopped with "the engine
    cache is not writable", while the style cache went on without its cache. The engine is a
    speed-up of the run: it is built in a temporary folder (one note), removed at exit."""
    home, prefix = read_only_home(tmp_path)
    done = subprocess.run([*prefix, sys.executable, "-c", BUILD_ONE], env={**home_env, "HOME": str(home)},
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    path, built, same = done.stdout.split()
    assert path.startswith(home_env["TMPDIR"]) and built == "True" and same == "True"
    note, = done.stderr.splitlines()
    assert note.startswith(f"note: {home}/.cache/realtime-adain/engines: the engine cache is not writable ") and \
        note.endswith(FALLBACK_NOTE), note
    assert os.listdir(home) == [] and os.listdir(home_env["TMPDIR"]) == []


@pytest.mark.slow  # (4-8 s; the read-only home's case runs by default)
def test_a_full_home_builds_the_engine_in_a_temporary_folder(home_env, disk):
    """$HOME on a full disk: the build's write failed ("No space left on device") and ended the
    run; now the same note, and the engine is built in a temporary folder."""
    home = disk / "home"
    home.mkdir()
    fill(disk)
    done = subprocess.run([sys.executable, "-c", BUILD_ONE], env={**home_env, "HOME": str(home)},
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    path, built, same = done.stdout.split()
    assert path.startswith(home_env["TMPDIR"]) and built == "True" and same == "True"
    note, = done.stderr.splitlines()
    assert "No space left on device" in note and note.endswith(FALLBACK_NOTE), note
    assert os.listdir(home_env["TMPDIR"]) == []
    assert not [p for p in home.rglob("*") if p.is_file()]  # no half-written engine in the cache


@pytest.mark.slow  # (default run's time: 3 s)
def test_a_home_named_by_the_variable_is_never_swapped(home_env, tmp_path):
    """$REALTIME_ADAIN_HOME set to a read-only folder: the rule stays (used or refused, never
    replaced by a temporary one): the error (the CLI's one `error:` line) names the engine cache
    folder, and nothing is built anywhere."""
    home, prefix = read_only_home(tmp_path)
    code = BUILD_ONE.replace("print(", "print('built', ") + " if False else None"
    code = INSTALLED + (
        "from realtime_adain.errors import UserError\n"
        "try:\n"
        "    c.EngineCache.for_run(fallback=True).get_or_build({'kind': 'onnx'}, '.onnx', "
        "lambda p: p.write_bytes(b'graph'), lambda p: p)\n"
        "except UserError as exc:\n"
        "    print(exc)")
    env = {**home_env, "HOME": str(home), "REALTIME_ADAIN_HOME": str(home)}
    done = subprocess.run([*prefix, sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stderr == "", done.stderr
    assert done.stdout == f"{home}/engines: the engine cache is not writable (Permission denied)\n"
    assert os.listdir(home) == [] and os.listdir(home_env["TMPDIR"]) == []


@pytest.mark.slow  # an ONNX export checked against onnxruntime: about 15 s on a busy CPU
def test_an_onnx_run_with_a_read_only_home(home_env, tmp_path, data_dir):
    """End to end, as an installed package: `image --engine onnx` with $HOME read-only exports
    into a temporary folder (one note), writes its picture, and leaves nothing in $TMPDIR."""
    home, prefix = read_only_home(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    out.chmod(0o777)
    main = INSTALLED + "from realtime_adain.cli import main; sys.exit(main(sys.argv[1:]))"
    done = subprocess.run([*prefix, sys.executable, "-c", main, "image", str(data_dir / "content" / "lenna.jpg"), "-s",
                           str(data_dir / "style" / "mondrian.jpg"), "--size", "32", "--engine", "onnx", "--device",
                           "cpu", "-o", str(out / "r.png")], env={**home_env, "HOME": str(home)},
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert (out / "r.png").is_file() and done.stderr.count(FALLBACK_NOTE) == 1, done.stderr
    assert not [name for name in os.listdir(home_env["TMPDIR"]) if name.startswith("realtime-adain-")]


@pytest.mark.slow  # the same export
def test_an_onnx_export_to_a_named_file_needs_no_home(home_env, tmp_path):
    """`export --format onnx -o FILE` writes FILE only: with $HOME read-only it works, and
    nothing is written under $HOME."""
    home, prefix = read_only_home(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    out.chmod(0o777)
    done = subprocess.run([*prefix, sys.executable, "-m", "realtime_adain", "export", "--format", "onnx",
                           "-o", str(out / "adain.onnx")], env={**home_env, "HOME": str(home)},
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and done.stderr == "", done.stderr
    assert os.listdir(out) == ["adain.onnx"] and os.listdir(home) == []
