"""`live` fed by real network streams on 127.0.0.1: ffmpeg sends MPEG-TS over UDP (interlaced
broadcasts, a multiplex whose video starts late) and Python's http.server serves recordings
(fragmented MP4, a finished HLS playlist, MPEG-TS without a duration)."""

from __future__ import annotations

import functools
import http.server
import socket
import subprocess
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

from live_support import cli_env, live_command, read_video
from realtime_adain.live.capture import Capture
from realtime_adain.live.pyav_source import PyAVSource
from realtime_adain.live.source_opening import open_source
from realtime_adain.live.sources import SourceError, SourceLost

FFMPEG = ("ffmpeg", "-v", "error", "-nostdin", "-y")
TESTSRC = ("-f", "lavfi", "-i", "testsrc2=size=96x64:rate=25")
H264 = ("-c:v", "libx264", "-pix_fmt", "yuv420p", "-g", "25")
INTERLACED_MPEG2 = ("-c:v", "mpeg2video", "-flags", "+ildct+ilme", "-top", "1", "-g", "12")


def make(path: Path, *args: str) -> Path:
    subprocess.run([*FFMPEG, *args, str(path)], check=True, timeout=60)
    return path


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def sending(script: str):
    """A shell running ffmpeg senders (`script`), killed with its children however the test ends."""
    sender = subprocess.Popen(["bash", "-c", script], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)
    try:
        yield sender
    finally:
        subprocess.run(["kill", "--", f"-{sender.pid}"], stderr=subprocess.DEVNULL)
        sender.wait(timeout=10)


def udp_send(path: Path, port: int, loop: bool = False) -> str:
    """A shell command sending `path` in real time as MPEG-TS to udp://127.0.0.1:port (over and
    over with `loop`, as a broadcast goes on)."""
    looped = "-stream_loop -1 " if loop else ""
    return f"ffmpeg -v error -nostdin -re {looped}-i {path} -c copy -f mpegts 'udp://127.0.0.1:{port}?pkt_size=1316'"


class LengthlessHandler(http.server.SimpleHTTPRequestHandler):
    """Files sent without a Content-Length (ended by closing the connection), as a live stream is."""

    def send_header(self, keyword: str, value: str) -> None:
        if keyword.lower() != "content-length":
            super().send_header(keyword, value)


@contextmanager
def serving(folder: Path, lengthless: bool = False):
    """http://127.0.0.1:PORT/ serving `folder` (Python's http.server: no range requests)."""
    kind = LengthlessHandler if lengthless else http.server.SimpleHTTPRequestHandler
    handler = functools.partial(kind, directory=str(folder))
    handler.log_message = lambda *args: None
    with handled_by(handler) as url:
        yield url


@contextmanager
def handled_by(handler, stop: threading.Event | None = None, poll: float = 0.5):
    """http://127.0.0.1:PORT answered by `handler` on a thread; `stop` set (a stalling handler let
    go) before the server shuts down."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(poll,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        if stop is not None:
            stop.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def take(source, count: int) -> tuple[int, float]:
    """(frames read, seconds it took) for up to `count` frames; a loss ends it early."""
    start, got = time.monotonic(), 0
    try:
        for _ in source.frames():
            got += 1
            if got == count:
                break
    except SourceLost:
        pass
    return got, time.monotonic() - start


def ten_frames_over_udp(clip: Path) -> tuple[int, int, PyAVSource]:
    """(port, frames taken, the closed source) for `live`'s source reading `clip` sent over UDP."""
    port = free_udp_port()
    with sending(udp_send(clip, port)):
        source = open_source(f"udp://127.0.0.1:{port}")
        try:
            got, _ = take(source, 10)
        finally:
            source.close()
    return port, got, source


def test_interlaced_udp_broadcast_is_deinterlaced_with_a_note_live_can_follow(tmp_path, capsys):
    """The note must not offer `--deinterlace off`: `live` has no such option (it used to)."""
    port, got, _ = ten_frames_over_udp(make(tmp_path / "dvb.ts", *TESTSRC, "-t", "4", *INTERLACED_MPEG2))
    assert got == 10
    notes = [line for line in capsys.readouterr().err.splitlines() if f"udp://127.0.0.1:{port}" in line]
    assert len(notes) == 1 and "interlaced" in notes[0], notes
    assert "--deinterlace" not in notes[0]


