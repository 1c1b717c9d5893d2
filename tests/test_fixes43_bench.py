"""Session 43's bench, weights and export findings: advice naming an --engine the command refuses,
an empty --decoder said to come from the environment, export paths printed raw, `bench live`
options ignored or taken at absurd values, and the tools that left cut-short files and tracebacks."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cli_support import one_error_line
from realtime_adain import engines

REPO = Path(__file__).resolve().parents[1]


def test_bench_model_advises_only_engines_it_takes(run_cli):
    """The tensorrt refusal said `use --engine auto, ...`, and `bench model --engine auto` is refused."""
    code, _, err = run_cli("bench", "model", "--device", "cpu", "-r", "16x16", "--engine", "tensorrt")
    advice = re.search(r"use --engine ([\w ,]+) on the CPU", one_error_line(err, code)).group(1)
    assert set(re.split(r", | or ", advice)) <= set(engines.ENGINES), advice


def test_an_empty_decoder_is_said_to_come_from_the_flag(run_cli, weights_env):
    code, out, _ = run_cli("weights", "info", "--decoder", "")
    decoder = out[out.index("decoder:"):]
    assert code == 1 and re.search(r"from +--decoder\n", decoder), decoder
    assert "$REALTIME_ADAIN_DECODER" not in decoder


@pytest.mark.slow  # (default run's time: an ONNX export)
def test_an_onnx_export_file_name_is_printed_on_one_line(run_cli, weights_env, tmp_path):
    code, out, err = run_cli("export", "--format", "onnx", "-o", tmp_path / "n\nl.onnx")
    assert code == 0, err
    assert out.splitlines()[0] == f"exported: {tmp_path}/n\\nl.onnx"


@pytest.mark.slow  # (default run's time: an engine build)
def test_the_engine_cache_path_is_printed_on_one_line(run_cli, weights_env, tmp_path, monkeypatch):
    """Both lines `export` prints without -o: the export made, then found cached."""
    monkeypatch.setenv("REALTIME_ADAIN_ENGINES", str(tmp_path / "e\nc"))
    code, out, err = run_cli("export", "--format", "onnx")
    assert code == 0, err
    assert out.splitlines()[0].startswith(f"exported: {tmp_path}/e\\nc/onnx-")
    code, out, err = run_cli("export", "--format", "onnx")
    assert code == 0, err
    (line,) = out.splitlines()
    assert line.startswith(f"already cached (checked when exported): {tmp_path}/e\\nc/onnx-")


def test_bench_live_refuses_the_generated_clips_options_with_a_source(run_cli, data_dir):
    """They were ignored without a word."""
    video = data_dir / "videos" / "cutBunny.mp4"
    code, _, err = run_cli("bench", "live", "--source", video, "--resolution", "64x64", "--source-fps", "5")
    assert one_error_line(err, code).startswith("error: --resolution and --source-fps are for the generated clip")
    code, _, err = run_cli("bench", "live", "--source", video, "--source-fps", "5")
    assert one_error_line(err, code).startswith("error: --source-fps is for the generated clip")


def test_bench_live_measures_a_second_at_least(run_cli):
    """--seconds 0.001 reported 790 frames stylized a second from a 30 fps source."""
    code, _, err = run_cli("bench", "live", "--seconds", "0.5")
    assert "argument --seconds: 0.5 is outside [1, 86400] seconds" in one_error_line(err, code)


@pytest.mark.slow  # (default run's time: 2 s)
def test_bench_live_takes_a_fractional_source_rate(run_cli, weights_env, tmp_path, one_thread):
    """As `bench serve --fps` does (it said "'29.97' is not a whole number")."""
    code, _, err = run_cli("bench", "live", "--source-fps", "29.97", "--seconds", "1", "--warmup", "0", "--size", "32",
                           "--resolution", "64x48", "--stabilize", "off", "--json", tmp_path / "live.json")
    assert code == 0, err
    assert json.loads((tmp_path / "live.json").read_text())["source_fps"] == 29.97


def segment_tool(folder: Path, minutes: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(REPO / "tools" / "bench_segment_start.py"), "--minutes", minutes,
                             "--formats", "ts", "--repeats", "1", "--folder", str(folder)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(REPO)})


@pytest.mark.slow  # (default run's time: 4 s)
def test_an_interrupted_segment_file_is_not_left_to_be_reused(tmp_path):
    """Ctrl-C while FFmpeg made the long file left it cut short at its final name (timed, or a
    traceback, the next run) and printed a KeyboardInterrupt traceback."""
    tool = segment_tool(tmp_path, "240")  # (minutes of FFmpeg's work: interrupted long before)
    deadline = time.monotonic() + 60
    while not list(tmp_path.iterdir()) and time.monotonic() < deadline and tool.poll() is None:
        time.sleep(0.05)
    time.sleep(0.3)
    tool.send_signal(signal.SIGINT)
    _, err = tool.communicate(timeout=60)
    assert tool.returncode == 130 and one_error_line(err) == "error: interrupted"
    assert not list(tmp_path.iterdir())


@pytest.mark.slow  # (default run's time: 4 s)
def test_a_file_the_segment_tool_cannot_read_is_one_error_line(tmp_path):
    (tmp_path / "long_1min.ts").write_bytes(b"not a video")
    tool = segment_tool(tmp_path, "1")
    _, err = tool.communicate(timeout=60)
    assert tool.returncode == 1 and "not a readable video" in one_error_line(err)


@pytest.mark.slow  # (default run's time: a tool run on a clip)
def test_the_motion_tool_reads_the_test_data_setting_and_says_its_whole_first_sentence(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO), "REALTIME_ADAIN_TEST_DATA": str(tmp_path / "copy")}
    tool = [sys.executable, str(REPO / "tools" / "bench_motion_beside_python.py")]
    done = subprocess.run([*tool, "--size", "160x96", "--seconds", "0.1", "--repeats", "1"], capture_output=True,
                          text=True, env=env, timeout=60)
    assert done.returncode == 1 and f"{tmp_path}/copy/content/golden_gate.jpg: not found" in done.stderr
    done = subprocess.run([*tool, "--help"], capture_output=True, text=True, env=env, timeout=60)
    assert "`realtime_adain.switch_interval`)." in " ".join(done.stdout.split())


@pytest.mark.slow  # (default run's time: the whole check script)
def test_gpu_check_without_a_gpu_leaves_only_its_results(tmp_path):
    """Refused for want of a GPU (hidden here, as on a machine without one), it left its work folder."""
    (tmp_path / "tmp").mkdir()
    (tmp_path / "out").mkdir()
    done = subprocess.run(["bash", str(REPO / "tools" / "gpu_check.sh")], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "CUDA_VISIBLE_DEVICES": "", "TMPDIR": str(tmp_path / "tmp"),
                               "OUT": str(tmp_path / "out")})
    assert done.returncode == 3, done.stderr
    assert not list((tmp_path / "tmp").iterdir())
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["results.tar.gz"]
