"""Combinations the benchmarks and `export` refuse once they run, in one line and before any timing
or build: an empty weights path, results written over an input, shapes that cannot fit or be
encoded, a folder as the clip; and what an interrupted or memory-starved run leaves behind."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import torch

from realtime_adain.errors import UserError, out_of_memory_as_user_error
from cli_support import one_error_line
from test_hostile_environment import limit_address_space

TINY_MODEL = ("bench", "model", "--device", "cpu", "-r", "32x32", "--iters", "1", "--warmup", "1", "--engine", "eager")


@pytest.mark.parametrize("flag", ["--vgg", "--decoder"])
def test_an_empty_weights_path_is_refused_not_replaced_by_stand_ins(run_cli, weights_env, flag):
    """`--vgg "$UNSET"` used to time generated stand-ins without a word."""
    code, _, err = run_cli(*TINY_MODEL, flag, "")
    assert code == 2 and f"an empty {flag} path" in one_error_line(err)


def test_results_are_not_written_over_the_weights(run_cli, weights_env):
    vgg, decoder = weights_env
    before = decoder.read_bytes()
    code, _, err = run_cli(*TINY_MODEL, "--json", decoder)
    assert code == 2 and one_error_line(err) == f"error: {decoder}: output would overwrite an input"
    assert decoder.read_bytes() == before


def test_video_results_are_not_written_over_the_style(run_cli, weights_env, data_dir, tmp_path):
    style = tmp_path / "style.jpg"
    shutil.copy(data_dir / "style" / "brushstrokes.jpg", style)
    code, _, err = run_cli("bench", "video", "--style", style, "--json", style, "--frames", "2", "--no-baseline")
    assert code == 2 and one_error_line(err) == f"error: {style}: output would overwrite an input"
    assert style.read_bytes() == (data_dir / "style" / "brushstrokes.jpg").read_bytes()


def test_a_shape_that_cannot_fit_is_refused_before_any_timing(run_cli, weights_env):
    """4096x4096 at batch 64 needs hundreds of GiB: it was minutes of making random frames, then an
    allocator traceback (or the OOM killer), after timing the smaller shapes."""
    code, out, err = run_cli(*TINY_MODEL, "-r", "4096x4096", "--batch", "64")
    assert code == 2 and "4096x4096 at batch 64 needs at least 768.0 GiB" in one_error_line(err)
    assert "lower --resolution or --batch" in err and not out


@pytest.mark.slow  # (default run's time: a benchmark run)
def test_a_repeated_engine_is_measured_once(run_cli, weights_env, tmp_path, one_thread):
    code, _, err = run_cli(*TINY_MODEL, "--engine", "eager", "--json", tmp_path / "r.json")
    assert code == 0, err
    assert [row["engine"] for row in json.loads((tmp_path / "r.json").read_text())["rows"]] == ["eager"]


@pytest.mark.parametrize("where, what", [("folder", "not a regular file"), ("/dev/null", "not a regular file"),
                                         ("missing.mp4", "no such file")])
def test_a_clip_that_is_no_file_is_named_so(run_cli, weights_env, tmp_path, where, what):
    video = Path(where) if where.startswith("/") else tmp_path / where
    if where == "folder":
        video.mkdir()
    code, _, err = run_cli("bench", "video", "--video", video)
    assert code == 2 and one_error_line(err) == f"error: {video}: {what}"


@pytest.mark.parametrize("command", [("bench", "video", "--no-baseline"), ("bench", "live")])
def test_an_odd_size_for_an_h264_clip_is_refused(run_cli, weights_env, command):
    """The upscaled or generated clip is 4:2:0 H.264: 33x17 was libx264's traceback."""
    code, _, err = run_cli(*command, "--resolution", "33x17")
    assert code == 2 and "needs even sides, e.g. 34x18" in one_error_line(err)


@pytest.mark.slow  # (default run's time, 2026-12-07: a rarer variant; the corpus and `-m slow` runs keep it)
def test_threads_that_resolve_to_one_count_are_one_variant(run_cli, weights_env, tmp_path):
    """`--threads 0,N` with N torch's default named one setup twice, merging its timings."""
    default = torch.get_num_threads()
    code, _, err = run_cli("bench", "video", "--frames", "2", "--size", "32", "--style-size", "32", "--repeats", "1",
                           "--no-baseline", "--threads", f"0,{default}", "--json", tmp_path / "r.json")
    assert code == 0, err
    rows = json.loads((tmp_path / "r.json").read_text())["rows"]
    assert len(rows) == 1 and len(rows[0]["times_s"]) == 1


@pytest.mark.parametrize("output, words", [
    ("models.onnx/", "models.onnx/: names a folder; the output of --format onnx is a file, e.g. "),
    (".onnx", ".onnx: no name before .onnx; give one such as adain.onnx"),
])
def test_an_onnx_output_that_is_no_onnx_file_name_is_refused(run_cli, weights_env, tmp_path, output, words):
    """`-o models.onnx/` (a folder meant) wrote a file named models.onnx; `.onnx` (a hidden file with
    no extension) said that it must end in .onnx (session 35: that no name comes before it)."""
    code, _, err = run_cli("export", "--format", "onnx", "-o", f"{tmp_path}/{output}")
    assert code == 2 and words in one_error_line(err)
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("where", ["file", "/dev/null"])
def test_a_tensorrt_output_that_is_no_folder_is_refused_first(run_cli, weights_env, tmp_path, where):
    target = tmp_path / "adain.onnx" if where == "file" else Path(where)
    if where == "file":
        target.write_bytes(b"kept")
    code, _, err = run_cli("export", "--format", "tensorrt", "-o", target)
    assert code == 2 and one_error_line(err) == (
        f"error: {target}: the output of --format tensorrt is a folder (the engine directory), not a file")


