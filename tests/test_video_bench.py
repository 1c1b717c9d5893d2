"""`realtime-adain bench video` runs both loops on the same weights and prints the ratio (tiny sizes)."""

from __future__ import annotations

import json


def test_bench_video_reports_fps_and_speedup(run_cli, weights_env, data_dir, tmp_path):
    report = tmp_path / "bench.json"
    code, out, err = run_cli("bench", "video", "--video", data_dir / "videos" / "cutBunny.mp4",
                             "--style", data_dir / "style" / "brushstrokes.jpg", "--frames", "3", "--size", "32",
                             "--style-size", "64", "--repeats", "1", "--threads", "1", "--json", report)
    assert code == 0, err
    result = json.loads(report.read_text())
    assert result["frames"] == 3 and result["weights"] == "installed"
    baseline, pipeline = result["rows"]
    assert baseline["variant"].startswith("reference loop") and baseline["speedup"] == 1.0
    assert pipeline["fps"] > 0 and pipeline["speedup"] > 0
    assert "speed-up" in out and "reference loop" in out
