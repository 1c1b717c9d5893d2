"""Session 53: `live` sources. A recording URL reopened after a drop is sought within the read
timeout (a server stalling in the seek hung the session for ever); the pictures the decoder still
holds when a URL is cut are shown before it counts as lost; a pipe whose writer pauses mid-stream
is said once, and plays on when it goes on; a descriptor that is a folder is named as given."""
import http.server
import os
import threading
from contextlib import contextmanager
from pathlib import Path

import pytest

from realtime_adain.live.capture import Capture
from realtime_adain.live.pyav_source import PyAVSource
from realtime_adain.live.source_opening import open_source
from realtime_adain.live.sources import SourceError, SourceLost
from test_live_streams15 import handled_by, make

TIMEOUT = 0.5  # a source's read timeout here (5 s in a session)


@contextmanager
def http_server(body: bytes, how: str):
    """http://127.0.0.1:PORT/clip for `body` on every request, the server taking no range requests:
    "stall" sends its whole length and half of it, then nothing (until the server stops); "overlong"
    claims twice its length, sends it and closes the connection (the client sees it cut)."""
    stop = threading.Event()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", str(len(body) * (2 if how == "overlong" else 1)))
            self.end_headers()
            self.wfile.write(body[:len(body) // 2] if how == "stall" else body)
            self.wfile.flush()
            if how == "stall":
                stop.wait(60)
            self.close_connection = True

        def log_message(self, *args) -> None:
            pass

    with handled_by(Handler, stop, poll=0.05) as url:
        yield f"{url}/clip"


def captured(source, log: list, wait: float = 30.0) -> Capture:
    """The capture of `source` once it ended (or after `wait`: a hang), its lines in `log`."""
    capture = Capture(source, log=lambda event, **fields: log.append((event, fields)), backoff=(0.05, 0.05))
    capture.start()
    capture.join(wait)
    hung = capture.is_alive()
    capture.stop()
    assert not hung, log
    return capture


def frames_read(capture: Capture) -> int:
    latest = capture.latest.newer(0, 0)
    return latest[1].index if latest else 0


def stalling_clip(tmp_path: Path) -> bytes:
    """An MPEG-TS recording of 1.2 s at 50 fps (its first half, sent, probed at once)."""
    return make(tmp_path / "clip.ts", "-f", "lavfi", "-i", "testsrc2=size=64x48:rate=50", "-t", "1.2",
                "-c:v", "mpeg2video", "-g", "5", "-f", "mpegts").read_bytes()


def test_a_reconnection_s_seek_to_a_stalled_server_ends_within_the_timeout(tmp_path):
    """The reopen's seek back to the last frame shown had no deadline: a server that stalled there
    (headers and half the file, then nothing, on every request) held it for ever. Now the reopen
    and its first read fail within the timeouts, as a reconnection that failed."""
    failed = []
    with http_server(stalling_clip(tmp_path), "stall") as url:
        source = PyAVSource(url, is_file=False, loop=False, timeout=TIMEOUT)
        source.open()
        with pytest.raises(SourceLost):
            for _ in source.frames():
                pass
        source.close()

        def reconnect() -> None:
            try:
                source.open()
                next(source.frames())
            except (SourceLost, SourceError) as exc:
                failed.append(exc)

        again = threading.Thread(target=reconnect, daemon=True)
        again.start()
        again.join(15)
        hung = again.is_alive()
    again.join(15)  # (the server gone: the seek held before the fix goes on)
    source.close()
    assert not hung and failed, "the reconnection's seek waited on the stalled server"


@pytest.mark.slow  # (4 s)
def test_a_server_stalling_in_every_reconnection_is_given_up(tmp_path):
    """The session's view: one `source-lost` line, then nothing for ever. Now the recording played
    once is given up after 3 reconnections, as one cut at the same place is."""
    log = []
    with http_server(stalling_clip(tmp_path), "stall") as url:
        source = PyAVSource(url, is_file=False, loop=False, timeout=TIMEOUT)
        source.open()
        capture = captured(source, log)
    assert capture.ended, log
    ended = [fields for event, fields in log if event == "source-ended"]
    assert ended and ended[0]["reason"].startswith("3 reconnections brought no new frame"), log
    assert [event for event, _ in log].count("source-lost") == 3, log


def test_the_pictures_held_by_the_decoder_play_when_a_url_is_cut(tmp_path):
    """An MP4 with B-frames over HTTP cut by the connection (its server claims twice its length)
    played 26 of its 30 pictures (`ffmpeg` gives 30): the 4 the decoder held were dropped with the
    connection, on every reconnection. Now they play, once: the reconnections find no new frame."""
    clip = make(tmp_path / "clip.mp4", "-f", "lavfi", "-i", "testsrc2=size=64x48:rate=60", "-frames:v", "30",
                "-c:v", "libx264", "-pix_fmt", "yuv420p", "-bf", "3", "-g", "30", "-movflags", "+faststart")
    log = []
    with http_server(clip.read_bytes(), "overlong") as url:
        source = PyAVSource(url, is_file=False, loop=False, timeout=TIMEOUT)
        source.open()
        capture = captured(source, log)
    assert capture.ended, log
    assert frames_read(capture) == 30, log
    ended = [fields for event, fields in log if event == "source-ended"]
    assert ended and ended[0]["frames"] == 30 and "reconnections brought no new frame" in ended[0]["reason"], log


def test_a_descriptor_that_is_a_folder_is_named_as_given(tmp_path):
    """`--source pipe:3` with `3< folder` said "/dev/fd/3: not a camera (cameras are video4linux
    devices, /dev/video*)": neither the name given nor what it is."""
    descriptor = os.open(tmp_path, os.O_RDONLY)
    try:
        with pytest.raises(SourceError) as raised:
            open_source(f"pipe:{descriptor}")
    finally:
        os.close(descriptor)
    assert str(raised.value) == (f"pipe:{descriptor}: a folder, not a video (for its images as a sequence give a "
                                 "pattern, e.g. frames/%04d.png)")