def test_progressive_udp_stream_has_no_interlace_note(tmp_path, capsys):
    _, got, source = ten_frames_over_udp(make(tmp_path / "prog.ts", *TESTSRC, "-t", "4", *H264))
    assert got == 10
    assert "interlaced" not in capsys.readouterr().err
    assert not source.paced, "a live stream is shown as it comes, never held back to a clock"


@pytest.mark.parametrize("name", ["frag.mp4", "hls/index.m3u8"])
@pytest.mark.slow_cases('hls/index.m3u8', 'frag.mp4')  # (default run's time: HLS stays)
def test_recording_over_http_plays_at_its_rate_and_loops(tmp_path, name):
    """A file behind a URL is not paced by a sender: it was decoded as fast as the CPU went (a
    4 s clip in a blink, the stylizer skipping nearly all of it) and its end was a lost source
    (`source-lost ... the stream ended`, reconnect) every few seconds."""
    www = tmp_path / "www"
    (www / "hls").mkdir(parents=True)
    clip = make(www / "clip.mp4", *TESTSRC, "-t", "1", *H264)
    make(www / "frag.mp4", "-i", str(clip), "-c", "copy", "-movflags", "frag_keyframe+empty_moov")
    make(www / "hls" / "index.m3u8", "-i", str(clip), "-c", "copy", "-f", "hls", "-hls_time", "1",
         "-hls_list_size", "0")
    with serving(www) as base:
        source = open_source(f"{base}/{name}")
        try:
            got, seconds = take(source, 40)  # 25 frames a loop: past the end and around again
        finally:
            source.close()
    assert got == 40
    assert seconds > 39 / 25 * 0.8, seconds


def test_recording_over_http_with_no_loop_ends_instead_of_reconnecting(tmp_path):
    www = tmp_path / "www"
    www.mkdir()
    make(www / "clip.mp4", *TESTSRC, "-t", "0.4", *H264, "-movflags", "+faststart")
    with serving(www) as base:
        source = open_source(f"{base}/clip.mp4", loop=False)
        try:
            frames = list(source.frames())  # SourceLost ("the stream ended") here was a reconnect
        finally:
            source.close()
    assert len(frames) == 10


def test_url_that_sends_nothing_is_given_up_in_one_line():
    port = free_udp_port()
    started = time.monotonic()
    with pytest.raises(SourceError) as raised:
        PyAVSource(f"udp://127.0.0.1:{port}", is_file=False, timeout=1.0).open()
    assert str(raised.value) == f"udp://127.0.0.1:{port}: cannot open (no stream recognised within 1 s)"
    assert time.monotonic() - started < 4


@pytest.mark.slow
def test_udp_sender_that_stops_and_restarts_is_reconnected(tmp_path):
    clip = make(tmp_path / "prog.ts", *TESTSRC, "-t", "2", *H264)
    port, lines = free_udp_port(), []

    def log(event, **fields):  # with the newest frame's number when it was said
        latest = capture.latest.newer(0, 0)
        lines.append((event, latest[1].index if latest else 0))

    with sending(f"{udp_send(clip, port)}; sleep 2; {udp_send(clip, port)}; sleep 30"):
        source = PyAVSource(f"udp://127.0.0.1:{port}", is_file=False, timeout=1.0)  # sooner than a user's 5 s
        source.open()
        capture = Capture(source, log=log, backoff=(0.2, 1.0))
        capture.start()
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and [event for event, _ in lines][-3:] != [
                    "source-lost", "source-reconnected", "source-lost"]:
                time.sleep(0.1)
        finally:
            capture.stop()
            capture.join(timeout=10)
    events = [event for event, _ in lines]
    assert events[0] == "source-lost" and events[-3:] == ["source-lost", "source-reconnected", "source-lost"], lines
    before, after = lines[0][1], lines[-1][1]
    assert before > 10 and after - before > 10, lines  # frames from both sends


