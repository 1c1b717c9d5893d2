"""Session 27's hostile user: option values that argparse reads as options, contact-sheet names
and options that meant nothing, and a Ctrl-C while a worker thread writes a video."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from live_support import cli_env, read_video, write_video


def test_a_number_list_starting_with_a_dash_is_told_how_to_be_written(run_cli, data_dir, tmp_path):
    """`--mix -1,2` reads as an option; argparse said only "expected one argument"."""
    code, _, err = run_cli("image", data_dir / "content" / "cornell.jpg", "-s", data_dir / "style" / "trial.jpg",
                           "-s", data_dir / "style" / "mondrian.jpg", "--mix", "-1,2", "-o", tmp_path / "x.png")
    assert code == 2 and "is written" in err and "--mix=-1,2" in err and len(err.strip().splitlines()) == 1


def test_a_forgotten_value_is_not_told_to_be_written_with_an_equals_sign(run_cli):
    code, _, err = run_cli("image", "x.jpg", "-s", "-o", "y.jpg")
    assert code == 2 and "expected one argument" in err and "=" not in err


@pytest.mark.parametrize("option", ["--no-keep-size", "--keep-size"])
def test_a_sheet_refuses_keep_size(run_cli, data_dir, tmp_path, option):
    """Tiles are always at --size: the option was accepted and ignored."""
    code, _, err = run_cli("image", data_dir / "content" / "cornell.jpg", "-s", data_dir / "style" / "trial.jpg",
                           "--sheet", tmp_path / "s.jpg", option)
    assert code != 0 and "cannot be combined with --sheet" in err and not (tmp_path / "s.jpg").exists()


def test_a_sheet_without_an_extension_is_told_to_add_one(run_cli, data_dir, tmp_path):
    """It said "unknown image format ''"."""
    code, _, err = run_cli("image", data_dir / "content" / "cornell.jpg", "-s", data_dir / "style" / "trial.jpg",
                           "--sheet", tmp_path / "sheet")
    assert code != 0 and "sheet.jpg" in err and "''" not in err


WORKER_SCRIPT = """
import glob, os, signal, sys, threading, time
signal.signal(signal.SIGINT, signal.default_int_handler)  # (a background job's is ignored)
import realtime_adain as ra
clip, style, out, flag = sys.argv[1:5]
stylizer = ra.Stylizer.load()

def work():
    ra.stylize_video(clip, out, style=style, size=96, style_size=64, stylizer=stylizer, stabilize="off")
    open(flag, "w").close()

def ctrl_c_once_writing():  # to the main thread: a process's signal may go to any thread that takes it
    while not glob.glob(os.path.join(os.path.dirname(out), ".out*")):
        time.sleep(0.01)
    signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)

worker = threading.Thread(target=work)
worker.start()
threading.Thread(target=ctrl_c_once_writing, daemon=True).start()
try:
    worker.join()
except KeyboardInterrupt:
    print("interrupted while working" if not os.path.exists(flag) else "interrupted after", flush=True)
