"""Recorder timing and atomicity: a recording plays at the speed it was seen, or does not appear."""

from __future__ import annotations

import shutil

import av
import numpy as np
import pytest

from realtime_adain.errors import UserError
from realtime_adain.live import recorder as recorder_module, streamer as streamer_module
from realtime_adain.live.outputs import even
from realtime_adain.live.recorder import Recorder


def test_presentation_times_follow_capture_times(tmp_path):
    path = tmp_path / "rec.mp4"
    recorder = Recorder(path, (114, 64), fps=30, log=lambda *a, **k: None)
    captured = [10.0 + 0.1 * i for i in range(10)]  # the stylizer kept up with every 3rd frame
    for i, t in enumerate(captured):
        recorder.submit(np.full((64, 114, 3), 20 * i, np.uint8), t)
    assert recorder.close() == path and not list(tmp_path.glob(".*.part"))
    assert [p.name for p in tmp_path.iterdir()] == ["rec.mp4"]  # the temporary file became it
    with av.open(str(path)) as container:
        frames = list(container.decode(video=0))
    times = [float(f.time) for f in frames]
    assert len(frames) == 10 and (frames[0].width, frames[0].height) == (114, 64)
    assert np.allclose(np.array(times) - times[0], np.array(captured) - captured[0], atol=1 / 30)
    means = [float(f.to_ndarray(format="rgb24").mean()) for f in frames]
    assert np.allclose(means, [20 * i for i in range(10)], atol=3)  # frames in order, none lost


def test_odd_sizes_are_cropped_to_even_420_and_an_empty_recording_leaves_no_file(tmp_path):
    """A recording, as a stream, is 4:2:0 cropped to even sides (4:4:4 at the exact size played in
    neither browsers nor QuickTime)."""
    recorder = Recorder(tmp_path / "odd.mp4", (115, 65), fps=24, log=lambda *a, **k: None)
    recorder.submit(np.zeros((65, 115, 3), np.uint8), 0.0)
    recorder.close()
    with av.open(str(tmp_path / "odd.mp4")) as container:
        stream = container.streams.video[0]
        assert (stream.width, stream.height, stream.codec_context.pix_fmt) == (114, 64, "yuv420p")
    assert even((115, 65)) == (114, 64)
    empty = Recorder(tmp_path / "empty.mp4", (64, 64), fps=24, log=lambda *a, **k: None)
    assert empty.close() is None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["odd.mp4"]  # no temporary file left behind


def test_unwritable_place_is_a_user_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(UserError):
        Recorder(blocker / "sub" / "rec.mp4", (64, 64), fps=24, log=lambda *a, **k: None)


@pytest.mark.slow  # (default run's time: 2 s)
def test_a_stalled_stream_peer_cannot_hang_the_shutdown(monkeypatch):
    """A TCP peer that accepts and never reads: the encoder blocks on the socket, close() still returns."""
    import socket
    import time

    monkeypatch.setattr(streamer_module, "STREAM_CLOSE_TIMEOUT", 0.5)
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    events = []
    try:
        streamer = streamer_module.Streamer(f"tcp://127.0.0.1:{server.getsockname()[1]}", (320, 240), 30,
                                    log=lambda event, **f: events.append(event))
        noise = np.random.default_rng(0)  # incompressible frames fill the socket buffers quickly
        # Until the encoder is blocked on the stalled peer: nothing written for a second while
        # frames come. (Frames dropped alone meant nothing on a loaded machine: a slow encoder
        # drops them too, its few packets still fit the buffers, and it closed without a stall.)
        deadline = time.monotonic() + 60
        i, last_written, since = 0, -1, time.monotonic()
        while time.monotonic() < deadline:
            streamer.submit(noise.integers(0, 256, (240, 320, 3), dtype=np.uint8), i / 30)
            time.sleep(0.002)
            i += 1
            if streamer.written != last_written:
                last_written, since = streamer.written, time.monotonic()
            elif time.monotonic() - since > 1.0 and streamer.dropped:
                break
        started = time.monotonic()
        streamer.close()
        assert time.monotonic() - started < 3.0
        # (read before the peer goes: closing it resets the connection, which ends the encoder)
        blocked, said = streamer._encoder.is_alive(), "output-error" in events
    finally:
        server.close()
    assert streamer.written < i and streamer.dropped > 0
    # Given up (and said) exactly when the encoder was still blocked at the deadline; on a loaded
    # machine the kernel sometimes took the last bytes in time, and it finished cleanly.
    assert said == blocked, streamer.error


def test_an_error_at_the_final_flush_ends_the_recording_at_once(tmp_path, monkeypatch):
    monkeypatch.setattr(recorder_module, "RECORDING_CLOSE_TIMEOUT", 20.0)
    folder = tmp_path / "gone"
    events = []
    recorder = recorder_module.Recorder(folder / "rec.mp4", (64, 64), fps=24, log=lambda event, **f: events.append(f))
    recorder.submit(np.zeros((64, 64, 3), np.uint8), 0.0)  # held in x264's lookahead: nothing muxed yet
    shutil.rmtree(folder)  # so the container's file cannot be created when close() flushes
    assert recorder.close() is None
    assert len(events) == 1 and "given up" not in events[0]["reason"]  # the flush error, not a stall
    assert not folder.exists()
