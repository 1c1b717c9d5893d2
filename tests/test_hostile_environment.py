"""The command attacked through its environment rather than its arguments: resource limits, a
deleted current folder, a umask that masks everything, file names the locale cannot print, and
library settings that kill the process. Each gives a working run or one `error:` line."""

from __future__ import annotations

import os
import resource
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from live_support import cli_env
from test_train_changing_data import PROCESS_LIMIT_GROUP

ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


def run(args: list, env: dict[str, str], cwd: Path | None = None, preexec_fn=None, timeout: float = 120,
        prefix: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    """`realtime-adain ARGS` in a subprocess, its output as bytes (file names need not be UTF-8)."""
    return subprocess.run([*prefix, sys.executable, "-m", "realtime_adain", *args], env=env, cwd=cwd,
                          preexec_fn=preexec_fn, capture_output=True, timeout=timeout)


def assert_one_error_line(done: subprocess.CompletedProcess, says: str) -> None:
    err = done.stderr.decode(errors="replace")
    assert done.returncode == 2, err
    assert "Traceback" not in err and err.count("error:") == 1 and says in err, err


@pytest.fixture
def env(published_weights, tmp_path):
    return cli_env(published_weights, tmp_path / "home")


@pytest.fixture
def inputs(data_dir):
    return data_dir / "content" / "lenna.jpg", data_dir / "style" / "mondrian.jpg"


def limit_address_space(kib: int):
    return lambda: resource.setrlimit(resource.RLIMIT_AS, (kib * 1024, kib * 1024))


def test_a_library_that_cannot_be_mapped_in_memory_is_one_line(env, inputs, tmp_path):
    """`ulimit -v` too low to map OpenCV's shared objects: ImportError was a traceback."""
    done = run(["image", inputs[0], "-s", inputs[1], "--size", "64", "-o", tmp_path / "out.png"], env,
               preexec_fn=limit_address_space(300_000), timeout=30)
    assert_one_error_line(done, "out of memory")
    assert "ulimit -v" in done.stderr.decode()
    assert not (tmp_path / "out.png").exists()


LOAD_WEIGHTS_WITH_LITTLE_MEMORY = """
import resource, sys
import torch
from realtime_adain.cli import run_reporting_errors
from realtime_adain.weight_files import read_weights
size = int(open("/proc/self/statm").read().split()[0]) * resource.getpagesize()
resource.setrlimit(resource.RLIMIT_AS, (size + (int(sys.argv[2]) << 20),) * 2)
sys.exit(run_reporting_errors(lambda: read_weights(sys.argv[1]) and 0))
"""


def load_weights_with_headroom(env, path: Path, mebibytes: int) -> subprocess.CompletedProcess:
    """Read weights in an interpreter allowed `mebibytes` of address space beyond what it holds."""
    return subprocess.run([sys.executable, "-c", LOAD_WEIGHTS_WITH_LITTLE_MEMORY, str(path), str(mebibytes)],
                          env=env, capture_output=True, timeout=60)


@pytest.mark.slow  # (default run's time: 2 s)
def test_weights_that_do_not_fit_in_memory_are_not_called_unreadable(env, published_weights):
    done = load_weights_with_headroom(env, published_weights[0], 16)  # 16 MB more: not an 80 MB VGG
    assert_one_error_line(done, "out of memory while loading the weights")
    assert b"not a readable weights file" not in done.stderr


@pytest.mark.slow  # (default run's time: 3 s)
def test_reading_weights_takes_address_space_for_the_file_not_for_the_largest_allowed(env, published_weights):
    """The 80 MB VGG within 512 MB more address space: the read asked for the 2 GiB bound at once, so
    it failed under `ulimit -v` (the 5-6 GiB limits of the out-of-memory tests stopped there first)."""
    done = load_weights_with_headroom(env, published_weights[0], 512)
    assert done.returncode == 0 and not done.stderr, done.stderr.decode()


@pytest.mark.slow  # (several commands in fresh interpreters (5-10 s))
def test_a_deleted_current_folder(env, inputs, tmp_path):
    """torch's MKL aborted the process when getcwd failed ("Intel oneMKL FATAL ERROR"); now torch
    loads, and a relative output name in the deleted folder is one line saying why."""
    gone = tmp_path / "gone"
    gone.mkdir()

    def enter_then_delete():
        os.chdir(gone)
        os.rmdir(gone)

    done = run(["image", inputs[0], "-s", inputs[1], "--size", "64", "-o", "out.png"], env,
               preexec_fn=enter_then_delete, timeout=60)
    assert_one_error_line(done, "the current folder was deleted")
    assert b"oneMKL" not in done.stderr


@pytest.mark.slow  # (several commands (8-16 s))
def test_umask_0777_still_gives_outputs_their_owner_can_use(env, inputs, tmp_path):
    """mkstemp's file and Path.mkdir's folders were mode 0000: writers reopening the temporary
    file by name failed ("Permission denied", for anyone but root) after all the work."""
    out = tmp_path / "new" / "folder" / "out.png"
    done = run(["image", inputs[0], "-s", inputs[1], "--size", "64", "-o", out], env,
               preexec_fn=lambda: os.umask(0o777), timeout=60)
    assert done.returncode == 0, done.stderr.decode()
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert stat.S_IMODE(out.parent.stat().st_mode) == stat.S_IMODE(out.parent.parent.stat().st_mode) == 0o700
    assert os.listdir(out.parent) == ["out.png"]


@pytest.mark.slow  # (several commands (5-14 s))
def test_names_the_output_encoding_cannot_write_and_junk_progress_settings(env, inputs, tmp_path):
    """PYTHONIOENCODING=ascii: printing the output's name raised UnicodeEncodeError after the file
    was written (a traceback, exit status 1). Names' bytes that are not UTF-8 are printed escaped
    (`\\xNN`), as other characters are. TQDM_MININTERVAL=junk failed importing tqdm: now a note."""
    out = os.fsencode(tmp_path) + b"/r\xe9sultat-\xff.png"
    done = run(["image", inputs[0], "-s", inputs[1], "--size", "64", "-o", out],
               {**env, "PYTHONIOENCODING": "ascii", "TQDM_MININTERVAL": "junk"}, timeout=60)
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    assert done.stdout == os.fsencode(tmp_path) + b"/r\\xe9sultat-\\xff.png\n"
    assert os.path.isfile(out)
    assert b"note: progress bars ignore $TQDM_MININTERVAL" in done.stderr and b"Traceback" not in done.stderr


@pytest.mark.parametrize("setting", ["OPENCV_IO_MAX_IMAGE_PIXELS=junk", "OPENCV_IO_MAX_IMAGE_WIDTH=",
                                     "OPENCV_FOR_THREADS_NUM=many", "OPENCV_TRACE=yes",
                                     "OPENCV_IO_MAX_IMAGE_PIXELS=99999999999999999999999",  # out_of_range
                                     "OPENCV_FOR_THREADS_NUM=99999999999",  # a flood of failed threads, bad_alloc
                                     "PYTORCH_CUDA_ALLOC_CONF=junk", "PYTORCH_ALLOC_CONF=max_split_size_mb:"])
def test_library_settings_that_would_abort_the_process_are_refused(run_cli, weights_env, inputs, tmp_path,
                                                                    monkeypatch, setting):
    """OpenCV parses these lazily and aborts ("terminate called after throwing an instance of
    'std::invalid_argument'", exit 134) or raises cv2.error mid-run; torch aborts on its allocator's
    settings while importing, even without a GPU."""
    name, value = setting.split("=")
    monkeypatch.setenv(name, value)
    code, out, err = run_cli("image", inputs[0], "-s", inputs[1], "--size", "64", "-o", tmp_path / "out.png")
    assert code == 2 and err.startswith(f"error: ${name}=") and err.count("\n") == 1, err
    assert not (tmp_path / "out.png").exists()


@pytest.mark.slow  # (an ONNX export (5-10 s); test_full_disk20 covers a read-only home by default)
def test_a_read_only_home_gets_no_onnxruntime_telemetry_warning(env, tmp_path):
    """onnxruntime stores a device id under ~/.local/share and, where it cannot, logs a coloured
    warning on every run; the command turns its telemetry off (a user's own setting wins)."""
    script = "import sys; from realtime_adain.cli import main; main(sys.argv[1:]); import onnxruntime"
    done = subprocess.run([sys.executable, "-c", script, "engines", "list"], capture_output=True, timeout=60,
                          env={**env, "HOME": "/proc/self", "XDG_DATA_HOME": "/proc/self"})
    assert done.returncode == 0 and b"telemetry" not in done.stderr, done.stderr


START_THREADS = """
import sys, threading, time
from realtime_adain.cli import run_reporting_errors
sys.exit(run_reporting_errors(lambda: [threading.Thread(target=time.sleep, args=(1,), daemon=True).start()
                                       for _ in range(64)]))
"""


@PROCESS_LIMIT_GROUP
def test_the_thread_limit_is_one_line(env):
    """RLIMIT_NPROC reached (`ulimit -u`): "RuntimeError: can't start new thread" was a traceback.
    (Root ignores the limit: as root the check runs as nobody, keeping the right to read this
    checkout, through util-linux's setpriv.)"""
    as_nobody = ()
    if ROOT:
        assert shutil.which("setpriv"), "as root this test needs setpriv (util-linux) to run as another user"
        as_nobody = ("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=+dac_read_search",
                     "--ambient-caps=+dac_read_search")
    done = subprocess.run([*as_nobody, sys.executable, "-c", START_THREADS], env=env, capture_output=True, timeout=60,
                          preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NPROC, (8, 8)))
    assert_one_error_line(done, "cannot start a thread")
    assert b"ulimit -u" in done.stderr


@pytest.mark.slow  # (default run's time: 2 s)
def test_a_setting_torch_refuses_while_importing_is_one_line(env, inputs, tmp_path):
    """`PYTORCH_JIT=junk`: torch raised ValueError from its import, a traceback."""
    done = run(["image", inputs[0], "-s", inputs[1], "--size", "64", "-o", tmp_path / "out.png"],
               {**env, "PYTORCH_JIT": "junk"}, timeout=60)
    assert_one_error_line(done, "cannot load torch (Unknown setting of PYTORCH_JIT")
    assert not (tmp_path / "out.png").exists()
