"""Session 45's bench findings: a weights variable naming a missing file timed stand-ins, `bench
temporal`'s JSON without `device`, the segment tool's "m2ts" files plain TS and its SIGTERM leaving
FFmpeg's file, and the tone-map tool's tracebacks and its test material found without the setting."""

from __future__ import annotations

import argparse
import importlib.util
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from cli_support import one_error_line

from realtime_adain.benchmarks.setup import benchmark_weights, stamp
from realtime_adain.errors import UserError

REPO = Path(__file__).resolve().parents[1]
TOOL_ENV = {**os.environ, "PYTHONPATH": str(REPO)}


def test_a_weights_variable_naming_a_missing_file_is_refused_not_replaced_by_stand_ins(monkeypatch, tmp_path):
    """As every other command refuses it (`--vgg /gone` was refused, the variable timed stand-ins)."""
    monkeypatch.setenv("REALTIME_ADAIN_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("REALTIME_ADAIN_VGG", str(tmp_path / "gone.pth"))
    with pytest.raises(UserError, match=r"gone\.pth \(from \$REALTIME_ADAIN_VGG\): no such weights file"):
        benchmark_weights(argparse.Namespace(vgg=None, decoder=None), tmp_path)
    assert not list(tmp_path.iterdir())


def test_every_bench_json_starts_with_the_device():
    """`bench temporal` (which stamps with the CPU) had no `device`: each other bench added its own."""
    assert list(stamp("temporal", torch.device("cpu"))) == ["benchmark", "date", "machine", "torch", "device"]
    assert stamp("temporal", torch.device("cpu"))["device"] == "cpu"


def tool_module(name: str):
    spec = importlib.util.spec_from_file_location(f"tool_{name}", REPO / "tools" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("extension", ["m2ts", "mts"])
def test_the_segment_tools_blu_ray_files_are_bdav(tmp_path, extension):
    """192-byte packets (a 4-byte timecode, then the TS sync byte): FFmpeg made plain 188-byte TS of
    NAME.m2ts.part, so the m2ts row timed a TS file."""
    data = tool_module("bench_segment_start").make(tmp_path, extension, 0.02).read_bytes()
    assert data[0] != 0x47 and data[4] == 0x47 and data[196] == 0x47 and len(data) % 192 == 0


def wait_for_a_file(folder: Path, tool: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while not list(folder.iterdir()) and time.monotonic() < deadline and tool.poll() is None:
        time.sleep(0.05)
    time.sleep(0.3)


@pytest.mark.slow  # (a tool's start-up, 1.5-5 s: tools are run in the slow set)
def test_a_terminated_segment_tool_removes_the_file_being_made(tmp_path):
    """SIGTERM (`timeout`, `kill`) killed it without a word, leaving NAME.part (and FFmpeg writing it)."""
    tool = subprocess.Popen([sys.executable, str(REPO / "tools" / "bench_segment_start.py"), "--minutes", "240",
                             "--formats", "ts", "--repeats", "1", "--folder", str(tmp_path)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=TOOL_ENV)
    wait_for_a_file(tmp_path, tool)
    tool.terminate()
    _, err = tool.communicate(timeout=60)
    assert tool.returncode == 143 and one_error_line(err) == "error: terminated"
    assert not list(tmp_path.iterdir())


def tone_map_tool(tmp_path: Path, data: Path, size: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(REPO / "tools" / "bench_tone_map.py"), "--sizes", size, "--repeats", "1"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**TOOL_ENV, "REALTIME_ADAIN_TEST_DATA": str(data), "TMPDIR": str(tmp_path)})


@pytest.mark.slow  # (a tool's start-up, 1.5-5 s: tools are run in the slow set)
def test_the_tone_map_tool_reads_the_test_data_setting_and_says_ffmpegs_failure_in_one_line(tmp_path):
    """It read ../shared/data whatever the setting, and FFmpeg's failure was a traceback."""
    (tmp_path / "copy" / "content").mkdir(parents=True)
    (tmp_path / "copy" / "content" / "golden_gate.jpg").write_text("not a photo")
    _, err = tone_map_tool(tmp_path, tmp_path / "copy", "16x16").communicate(timeout=60)
    assert one_error_line(err).startswith(f"error: FFmpeg could not make the 16x16 picture from {tmp_path}/copy/")


@pytest.mark.slow  # (a tool's start-up, 1.5-5 s: tools are run in the slow set)
def test_a_terminated_tone_map_tool_is_one_line_and_leaves_no_temporary_folder(tmp_path, data_dir):
    """A Ctrl-C was a KeyboardInterrupt traceback; a SIGTERM killed it, leaving its folder of pictures."""
    tool = tone_map_tool(tmp_path, data_dir, "4096x2160")  # (seconds of FFmpeg's work: stopped long before)
    wait_for_a_file(tmp_path, tool)
    tool.send_signal(signal.SIGTERM)
    _, err = tool.communicate(timeout=60)
    assert tool.returncode == 143 and one_error_line(err) == "error: terminated"
    assert not list(tmp_path.iterdir())
