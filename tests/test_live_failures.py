"""Live sessions whose outputs or capture fail: said with the path or cause, never a silent exit 0.

A recording onto a full disk (a real 2 MiB tmpfs), a stream whose peer is gone, a resolution no
frame can have, a capture thread that dies: one clear report each, and a non-zero exit.
"""

from __future__ import annotations

import os
import socket
import threading
import time

import numpy as np
import pytest

from live_support import FAST, copy_styles, read_video
from realtime_adain.live.capture import Capture
from realtime_adain.live.recorder import Recorder
from test_full_disk import FILLER, disk, fill  # noqa: F401


@pytest.fixture
def styles(data_dir, tmp_path):
    return copy_styles(data_dir, tmp_path / "styles", names=("trial.jpg",))


@pytest.fixture
def clip(data_dir):
    return data_dir / "videos" / "cutBunny.mp4"


@pytest.mark.parametrize("resolution", ["7681x16", "4321x4321", "16384x16384"])  # (8K either way up: 16x4321 is in)
def test_resolution_beyond_8k_is_one_line(run_cli, weights_env, clip, styles, tmp_path, resolution):
    code, _, err = run_cli("live", "--source", clip, "--styles", styles, "--no-window", "-o", tmp_path / "o.mp4",
                           "--resolution", resolution, *FAST)
    assert code == 2 and len(err.splitlines()) == 1 and err.startswith("error:") and "--resolution" in err, err
    assert "7680x4320, either way up" in err or "16 to 7680 pixels" in err
    assert not (tmp_path / "o.mp4").exists()


@pytest.mark.parametrize("leave", [0, 120_000])  # full at once; full after some frames (a partial may play)
def test_recording_onto_a_full_disk_says_its_path(disk, leave):
    """Noise frames (which do not compress) fill the disk in a few frames; the session's handling of
    a failed output is the streams' below."""
    fill(disk, leave)
    out, events = disk / "rec.mp4", []
    recorder = Recorder(out, (160, 120), 24.0, log=lambda event, **fields: events.append((event, fields)))
    noise = np.random.default_rng(0).integers(0, 256, (200, 120, 160, 3), dtype=np.uint8)
    for i, image in enumerate(noise):
        recorder.submit(image, i / 24)
        time.sleep(0.002)
    kept = recorder.close()
    assert recorder.error and "No space left" in recorder.error and ".part" not in recorder.error
    assert ("output-error", {"path": str(out), "reason": recorder.error}) in events
    left = [p for p in disk.iterdir() if p.name != FILLER]
    assert left == ([kept] if kept else []) and not out.exists()  # no hidden temporary file either
    if kept:
        assert kept.name == "rec.partial.mp4" and read_video(kept)[0] > 0


def closing_listener() -> tuple[socket.socket, int]:
    """A TCP peer that accepts and hangs up at once, again and again (a viewer gone)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()

    def serve() -> None:
        while True:
            try:
                peer, _ = server.accept()
            except OSError:
                return
            peer.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            peer.close()  # with a reset

    threading.Thread(target=serve, daemon=True).start()
    return server, server.getsockname()[1]


def test_stream_whose_peer_is_gone_ends_the_session(run_cli, weights_env, clip, styles, one_thread):
    server, port = closing_listener()
    try:
        code, _, err = run_cli("live", "--source", clip, "--styles", styles, "--no-window",
                               "--stream", f"tcp://127.0.0.1:{port}", "--max-frames", "2000", *FAST)
    finally:
        server.close()
    assert code != 0, err
    assert f"tcp://127.0.0.1:{port}" in err and "Traceback" not in err


def test_stream_to_a_closed_port_ends_the_session(run_cli, weights_env, clip, styles, one_thread):
    """TCP connects at the first frame: refused there, the session (with nothing else to feed) ends."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    code, _, err = run_cli("live", "--source", clip, "--styles", styles, "--no-window",
                           "--stream", f"tcp://127.0.0.1:{port}", "--max-frames", "2000", *FAST)
    assert code == 1, err
    assert f'live: output-failed target=tcp://127.0.0.1:{port} reason="Connection refused"' in err
    assert 'live: error reason="no working output left' in err and "Traceback" not in err


class BrokenSource:
    description = "broken"

    def open(self) -> None:
        pass

    def frames(self):
        raise MemoryError("Unable to allocate 27.9 TiB for an array")
        yield

    def close(self) -> None:
        pass


def test_a_capture_thread_that_dies_says_why(capsys):
    events = []
    capture = Capture(BrokenSource(), log=lambda event, **fields: events.append((event, fields)))
    capture.start()
    capture.join(5)
    assert capture.error == "MemoryError: Unable to allocate 27.9 TiB for an array"
    assert capture.latest.closed and events[-1][0] == "source-error"
    assert "Traceback" not in capsys.readouterr().err


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_an_event_log_on_a_full_disk_says_its_path(capsys):
    """ENOSPC names no file; the line names the log (`live --log /dev/full` said only 'No space left').
    It is said once and the file given up, not raised: raising from a logging thread lost recordings."""
    from realtime_adain.live.events import EventLog

    log = EventLog("/dev/full")
    log("start", source="cam")
    log("session", frames=1)
    log.close()
    err = capsys.readouterr().err
    assert err.count('live: log-failed path=/dev/full reason="No space left on device"') == 1, err
    assert "live: session frames=1" in err and "No space" in log.error
