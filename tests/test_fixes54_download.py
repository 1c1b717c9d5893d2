"""Session 54's `weights download` findings (f3; its negative chunk sizes are among
test_fixes49_download_edges' malformed chunked answers): a server answering every resumed request
with 416 restarted the file without a word and was said to send "the whole file again"; an https
server that accepted the connection and never answered the TLS handshake was "cannot reach HOST (_ssl.c:989: The handshake operation timed out)"."""

from __future__ import annotations

import contextlib
import socket
from typing import Callable, Iterator

import pytest

from realtime_adain import download, download_http, download_transfer
from realtime_adain.errors import UserError
from weights_server import raw_server, release_bytes, synthetic_release  # noqa: F401  (fixtures)

VGG = "vgg_normalised.pth"


@contextlib.contextmanager
def answering(answer: Callable[[bytes], bytes]) -> Iterator[str]:
    """"http://127.0.0.1:PORT" of a server that reads each request's head, sends `answer(request)`
    and closes."""
    def handle(connection: socket.socket, port: int) -> None:
        connection.settimeout(5)
        request = connection.recv(65536)
        while b"\r\n\r\n" not in request and request:
            request += connection.recv(65536)
        connection.sendall(answer(request))

    with raw_server(handle) as port:
        yield f"http://127.0.0.1:{port}"


def test_a_server_refusing_every_resume_with_416_is_said_so(synthetic_release, tmp_path, capsys):
    """Each 416 deleted the `.part` and started over without a word; the error said the server
    "sends the whole file again"."""
    whole = synthetic_release[VGG][:1000]  # (announced as all there is: under the pinned size)
    half = len(whole) // 2
    requests: list[bytes] = []

    def answer(request: bytes) -> bytes:
        requests.append(request)
        if b"\r\nrange:" in request.lower():
            return f"HTTP/1.1 416 Range Not Satisfiable\r\nContent-Range: bytes */{len(whole)}\r\n" \
                   "Content-Length: 0\r\n\r\n".encode()
        return f"HTTP/1.1 200 OK\r\nContent-Length: {len(whole)}\r\n\r\n".encode() + whole[:half]

    with answering(answer) as base:
        url = f"{base}/{VGG}"
        with pytest.raises(UserError) as refused:
            download.download_file("vgg", url, tmp_path / "w")
    attempts = download_transfer.ATTEMPTS
    assert str(refused.value) == (f"{url}: download interrupted {attempts} times, and the server does not resume "
                                  "(asked for the rest, it refuses the range request: HTTP 416); try again later, "
                                  "or use a mirror with --base-url")
    said = capsys.readouterr()
    notes = [line for line in (said.out + said.err).splitlines() if line.startswith(f"{VGG}: asked")]
    assert notes == [f"{VGG}: asked from byte {half}, the server refuses the range request (HTTP 416): downloading "
                     "again from the start"] * (attempts - 1), said
    assert len(requests) == 2 * attempts - 1  # the first, then a 416 and the whole file again each time
    assert not (tmp_path / "w").exists()


def test_an_https_server_that_never_answers_the_handshake_is_said_so(tmp_path, monkeypatch):
    """Was "cannot reach 127.0.0.1:PORT (_ssl.c:989: The handshake operation timed out); check the
    network", though the host had accepted the connection."""
    monkeypatch.setattr(download_http, "TIMEOUT_S", 0.5)
    for variable in ("https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(variable, raising=False)

    def silent(connection: socket.socket, port: int) -> None:
        connection.settimeout(5)
        while connection.recv(4096):  # (the ClientHello, unanswered, until the client gives up)
            pass

    with raw_server(silent) as port:
        with pytest.raises(UserError) as refused:
            download.download_file("vgg", f"https://127.0.0.1:{port}/{VGG}", tmp_path / "w")
    assert str(refused.value) == (f"127.0.0.1:{port} accepted the connection but did not answer the TLS (https) "
                                  "handshake within 0.5 s; check the network, or use a mirror with --base-url or "
                                  "$REALTIME_ADAIN_WEIGHTS_URL")
    assert not (tmp_path / "w").exists()