def test_onnxruntime_running_out_of_memory_is_one_line():
    """onnxruntime's allocation failure is its own exception class (no RuntimeError): it was a traceback."""
    from onnxruntime.capi.onnxruntime_pybind11_state import Fail

    with pytest.raises(UserError, match=r"^bench model: out of memory; lower --batch$"):
        with out_of_memory_as_user_error("bench model", "lower --batch"):
            raise Fail("BFCArena::AllocateRawInternal Failed to allocate memory for requested buffer")
    with pytest.raises(Fail):  # anything else from onnxruntime is no memory problem
        with out_of_memory_as_user_error("bench model"):
            raise Fail("Invalid input name: x")


@pytest.mark.slow  # (10-16 s: the default run keeps within its 10 minutes; `-m slow` runs it)
def test_a_training_step_that_cannot_fit_is_one_line(weights_env, tmp_path):
    """Run with an address-space limit, so the allocation fails at once instead of paging (a batch
    under the check before timing: 64 at 1024 is refused there, needing at least 48 GiB)."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    result = subprocess.run([sys.executable, "-m", "realtime_adain", "bench", "train", "--device", "cpu",
                             "--batch-size", "4", "--size", "1024", "--iterations", "1", "--warmup", "0"],
                            capture_output=True, text=True, env=env, preexec_fn=limit_address_space(5 << 20), timeout=120)
    assert result.returncode == 2, result.stderr
    assert one_error_line(result.stderr) == "error: bench train (amp off): out of memory; lower --batch-size or --size"


@pytest.mark.slow  # an export at 2048x2048 (18 s); other out-of-memory paths run by default
def test_onnxruntime_out_of_memory_is_one_line(weights_env, tmp_path):
    """onnxruntime printed its own red log line of the failed allocation before ours."""
    # Its own engine cache: an export left in the session's would make later tests' `auto` engine onnx.
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1]), "REALTIME_ADAIN_HOME": str(tmp_path),
           "REALTIME_ADAIN_ENGINES": str(tmp_path / "engines")}
    result = subprocess.run([sys.executable, "-m", "realtime_adain", "bench", "model", "--device", "cpu", "-r", "2048x2048",
                             "--batch", "4", "--iters", "1", "--warmup", "1", "--engine", "onnx"],
                            capture_output=True, text=True, env=env, preexec_fn=limit_address_space(6 << 20), timeout=300)
    assert result.returncode == 2, result.stderr
    assert one_error_line(result.stderr, ignoring=("note: exporting the network to ONNX",)) == (
        "error: bench model: out of memory; lower --resolution or --batch")

def serve_children() -> list[int]:
    """This process's children running `realtime_adain serve`."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            command = (entry / "cmdline").read_bytes().split(b"\0")
        except (OSError, ValueError, IndexError):
            continue
        if ppid == os.getpid() and b"serve" in command:
            found.append(int(entry.name))
    return found


@pytest.mark.slow  # (default run's time: 3 s)
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_a_ctrl_c_while_the_server_loads_leaves_no_server(weights_env, tmp_path):
    """It was left running, orphaned, with its working folder gone."""
    from realtime_adain.benchmarks.serve import start_server

    vgg, decoder = weights_env
    style = tmp_path / "style.png"
    style.write_bytes(b"")  # the server never gets as far as reading it
    args = argparse.Namespace(clients=1, stabilize="off", device="cpu", dtype="auto", engine="auto", process_size=32)
    ctrl_c = threading.Timer(1.0, os.kill, (os.getpid(), signal.SIGINT))  # loading torch takes longer
    ctrl_c.start()
    try:
        with pytest.raises((KeyboardInterrupt, UserError)) as raised:
            start_server(args, vgg, decoder, style, tmp_path)
    finally:
        ctrl_c.cancel()
    assert raised.type is KeyboardInterrupt, "the server failed before the Ctrl-C; nothing tested"
    assert serve_children() == []


class InterruptedAfter:
    """A real stylizer that gets a real Ctrl-C (SIGINT to this process) after `batches` batches."""

    def __init__(self, stylizer, batches: int) -> None:
        self.stylizer, self.batches = stylizer, batches

    def __getattr__(self, name):
        return getattr(self.stylizer, name)

    def stylize_stream(self, batches, style, alpha):
        for index, result in enumerate(self.stylizer.stylize_stream(batches, style, alpha)):
            if index == self.batches:
                os.kill(os.getpid(), signal.SIGINT)
            yield result


@pytest.mark.parametrize("keep", [True, False])
def test_an_interrupted_benchmark_run_keeps_no_partial_file(stylizer, data_dir, tmp_path, capsys, keep):
    """`bench video` times scratch outputs in a folder it deletes: a Ctrl-C said 'frames kept in
    .../out.partial.mp4', a file gone a moment later. `video` itself keeps it (keep=True)."""
    from realtime_adain.settings import VideoSettings
    from realtime_adain.video.job import stylize_file
    from realtime_adain.video.writer import EncodeSettings

    style = stylizer.style_stats(np.full((32, 32, 3), 128, np.uint8), 32)
    with pytest.raises(KeyboardInterrupt):
        stylize_file(data_dir / "videos" / "cutBunny.mp4", tmp_path / "out.mp4", InterruptedAfter(stylizer, 5), lambda first: style,
                     VideoSettings(size=32, batch=1, frames=30), EncodeSettings("libx264"), keep_interrupted=keep)
    err = capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == (["out.partial.mp4"] if keep else [])
    assert (" kept in " in err) is keep
