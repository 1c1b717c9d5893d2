"""Fixes of session 36: the live session's outputs."""

from __future__ import annotations

import argparse
import resource
import socket
import threading

import numpy as np
import pytest

from live_support import read_video, record_noise
from realtime_adain.errors import UserError
from realtime_adain.live import streamer as streamer_module
from realtime_adain.live.recorder import Recorder
from realtime_adain.live.streamer import Streamer


def test_a_recording_past_the_file_size_limit_stops_at_once_and_plays(tmp_path):
    """`ulimit -f` (RLIMIT_FSIZE): reserving room past it fails with EFBIG, which was taken as a file
    system without fallocate; FFmpeg's writes then failed unseen until the end, every frame encoded
    for nobody and the recording lost. Now the limit stops it as a full disk does: at once, the
    frames up to there kept in a partial that plays."""
    out, events = tmp_path / "rec.mp4", []
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (400_000, hard))
    try:
        recorder = Recorder(out, (160, 120), 24.0, log=lambda event, **fields: events.append((event, fields)))
        stopped_at = record_noise(recorder, 200, 0.002)
        kept = recorder.close()
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
    assert recorder.error == "File too large", recorder.error
    assert ("output-error", {"path": str(out), "reason": recorder.error}) in events
    assert stopped_at < 150  # said while the session runs, not at its end
    assert [p.name for p in tmp_path.iterdir()] == ["rec.partial.mp4"]
    assert 0 < read_video(kept)[0] == recorder.written and kept.stat().st_size <= 400_000


ACCEPTED: list = []  # (kept open: a connection freed with our bytes unread would be reset)


def silent_server() -> tuple[socket.socket, int]:
    """A TCP server that accepts and then says nothing (a stalled RTMP server)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    threading.Thread(target=lambda: ACCEPTED.append(server.accept()), daemon=True).start()
    return server, server.getsockname()[1]


def test_an_rtmp_server_that_never_answers_is_said_before_the_session(monkeypatch):
    """PyAV opens the output holding Python's lock and FFmpeg's RTMP has no timeout it can set: a
    server that accepted and never answered froze the session for good, SIGTERM unanswered (h7)."""
    monkeypatch.setattr(streamer_module, "STREAM_ANSWER_S", 0.5)
    server, port = silent_server()
    with server, pytest.raises(UserError, match=r"the RTMP server did not answer within 0.5 s$"):
        Streamer.checked_scheme(f"rtmp://127.0.0.1:{port}/app/key")
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    with pytest.raises(UserError, match=r"cannot connect \(Connection refused\)$"):
        Streamer.checked_scheme(f"rtmp://127.0.0.1:{port}/app/key")


@pytest.mark.parametrize("url", ["tcp://0.0.0.0:5000?listen=1", "tcp://127.0.0.1:5000?listen", "rtmp://127.0.0.1/a?listen"])
def test_a_stream_that_would_listen_is_refused(url):
    """A listening tcp:// stream froze the session until a viewer came, and on 0.0.0.0 served
    anyone, with no token (h7)."""
    with pytest.raises(UserError, match="--stream does not listen for viewers"):
        Streamer.checked_scheme(url)


def test_a_tcp_stream_gets_a_timeout():
    assert streamer_module.tcp_timeout("tcp://h:1") == "tcp://h:1?timeout=5000000"
    assert streamer_module.tcp_timeout("tcp://h:1?tcp_nodelay=1") == "tcp://h:1?tcp_nodelay=1&timeout=5000000"
    assert streamer_module.tcp_timeout("tcp://h:1?timeout=9") == "tcp://h:1?timeout=9"


def test_live_resolution_is_8k_either_way_up():
    """`--resolution 16x16384` passed the parser ("16 to 16384 pixels") and was refused after as
    "at most 7680x4320"; portrait 8K was refused (h7)."""
    from realtime_adain.commands import argtypes

    assert argtypes.camera_resolution("4320x7680") == (4320, 7680)
    for text, says in (("16x16384", "both sides must be 16 to 7680 pixels"), ("7680x7680", "at most 7680x4320, either way up")):
        with pytest.raises(argparse.ArgumentTypeError, match=says):
            argtypes.camera_resolution(text)


def test_a_frame_rate_too_small_to_keep_says_the_least():
    """`--fps 1e-9` was told "give frames per second above 0", which it is (h7)."""
    from realtime_adain.video.sequence import check_framerate

    with pytest.raises(UserError, match=r"^--fps 1e-09: give more than 1/2002 frames per second \(a frame every 2002 s\)"):
        check_framerate(1e-9, "--fps")
    assert check_framerate(1 / 2001, "--fps") > 0


def test_a_rescan_off_the_main_thread_says_the_image_libraries_lines_as_ours(stylizer, data_dir, tmp_path, capfd):
    """The rescan (a thread of its own) let libpng/libjpeg print raw lines between the log's, and a
    JPEG cut short was taken without the note the first scan gives (h7)."""
    import cv2

    from realtime_adain.native_stderr import capturing_here
    from realtime_adain.live.styles import StyleLibrary

    folder = tmp_path / "styles"
    folder.mkdir()
    (folder / "a.jpg").write_bytes((data_dir / "style" / "trial.jpg").read_bytes())
    logged: list = []
    library = StyleLibrary([folder], stylizer, 64, tmp_path / "cache", log=lambda *a, **f: logged.append((a, f))).load()
    png = bytearray(cv2.imencode(".png", np.full((40, 40, 3), 90, np.uint8))[1].tobytes())
    png[60] ^= 0xFF  # (inside IDAT: a CRC error)
    (folder / "crc.png").write_bytes(bytes(png))
    jpeg = (data_dir / "style" / "mondrian.jpg").read_bytes()
    (folder / "cut.jpg").write_bytes(jpeg[:len(jpeg) // 2])
    capfd.readouterr()

    def scan() -> None:
        with capturing_here():
            library.rescan()

    worker = threading.Thread(target=scan)
    worker.start()
    worker.join()
    err = capfd.readouterr().err
    assert "libpng error" not in err.replace("(libpng error", "") and "Corrupt JPEG" not in err, err
    assert "cut.jpg: the file ends before its picture does (cut short?)" in err, err
    assert any("crc.png: not a readable image (libpng error" in str(entry) for entry in logged), logged
