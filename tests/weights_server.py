"""A real HTTP server on 127.0.0.1 for the downloader tests: Range support, cut transfers, logs.

Not a mock: `http.server.ThreadingHTTPServer` in a thread, spoken to by the real urllib client.
Knobs per test: `files` (name -> bytes; what it serves, corrupt or not), `cuts` (name -> byte
counts: successive responses for that file stop after that many body bytes and drop the
connection), `ignore_range` (answer Range requests with a full 200, as some servers do).
`endless` (names served with no Content-Length and garbage after the body, never ending, as
a broken mirror might), `login` ("user:password": answer 401 without that HTTP Basic login, as a
private mirror does), `lengths` (name -> a Content-Length header sent instead of the true one), `trickle` (names whose body is sent one byte every `TRICKLE_S` seconds, as
a hostile or stalled server might), `headers` (name -> more headers to send), `statuses` (name -> a status, 204, answered with no
body), `framing` (name -> "trailer" or "chunk size": the body sent chunked, then framing that
never ends, a trailer line or a chunk-size line's next byte every `TRICKLE_S` seconds; for
`STALL_S` at most, so a client without a bound fails rather than hangs), `midway` (name -> called
when half the body is sent), `requests` logs (path, Range header) of every request; a
file is served under its name whatever the query (a token URL's). The fixtures at the end give the
files it serves (imported by the test modules that use them).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import re
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable, Iterator
from urllib.parse import urlsplit

import pytest

from realtime_adain import download

TRICKLE_S = 0.1
STALL_S = 3.0


class WeightsServer:
    def __init__(self, files: dict[str, bytes]) -> None:
        self.files = dict(files)
        self.cuts: dict[str, list[int]] = {}
        self.ignore_range = False
        self.endless: set[str] = set()
        self.login: str | None = None
        self.lengths: dict[str, str] = {}
        self.trickle: set[str] = set()
        self.headers: dict[str, dict[str, str]] = {}  # name -> more headers sent with it
        self.statuses: dict[str, int] = {}
        self.framing: dict[str, str] = {}
        self.midway: dict[str, Callable[[], None]] = {}
        self.requests: list[tuple[str, str | None]] = []
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True)

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> "WeightsServer":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)


def _handler_for(server: WeightsServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:  # keep test output clean
            pass

        def do_GET(self) -> None:
            name = urlsplit(self.path).path.lstrip("/")
            requested_range = self.headers.get("Range")
            server.requests.append((self.path, requested_range))
            expected = "Basic " + base64.b64encode(server.login.encode()).decode() if server.login else None
            if expected and self.headers.get("Authorization") != expected:
                self.send_error(401, "Unauthorized")
                return
            if name not in server.files:
                self.send_error(404, "Not Found")
                return
            if name in server.statuses:
                self.send_response(server.statuses[name])
                self.end_headers()
                return
            body = server.files[name]
            if name in server.framing:
                self._send_stalled_chunks(body, server.framing[name])
                return
            start = 0
            match = re.fullmatch(r"bytes=(\d+)-", requested_range or "")
            if match and not server.ignore_range:
                start = int(match.group(1))
                if start >= len(body):
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{len(body)}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
            else:
                self.send_response(200)
            if name in server.endless:
                self.end_headers()
                self.close_connection = True
                try:
                    self.wfile.write(body[start:])
                    while True:
                        self.wfile.write(b"\0" * 65536)
                except OSError:  # the client hung up
                    return
            self.send_header("Content-Length", server.lengths.get(name, str(len(body) - start)))
            self.send_header("Accept-Ranges", "bytes")
            for header, value in server.headers.get(name, {}).items():
                self.send_header(header, value)
            self.end_headers()
            if name in server.trickle:
                try:
                    for i in range(start, len(body)):
                        self.wfile.write(body[i:i + 1])
                        self.wfile.flush()
                        time.sleep(TRICKLE_S)
                except OSError:  # the client gave up
                    self.close_connection = True
                return
            if name in server.midway:
                self.wfile.write(body[start:len(body) // 2])
                self.wfile.flush()
                server.midway[name]()
                start = max(start, len(body) // 2)
            cut = server.cuts.get(name)
            if cut:
                self.wfile.write(body[start:start + cut.pop(0)])
                self.wfile.flush()
                self.close_connection = True
                return
            try:
                self.wfile.write(body[start:])
            except (ConnectionResetError, BrokenPipeError):  # the client gave up (a test of that)
                return

        def _send_stalled_chunks(self, body: bytes, how: str) -> None:
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self.close_connection = True
            sent = body if how == "trailer" else body[:len(body) // 2]
            self.wfile.write(b"%x\r\n%s\r\n" % (len(sent), sent) + (b"0\r\n" if how == "trailer" else b"10;"))
            until = time.monotonic() + STALL_S
            try:
                while time.monotonic() < until:
                    self.wfile.write(b"X-Trailer: y\r\n" if how == "trailer" else b"a")
                    self.wfile.flush()
                    time.sleep(TRICKLE_S)
            except OSError:  # the client gave up
                pass

    return Handler


def closed_port_url() -> str:
    """A URL on 127.0.0.1 where nothing listens: connecting is refused, as with no network."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.fixture(scope="session")
def release_bytes(published_weights) -> dict[str, bytes]:
    """What the release serves, by file name: the generated files in the published formats."""
    return {path.name: path.read_bytes() for path in published_weights}


@pytest.fixture
def synthetic_release(release_bytes, monkeypatch) -> dict[str, bytes]:
    """Make the generated files 'the published ones': their sizes and digests become the pins,
    so the checksum checks run for real."""
    for kind, spec in download.PUBLISHED.items():
        body = release_bytes[spec.filename]
        pinned = download.PublishedFile(kind, spec.filename, len(body), hashlib.sha256(body).hexdigest())
        monkeypatch.setitem(download.PUBLISHED, kind, pinned)
    return release_bytes


@contextlib.contextmanager
def raw_server(handle: Callable[[socket.socket, int], None]) -> Iterator[int]:
    """The port of a server on 127.0.0.1 that hands each connection to `handle(connection, port)`,
    one at a time, and closes it after: for answers no HTTP server would give."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def serve() -> None:
        while True:
            try:
                connection, _ = listener.accept()
            except OSError:  # closed: the test is over
                return
            with connection, contextlib.suppress(OSError):
                handle(connection, port)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield port
    finally:
        listener.shutdown(socket.SHUT_RDWR)  # (wakes the accept; closing alone does not)
        listener.close()
        thread.join(5)
