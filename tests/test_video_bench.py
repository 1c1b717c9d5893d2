"""`realtime-adain bench video` runs both loops on the same weights and prints the ratio (tiny sizes)."""

from __future__ import annotations

import json

import pytest


@pytest.mark.slow  # (default run's time: a benchmark run)
def test_bench_video_reports_fps_and_speedup(run_cli, weights_env, data_dir, tmp_path):
    report = tmp_path / "bench.json"
    code, out, err = run_cli("bench", "video", "--video", data_dir / "videos" / "cutBunny.mp4",
                             "--style", data_dir / "style" / "brushstrokes.jpg", "--frames", "3", "--size", "32",
                             "--style-size", "64", "--repeats", "1", "--threads", "1", "--stabilize", "off,flow:1,flow:2",
                             "--json", report)
    assert code == 0, err
    result = json.loads(report.read_text())
    assert result["frames"] == 3 and result["weights"] == "installed"
    assert result["device"] == "cpu" and result["codec"] == "libx264" and result["machine"].endswith(" threads")
    baseline, pipeline, stabilized, two_passes = result["rows"]
    assert baseline["variant"].startswith("reference loop") and baseline["speedup"] == 1.0
    assert pipeline["variant"].endswith("stabilize off") and stabilized["variant"].endswith("stabilize flow:1")
    assert two_passes["variant"].endswith("stabilize flow:2")  # passes always spelled out
    assert pipeline["fps"] > 0 and pipeline["speedup"] > 0 and stabilized["fps"] > 0 and two_passes["fps"] > 0
    assert "speed-up" in out and "reference loop" in out


@pytest.mark.parametrize("case, extra, expected", [
    ("not a video", [], "not a readable video"),
    ("threads not numbers", ["--threads", "a,1"], "argument --threads: 'a' is not a whole number"),
    ("unknown stabilize mode", ["--stabilize", "off,smooth"], "argument --stabilize: 'smooth' is not one of off, flow, stats, both"),
    ("repeated stabilize mode", ["--stabilize", "flow,off,flow"], "argument --stabilize: 'flow,off,flow' names a mode twice"),
    ("two passes without flow", ["--stabilize", "off,stats:2"], "argument --stabilize: 'stats:2': a mode takes :1 or :2 passes"),
    ("three passes", ["--stabilize", "flow:3"], "argument --stabilize: 'flow:3': a mode takes :1 or :2 passes"),
    ("empty passes", ["--stabilize", "flow:"], "argument --stabilize: 'flow:': a mode takes :1 or :2 passes"),
    ("default passes spelled out", ["--stabilize", "flow,flow:2"], "argument --stabilize: 'flow,flow:2' names a mode twice"),
    ("unwritable json", None, "output directory is not writable"),
])
def test_bench_video_bad_input_is_one_line_before_any_timing(case, extra, expected, run_cli, data_dir, tmp_path):
    notes = tmp_path / "notes.mp4"
    notes.write_text("not a video\n" * 20)
    video = notes if case == "not a video" else data_dir / "videos" / "cutBunny.mp4"
    extra = ["--json", notes / "bench.json"] if extra is None else extra  # a file where the folder should be
    code, out, err = run_cli("bench", "video", "--video", video, "--style", data_dir / "style" / "brushstrokes.jpg",
                             "--frames", "2", "--size", "32", "--repeats", "1", *extra)
    lines = err.strip().splitlines()
    assert code == 2 and "Traceback" not in err and expected in lines[-1] and "error:" in lines[-1], err
    assert "clip:" not in out  # refused before the weights load and the timing starts
