"""Session 41's environment fixes: a library that is installed but does not load (an OpenCV without
libGL.so.1 on a headless server, a PyAV without its FFmpeg libraries, an onnxruntime without its
own) stops only what needs it, and is named with the fix that works; tensorrt asked for on a
machine or device that cannot build it says so first.

A broken install is reproduced as Python sees it: a stand-in package first on the subprocess's
PYTHONPATH whose import raises the ImportError the real one raises."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from cli_support import one_error_line
from live_support import cli_env
from realtime_adain import engines, weight_digests
from realtime_adain.engines.cache import EngineCache
from realtime_adain.engines.onnx import onnx_components
from realtime_adain.engines.tensorrt import tensorrt_missing
from realtime_adain.errors import environment_failure
from test_engines_hostile14 import tiny_onnx

NO_LIBGL = "libGL.so.1: cannot open shared object file: No such file or directory"
NO_LIBAVFORMAT = "libavformat.so.61: cannot open shared object file: No such file or directory"
NO_LIBONNXRUNTIME = "libonnxruntime.so.1: cannot open shared object file: No such file or directory"
LIBGL_FIX = ("the system library libGL.so.1 is missing: install it (Debian/Ubuntu: apt-get install libgl1); or use "
             "OpenCV without its GUI: pip uninstall opencv-python; pip install opencv-python-headless (no `live` window)")
CV2_FAILURE = f"cannot load cv2 ({NO_LIBGL}); {LIBGL_FIX}"
AV_FAILURE = (f"cannot load av ({NO_LIBAVFORMAT}); the shared library libavformat.so.61 is missing: install the "
              "system or pip package that provides it")


def with_broken(env: dict[str, str], folder: Path, package: str, message: str) -> dict[str, str]:
    """`env` where importing `package` fails with ImportError(`message`), as a missing shared library makes it."""
    (folder / package).mkdir(parents=True)
    (folder / package / "__init__.py").write_text(f"raise ImportError({message!r}, name={package!r})\n")
    return {**env, "PYTHONPATH": os.pathsep.join([str(folder), env["PYTHONPATH"]])}


def run(env: dict[str, str], *args: str, code: str | None = None) -> subprocess.CompletedProcess:
    """`realtime-adain ARGS` (or Python `code`) in a subprocess."""
    command = ["-c", code] if code else ["-m", "realtime_adain", *args]
    return subprocess.run([sys.executable, *command], env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture
def env(published_weights, tmp_path):
    return cli_env(published_weights, tmp_path / "home")


@pytest.fixture
def without_opencv(env, tmp_path):
    return with_broken(env, tmp_path / "shadow", "cv2", NO_LIBGL)


def test_a_missing_system_library_is_named_with_its_fix():
    """"reinstall it" brought back the same files: the library missing is the system's."""
    assert environment_failure(ImportError(NO_LIBGL, name="cv2")) == CV2_FAILURE
    assert environment_failure(ImportError(NO_LIBAVFORMAT, name="av")) == AV_FAILURE
    assert environment_failure(ImportError(NO_LIBGL, name="torch")) == \
        f"cannot load torch ({NO_LIBGL}); the system library libGL.so.1 is missing: install it (Debian/Ubuntu: apt-get install libgl1)"


def test_help_and_version_run_without_opencv_and_its_commands_say_the_fix(without_opencv):
    """Every command, --help and --version too, said "error: cannot load cv2 (...); reinstall it":
    imageio imported cv2 while the parser was built."""
    helped = run({**without_opencv, "COLUMNS": "200"}, "--help")  # (each command's summary on one line)
    assert (helped.returncode, helped.stderr) == (0, ""), helped.stderr
    listed = dict(line.split(None, 1) for line in helped.stdout.splitlines() if line.startswith("    "))
    unavailable = "(cannot run here: cannot load cv2; see `realtime-adain doctor`)"
    assert (listed["image"], listed["video"]) == (unavailable, unavailable)
    assert listed["export"] == "build TensorRT engines or an ONNX graph ahead of time"
    version = run(without_opencv, "--version")
    assert (version.returncode, version.stderr, version.stdout.split()[0]) == (0, "", "realtime-adain")
    for args in (("image", "a.jpg", "-s", "b.jpg"), ("video", "--help")):
        refused = run(without_opencv, *args)
        assert one_error_line(refused.stderr, refused.returncode) == f"error: {args[0]}: {CV2_FAILURE}"