"""


@pytest.mark.slow  # (7-15 s of timed signals)
def test_a_video_on_a_worker_thread_is_finished_after_a_ctrl_c_in_the_main_threads_join(
        published_weights, data_dir, tmp_path):
    """The docs: a call may run on a thread that outlives the main thread. A Ctrl-C in the main
    thread's `join()` marks the thread finished on Python < 3.13 (CPython gh-90882), the exit no
    longer waited for it, and the interpreter aborted inside torch (134) with the video lost."""
    clip = write_video(tmp_path / "clip.mp4", frames=24, size=(128, 96))
    out, flag = tmp_path / "out.mp4", tmp_path / "done"
    env = cli_env(published_weights, tmp_path / "home")
    process = subprocess.Popen(
        [sys.executable, "-c", WORKER_SCRIPT, clip, data_dir / "style" / "trial.jpg", out, flag],
        env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    stdout, stderr = process.communicate(timeout=240)  # (its Ctrl-C comes from within)
    assert process.returncode == 0, stderr
    assert "interrupted while working" in stdout
    assert read_video(out)[0] == 24


@pytest.mark.slow  # (6 s; test_live_headless receives a UDP stream by default)
def test_udp_streams_are_sent_in_whole_mpegts_packets(capfd):
    """`pkt_size` was given to the muxer, which ignored it (FFmpeg said "Some options were not
    used" on every run) and datagrams ran from 32 to 1472 bytes: a lost one split TS packets."""
    import socket

    import numpy as np

    from realtime_adain.live import streamer as streamer_module

    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
    receiver.bind(("127.0.0.1", 0))
    receiver.settimeout(5)
    try:
        streamer = streamer_module.Streamer(f"udp://127.0.0.1:{receiver.getsockname()[1]}", (64, 48), 25, log=lambda *a, **k: None)
        noise, i, deadline = np.random.default_rng(0), 0, time.monotonic() + 60
        while streamer.written < 25 and time.monotonic() < deadline:  # (at a camera's pace: close drops what is queued)
            streamer.submit(noise.integers(0, 256, (48, 64, 3), dtype=np.uint8), i / 25)
            i += 1
            time.sleep(0.04)
        streamer.close()
        sizes = []
        while True:
            try:
                sizes.append(len(receiver.recv(65536)))
            except socket.timeout:
                break
    finally:
        receiver.close()
    assert sizes and all(size % 188 == 0 and size <= 1316 for size in sizes), sizes  # (were 32 to 1472 bytes)
    assert "not used" not in capfd.readouterr().err


@pytest.mark.parametrize("url, expected", [
    ("udp://127.0.0.1:5000", "udp://127.0.0.1:5000?pkt_size=1316"),
    ("udp://127.0.0.1:5000?ttl=4", "udp://127.0.0.1:5000?ttl=4&pkt_size=1316"),
    ("udp://127.0.0.1:5000?pkt_size=188", "udp://127.0.0.1:5000?pkt_size=188"),
])
def test_a_udp_urls_own_packet_size_is_kept(url, expected):
    from realtime_adain.live.streamer import udp_packets

    assert udp_packets(url) == expected


def test_a_photo_ffmpeg_cannot_decode_is_refused_when_it_opens(tmp_path):
    """A 20000x20000 PNG (FFmpeg: "Picture size is invalid") was a source lost and opened again
    every half second until the first frame's 15 s ran out."""
    from PIL import Image

    from realtime_adain.live.source_opening import open_source

    from realtime_adain.live.sources import SourceError

    path = tmp_path / "huge.png"
    Image.new("1", (20000, 20000)).save(path)
    with pytest.raises(SourceError) as raised:
        open_source(str(path))
    assert str(raised.value) == (f"{path}: a 20000x20000 picture (as its header states): at 8 bytes a pixel, more than "
                                 "the 1 GiB of samples a picture may decode to (134217728 pixels, 16384x8192)")


class _OpensThenStalls:
    """A source that opens and then gives nothing (a server that takes the connection and stalls)."""

    description = label = "stalling"

    def __init__(self) -> None:
        self.opened = 0

    def open(self) -> None:
        self.opened += 1

    def frames(self):
        from realtime_adain.live.sources import SourceLost

        raise SourceLost("stalling: nothing came")
        yield  # (a generator)

    def close(self) -> None:
        pass


def test_the_back_off_grows_while_a_reopened_source_gives_no_frames():
    """Each reopening counted as reconnected and reset the back-off: attempt=1, 0.5 s, for ever."""
    from realtime_adain.live.capture import Capture

    lost = []
    capture = Capture(_OpensThenStalls(), backoff=(0.01, 0.08),
                      log=lambda event, **fields: lost.append(fields["attempt"]) if event == "source-lost" else None)
    capture.start()
    deadline = time.monotonic() + 10
    while len(lost) < 5 and time.monotonic() < deadline:
        time.sleep(0.01)
    capture.stop()
    capture.join(timeout=5)
    assert lost[:5] == [1, 2, 3, 4, 5]


def test_a_line_is_bounded():
    from realtime_adain.errors import MAX_LINE, one_line

    line = one_line("error: " + "x" * 100_000)
    assert len(line) < MAX_LINE + 100 and line.endswith(f"({100_007 - MAX_LINE} more characters)")
    assert one_line("short\nline") == "short\\nline"


@pytest.mark.parametrize("mode, strength, precise", [
    ("flow", 0.7, False), ("flow", 0.7, True), ("flow", 0.0, False), ("stats", 0.7, False), ("off", 0.7, False)])
def test_a_stabilizer_never_returns_the_callers_own_array(mode, strength, precise):
    """Where nothing was blended (the first frame, a cut, strength 0, modes off/stats) the frame
    returned was `stylized` itself: a reused buffer changed frames already returned."""
    import numpy as np

    from realtime_adain.temporal import Stabilizer

    stabilizer = Stabilizer(strength, mode=mode, precise=precise)
    buffer, content, outputs = np.empty((48, 64, 3), np.uint8), np.full((48, 64, 3), 90, np.uint8), []
    for value in (100, 110, 120):
        buffer[:] = value
        outputs.append(stabilizer(content, buffer))
    assert all(out is not buffer and not np.shares_memory(out, buffer) for out in outputs)
    assert int(outputs[0][0, 0, 0]) == 100


@pytest.mark.parametrize("field, value", [("dtype", None), ("engine", 1)])
def test_model_settings_of_the_wrong_kind_are_a_type_error_in_every_call(field, value, tmp_path, data_dir):
    """`stylize_video(model=ModelSettings(dtype=None))` said ValueError where `Stylizer.from_settings`
    said TypeError (the docs: a wrong type is a TypeError)."""
    import realtime_adain as ra

    model = ra.ModelSettings(**{field: value})
    with pytest.raises(TypeError, match=f"{field} must be a str"):
        ra.stylize_video(data_dir / "videos" / "cutBunny.mp4", tmp_path / "out.mp4", style=data_dir / "style" / "trial.jpg",
                         model=model)
    with pytest.raises(TypeError, match=f"{field} must be a str"):
        ra.Stylizer.from_settings(model)


def test_a_damaged_kernel_in_inductors_cache_is_named(tmp_path, monkeypatch):
    """A run killed while inductor wrote a kernel left a 0-byte .so: every later `--engine compile`
    run at that size was a 160-line traceback (inductor wraps the loader's ImportError)."""
    import importlib.util

    from realtime_adain.engines.compiled import damaged_cache

    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path / "cache"))
    kernel = tmp_path / "cache" / "ab" / "cabcdef.main.so"
    kernel.parent.mkdir(parents=True)
    kernel.write_bytes(b"")
    try:
        try:
            spec = importlib.util.spec_from_file_location("cabcdef", kernel)
            importlib.util.module_from_spec(spec)
        except ImportError as loading:
            raise RuntimeError("backend='inductor' raised") from loading
    except RuntimeError as wrapped:
        reason = damaged_cache(wrapped)
    assert reason is not None and str(kernel) in reason and f"delete the cache folder {tmp_path / 'cache'}" in reason
    assert damaged_cache(RuntimeError("something else")) is None
    assert damaged_cache(ImportError(f"{tmp_path}/elsewhere.so: file too short")) is None




