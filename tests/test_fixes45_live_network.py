"""Session 45: `live` from network sources. A URL's password and tokens are never said; live streams
are read from the moment they open and never taken for recordings; a recording that drops goes on
where it stopped (and, played once, is given up where it keeps dropping); a live playlist that
stops is a source lost, said; the capture says nothing once the session ends."""
import base64
import http.server
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

from live_support import FAST
from realtime_adain.live.app import LiveSession
from realtime_adain.live.streamer import Streamer, writable_protocols
from realtime_adain.live.capture import Capture
from realtime_adain.live.pyav_source import PyAVSource
from realtime_adain.live.source_opening import open_source
from realtime_adain.live.sources import SourceError
from realtime_adain.settings import LiveSettings, ModelSettings
from realtime_adain.errors import UserError
from test_live_streams15 import H264, TESTSRC, free_udp_port, handled_by, make, sending, serving, take, udp_send

LOGIN = "bob:s3cr3tPW"


@contextmanager
def cut_server(body: bytes, later: str, login: str | None = None):
    """http://127.0.0.1:PORT/clip serving `body` with its whole length, the connection cut after
    60 % of it; `later` requests get it "whole", "cut" again, or "stall" after the headers. With
    `login`, asking for it (HTTP Basic)."""
    served, stop = [], threading.Event()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if login and self.headers.get("Authorization") != "Basic " + base64.b64encode(login.encode()).decode():
                self.send_response(401)
                self.send_header("WWW-Authenticate", 'Basic realm="x"')
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            how = later if served else "cut"
            served.append(self.path)
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if how == "stall":
                self.wfile.flush()
                stop.wait(30)
            self.wfile.write(body if how == "whole" else body[:len(body) * 6 // 10])
            self.close_connection = True

        def log_message(self, *args) -> None:
            pass

    with handled_by(Handler, stop) as url:
        yield f"{url}/clip"


def faststart_clip(tmp_path: Path, seconds: float) -> bytes:
    """A 25 fps MP4 that can play as it downloads (its index first)."""
    return make(tmp_path / "fast.mp4", *TESTSRC, "-t", str(seconds), *H264, "-movflags", "+faststart").read_bytes()


def captured_until_ended(source, timeout: float = 15.0) -> tuple[Capture, list[tuple[str, dict]], int]:
    """(the capture, its log lines, frames it read) once `source` ends, or at `timeout`."""
    lines = []
    capture = Capture(source, log=lambda event, **fields: lines.append((event, fields)), backoff=(0.05, 0.05))
    capture.start()
    capture.join(timeout)
    capture.stop()
    capture.join(5)
    latest = capture.latest.newer(0, 0)
    return capture, lines, latest[1].index if latest else 0


@pytest.mark.slow  # (default run's time: 4 s)
def test_a_source_url_s_password_is_said_in_no_line(tmp_path, run_cli, weights_env, data_dir):
    """The start, source-lost, source-reconnected and source-rewound lines (stderr and --log) named
    the URL with its password; the URL FFmpeg is given keeps it (the server asks for it)."""
    log = tmp_path / "live.log"
    with cut_server(faststart_clip(tmp_path, 0.8), "whole", login=LOGIN) as url:
        code, _, err = run_cli("live", "--source", url.replace("//", f"//{LOGIN}@") + "?token=t0k3n", "-s",
                               data_dir / "style" / "trial.jpg", "--no-window", "-o", tmp_path / "o.mp4",
                               "--log", log, "--max-frames", "24", *FAST)
    said = err + log.read_text()
    assert code == 0, err
    assert "s3cr3tPW" not in said and "t0k3n" not in said, said
    hidden = f'"{url.replace("//", "//***@")}?token=***'  # (quoted: it holds a "=")
    for line in (f"start source={hidden}\" ", f"source-lost reason={hidden}: ", f"source-reconnected source={hidden}\" ",
                 f"source-rewound source={hidden}\" "):
        assert line in said, said


def test_a_wrong_password_is_one_line_without_it(run_cli, weights_env, tmp_path, data_dir):
    with cut_server(b"", "whole", login=LOGIN) as url:
        code, _, err = run_cli("live", "--source", url.replace("//", "//bob:WRONGpw@"), "-s",
                               data_dir / "style" / "trial.jpg", "--no-window", "-o", tmp_path / "o.mp4")
    assert code == 2
    assert err == f"error: {url.replace('//', '//***@')}: cannot open (Server returned 401 Unauthorized " \
                  "(authorization failed))\n"


def test_a_stream_url_s_secrets_are_said_in_no_line():
    """An RTMP stream key (the password of a live channel) and an SRT passphrase were in the errors."""
    with pytest.raises(UserError) as raised:
        Streamer.checked_scheme("rtmp://127.0.0.1:9/live/sk-12345")  # (nothing listens on port 9)
    assert str(raised.value).startswith("rtmp://127.0.0.1:9/live/***: "), raised.value
    if "srt" not in (writable_protocols() or {"srt"}):
        with pytest.raises(UserError) as raised:
            Streamer.checked_scheme("srt://127.0.0.1:9000?passphrase=p4ssphr4se")
        assert str(raised.value).startswith("srt://127.0.0.1:9000?passphrase=***: this FFmpeg"), raised.value


def test_a_url_is_read_while_the_model_loads(tmp_path, weights_env, data_dir, one_thread):
    """A live stream's backlog from the model's loading came in one burst, was taken for a
    recording's (paced) and the session ran that far behind throughout: a URL is read, as a pipe
    is, from the moment it opens."""
    started_before_loading = []

    class Session(LiveSession):
        def _run_opened(self) -> int:  # (after the model loaded, before the styles load)
            started_before_loading.append(self.capture is not None and self.capture.is_alive())
            return super()._run_opened()

    (tmp_path / "www").mkdir()
    make(tmp_path / "www" / "clip.ts", *TESTSRC, "-t", "1", *H264)
    with serving(tmp_path / "www", lengthless=True) as base:
        settings = LiveSettings(styles=(str(data_dir / "style" / "trial.jpg"),), model=ModelSettings(device="cpu"),
                                source=f"{base}/clip.ts", size=32, style_size=64, window=False,
                                output=str(tmp_path / "o.mp4"), max_frames=2)
        assert Session(settings).run() == 0
    assert started_before_loading == [True]


@pytest.mark.slow  # (a real-time sender)
def test_a_udp_stream_read_late_is_not_taken_for_a_recording(tmp_path):
    """Its backlog (the seconds before it was read) ran ahead of the clock: taken for a recording,
    it was paced, and played that far behind for good."""
    port = free_udp_port()
    with sending(udp_send(make(tmp_path / "clip.ts", *TESTSRC, "-t", "8", *H264), port)):
        source = open_source(f"udp://127.0.0.1:{port}")
        try:
            time.sleep(4.5)  # (as the model loading did)
            got, _ = take(source, 130)
        finally:
            source.close()
    assert got == 130 and not source.paced


@pytest.mark.parametrize("later", ["whole", "cut"])
@pytest.mark.slow_cases('whole')  # (default run's time: 1 s)
def test_a_recording_that_drops_goes_on_where_it_stopped(tmp_path, later):
    """It was opened again at its start: a faststart MP4 cut at 60 % each time played its first
    seconds for ever, even with --no-loop; played once, it is given up after 3 fruitless reconnections."""
    with cut_server(faststart_clip(tmp_path, 0.8), later) as url:
        capture, lines, frames = captured_until_ended(open_source(url, loop=False))
    assert capture.ended, lines
    if later == "cut":
        assert frames < 20 and [event for event, _ in lines] == ["source-lost"] * 3 + ["source-ended"], lines
        assert lines[-1][1]["reason"].startswith("3 reconnections brought no new frame ("), lines
    else:
        assert frames == 20, "a frame repeated or lost where it dropped"
        assert [event for event, _ in lines] == ["source-lost", "source-reconnected", "source-ended"], lines


@pytest.mark.slow  # (default run's time: a live HLS server for seconds)
def test_a_live_playlist_that_stops_is_a_source_lost(tmp_path):
    """An HLS playlist with no #EXT-X-ENDLIST whose segments stop coming: its backlog, read in a
    burst, took it for a recording, and it was looped silently (its last segments for ever)."""
    www = tmp_path / "www"
    www.mkdir()
    make(www / "live.m3u8", *TESTSRC, "-t", "4.8", *H264, "-g", "40", "-f", "hls", "-hls_time", "1.6",
         "-hls_list_size", "0")
    playlist = www / "live.m3u8"
    playlist.write_text(playlist.read_text().replace("#EXT-X-ENDLIST\n", ""))
    with serving(www) as base:
        source = PyAVSource(f"{base}/live.m3u8", is_file=False, timeout=1.0)
        source.open()
        lines = []
        capture = Capture(source, log=lambda event, **fields: lines.append((event, fields)), backoff=(5.0, 5.0))
        capture.start()
        deadline = time.monotonic() + 20
        while not lines and time.monotonic() < deadline:
            time.sleep(0.1)
        capture.stop()
        capture.join(5)
    assert source.paced and lines[:1] == [("source-lost", {"reason": f"{base}/live.m3u8: the stream ended",
                                                           "attempt": 1, "retry_in": 5.0})], lines


@pytest.mark.slow  # (default run's time: 2 s)
def test_capture_says_nothing_once_stopped(tmp_path):
    """A reconnection that failed after the session began ending said `source-lost ... attempt=3`
    after its `signal` and `output` lines."""
    with cut_server(faststart_clip(tmp_path, 0.4), "stall") as url:
        source = PyAVSource(url, is_file=False, timeout=1.0)
        source.open()
        lines = []
        capture = Capture(source, log=lambda event, **fields: lines.append(event), backoff=(0.05, 0.05))
        capture.start()
        deadline = time.monotonic() + 10
        while "(attempt 1)" not in capture.status and time.monotonic() < deadline:
            time.sleep(0.01)
        capture.stop()  # (while it reconnects: the server answers nothing, FFmpeg gives up after 1 s)
        said = len(lines)
        capture.join(5)
    assert said == 1 and lines == ["source-lost"], lines


def test_an_upper_case_scheme_opens(tmp_path):
    (tmp_path / "www").mkdir()
    make(tmp_path / "www" / "clip.ts", *TESTSRC, "-t", "0.2", *H264)
    with serving(tmp_path / "www") as base:
        source = open_source(f"HTTP{base[4:]}/clip.ts")  # ("Protocol not found")
        source.close()
    assert source.description == f"{base}/clip.ts"


def test_an_srt_source_without_srt_support_says_so():
    if "srt" in (writable_protocols() or {"srt"}):
        return  # (this FFmpeg reads SRT)
    with pytest.raises(SourceError) as raised:
        open_source("srt://127.0.0.1:9000")
    assert str(raised.value) == "srt://127.0.0.1:9000: this FFmpeg (PyAV's) has no SRT support"


@pytest.mark.slow  # (a real-time sender)
def test_an_sdp_file_plays_its_rtp_stream(tmp_path):
    """FFmpeg refuses RTP for an SDP file unless allowed ("Invalid data found when processing input")."""
    sdp, port = tmp_path / "stream.sdp", free_udp_port()
    with sending(f"ffmpeg -v error -nostdin -re -f lavfi -i testsrc2=size=96x64:rate=25 -t 8 {' '.join(H264)} "
                 f"-f rtp -sdp_file {sdp} rtp://127.0.0.1:{port}"):
        while not sdp.exists():
            time.sleep(0.05)
        time.sleep(0.1)
        source = open_source(str(sdp))
        try:
            got, _ = take(source, 5)
        finally:
            source.close()
    assert got == 5 and not source.paced
