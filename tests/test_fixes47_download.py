"""Session 47's `weights download` findings (h3): a server that ignores `Range` and cuts every
try short was said "resuming from byte N" each time, and the run ended "run again to resume";
a plain http server given an https:// URL was "cannot reach HOST ([SSL: ...]); check the network"."""

from __future__ import annotations

import contextlib
import socket
from typing import Iterator

import pytest

from realtime_adain import download, download_http, download_transfer
from realtime_adain.errors import UserError
from weights_server import WeightsServer, raw_server, release_bytes, synthetic_release  # noqa: F401  (fixtures)

DECODER = "decoder.pth"


@pytest.fixture
def server(release_bytes):
    with WeightsServer(release_bytes) as running:
        yield running


def test_a_server_that_ignores_range_and_cuts_every_try_is_said_so(synthetic_release, server, tmp_path, capsys):
    """Each try started again from byte 0 while the note said it resumed; the error offered a
    resume the server does not do. The attempts still bound it, and nothing is kept."""
    server.ignore_range, server.cuts[DECODER] = True, [1000] * download_transfer.ATTEMPTS
    url = f"{server.url}/{DECODER}"
    with pytest.raises(UserError) as refused:
        download.download_file("decoder", url, tmp_path / "w")
    assert str(refused.value) == (f"{url}: download interrupted {download_transfer.ATTEMPTS} times, and the server does not "
                                  "resume (asked for the rest, it sends the whole file again); try again later, or use a mirror "
                                  "with --base-url")
    said = capsys.readouterr()
    notes = [line for line in (said.out + said.err).splitlines() if line.startswith(f"{DECODER}: ")]
    assert notes == [f"{DECODER}: asked from byte 1000, the server sends the whole file (it does not resume): "
                     "downloading again from the start"] * (download_transfer.ATTEMPTS - 1), said
    assert [r for _, r in server.requests] == [None] + ["bytes=1000-"] * (download_transfer.ATTEMPTS - 1)
    assert not (tmp_path / "w").exists()


PLAIN_HTTP = b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n"


@contextlib.contextmanager
def tls_breaking_server(how: str) -> Iterator[str]:
    """"127.0.0.1:PORT" of a server that answers a CONNECT (as a proxy) with 200, then takes the TLS
    ClientHello and hangs up (`how` "hang-up"), or answers it in plain http ("plain http")."""
    def handle(connection: socket.socket, port: int) -> None:
        if connection.recv(4096).startswith(b"CONNECT "):  # (the head fits one read, from 127.0.0.1)
            connection.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            connection.recv(4096)  # the ClientHello
        if how == "plain http":
            connection.sendall(PLAIN_HTTP)

    with raw_server(handle) as port:
        yield f"127.0.0.1:{port}"


@pytest.fixture
def hanging_up_server():
    """A port on 127.0.0.1 whose server reads what comes and closes the connection, unanswered."""
    with tls_breaking_server("hang-up") as address:
        yield address


@pytest.mark.parametrize("answer", ["plain http", "hang-up"])
def test_an_https_url_to_a_server_without_tls_is_said_so(server, hanging_up_server, answer):
    """Was "cannot reach 127.0.0.1:PORT ([SSL: WRONG_VERSION_NUMBER] wrong version number
    (_ssl.c:1006)); check the network" (UNEXPECTED_EOF_WHILE_READING for one that hangs up)."""
    host = server.url.removeprefix("http://") if answer == "plain http" else hanging_up_server
    with pytest.raises(UserError) as refused:
        download_http.open_url(f"https://{host}/{DECODER}", 0)
    said = (f"{host} answered, but not with TLS (https): check the URL's scheme (http:// for a server without TLS)"
            if answer == "plain http" else  # (a real TLS server or a middlebox may hang up too: no scheme advice)
            f"{host} closed the connection during the TLS (https) handshake; check the network, or use a mirror"
            f" with --base-url or ${download.BASE_URL_ENV_VAR}")
    assert str(refused.value) == said
