"""Session 57's `weights download` findings (h7): a "103 Early Hints" before the answer failed the
download; a TLS certificate that failed verification was "cannot reach HOST ...; check the
network"; too many redirects were urllib's "infinite loop"; a transfer coding other than exactly
chunked, or Content-Length headers that disagree, put framing or a short file in the `.part` and
the file was blamed."""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
import urllib.parse
from pathlib import Path
from typing import Callable, Iterator

import pytest

from realtime_adain import download
from realtime_adain.errors import UserError
from weights_server import raw_server, release_bytes, synthetic_release  # noqa: F401  (fixtures)

DECODER = "decoder.pth"
PROXY_VARIABLES = ("https_proxy", "HTTPS_PROXY", "http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY")


def read_head(connection: socket.socket) -> bytes:
    connection.settimeout(5)
    request = connection.recv(65536)
    while request and b"\r\n\r\n" not in request:
        request += connection.recv(65536)
    return request


@contextlib.contextmanager
def answering(answer: Callable[[bytes, int], bytes]) -> Iterator[str]:
    """"http://127.0.0.1:PORT" of a server that reads each request's head, sends
    `answer(request, port)` and closes."""
    def handle(connection: socket.socket, port: int) -> None:
        connection.sendall(answer(read_head(connection), port))

    with raw_server(handle) as port:
        yield f"http://127.0.0.1:{port}"


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch):
    for variable in PROXY_VARIABLES:
        monkeypatch.delenv(variable, raising=False)


def test_an_early_hints_answer_before_the_file_is_skipped(synthetic_release, tmp_path):
    """Was "error: URL: HTTP 103 Early Hints": http.client skips only 100 Continue."""
    body = synthetic_release[DECODER]
    answer = (b"HTTP/1.1 103 Early Hints\r\nLink: </x>; rel=preload\r\n\r\n"
              b"HTTP/1.1 102 Processing\r\n\r\n"
              + f"HTTP/1.1 200 OK\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body)
    assert downloaded(answer, tmp_path) == body


def downloaded(answer: bytes, tmp_path: Path) -> bytes:
    """The decoder's bytes as downloaded from a server giving `answer` to every request."""
    with answering(lambda request, port: answer) as base:
        path, outcome = download.download_file("decoder", f"{base}/{DECODER}", tmp_path / "w")
    assert outcome == "downloaded"
    return path.read_bytes()


def refusal(answer: bytes, tmp_path: Path) -> tuple[str, str]:
    """(the address, the one-line refusal) of downloading the decoder from a server giving `answer`;
    nothing is left behind."""
    with answering(lambda request, port: answer) as base:
        url = f"{base}/{DECODER}"
        with pytest.raises(UserError) as refused:
            download.download_file("decoder", url, tmp_path / "w")
    assert not (tmp_path / "w").exists()
    return url, str(refused.value)


@pytest.fixture(scope="module")
def certificate(tmp_path_factory) -> tuple[Path, Path]:
    """A self-signed certificate for `localhost` and its key (made with `cryptography`, which aiortc
    of the dev extra brings: no openssl command needed)."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "c.pem", folder / "k.pem"
    private = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.timezone.utc)
    made = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(private.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
            .sign(private, hashes.SHA256()))
    cert.write_bytes(made.public_bytes(serialization.Encoding.PEM))
    key.write_bytes(private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    return cert, key


@contextlib.contextmanager
def tls_server(certificate: tuple[Path, Path], answer: bytes) -> Iterator[int]:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*map(str, certificate))

    def handle(connection: socket.socket, port: int) -> None:
        connection.settimeout(5)
        with context.wrap_socket(connection, server_side=True) as tls:  # (fails where the client refuses it)
            read_head(tls)
            tls.sendall(answer)

    with raw_server(handle) as port:
        yield port


NOT_FOUND = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"
ADVICE = ("a mirror needs one from a trusted CA, or, for a private CA, set SSL_CERT_FILE to that CA's certificate "
          "(PEM)")


@pytest.mark.parametrize("host, trusted, why", [
    ("localhost", False, "self-signed certificate); " + ADVICE),
    ("127.0.0.1", True, "IP address mismatch, certificate is not valid for '127.0.0.1'); give the host name the "
                        "certificate is for"),  # (another host's)
])
def test_an_untrusted_certificate_is_said_so_not_as_unreachable(certificate, tmp_path, monkeypatch, host, trusted,
                                                                why):
    """Was "cannot reach localhost:PORT ([SSL: CERTIFICATE_VERIFY_FAILED] ...); check the network",
    though the server had answered."""
    if trusted:
        monkeypatch.setenv("SSL_CERT_FILE", str(certificate[0]))
    with tls_server(certificate, NOT_FOUND) as port:
        with pytest.raises(UserError) as refused:
            download.download_file("decoder", f"https://{host}:{port}/{DECODER}", tmp_path / "w")
    assert str(refused.value) == f"{host}:{port} answered, but its TLS (https) certificate is not trusted ({why}"
    assert not (tmp_path / "w").exists()


def test_the_advice_for_an_untrusted_certificate_works(certificate, tmp_path, monkeypatch):
    """SSL_CERT_FILE naming the private CA's certificate: the server is trusted (it answers 404)."""
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate[0]))
    with tls_server(certificate, NOT_FOUND) as port:
        url = f"https://localhost:{port}/{DECODER}"
        with pytest.raises(UserError) as refused:
            download.download_file("decoder", url, tmp_path / "w")
    assert str(refused.value) == f"{url}: HTTP 404 Not Found"