def test_names_that_start_like_a_url_are_files_to_every_command(run_cli, weights_env, data_dir, tmp_path, monkeypatch):
    """`take:2.mp4` (a colon is legal in a name, and common in a timestamped one): FFmpeg took
    `take` for a protocol, so `video` said "not a readable video (Protocol not found)", `live`
    could not open it, and an output so named could not be written."""
    monkeypatch.chdir(tmp_path)
    write_video(tmp_path / "take:2.mp4", frames=6)
    code, out, err = run_cli("video", "take:2.mp4", "-s", data_dir / "style" / "trial.jpg", "-o", "out:1.mp4",
                             "--size", "32", "--style-size", "64", "--stabilize", "off")
    assert code == 0, err
    assert read_video(tmp_path / "out:1.mp4")[0] == 6
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # (no temporary left)


def test_a_live_recording_named_like_a_url_is_written(tmp_path, monkeypatch):
    from realtime_adain.live.recorder import Recorder

    monkeypatch.chdir(tmp_path)
    recorder = Recorder("rec:1.mp4", (32, 24), 24.0, log=lambda *a, **k: None)
    for i in range(5):
        recorder.submit(np.full((24, 32, 3), 40 * i, np.uint8), i / 24)
    assert recorder.close().name == "rec:1.mp4"
    assert read_video(tmp_path / "rec:1.mp4")[0] == 5


