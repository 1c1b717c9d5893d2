"""Session 39's `weights download` findings (h2): a Ctrl-C before the first body byte left an empty
`.part` and the folders the run made; a body without Content-Length cut half-way was taken as the
whole (pinned) file and deleted; a `.part` already holding the whole file was thrown away after the
416 and fetched again; a mirror turning too slow lost every byte received; and `bench temporal
--figure x.txt` wrote PNG bytes under a .txt name. A real HTTP server on 127.0.0.1
(tests/weights_server.py), the real downloader and CLI."""

from __future__ import annotations

import signal
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from cli_support import one_error_line
from realtime_adain import download, download_transfer
from realtime_adain.benchmarks import temporal as bench_temporal
from realtime_adain.errors import UserError
from weights_server import WeightsServer, release_bytes, synthetic_release  # noqa: F401  (fixtures)

DECODER = "decoder.pth"


@pytest.fixture
def server(release_bytes):
    with WeightsServer(release_bytes) as running:
        yield running


class _HeadersThenSilence(BaseHTTPRequestHandler):
    """A 200 with its Content-Length, then no body byte until the test lets it go."""

    answered: threading.Event
    release: threading.Event

    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "1000")
        self.end_headers()
        self.wfile.flush()
        self.answered.set()
        self.release.wait(20)


def test_ctrl_c_before_the_first_body_byte_leaves_nothing(tmp_path):
    """The `.part` was opened before the first byte: the empty file kept the folders the run made."""
    answered, release = threading.Event(), threading.Event()
    handler = type("Handler", (_HeadersThenSilence,), {"answered": answered, "release": release})
    mirror = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    mirror.daemon_threads = True
    serving = threading.Thread(target=mirror.serve_forever, args=(0.05,), daemon=True)
    serving.start()

    def ctrl_c_once_answered() -> None:
        if answered.wait(20):
            signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)

    interrupting = threading.Thread(target=ctrl_c_once_answered, daemon=True)
    interrupting.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            download.download_file("decoder", f"http://127.0.0.1:{mirror.server_address[1]}/{DECODER}",
                                   tmp_path / "new" / "sub")
    finally:
        release.set()
        interrupting.join(5)
        mirror.shutdown()
        mirror.server_close()
        serving.join(5)
    assert list(tmp_path.iterdir()) == []


def test_a_body_without_length_cut_short_is_resumed_where_the_size_is_pinned(synthetic_release, server, tmp_path):
    """A close-delimited body (no Content-Length) that stops half-way was taken as the whole file
    and deleted as "N bytes, expected 2N": short of the pinned size, and the server answering the
    Range for the rest with a 206, it was cut (a shorter file ends there: test_fixes39_followups)."""
    half = len(synthetic_release[DECODER]) // 2
    server.lengths[DECODER] = ""  # (no length: the body ends where the connection closes)
    server.cuts[DECODER] = [half]
    path, outcome = download.download_file("decoder", f"{server.url}/{DECODER}", tmp_path)
    assert outcome == "downloaded" and path.read_bytes() == synthetic_release[DECODER]
    assert server.requests == [(f"/{DECODER}", None), (f"/{DECODER}", f"bytes={half}-")]


def test_a_part_holding_the_whole_pinned_file_is_verified_in_place(synthetic_release, server, tmp_path):
    """A run stopped while verifying left the whole file as `.part`: the Range from its end was a
    416, and the file was deleted and fetched again. A whole-size `.part` that fails verification
    is still replaced by a fresh download."""
    body = synthetic_release[DECODER]
    (tmp_path / f"{DECODER}.part").write_bytes(body)
    path, outcome = download.download_file("decoder", f"{server.url}/{DECODER}", tmp_path)
    assert outcome == "downloaded" and path.read_bytes() == body and server.requests == []
    path.unlink()
    (tmp_path / f"{DECODER}.part").write_bytes(bytes(len(body)))
    download.download_file("decoder", f"{server.url}/{DECODER}", tmp_path)
    assert server.requests == [(f"/{DECODER}", None)] and path.read_bytes() == body
    assert sorted(p.name for p in tmp_path.iterdir()) == [DECODER]


def test_the_bytes_of_a_mirror_turned_too_slow_are_kept_and_resumed(synthetic_release, server, tmp_path):
    """A mirror that slows below the minimum rate had the whole `.part` deleted (one that goes
    silent keeps it): what arrived stays, the next run resumes from it."""
    server.trickle.add(DECODER)
    with pytest.raises(UserError, match=r"too slow, \d+ bytes in the last 1 s \(under 1000 bytes/s\); stopped, "
                                        rf"(\d+) bytes kept in {tmp_path / 'new' / DECODER}.part") as slow:
        download.download_file("decoder", f"{server.url}/{DECODER}", tmp_path / "new",
                               min_rate=download_transfer.MinRate(bytes_per_s=1000, window_s=1.0))
    kept = (tmp_path / "new" / f"{DECODER}.part").read_bytes()
    assert kept and kept == synthetic_release[DECODER][:len(kept)]
    assert f"{len(kept)} bytes kept in" in str(slow.value)
    server.trickle.clear()
    path, outcome = download.download_file("decoder", f"{server.url}/{DECODER}", tmp_path / "new")
    assert outcome == "downloaded" and path.read_bytes() == synthetic_release[DECODER]
    assert server.requests[-1] == (f"/{DECODER}", f"bytes={len(kept)}-")


@pytest.mark.parametrize("name", ["x.txt", "x.jpg", "x", "x.png.txt"])
def test_a_figure_not_named_png_is_refused(run_cli, tmp_path, name):
    """`--figure x.txt` was accepted, and PNG bytes were written under a .txt name."""
    code, out, err = run_cli("bench", "temporal", "--figure", tmp_path / name)
    assert one_error_line(err, code) == (f"error: realtime-adain bench temporal: argument --figure: '{tmp_path / name}' "
                                         "does not end in .png: the figure is always a PNG (e.g. difference.png) "
                                         "(see `realtime-adain bench temporal --help`)")
    assert code == 2 and not out and list(tmp_path.iterdir()) == []
    assert bench_temporal.figure_file(str(tmp_path / "d.PNG")) == tmp_path / "d.PNG"
