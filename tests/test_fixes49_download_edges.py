"""Session 49's `weights download` edges (f9): a hard-linked `.part` was written through (the file
under its other name got the weights); a server's own text (a 60 KB reason phrase or redirect
address, a file's bytes where the status line was due) went into the error line uncut; a redirect
to https on a server without TLS, or to a 60,000-character host, was said in OpenSSL's and IDNA's
words; a chunked answer whose body is not in chunks was "interrupted 4 times before any data
arrived"."""

from __future__ import annotations

import contextlib
import socket
from typing import Callable, Iterator

import pytest

from realtime_adain import download, download_transfer
from realtime_adain.errors import UserError
from weights_server import WeightsServer, raw_server, release_bytes, synthetic_release  # noqa: F401  (fixtures)

VGG = "vgg_normalised.pth"


@pytest.fixture
def server(release_bytes):
    with WeightsServer(release_bytes) as running:
        yield running


@pytest.mark.parametrize("ignore_range", [True, False], ids=["server ignores Range", "server resumes"])
def test_a_hard_linked_part_is_refused_and_the_other_name_keeps_its_bytes(synthetic_release, server, tmp_path,
                                                                          ignore_range):
    """The `.part` was truncated (a server ignoring Range) or appended to through its other name."""
    server.ignore_range = ignore_range
    victim, folder = tmp_path / "victim.txt", tmp_path / "dl"
    victim.write_bytes(b"precious\n")
    folder.mkdir()
    part = folder / f"{VGG}.part"
    part.hardlink_to(victim)
    with pytest.raises(UserError) as refused:
        download.download_file("vgg", f"{server.url}/{VGG}", folder)
    assert str(refused.value) == (f"{part}: a file with other names too (hard links) where the partial download goes; "
                                  "downloading would write into it through them; remove it")
    assert victim.read_bytes() == b"precious\n" and server.requests == []


def test_a_download_started_over_is_a_new_file_not_the_old_one_truncated(synthetic_release, server, release_bytes,
                                                                         tmp_path):
    """`fetch` itself (past `check_destination`): a server sending the whole file again truncated
    the kept `.part`'s inode, and with it the file under any other name it had."""
    server.ignore_range = True
    victim, part = tmp_path / "victim.txt", tmp_path / "decoder.pth.part"
    victim.write_bytes(b"precious\n")
    part.hardlink_to(victim)
    download_transfer.fetch(f"{server.url}/decoder.pth", part, "decoder.pth",
                            download.size_limit(download.PUBLISHED["decoder"], True))
    assert victim.read_bytes() == b"precious\n"
    assert part.read_bytes() == release_bytes["decoder.pth"]


@contextlib.contextmanager
def answering(answer: Callable[[bytes, int], bytes]) -> Iterator[str]:
    """"http://127.0.0.1:PORT" of a server that reads each request's head (or, not HTTP, a TLS
    ClientHello: what one read brings) and sends `answer(request, port)`, then closes."""
    def handle(connection: socket.socket, port: int) -> None:
        connection.settimeout(5)
        request = connection.recv(65536)
        while request.startswith(b"GET ") and b"\r\n\r\n" not in request:  # (a 60 KB request line)
            request += connection.recv(65536)
        connection.sendall(answer(request, port))  # (all the request read: the close sends no reset)

    with raw_server(handle) as port:
        yield f"http://127.0.0.1:{port}"


def redirect_to(location: Callable[[int], str], then: bytes = b"") -> Callable[[bytes, int], bytes]:
    """An answer redirecting the first request (to `location(port)`), and `then` to any other."""
    def answer(request: bytes, port: int) -> bytes:
        if request.startswith(f"GET /{VGG} ".encode()):
            return f"HTTP/1.1 302 Found\r\nLocation: {location(port)}\r\nContent-Length: 0\r\n\r\n".encode()
        return then
    return answer


NOT_FOUND = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"
LONG = 60000


def cut(text: str, limit: int) -> str:
    return f"{text[:limit]}... ({len(text)} characters)"


@pytest.mark.parametrize("answer, said", [
    (lambda request, port: f"HTTP/1.1 404 {'R' * LONG}\r\nContent-Length: 0\r\n\r\n".encode(),
     lambda base, url: f"{url}: HTTP 404 {cut('R' * LONG, 80)}"),
    (lambda request, port: ("GARBAGE" * 9000 + "\r\n\r\n").encode(),
     lambda base, url: f"{url}: the server's answer is not HTTP (its status line: '{cut('GARBAGE' * 9000, 80)}'); "
                       "check the URL, or use a mirror with --base-url"),
    (lambda request, port: b"HTTP/1.1 100 Continue\r\n\r\nPK\x03\x04\x14\x00\x00\x08\xff\r\n" + bytes(range(256)),
     lambda base, url: f"{url}: the server's answer is not HTTP (its status line: "
                       "'PK\\x03\\x04\\x14\\x00\\x00\\x08\xff'); check the URL, or use a mirror with --base-url"),
    (redirect_to(lambda port: f"http://127.0.0.1:{port}/{'a' * LONG}", then=NOT_FOUND),
     lambda base, url: f"{cut(f'{base}/' + 'a' * LONG, 200)}, where {url} redirected: HTTP 404 Not Found"),
    (redirect_to(lambda port: f"ftp://127.0.0.1/{'a' * LONG}"),
     lambda base, url: f"{url}: HTTP 302 Found - Redirection to url '{cut('ftp://127.0.0.1/' + 'a' * LONG, 200)}' "
                       "is not allowed"),
], ids=["404 reason", "status line", "100 Continue then the file", "redirect's address answering 404",
        "redirect to ftp"])