class _Runs:
    """A pickle that would run a command when loaded."""

    def __init__(self, flag):
        self.flag = flag

    def __reduce__(self):
        import os

        return os.system, (f"touch {self.flag}",)


def test_a_pth_holding_code_is_never_run_and_said_so(tmp_path):
    """It was "not a PyTorch or safetensors file, or cut short": it is one, holding more than weights."""
    import torch

    from realtime_adain import weights
    from realtime_adain.errors import UserError

    path, flag = tmp_path / "decoder.pth", tmp_path / "ran"
    torch.save({"1.weight": _Runs(flag)}, path)
    with pytest.raises(UserError, match=r"a PyTorch file holding more than weights \(code or other objects\)"):
        weights.load_decoder(path)
    assert not flag.exists()


@pytest.mark.parametrize("kind", ["fifo", "link loop"])
def test_a_dataset_that_is_there_but_no_folder_is_said_so(tmp_path, kind):
    """A FIFO and a link loop were "no such content directory"."""
    import os

    from realtime_adain.errors import UserError
    from realtime_adain.training.image_listing import list_images

    path = tmp_path / "data"
    if kind == "fifo":
        os.mkfifo(path)
    else:
        os.symlink(tmp_path / "other", path)
        os.symlink(path, tmp_path / "other")
    with pytest.raises(UserError, match="--content takes a directory of images; this is no directory"):
        list_images(path, "content")


FORK_SCRIPT = """
import os, sys, threading, time
from realtime_adain.interrupts import finished_before_exit
entered, release = threading.Event(), threading.Event()

def work():
    with finished_before_exit("out.mp4"):
        entered.set()
        release.wait(60)

worker = threading.Thread(target=work)
worker.start()
entered.wait(10)
pid = os.fork()
if pid == 0:
    sys.exit(0)  # Python's own exit, atexit callbacks included
started = time.monotonic()
_, status = os.waitpid(pid, 0)
print(os.waitstatus_to_exitcode(status), round(time.monotonic() - started, 1))
release.set()
"""


def test_a_forked_child_does_not_wait_for_its_parents_video(tmp_path):
    """The exit's wait is registered with `atexit`, which a forked child inherits without the
    thread it waits for: the child's exit waited for ever."""
    import os

    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    done = subprocess.run([sys.executable, "-c", FORK_SCRIPT], capture_output=True, text=True, timeout=60, env=env)
    code, seconds = done.stdout.split()
    assert done.returncode == 0 and code == "0" and float(seconds) < 10, done.stderr


def test_the_trainer_names_a_damaged_kernel_too(tmp_path, monkeypatch):
    """`tools/train.py --compile` said "install what it names" for a kernel cut short in the cache."""
    import importlib.util

    from torch._dynamo.exc import TorchDynamoException

    from realtime_adain.errors import UserError
    from realtime_adain.training.step import compile_failure_as_user_error

    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path))
    kernel = tmp_path / "cd" / "cdamaged.so"
    kernel.parent.mkdir()
    kernel.write_bytes(b"")
    with pytest.raises(UserError, match="damaged kernel .* train without --compile"):
        with compile_failure_as_user_error(True):
            try:
                importlib.util.module_from_spec(importlib.util.spec_from_file_location("cdamaged", kernel))
            except ImportError as loading:
                raise TorchDynamoException("backend='inductor' raised") from loading
