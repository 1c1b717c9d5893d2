"""`realtime-adain bench serve`: a real server subprocess and a simulated client, figures in the report."""

from __future__ import annotations

import json

import pytest

from test_serve import WEBRTC


@WEBRTC
@pytest.mark.slow  # (default run's time: a benchmark run)
def test_bench_serve_reports_fps_latency_and_cpu(run_cli, weights_env, tmp_path):
    out = tmp_path / "serve.json"
    code, stdout, err = run_cli("bench", "serve", "--clients", "1", "--seconds", "2", "--warmup", "0", "--size", "64x48",
                                "--process-size", "0", "--stabilize", "off", "--device", "cpu", "--json", out)
    assert code == 0, err
    result = json.loads(out.read_text())
    assert result["benchmark"] == "serve" and result["clients"] == 1 and result["frame_size"] == "64x48"
    assert result["device"] == "cpu" and result["machine"] in stdout  # (the machine's name, apart from the device)
    assert result["weights"] == "installed"  # the generated weights, through the environment
    assert result["fps_per_client"][0] > 0 and result["per_client"][0]["frames"] > 0
    assert 0 < result["latency_p50_ms"] <= result["latency_p95_ms"] < 10_000
    assert result["unmatched"] == 0  # every returned frame named a frame that was sent
    assert result["server_cpu"] is not None and result["server_cpu"] > 0
    assert json.loads(stdout.strip().splitlines()[-1]) == result


def test_bench_serve_refuses_a_folder_as_json(run_cli, weights_env, tmp_path):
    code, _out, err = run_cli("bench", "serve", "--json", tmp_path)
    assert code == 2 and "is a folder" in err


@WEBRTC
@pytest.mark.slow
def test_bench_serve_ends_on_sigterm_with_one_line_and_no_server_left(weights_env, tmp_path):
    """SIGTERM while measuring: raised inside the event loop, it left the clients' tasks pending
    ("Task was destroyed but it is pending!" lines after "terminated"), and now and then the exit
    hung on them with the server left running. Now the measurement is cancelled, its clients
    closed, the server stopped: 143 and one line."""
    import signal
    import subprocess
    import sys
    import time

    bench = subprocess.Popen([sys.executable, "-m", "realtime_adain", "bench", "serve", "--clients", "2", "--seconds", "60",
                              "--fps", "10", "--frame-size", "64x48", "--process-size", "32", "--stabilize", "off",
                              "--device", "cpu"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not subprocess.run(["pgrep", "-P", str(bench.pid)],
                                                                 capture_output=True).stdout.strip():
            time.sleep(0.2)
        time.sleep(8)  # the server loads, the clients connect and measure
        server = subprocess.run(["pgrep", "-P", str(bench.pid)], capture_output=True, text=True).stdout.split()
        bench.send_signal(signal.SIGTERM)
        out, err = bench.communicate(timeout=60)
    finally:
        bench.kill()
    assert bench.returncode == 143 and err == "terminated\n", err
    assert server and all(subprocess.run(["kill", "-0", pid], capture_output=True).returncode for pid in server)
