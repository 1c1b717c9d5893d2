"""A new user's first hour with `bench`, and `bench` under hostile conditions: results files that
would replace the inputs, JSON no reader accepts, a Ctrl-C that `bench live` took for the end of a
measurement, defaults that ignored where the test material is, and help texts that disagreed."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path

import cv2
import pytest

from cli_support import one_error_line

REPO = Path(__file__).resolve().parents[1]
TINY_TEMPORAL = ("bench", "temporal", "--frames", "2", "--size", "32", "--cost-frames", "1", "--strengths", "0.5")


def tiny_temporal(data_dir: Path, *extra) -> tuple:
    """A short `bench temporal` on the test material (later options win over these)."""
    return (*TINY_TEMPORAL, "--video", data_dir / "videos" / "cutBunny.mp4", "--photo", data_dir / "content" / "golden_gate.jpg",
            "--style", data_dir / "style" / "brushstrokes.jpg", *extra)
TARGETS = ("model", "video", "live", "train", "temporal", "serve")
# What every benchmark's JSON has (live, train and serve had no date; live and train no machine).
COMMON_KEYS = {"benchmark", "date", "machine", "torch"}


def strict_json(text: str) -> dict:
    """JSON as a strict reader takes it: NaN and Infinity are no JSON."""
    def refuse(name: str) -> None:
        raise ValueError(f"{name} in JSON")

    return json.loads(text, parse_constant=refuse)


@pytest.mark.parametrize("flag", ["--json", "--figure"])
@pytest.mark.parametrize("which", ["--style", "--photo"])
def test_temporal_results_are_not_written_over_an_input(run_cli, weights_env, data_dir, tmp_path, flag, which):
    """`bench temporal --style st.jpg --json st.jpg` replaced the style image with the JSON report."""
    source = data_dir / ("style/brushstrokes.jpg" if which == "--style" else "content/golden_gate.jpg")
    kept = tmp_path / ("input.png" if flag == "--figure" else "input.jpg")  # (--figure takes .png names only)
    cv2.imwrite(str(kept), cv2.imread(str(source))) if flag == "--figure" else shutil.copy(source, kept)
    before = kept.read_bytes()
    code, out, err = run_cli(*tiny_temporal(data_dir, which, kept, flag, kept))
    assert code == 2 and one_error_line(err) == f"error: {kept}: output would overwrite an input" and not out
    assert kept.read_bytes() == before


def test_temporal_json_and_figure_cannot_share_a_file(run_cli, weights_env, data_dir, tmp_path):
    """The PNG figure was written, then replaced by the JSON under its name."""
    code, out, err = run_cli(*tiny_temporal(data_dir, "--json", tmp_path / "r.png", "--figure", tmp_path / "r.png"))
    assert code == 2 and one_error_line(err) == f"error: {tmp_path / 'r.png'}: --json and --figure name one file"
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("size", ["16", "31"])
def test_temporal_sizes_below_the_flow_minimum_are_one_usage_line(run_cli, weights_env, data_dir, size):
    """`--size 16` passed the parser and ended in a NumPy broadcast traceback: the input's flow is
    computed on lumas stretched to 32 pixels a side."""
    code, out, err = run_cli(*tiny_temporal(data_dir, "--size", size))
    assert code == 2 and f"{size} is outside 32..1080" in one_error_line(err) and not out


@pytest.mark.parametrize("flag", ["--json", "--figure", "--video", "--photo", "--style"])
def test_temporal_empty_paths_are_one_usage_line(run_cli, flag):
    """`--json "$UNSET"` said `error: .: is a folder`; `--video ''` said `.: not a regular file`."""
    code, _, err = run_cli("bench", "temporal", flag, "")
    assert code == 2 and f"argument {flag}: an empty path" in one_error_line(err)


def test_reports_hold_no_nan_or_infinity_and_file_comes_first(tmp_path, capsys, monkeypatch):
    """`bench temporal`'s per-frame row has PSNR inf against itself, a flat clip's ratios are NaN:
    its JSON said Infinity and NaN, which JSON readers refuse. The results file is written before
    stdout, so a full or closed stdout cannot lose it."""
    from realtime_adain.benchmarks.setup import report_json

    result = {"rows": [{"psnr": float("inf"), "ratio": float("nan"), "e_warp": 0.5}], "floor": -float("inf")}
    report_json(result, tmp_path / "r.json")
    line = capsys.readouterr().out.strip()
    expected = {"rows": [{"psnr": None, "ratio": None, "e_warp": 0.5}], "floor": None}
    assert strict_json(line) == strict_json((tmp_path / "r.json").read_text()) == expected

    class Full(io.StringIO):
        def write(self, text: str) -> int:
            raise OSError(28, "No space left on device")

    monkeypatch.setattr(sys, "stdout", Full())
    with pytest.raises(OSError):
        report_json({"a": 1}, tmp_path / "kept.json")
    assert strict_json((tmp_path / "kept.json").read_text()) == {"a": 1}


@pytest.mark.slow  # a whole (tiny) temporal run: 8-10 s
def test_temporal_json_is_strict_json(run_cli, weights_env, data_dir, tmp_path):
    code, out, err = run_cli(*tiny_temporal(data_dir, "--json", tmp_path / "r.json"))
    assert code == 0, err
    for text in (out.strip().splitlines()[-1], (tmp_path / "r.json").read_text()):
        rows = strict_json(text)["clips"][0]["rows"]
        assert rows[0]["variant"] == "per-frame" and rows[0]["psnr"] == "inf"


@pytest.mark.parametrize("signum, code, word", [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated")])
def test_a_signal_interrupts_bench_live_like_every_benchmark(run_cli, weights_env, monkeypatch, one_thread,
                                                             signum, code, word):
    """`live` ends a session on Ctrl-C the normal way; `bench live` then printed the figures of the
    shortened run with exit status 0, and with --carry-motion started its second run."""
    from realtime_adain.benchmarks import live

    started = []

    class SignalledSession(live.LiveSession):
        """The real session, sent the signal (a real one, to this process) once frames come."""

        def run(self) -> None:
            started.append(self)

            def send() -> None:
                while not self.stats.frames and not self.stop_event.is_set():
                    self.stop_event.wait(0.05)
                os.kill(os.getpid(), signum)

            threading.Thread(target=send, daemon=True).start()
            super().run()

    monkeypatch.setattr(live, "LiveSession", SignalledSession)
    got, out, err = run_cli("bench", "live", "--seconds", "60", "--warmup", "0", "--size", "32",
                            "--resolution", "64x48", "--stabilize", "off", "--carry-motion")
    assert (got, err.strip().splitlines()[-1]) == (code, word), err
    assert len(started) == 1 and "{" not in out


@pytest.mark.parametrize("target", ["live", "train"])
def test_every_benchmark_takes_json(run_cli, tmp_path, target):
    """`bench live` and `bench train` had no --json (the other four had): a folder is refused first."""
    code, out, err = run_cli("bench", target, "--json", tmp_path)
    assert code == 2 and one_error_line(err) == f"error: {tmp_path}: is a folder; give a file name" and not out


@pytest.mark.slow  # (default run's time: 2 s)
def test_bench_live_writes_its_json_file(run_cli, weights_env, tmp_path, one_thread):
    code, out, err = run_cli("bench", "live", "--seconds", "1", "--warmup", "0", "--size", "32", "--resolution", "64x48",
                             "--stabilize", "off", "--json", tmp_path / "live.json")
    assert code == 0, err
    result = strict_json((tmp_path / "live.json").read_text())
    assert result == strict_json(out.strip().splitlines()[-1])
    assert COMMON_KEYS <= set(result) and result["dtype"] == "fp32"  # as --dtype names it (was "float32")


@pytest.mark.slow  # a training step on the CPU (5-10 s)
def test_bench_train_json_has_the_common_keys(run_cli, tmp_path, one_thread):
    code, out, err = run_cli("bench", "train", "--device", "cpu", "--batch-size", "1", "--size", "16", "--iterations", "1",
                             "--warmup", "0", "--json", tmp_path / "train.json")
    assert code == 0, err
    result = strict_json((tmp_path / "train.json").read_text())
    assert result == strict_json(out.strip().splitlines()[-1]) and COMMON_KEYS <= set(result)


def test_clip_defaults_follow_the_test_material_variable(run_cli, weights_env, tmp_path, monkeypatch):
    """In a fresh clone without ../shared/data, README's `bench video --frames 48` named a missing
    ../shared/data file and nothing else, though the tests honour $REALTIME_ADAIN_TEST_DATA."""
    monkeypatch.setenv("REALTIME_ADAIN_TEST_DATA", str(tmp_path / "material"))
    for target in ("video", "temporal"):
        code, _, err = run_cli("bench", target)
        clip = tmp_path / "material" / "videos" / "cutBunny.mp4"
        assert code == 2 and (f"{clip}: no such file (pass --video, or point $REALTIME_ADAIN_TEST_DATA at the test "
                              "material)") in one_error_line(err)


def test_bench_help_lists_targets_in_the_readme_order(run_cli):
    code, out, _ = run_cli("bench", "--help")
    listed = re.findall(r"^    (\w+)\s", out, re.M)
    readme = re.findall(r"^realtime-adain bench (\w+)", (REPO / "README.md").read_text(), re.M)
    assert code == 0 and listed == readme == list(TARGETS)


@pytest.mark.parametrize("target", TARGETS)
def test_bench_options_name_their_values(run_cli, target):
    """`--warmup WARMUP`, `--source-fps SOURCE_FPS`, `--batch-size BATCH_SIZE`: argparse's default
    metavar said nothing of the unit (steps or seconds?) where every other option says N, S, PX...
    (A metavar that is its own unit stays: `--device DEVICE`, `--codec CODEC`, `--fps FPS`.)"""
    code, out, _ = run_cli("bench", target, "--help")
    usage = out.split("\n\n")[0]
    own_unit = ("DEVICE", "CODEC", "FPS")
    shouting = [m.group(0) for m in re.finditer(r"--([\w-]+) ([A-Z_]+)\]", usage)
                if m.group(2) == m.group(1).upper().replace("-", "_") not in own_unit]
    assert code == 0 and shouting == []


@pytest.mark.slow  # a subprocess run of `bench video` (10 s)
def test_names_in_the_json_are_utf8_in_the_c_locale(weights_env, data_dir, tmp_path):
    """Under LC_ALL=C PYTHONUTF8=0 a clip named clïp.mp4 was "cl\\udcc3\\udcafp.mp4" in the JSON."""
    clip = tmp_path / "clïp.mp4"
    shutil.copy(data_dir / "videos" / "cutBunny.mp4", clip)
    env = {**os.environ, "LC_ALL": "C", "PYTHONUTF8": "0", "PYTHONPATH": str(REPO)}
    result = subprocess.run([sys.executable, "-m", "realtime_adain", "bench", "video", "--video", clip, "--frames", "2",
                             "--style", data_dir / "style" / "brushstrokes.jpg",
                             "--size", "32", "--style-size", "32", "--repeats", "1", "--no-baseline", "--threads", "1"],
                            capture_output=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    assert strict_json(result.stdout.decode().strip().splitlines()[-1])["clip"] == "clïp.mp4"


@pytest.mark.parametrize("target", ["model", "video"])
def test_engines_are_a_list_or_repeated_in_both_benchmarks(target):
    """`bench model` took only `--engine eager --engine onnx` ("invalid choice: 'eager,onnx'"), `bench
    video` only `--engine eager,onnx` (a repeat replaced the first); each now takes both forms."""
    from realtime_adain.cli import build_parser

    argv = ["bench", target, "--engine", "eager,onnx", "--engine", "compile"]
    assert build_parser(argv).parse_args(argv).engine == ["eager", "onnx", "compile"]

