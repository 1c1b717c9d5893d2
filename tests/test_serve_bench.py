"""`realtime-adain bench serve`: a real server subprocess and a simulated client, figures in the report."""

from __future__ import annotations

import json

import pytest

from test_serve import WEBRTC


@WEBRTC
def test_bench_serve_reports_fps_latency_and_cpu(run_cli, weights_env, tmp_path):
    out = tmp_path / "serve.json"
    code, stdout, err = run_cli("bench", "serve", "--clients", "1", "--seconds", "2", "--warmup", "0", "--size", "64x48",
                                "--process-size", "0", "--stabilize", "off", "--device", "cpu", "--json", out)
    assert code == 0, err
    result = json.loads(out.read_text())
    assert result["benchmark"] == "serve" and result["clients"] == 1 and result["frame_size"] == "64x48"
    assert result["weights"] == "installed"  # the generated weights, through the environment
    assert result["fps_per_client"][0] > 0 and result["per_client"][0]["frames"] > 0
    assert 0 < result["latency_p50_ms"] <= result["latency_p95_ms"] < 10_000
    assert result["unmatched"] == 0  # every returned frame named a frame that was sent
    assert result["server_cpu"] is not None and result["server_cpu"] > 0
    assert json.loads(stdout.strip().splitlines()[-1]) == result


def test_bench_serve_refuses_a_folder_as_json(run_cli, weights_env, tmp_path):
    code, _out, err = run_cli("bench", "serve", "--json", tmp_path)
    assert code == 2 and "is a folder" in err