@pytest.mark.slow  # (default run's time: 3 s)
def test_doctor_names_a_broken_opencv_and_its_fix(without_opencv):
    """doctor stopped at once; then, running, it called the sections that need OpenCV a bug."""
    checks = "{'versions': doctor.versions, 'caches': doctor.caches, 'display': doctor.display}"
    done = run(without_opencv, code="import json; from realtime_adain import doctor; "
                                    f"print(json.dumps(doctor.run_checks({checks}).to_json()))")
    assert done.returncode == 0, done.stderr
    sections = json.loads(done.stdout)["sections"]
    [opencv] = [finding for finding in sections["versions"] if finding["name"] == "opencv"]
    assert opencv == {"name": "opencv", "value": f"installed but broken: ImportError: {NO_LIBGL}", "level": "problem",
                      "fix": LIBGL_FIX}
    assert sections["display"] == [{"name": "check failed", "value": f"needs cv2, which cannot load: ImportError: {NO_LIBGL}",
                                    "level": "problem", "fix": LIBGL_FIX}]


@pytest.mark.slow
@pytest.mark.parametrize("command", [("weights", "info"), ("engines", "list")])
def test_commands_that_need_no_opencv_run_without_it(without_opencv, command):
    done = run(without_opencv, *command)
    assert done.returncode == 0 and done.stderr == "", done.stderr


def test_only_video_needs_pyav(env, tmp_path):
    """A PyAV without its FFmpeg libraries stopped every command as OpenCV did."""
    without_pyav = with_broken(env, tmp_path / "shadow", "av", NO_LIBAVFORMAT)
    helped = run(without_pyav, "--help")
    assert helped.returncode == 0, helped.stderr
    assert "    video     (cannot run here: cannot load av; see `realtime-adain doctor`)" in helped.stdout.splitlines()
    refused = run(without_pyav, "video", "a.mp4", "-s", "b.jpg")
    assert one_error_line(refused.stderr, refused.returncode) == f"error: video: {AV_FAILURE}"


@pytest.mark.slow  # (default run's time: 3 s)
def test_an_onnxruntime_that_does_not_load_is_no_engine(env, published_weights, tmp_path, monkeypatch):
    """find_spec found the broken onnxruntime: with an export cached, 'auto' took onnx and every
    run failed ("cannot load onnxruntime"), while doctor, which says the same, said "onnx on cpu: runs"."""
    env["REALTIME_ADAIN_ENGINES"] = str(tmp_path / "engines")
    monkeypatch.setenv("REALTIME_ADAIN_ENGINES", str(tmp_path / "engines"))
    weights_id = weight_digests.files_id(list(published_weights))
    cache = EngineCache(tmp_path / "engines")  # an export of these weights, as a run's cache records it
    components = onnx_components(weights_id)
    cache.store(cache.entry(components, ".onnx"), lambda path: tiny_onnx(path, components))
    said = ("import json, torch; from realtime_adain import engines; cpu = torch.device('cpu'); "
            f"print(json.dumps([engines.unavailable('onnx', cpu, torch.float32), engines.resolve('auto', cpu, torch.float32, {weights_id!r})]))")
    assert engines.resolve("auto", torch.device("cpu"), torch.float32, weights_id) == "onnx"  # (the export counts)
    broken = run(with_broken(env, tmp_path / "shadow", "onnxruntime", NO_LIBONNXRUNTIME), code=said)
    assert broken.returncode == 0, broken.stderr
    assert json.loads(broken.stdout) == [f"onnxruntime is installed but does not load: {NO_LIBONNXRUNTIME}", "eager"]


def test_export_tensorrt_refuses_a_device_that_is_no_cuda_gpu(run_cli, weights_env):
    """`--device cpu` said "pip install 'realtime-adain[tensorrt]'", which may replace torch and still builds nothing."""
    code, _, err = run_cli("export", "--format", "tensorrt", "--device", "cpu")
    assert one_error_line(err, code) == "error: --device cpu: tensorrt builds on a CUDA GPU (--device cuda or cuda:N)"


def test_tensorrt_names_the_missing_gpu_before_the_missing_package():
    """`export --format tensorrt` said to install torch-tensorrt where `image --engine tensorrt` said
    a CUDA GPU is needed: without a GPU that comes first."""
    if not torch.cuda.is_available():
        assert tensorrt_missing() == "the tensorrt engine needs a CUDA GPU"
    else:
        assert tensorrt_missing() != "the tensorrt engine needs a CUDA GPU"
    assert engines.unavailable("tensorrt", "cuda", torch.float16) == tensorrt_missing()


@pytest.mark.slow  # (default run's time: every bench target started)
def test_bench_lists_its_targets_without_opencv_and_each_says_why(without_opencv):
    """`bench --help` said "error: cannot load cv2" (its targets import OpenCV): now it lists them,
    those that need OpenCV as unable to run, and such a target says the fix."""
    helped = run({**without_opencv, "COLUMNS": "200"}, "bench", "--help")
    assert (helped.returncode, helped.stderr) == (0, ""), helped.stderr
    assert "(cannot run here: cannot load cv2; see `realtime-adain doctor`)" in helped.stdout
    refused = run(without_opencv, "bench", "temporal", "--help")
    assert one_error_line(refused.stderr, refused.returncode) == f"error: temporal: {CV2_FAILURE}"
