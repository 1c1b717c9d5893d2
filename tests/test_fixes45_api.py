"""Session 45: the Python API's onnxruntime telemetry, padded pixel budgets, the umask read at
import, a caller's own errors in `stylize_frames`, and a second Ctrl-C during the exit's wait."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from realtime_adain.stylizer import frame_batches
from realtime_adain.engines.base import check_frame_shape
from realtime_adain.stylizer import OutOfMemory

REPO = Path(__file__).resolve().parents[1]


def _python(script: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(script)], capture_output=True, text=True,
                          timeout=120, env=dict(os.environ, PYTHONPATH=str(REPO), **env))


@pytest.mark.slow  # (default run's time: a model load in a child process)
def test_the_api_leaves_no_onnxruntime_telemetry_in_home(published_weights, tmp_path):
    """Loading a Stylizer with engine "auto" imports onnxruntime (is the onnx engine available?),
    which wrote $HOME/.cache/Microsoft/DeveloperTools/.onnxruntime/{deviceid,onnxruntime.db}: only
    the CLI turned its telemetry off."""
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "ORT_DISABLE_TELEMETRY" and not k.startswith("XDG_")}
    vgg, decoder = published_weights
    script = f"""
        import realtime_adain as ra
        st = ra.Stylizer.load({str(vgg)!r}, {str(decoder)!r}, device="cpu", engine="auto")
        import onnxruntime  # (the check did import it)
    """
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(script)], capture_output=True, text=True, timeout=120,
                          env=dict(env, HOME=str(home), REALTIME_ADAIN_HOME=str(tmp_path / "ra"), PYTHONPATH=str(REPO)))
    assert done.returncode == 0, done.stderr
    assert list(home.rglob("*")) == [] and "onnxruntime" not in done.stderr


def test_tiny_frames_count_as_the_network_takes_them_padded():
    """Frames are padded to at least 16x16 (multiples of 8) before the network: 20000 frames of 1x1
    under max_pixels=20000 went in one batch of 5 million pixels (191 s and 3.9 GB, where one
    141x141 frame took 0.3 s), and a batch of 2**21 of them passed the one-call limit."""
    frames = (np.zeros((1, 1, 3), np.uint8) for _ in range(100))
    assert [len(batch) for batch in frame_batches(frames, batch=10**6, max_pixels=20000)] == [78, 22]  # 256 a frame
    with pytest.raises(ValueError, match=r"2097152 x 1x1, 536870912 pixels in one call once padded to 16x16, "
                                         r"more than 268435456 \(16384x16384\)"):
        check_frame_shape(2**21, 1, 1)
    assert check_frame_shape(2**20, 1, 1) == (2**20, 1, 1)


def test_the_umask_is_read_without_setting_it():
    """atomic.py (now file_modes.py) read the umask by setting 0 and back, as it was imported: for
    that instant the files another thread made were world-writable."""
    done = _python("""
        import os
        os.umask(0o027)
        calls, umask = [], os.umask
        os.umask = lambda mask: calls.append(mask) or umask(mask)
        from realtime_adain import file_modes
        print(oct(file_modes._UMASK), oct(file_modes.FILE_MODE), oct(file_modes.FOLDER_MODE), calls)
    """)
    assert done.stdout.split() == ["0o27", "0o640", "0o750", "[]"], done.stderr


@pytest.mark.slow_cases("CUDA")
@pytest.mark.parametrize("error", [MemoryError("my buffer"), RuntimeError("CUDA out of memory in my decoder")],
                         ids=["MemoryError", "CUDA"])
def test_the_callers_own_out_of_memory_comes_through_as_itself(stylizer, error):
    """A MemoryError of the caller's frame generator was said as the engine's, the original lost:
    OutOfMemory('frames: out of memory; lower batch, or pass smaller frames')."""
    style = stylizer.style(np.full((16, 16, 3), 90, np.uint8), size=16)

    def frames():
        yield np.zeros((8, 8, 3), np.uint8)
        raise error

    with pytest.raises(type(error)) as caught:
        list(stylizer.stylize_frames(frames(), style))
    assert caught.value is error and not isinstance(caught.value, OutOfMemory)
    with pytest.raises(type(error)) as caught:  # (`Stylizer.stylize_stream` said it as 'batches: out of memory')
        list(stylizer.stylize_stream(frames(), style))
    assert caught.value is error and not isinstance(caught.value, OutOfMemory)


WORKER_SCRIPT = """
    import threading, time
    from realtime_adain.interrupts import finished_before_exit
    entered = threading.Event()

    def work():
        with finished_before_exit("out.mp4"):
            entered.set()
            while True:  # (a video that takes long)
                time.sleep(0.05)

    worker = threading.Thread(target=work)
    worker.start()
    entered.wait(10)
    print("ready", flush=True)
    worker.join()
"""


def test_a_second_ctrl_c_during_the_exits_wait_ends_the_process_at_once(tmp_path):
    """`ra.stylize_video` on a thread the main thread joins: Ctrl-C, then the exit waits for the
    video; a second Ctrl-C said "exiting without finishing" and went on through the interpreter's
    teardown under the thread still inside torch, which aborted ("terminate called without an
    active exception", 134)."""
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
    wait_for(err, "finishing out.mp4 before exiting (Ctrl-C again to exit without it)")
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=30) == 130, err.read_text()
    assert err.read_text().rstrip().endswith("exiting without finishing out.mp4")