@pytest.mark.slow
def test_mpegts_over_http_with_a_length_is_paced_from_its_first_frame(tmp_path):
    """MPEG-TS over HTTP reports no duration; its Content-Length says it is a recording, paced from
    its first frame (it was told only by running 3 s ahead of the clock: 4 s went by unseen)."""
    www = tmp_path / "www"
    www.mkdir()
    make(www / "clip.ts", *TESTSRC, "-t", "5", *H264)
    with serving(www) as base:
        source = open_source(f"{base}/clip.ts")
        paced_at_open = source.paced
        try:
            got, seconds = take(source, 250)  # 125 a loop
        finally:
            source.close()
    assert got == 250, "the end of the recording was a lost source instead of a loop"
    assert paced_at_open
    assert seconds > 250 / 25 * 0.8, seconds


@pytest.mark.slow
def test_mpegts_over_http_without_a_length_is_paced_once_it_runs_ahead(tmp_path):
    """Without a Content-Length (as a live stream is sent), running ahead of the clock tells."""
    www = tmp_path / "www"
    www.mkdir()
    make(www / "clip.ts", *TESTSRC, "-t", "5", *H264)
    with serving(www, lengthless=True) as base:
        source = open_source(f"{base}/clip.ts")
        paced_at_open = source.paced
        try:
            got, seconds = take(source, 110)
        finally:
            source.close()
    assert got == 110 and not paced_at_open and source.paced
    assert seconds > (110 - 25 * 4) / 25 * 0.8, seconds  # at most the first ~3 s went by at decoding speed


@pytest.mark.slow
def test_udp_multiplex_whose_video_starts_late_is_waited_for(tmp_path):
    """A broadcast multiplex carrying only audio at first: `has no video stream` ended `live` at start."""
    audio = make(tmp_path / "audio.ts", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-t", "2",
                 "-c:a", "mp2")
    both = make(tmp_path / "both.ts", *TESTSRC, "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
                "-t", "4", *H264, "-c:a", "mp2")
    port = free_udp_port()
    with sending(f"{udp_send(audio, port)}; {udp_send(both, port)}"):
        source = open_source(f"udp://127.0.0.1:{port}")
        try:
            got, _ = take(source, 10)
        finally:
            source.close()
    assert got == 10


@pytest.mark.slow
def test_udp_carrying_no_video_at_all_is_one_line(tmp_path, run_cli, weights_env, data_dir):
    audio = make(tmp_path / "audio.ts", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-t", "12",
                 "-c:a", "mp2")
    port = free_udp_port()
    with sending(udp_send(audio, port)):
        code, _, err = run_cli("live", "--source", f"udp://127.0.0.1:{port}", "-s", data_dir / "style" / "trial.jpg",
                               "--no-window", "-o", tmp_path / "out.mp4", "--max-frames", "5", "--size", "32")
    assert code == 2
    assert err.strip() == f"error: udp://127.0.0.1:{port}: has no video stream (none within 5 s)"


@pytest.mark.slow
def test_live_session_from_an_interlaced_udp_broadcast(tmp_path, published_weights, data_dir):
    """The whole command, headless, as a user runs it: frames reach a playable file, one note."""
    clip = make(tmp_path / "dvb.ts", *TESTSRC, "-t", "20", *INTERLACED_MPEG2)
    port, out = free_udp_port(), tmp_path / "out.mp4"
    with sending(udp_send(clip, port, loop=True)):  # (20 s once: over before a loaded machine's live started)
        run = subprocess.run(live_command("--source", f"udp://127.0.0.1:{port}", "-s", data_dir / "style" / "trial.jpg",
                                          "--no-window", "-o", out, "--max-frames", "30", "--size", "32"),
                             env=cli_env(published_weights, tmp_path / "home"), capture_output=True, text=True,
                             timeout=120)
    assert run.returncode == 0, run.stderr
    assert "Traceback" not in run.stderr
    assert run.stderr.count("note:") == 1 and "interlaced" in run.stderr and "--deinterlace" not in run.stderr
    assert read_video(out)[0] == 30