def test_an_untrusted_certificate_where_a_redirect_led_names_it(certificate, tmp_path):
    with tls_server(certificate, NOT_FOUND) as tls_port:
        location = f"https://localhost:{tls_port}/{DECODER}"
        redirect = f"HTTP/1.1 302 Found\r\nLocation: {location}\r\nContent-Length: 0\r\n\r\n".encode()
        with answering(lambda request, port: redirect) as base:
            with pytest.raises(UserError) as refused:
                download.download_file("decoder", f"{base}/{DECODER}", tmp_path / "w")
    assert str(refused.value) == (f"localhost:{tls_port}, where {base.removeprefix('http://')} redirected, answered, "
                                  "but its TLS (https) certificate is not trusted (self-signed certificate); " + ADVICE)


def hop(request: bytes, port: int) -> bytes:
    """A redirect from /rN to /rN+1 (from anything else to /r1)."""
    path = request.split(b" ", 2)[1].decode()
    step = int(path[2:]) + 1 if path.startswith("/r") else 1
    return f"HTTP/1.1 302 Found\r\nLocation: /r{step}\r\nContent-Length: 0\r\n\r\n".encode()


def test_too_many_redirects_are_said_so_with_the_last_address(tmp_path):
    """Was "URL: HTTP 302 The HTTP server returned a redirect error that would lead to an infinite loop."."""
    with answering(hop) as base:
        url = f"{base}/{DECODER}"
        with pytest.raises(UserError) as refused:
            download.download_file("decoder", url, tmp_path / "w")
    assert str(refused.value) == (f"{url}: too many redirects (more than 10); the last address reached: "
                                  f"'{base}/r10' (HTTP 302 Found)")
    assert not (tmp_path / "w").exists()


def test_a_redirect_loop_is_said_so(tmp_path):
    loop = b"HTTP/1.1 302 Found\r\nLocation: /again\r\nContent-Length: 0\r\n\r\n"
    with answering(lambda request, port: loop) as base:
        url = f"{base}/{DECODER}"
        with pytest.raises(UserError) as refused:
            download.download_file("decoder", url, tmp_path / "w")
    assert str(refused.value) == (f"{url}: redirects in a loop (one address reached 4 times); the last address "
                                  f"reached: '{base}/again' (HTTP 302 Found)")


@pytest.mark.parametrize("coding", ["gzip, chunked", "chunked, chunked", "identity, chunked"])
def test_a_transfer_coding_other_than_chunked_is_refused(synthetic_release, tmp_path, coding):
    """"gzip, chunked" was read to the close, chunk-size lines and all, and the file was blamed
    ("not a readable weights file")."""
    body = synthetic_release[DECODER]
    answer = f"HTTP/1.1 200 OK\r\nTransfer-Encoding: {coding}\r\n\r\n{len(body):x}\r\n".encode() + body + b"\r\n0\r\n\r\n"
    url, said = refusal(answer, tmp_path)
    assert said == (f"{url}: the server sent the file in a transfer coding that was not asked for "
                    f"(Transfer-Encoding: {coding}; only chunked is read); try again later, or use a mirror with --base-url")


def test_content_lengths_that_disagree_are_a_malformed_answer(synthetic_release, tmp_path):
    """The first was taken: 10 bytes read, and the file blamed."""
    body = synthetic_release[DECODER]
    answer = f"HTTP/1.1 200 OK\r\nContent-Length: 10\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body
    url, said = refusal(answer, tmp_path)
    assert said == (f"{url}: the server's answer is malformed (Content-Length 10 and {len(body)} at once); try again "
                    "later, or use a mirror with --base-url")


