"""Headless live runs: a recorded MP4, a UDP MPEG-TS stream read back, signals, bad options."""

from __future__ import annotations

import re
import signal
import socket
import threading
import time

import av
import pytest

from live_support import FAST, cli_env, copy_styles, live_command, read_video, start  # noqa: F401
from video_samples import wait_until_encoding


@pytest.fixture
def styles(data_dir, tmp_path):
    return copy_styles(data_dir, tmp_path / "styles")


def test_no_window_records_n_frames(run_cli, weights_env, data_dir, styles, tmp_path, one_thread):
    out = tmp_path / "out.mp4"
    code, _, err = run_cli("live", "--source", data_dir / "videos" / "cutBunny.mp4", "--styles", styles,
                           "--no-window", "-o", out, "--max-frames", "6", *FAST)
    assert code == 0, err
    assert "live: styles count=3 computed=3 cached=0" in err
    assert "live: start source=cutBunny.mp4 resolution=640x360 size=114x64" in err
    session = re.search(r"live: session frames_shown=(\d+) dropped=(\d+) latency_median_ms=([\d.]+) "
                        r"latency_p95_ms=([\d.]+) mean_fps=([\d.]+)", err)
    assert session and int(session[1]) == 6 and float(session[3]) > 0 and float(session[4]) >= float(session[3])
    assert read_video(out) == (6, 114, 64)  # 114x64 is what ran; H.264 got it as is (even sides)
    # The second start reads every style's statistics from the cache.
    out = tmp_path / "sortie été.mp4"
    code, _, err = run_cli("live", "--source", data_dir / "videos" / "cutBunny.mp4", "--styles", styles,
                           "--no-window", "-o", out, "--max-frames", "2", *FAST)
    assert code == 0 and "live: styles count=3 computed=0 cached=3" in err
    assert f'live: output path="{out}" frames=2' in err  # quoted for the space, the accents as they are


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow  # (default run's time: 5 s)
def test_stream_over_udp_is_received_by_a_pyav_reader(run_cli, weights_env, data_dir, styles, one_thread):
    port = free_udp_port()
    received: list[tuple[int, int]] = []
    errors: list[str] = []

    def receive() -> None:
        try:
            with av.open(f"udp://127.0.0.1:{port}", format="mpegts", timeout=30) as container:
                for frame in container.decode(video=0):
                    received.append((frame.width, frame.height))
                    if len(received) >= 5:
                        break
        except Exception as exc:  # reported by the assertion below
            errors.append(repr(exc))

    reader = threading.Thread(target=receive, daemon=True)
    reader.start()
    time.sleep(0.3)  # the reader binds the port before anything is sent
    code, _, err = run_cli("live", "--source", data_dir / "videos" / "cutBunny.mp4", "--styles", styles,
                           "--no-window", "--stream", f"udp://127.0.0.1:{port}", "--max-frames", "40", *FAST)
    reader.join(timeout=30)
    assert code == 0, err
    assert not errors, errors
    assert len(received) >= 5 and set(received) == {(114, 64)}


@pytest.mark.parametrize("sig", [signal.SIGTERM, pytest.param(signal.SIGINT, marks=pytest.mark.slow)])  # the same path
def test_signal_ends_cleanly_with_recording_finalised(published_weights, data_dir, styles, tmp_path, sig):
    out, log = tmp_path / "out.mp4", tmp_path / "live.log"
    cmd = live_command("--source", data_dir / "videos" / "cutBunny.mp4", "--styles", styles, "--no-window",
                       "-o", out, "--log", log, *FAST)
    process = start(cmd, cli_env(published_weights, tmp_path / "home"), tmp_path, tmp_path / "stderr.txt")
    try:
        # Some frames through, by the run's own CPU time after its hidden output appeared (a fixed
        # 1.5 s after `live: start` saw no frame on a loaded machine, and a 60 s wait for the start
        # ran out there and signalled during start-up).
        assert wait_until_encoding(process, tmp_path, out.stem, cpu_s=1.5, timeout_s=240), \
            (tmp_path / "stderr.txt").read_text()
        process.send_signal(sig)
        code = process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    text = log.read_text()
    assert code == 0, (tmp_path / "stderr.txt").read_text()
    assert f"live: signal name={sig.name}" in text and "live: session frames_shown=" in text
    frames, _, _ = read_video(out)
    assert frames > 0 and f"live: output path={out} frames={frames}" in text


@pytest.mark.parametrize("extra, message", [
    ((), "--no-window needs somewhere to send frames"),
    (("-o", "out.avi"), "out.avi: -o writes MP4"),
    (("--stream", "http://127.0.0.1:1/x"), "--stream takes udp://"),
    (("--stream", "udp://:99999"), "udp://:99999: the port must be a number from 1 to 65535"),  # (failed once running)
    (("--stream", "udp://"), "udp://: --stream udp:// needs HOST:PORT"),
    (("--stream", "udp://[::1:5000"), "udp://[::1:5000: not a URL (Invalid IPv6 URL)"),
    (("-o", "{clip}"), "output would overwrite the input"),
])
def test_bad_output_options(run_cli, weights_env, data_dir, styles, tmp_path, extra, message):
    clip = tmp_path / "clip.mp4"
    clip.write_bytes((data_dir / "videos" / "cutBunny.mp4").read_bytes())
    extra = [e.format(clip=clip) for e in extra]
    code, _, err = run_cli("live", "--source", clip, "--styles", styles, "--no-window", *extra, *FAST)
    assert code == 2 and message in err and err.count("\n") == 1, err


def test_virtual_camera_without_a_device_is_one_clear_line(run_cli, weights_env, data_dir, styles):
    code, _, err = run_cli("live", "--source", data_dir / "videos" / "cutBunny.mp4", "-s", styles,  # as image/video
                           "--no-window", "--virtual-cam", *FAST)
    assert code == 2 and err.count("\n") == 1
    assert "pyvirtualcam" in err or "no virtual camera device" in err  # package missing, or no device


def test_window_without_a_display_is_one_clear_line(run_cli, weights_env, data_dir, styles, monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    code, _, err = run_cli("live", "--source", data_dir / "videos" / "cutBunny.mp4", "--styles", styles, *FAST)
    assert code == 2 and "no display" in err


@pytest.mark.slow  # (default run's time: 2 s)
def test_live_benchmark_reports_fps_and_latency(run_cli, weights_env, one_thread):
    import json

    code, out, err = run_cli("bench", "live", "--seconds", "1.5", "--warmup", "0", "--size", "32",
                             "--resolution", "96x64", "--source-fps", "24")
    assert code == 0, err
    result = json.loads(out.strip().splitlines()[-1])
    assert result["benchmark"] == "live" and result["weights"] == "installed"
    assert result["device"] == "cpu" and result["machine"].endswith(" threads")
    assert result["source_resolution"] == "96x64" and result["processing_size"] == "48x32"
    assert result["frames"] >= 3 and 0 < result["fps"] <= 24 * 1.2
    assert 0 < result["latency_p50_ms"] <= result["latency_p95_ms"]


@pytest.mark.gpu
def test_headless_on_the_gpu_in_fp16(run_cli, weights_env, data_dir, styles, tmp_path):
    out = tmp_path / "gpu.mp4"
    code, _, err = run_cli("live", "--source", data_dir / "videos" / "cutBunny.mp4", "--styles", styles,
                           "--no-window", "-o", out, "--max-frames", "10", "--device", "cuda", "--dtype", "fp16",
                           "--size", "360")
    assert code == 0, err
    assert 'device="cuda:0 float16"' in err or 'device="cuda float16"' in err
    assert read_video(out) == (10, 640, 360)