def test_what_the_server_says_is_cut_short_and_escaped(tmp_path, answer, said):
    with answering(answer) as base:
        url = f"{base}/{VGG}"
        with pytest.raises(UserError) as refused:
            download.download_file("vgg", url, tmp_path / "w")
    assert str(refused.value) == said(base, url)
    assert not (tmp_path / "w").exists()


def test_a_redirect_to_https_on_a_server_without_tls_is_said_as_without_a_redirect(tmp_path):
    """Was "cannot reach H, where H redirected ([SSL: UNEXPECTED_EOF_WHILE_READING] ...)"."""
    with answering(redirect_to(lambda port: f"https://127.0.0.1:{port}/{VGG}")) as base:
        url, host = f"{base}/{VGG}", base.removeprefix("http://")
        with pytest.raises(UserError) as refused:
            download.download_file("vgg", url, tmp_path / "w")
    assert str(refused.value) == (f"{host}, where {host} redirected, closed the connection during the TLS (https) "
                                  "handshake; check the network, or use a mirror with --base-url or "
                                  "$REALTIME_ADAIN_WEIGHTS_URL")


def test_a_redirect_to_a_host_name_too_long_is_said_so(tmp_path):
    """Was "encoding with 'idna' codec failed (UnicodeError: label empty or too long)"."""
    with answering(redirect_to(lambda port: f"http://{'h' * LONG}/{VGG}")) as base:
        url = f"{base}/{VGG}"
        with pytest.raises(UserError) as refused:
            download.download_file("vgg", url, tmp_path / "w")
    host = base.removeprefix("http://")
    assert str(refused.value) == (f"cannot reach {'h' * 200}... ({LONG} characters), where {host} redirected (the "
                                  "redirect's target host name is not valid: label too long); the mirror's redirect is "
                                  "wrong, or use another mirror with --base-url or $REALTIME_ADAIN_WEIGHTS_URL")


CHUNKED = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"


@pytest.mark.parametrize("answer", [
    b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n" + b"x" * 100,
    # (session 54: http.client takes a negative size, and read1 handed on the framing as the file's
    # bytes, written to the .part, then "resumed"; one below -2**63 was an OverflowError traceback)
    CHUNKED + b"-10\r\n" + b"x" * 16 + b"\r\n0\r\n\r\n",
    CHUNKED + b"5\r\nhello\r\n-3\r\nabc\r\n0\r\n\r\n",
    CHUNKED + b"10\r\n0123456789abcdef\r\n-8000000000000001\r\nxxxx\r\n0\r\n\r\n",
    CHUNKED + b"-ffffffffffffffffffff\r\nxxxx\r\n0\r\n\r\n",
], ids=["no chunks", "negative size", "negative after a good chunk", "below -2**63 after a chunk", "below -2**63"])
def test_a_chunked_answer_whose_body_is_not_chunks_is_said_malformed(synthetic_release, tmp_path, capsys, answer):
    """Was four "connection lost after 0 bytes" and "interrupted 4 times before any data arrived"."""
    with answering(lambda request, port: answer) as base:
        url = f"{base}/{VGG}"
        with pytest.raises(UserError) as refused:
            download.download_file("vgg", url, tmp_path / "w")
    assert str(refused.value) == (f"{url}: the server's answer is malformed (chunked, but its body is not in chunks); "
                                  "stopped and deleted the download; try again later, or use a mirror with --base-url")
    said = capsys.readouterr()
    assert "connection lost" not in said.out + said.err
    assert not (tmp_path / "w").exists()


def test_a_chunked_answer_lost_at_a_chunks_end_is_still_a_lost_connection(synthetic_release, tmp_path, capsys):
    """The size line is empty there (the connection closed), not malformed: resumed, not refused."""
    answer = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n"
    with answering(lambda request, port: answer) as base:
        with pytest.raises(UserError, match="download interrupted 4 times, and the server does not resume"):
            download.download_file("vgg", f"{base}/{VGG}", tmp_path / "w")
    said = capsys.readouterr()
    assert f"{VGG}: connection lost after 5 bytes (IncompleteRead)" in said.out + said.err