def test_content_lengths_that_agree_are_one(synthetic_release, tmp_path):
    """RFC 9110: a list of one value repeated is that value."""
    body = synthetic_release[DECODER]
    answer = f"HTTP/1.1 200 OK\r\nContent-Length: {len(body)}\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body
    assert downloaded(answer, tmp_path) == body


def relay(source: socket.socket, sink: socket.socket) -> None:
    """`source`'s bytes to `sink` until either ends."""
    with contextlib.suppress(OSError):
        while data := source.recv(65536):
            sink.sendall(data)
    for end in (source, sink):
        with contextlib.suppress(OSError):
            end.shutdown(socket.SHUT_RDWR)


@contextlib.contextmanager
def proxy(asked: list[str]) -> Iterator[str]:
    """"http://127.0.0.1:PORT" of a proxy that tunnels a CONNECT and forwards an absolute-URI
    request, each request's target appended to `asked`."""
    def handle(connection: socket.socket, port: int) -> None:
        head = read_head(connection)
        method, target, rest = head.split(b" ", 2)
        asked.append(f"{method.decode()} {target.decode()}")
        if method == b"CONNECT":
            host, _, target_port = target.decode().rpartition(":")
        else:
            parts = urllib.parse.urlsplit(target.decode())
            host, target_port = parts.hostname, parts.port
            head = b" ".join((method, (parts.path or "/").encode(), rest))
        with socket.create_connection((host, int(target_port)), timeout=5) as upstream:
            if method == b"CONNECT":
                connection.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            else:
                upstream.sendall(head)
            onward = threading.Thread(target=relay, args=(connection, upstream), daemon=True)
            onward.start()
            relay(upstream, connection)
            onward.join(5)

    with raw_server(handle) as port:
        yield f"http://127.0.0.1:{port}"


def redirected_refusal(location: str, tmp_path: Path) -> tuple[str, str]:
    """("HOST:PORT" of the mirror, the one-line refusal) of downloading the decoder from a mirror that
    redirects to `location`."""
    redirect = f"HTTP/1.1 302 Found\r\nLocation: {location}\r\nContent-Length: 0\r\n\r\n".encode()
    with answering(lambda request, port: redirect) as base:
        with pytest.raises(UserError) as refused:
            download.download_file("decoder", f"{base}/{DECODER}", tmp_path / "w")
    assert not (tmp_path / "w").exists()
    return base.removeprefix("http://"), str(refused.value)


@pytest.mark.parametrize("variables", [("https_proxy",), ("http_proxy", "https_proxy")])
def test_an_untrusted_certificate_where_a_redirect_led_through_a_proxy_names_both(certificate, tmp_path, monkeypatch,
                                                                                  variables):
    """Was "127.0.0.1:PROXY, where MIRROR redirected, answered, but ..." (req.host, which urllib makes
    the proxy's), without "through the proxy": the proxy was looked up for the mirror's http URL."""
    asked: list[str] = []
    with tls_server(certificate, NOT_FOUND) as tls_port, proxy(asked) as address:
        for variable in variables:
            monkeypatch.setenv(variable, address)
        mirror, said = redirected_refusal(f"https://localhost:{tls_port}/{DECODER}", tmp_path)
    assert said == (f"localhost:{tls_port}, where {mirror} redirected, answered through the proxy {address} (which "
                    "may show its own), but its TLS (https) certificate is not trusted (self-signed certificate); "
                    + ADVICE)
    assert asked[-1] == f"CONNECT localhost:{tls_port}"


def test_a_redirect_to_a_host_its_certificate_is_not_for_blames_the_mirror(certificate, tmp_path, monkeypatch):
    """Was "...; give the host name the certificate is for": the user never gave it, the mirror's
    redirect did."""
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate[0]))
    with tls_server(certificate, NOT_FOUND) as tls_port:
        mirror, said = redirected_refusal(f"https://127.0.0.1:{tls_port}/{DECODER}", tmp_path)
    assert said == (f"127.0.0.1:{tls_port}, where {mirror} redirected, answered, but its TLS (https) certificate is "
                    "not trusted (IP address mismatch, certificate is not valid for '127.0.0.1'); the mirror "
                    "redirects to a host its certificate is not for; use another mirror with --base-url or "
                    f"${download.BASE_URL_ENV_VAR}, or the URL with the host name the certificate is for")
