"""`realtime-adain serve --tls-cert/--tls-key` against hostile clients and hostile files: connections
that never start their TLS handshake (alone, past the limits, at shutdown), and certificate or key
files of every wrong kind, each refused in one line before the model loads, without hanging.
Real https servers on 127.0.0.1 (and this machine's other address), raw sockets, real PEM/DER/PKCS#12
files made with `cryptography`."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import ipaddress
import logging
import os
import socket
import ssl
import stat
import threading
import time
from pathlib import Path

import aiohttp
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from realtime_adain.serve import process as serve_process
from realtime_adain.serve import connections
from realtime_adain.serve import listening as serve_listening
from realtime_adain.serve import tls as serve_tls
from realtime_adain.serve.settings import ServeSettings
from test_serve import served
from test_serve_hostile import OTHER, TOKEN, answer_or_silence, close_all, registry, until  # noqa: F401

PEM, PKCS8, NO_PASSWORD = serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()


def certificate(days: tuple[float, float] = (-1, 1)) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    """A self-signed certificate for 127.0.0.1, valid from days[0] to days[1] from now."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now + datetime.timedelta(days=days[0])).not_valid_after(now + datetime.timedelta(days=days[1]))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .sign(key, hashes.SHA256()))
    return key, cert


def write_pair(directory: Path, days: tuple[float, float] = (-1, 1)) -> tuple[Path, Path]:
    key, cert = certificate(days)
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(PEM))
    key_path.write_bytes(key.private_bytes(PEM, PKCS8, NO_PASSWORD))
    return cert_path, key_path


@pytest.fixture
def pair(tmp_path) -> tuple[Path, Path]:
    return write_pair(tmp_path)


# ---- connections that never handshake --------------------------------------------------------

async def open_silent(host: str, port: int, count: int, first: bytes = b"", source: str | None = None):
    """`count` TCP connections (from the address `source`, if given) that send `first` (by default
    nothing: never a ClientHello), then nothing."""
    opened = []
    for _ in range(count):
        reader, writer = await asyncio.open_connection(host, port, local_addr=source and (source, 0))
        if first:
            writer.write(first)
            await writer.drain()
        opened.append((reader, writer))
    return opened


async def closed_after(reader: asyncio.StreamReader, wait: float) -> float | None:
    """Seconds until the server closed the connection (having sent nothing), or None if it kept it `wait` s."""
    started = time.monotonic()
    answer = await answer_or_silence(reader, wait)
    assert answer in (None, b""), answer
    return None if answer is None else time.monotonic() - started


async def https_get(url: str) -> tuple[int, dict]:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{url}/api/config", params={"token": TOKEN}, ssl=False,
                            timeout=aiohttp.ClientTimeout(total=5)) as response:
            return response.status, await response.json()


def unverified() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    return context


def port_of(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


@pytest.mark.slow  # (default run's time: 2 s)
def test_a_connection_that_never_handshakes_is_closed(stylizer, registry, pair, monkeypatch, caplog):
    """A TCP connection that never sends (or never finishes) its ClientHello was held for asyncio's
    default 60 s handshake timeout (aiohttp's TCPSite cannot set it); now REQUEST_HEAD_S, as a
    request head. One that handshakes and sends no request is closed as over http."""
    monkeypatch.setattr(serve_process, "REQUEST_HEAD_S", 1.0, raising=False)
    cert, key = pair

    async def main():
        async with served(stylizer, registry, tls_cert=cert, tls_key=key) as (_server, url):
            port = port_of(url)
            opened = await open_silent("127.0.0.1", port, 1)  # never a ClientHello
            opened += await open_silent("127.0.0.1", port, 1, first=b"\x16\x03\x01\x02\x00")  # a record header only
            opened.append(await asyncio.open_connection("127.0.0.1", port, ssl=unverified()))  # then no request
            waits = await asyncio.gather(*(closed_after(reader, 5.0) for reader, _ in opened))
            status = (await https_get(url))[0]
            close_all(opened)
            return waits, status

    with caplog.at_level(logging.DEBUG):
        waits, status = asyncio.run(main())
    assert all(wait is not None and wait < 3.0 for wait in waits), waits
    assert status == 200
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING], caplog.text


@pytest.mark.slow  # (default run's time: waits out a close)
def test_a_client_that_never_reads_the_close_is_let_go(stylizer, registry, pair, monkeypatch):
    """Closing an https connection (here: no request within REQUEST_HEAD_S) waits for the client's
    close_notify: a client that never reads held its descriptor asyncio's 30 s more; now TLS_CLOSE_S."""
    monkeypatch.setattr(serve_process, "REQUEST_HEAD_S", 1.0, raising=False)
    cert, key = pair

    def handshake_then_nothing(port: int) -> ssl.SSLSocket:
        return unverified().wrap_socket(socket.create_connection(("127.0.0.1", port)))  # blocking: never reads

    async def main():
        async with served(stylizer, registry, tls_cert=cert, tls_key=key) as (server, url):
            held = await asyncio.get_running_loop().run_in_executor(None, handshake_then_nothing, port_of(url))
            started = time.monotonic()
            await until(lambda: not server.connection_limits.open, 8.0)
            released = time.monotonic() - started
            held.close()
            return released

    assert asyncio.run(main()) < 1.0 + connections.TLS_CLOSE_S + 1.5


def test_connections_in_their_handshake_count_toward_the_limit(stylizer, registry, pair, caplog):
    """Connections still in their handshake were not counted (aiohttp hears of a connection when its
    handshake ends), so a client that never sent a ClientHello held descriptors past every limit.
    Now they count from the accept: past the total an https request is answered 503, a silent
    connection is closed after REFUSED_HEAD_S, and at once in a flood; once they go, https is served."""
    cert, key = pair
    flood = connections.MOST_REFUSED_HELD + 4

    async def main():
        async with served(stylizer, registry, tls_cert=cert, tls_key=key) as (server, url):
            limits = server.connection_limits
            limits.total = 6
            held = await open_silent("127.0.0.1", port_of(url), 6)
            await until(lambda: len(limits.open) == 6, 2.0)
            counted = len(limits.open)
            over = await https_get(url)
            refused = await open_silent("127.0.0.1", port_of(url), flood)
            waits = await asyncio.gather(*(closed_after(reader, 4.0) for reader, _ in refused))
            close_all(held + refused)
            await until(lambda: not limits.open and not limits.refused)
            return counted, over, waits, await https_get(url)

    with caplog.at_level(logging.DEBUG):
        counted, (status, body), waits, (after, _) = asyncio.run(main())
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING], caplog.text
    assert counted == 6
    assert status == 503 and "maximum of 6 connections" in body["error"], body
    assert all(w is not None and w < connections.REFUSED_HEAD_S + 1.5 for w in waits), waits
    assert all(w < 0.5 for w in waits[connections.MOST_REFUSED_HELD:]), waits  # the flood: at once
    assert after == 200


@pytest.mark.slow  # (default run's time: waits out handshakes)
def test_one_host_never_handshaking_leaves_room_for_others(stylizer, registry, pair):
    """One host's connections that never handshake are held to MAX_PER_ADDRESS (they used to be
    all kept, uncounted); another host (loopback here) is still served over https."""
    cert, key = pair
    extra = 4

    async def main():
        async with served(stylizer, registry, tls_cert=cert, tls_key=key, host="0.0.0.0", token=TOKEN) as (server, url):
            flood = await open_silent("127.0.0.1", port_of(url), connections.MAX_PER_ADDRESS + extra, source=OTHER)
            waits = await asyncio.gather(*(closed_after(reader, 3.0) for reader, _ in flood))
            status = (await https_get(url))[0]
            close_all(flood)
            return waits, status

    waits, status = asyncio.run(main())
    assert waits[:connections.MAX_PER_ADDRESS] == [None] * connections.MAX_PER_ADDRESS, waits
    assert all(w is not None for w in waits[connections.MAX_PER_ADDRESS:]), waits
    assert status == 200


def test_stopping_drops_connections_still_in_their_handshake(stylizer, registry, pair):
    """aiohttp closes the connections it knows of when it stops; one still in its handshake was left
    open (for asyncio's 60 s) after the server had gone."""
    cert, key = pair

    async def main():
        async with served(stylizer, registry, tls_cert=cert, tls_key=key) as (_server, url):
            opened = await open_silent("127.0.0.1", port_of(url), 2)
            await asyncio.sleep(0.2)
        waits = await asyncio.gather(*(closed_after(reader, 3.0) for reader, _ in opened))
        close_all(opened)
        return waits

    waits = asyncio.run(main())
    assert all(w is not None and w < 1.0 for w in waits), waits


# ---- the files -------------------------------------------------------------------------------

@contextlib.contextmanager
def unblocking(fifo: Path):
    """While inside, a thread opens `fifo` for writing as soon as someone opens it for reading (which
    blocks until a writer comes) and closes it at once, so a reader that should never have opened it
    ends instead of hanging; yields a list that says whether that happened."""
    opened, done = [], threading.Event()

    def watch():
        while not done.is_set():
            try:
                if stat.S_ISFIFO(os.stat(fifo).st_mode):
                    os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))  # ENXIO while nobody reads
                    opened.append(True)
            except OSError:
                pass
            time.sleep(0.01)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    try:
        yield opened
    finally:
        done.set()
        thread.join()


def bad_files(case: str, directory: Path) -> tuple[str, str]:
    """(--tls-cert, --tls-key) for one hostile case."""
    cert, key = write_pair(directory)
    key_obj, cert_obj = certificate()
    other = directory / "other.pem"
    if case == "a key that is not the certificate's":
        other.write_bytes(certificate()[0].private_bytes(PEM, PKCS8, NO_PASSWORD))
        return cert, other
    if case == "an RSA key for an EC certificate":  # (OpenSSL: NO_CERTIFICATE_ASSIGNED)
        other.write_bytes(rsa.generate_private_key(65537, 2048).private_bytes(PEM, PKCS8, NO_PASSWORD))
        return cert, other
    if case in ("a certificate's armour around nothing", "a key's armour around nothing"):  # (OpenSSL: "PEM lib")
        what = "CERTIFICATE" if "certificate" in case else "PRIVATE KEY"
        other.write_text(f"-----BEGIN {what}-----\nAAAA\n-----END {what}-----\n")
        return (other, key) if what == "CERTIFICATE" else (cert, other)
    if case in ("expired", "not yet valid"):
        return write_pair(directory, (-10, -5) if case == "expired" else (5, 10))
    if case == "a directory":
        return directory, key
    if case == "/dev/zero":
        return cert, "/dev/zero"
    if case == "a 2 GB sparse file":
        with open(other, "wb") as f:
            f.truncate(2 * 1024 ** 3)
        return other, key
    if case == "a FIFO":
        os.mkfifo(other)
        return cert, other
    if case in ("an encrypted PKCS#8 key", "an encrypted traditional key"):
        kind = PKCS8 if "PKCS#8" in case else serialization.PrivateFormat.TraditionalOpenSSL
        other.write_bytes(key_obj.private_bytes(PEM, kind, serialization.BestAvailableEncryption(b"secret")))
        (directory / "own.pem").write_bytes(cert_obj.public_bytes(PEM))
        return directory / "own.pem", other
    if case == "DER":
        other.write_bytes(cert_obj.public_bytes(serialization.Encoding.DER))
        (directory / "key.der").write_bytes(key_obj.private_bytes(serialization.Encoding.DER, PKCS8, NO_PASSWORD))
        return other, directory / "key.der"
    if case == "a DER key":
        (directory / "own.pem").write_bytes(cert_obj.public_bytes(PEM))
        other.write_bytes(key_obj.private_bytes(serialization.Encoding.DER, PKCS8, NO_PASSWORD))
        return directory / "own.pem", other
    if case == "PKCS#12":
        other.write_bytes(pkcs12.serialize_key_and_certificates(b"x", key_obj, cert_obj, None, NO_PASSWORD))
        return other, other
    if case == "key and certificate swapped":
        return key, cert
    if case == "an empty file":
        other.write_bytes(b"\n")
        return other, key
    if case == "an empty path":
        return "", key
    raise AssertionError(case)


@pytest.mark.parametrize("case, says", [
    ("a key that is not the certificate's", "the private key does not belong to this certificate"),
    ("an RSA key for an EC certificate", "the private key does not belong to this certificate"),
    ("a certificate's armour around nothing", "other.pem's -----BEGIN CERTIFICATE----- block holds no certificate"),
    ("a key's armour around nothing", "other.pem's -----BEGIN PRIVATE KEY----- block holds no private key"),
    ("expired", ": it expired on "),
    ("not yet valid", ": it is valid only from "),
    ("a directory", ": is a directory, not a PEM file (--tls-cert)"),
    ("/dev/zero", "/dev/zero: not a regular file (a device or a pipe), so not a PEM file (--tls-key)"),
    ("a 2 GB sparse file", "2147483648 bytes, too large for a PEM certificate or key"),
    ("a FIFO", "not a regular file (a device or a pipe), so not a PEM file (--tls-key)"),
    ("an encrypted PKCS#8 key", "the private key is encrypted and serve cannot ask for its passphrase"),
    ("an encrypted traditional key", "the private key is encrypted and serve cannot ask for its passphrase"),
    ("DER", "is not PEM (no -----BEGIN line; DER or PKCS#12?): convert it with `openssl x509 -inform der"),
    ("a DER key", "is not PEM (no -----BEGIN line; DER or PKCS#12?): convert it with `openssl pkey -inform der"),
    ("PKCS#12", "`openssl pkcs12 -in "),
    ("key and certificate swapped", "key.pem holds no PEM certificate (-----BEGIN CERTIFICATE-----)"),
    ("an empty file", "other.pem is empty"),
    ("an empty path", "error: --tls-cert is empty"),
])
def test_a_bad_certificate_or_key_is_one_line_before_the_model(run_cli, weights_env, data_dir, tmp_path, monkeypatch,
                                                               case, says):
    """Each used to be a hang (a FIFO blocks OpenSSL's open, a 2 GB key it read for minutes, an
    encrypted key prompted on the terminal), a start with a certificate browsers refuse (expired),
    or "PEM lib" / "no such file" for a directory: now one line saying what is wrong."""
    monkeypatch.setattr(serve_process, "load", lambda *_: pytest.fail("the model loaded"))
    cert, key = bad_files(case, tmp_path)
    with unblocking(tmp_path / "other.pem") as opened:
        started = time.monotonic()
        code, out, err = run_cli("serve", "-s", data_dir / "style" / "mondrian.jpg", "--device", "cpu", "--port", "0",
                                 "--tls-cert", cert, "--tls-key", key)
    assert not opened, "the FIFO was opened"
    assert code == 2 and err.startswith("error:") and err.count("\n") == 1 and says in err, err
    assert out == "" and time.monotonic() - started < 5.0


def test_one_file_holding_the_certificate_and_its_key_serves(pair, tmp_path):
    both = tmp_path / "both.pem"
    both.write_bytes(pair[0].read_bytes() + pair[1].read_bytes())
    settings = ServeSettings(styles=("unused",), tls_cert=both, tls_key=both)
    settings.check()
    assert isinstance(serve_tls.tls_context(settings), ssl.SSLContext)


def test_every_interface_over_https_prints_an_https_url_with_a_token(run_cli, weights_env, data_dir, pair, monkeypatch):
    """Off loopback a token is still generated (no open server), and the URL printed is https."""
    cert, key = pair
    seen = []

    def listening(settings):
        seen.append(settings)
        serve_listening.print_url(settings, 8443)
        return 0

    monkeypatch.setattr(serve_process, "run", listening)
    code, out, err = run_cli("serve", "-s", data_dir / "style" / "mondrian.jpg", "--host", "0.0.0.0",
                             "--tls-cert", cert, "--tls-key", key)
    token = seen[0].token
    assert code == 0 and token and len(token) >= 32
    assert out.startswith("serving on all interfaces (0.0.0.0) port 8443: https://") and f"?token={token}" in out


@pytest.mark.skipif(not socket.has_ipv6, reason="no IPv6 on this machine")
@pytest.mark.parametrize("tls", [False, True])
def test_every_interface_on_ipv6_takes_ipv4_clients_too(stylizer, registry, pair, tls):
    """`--host ::` is documented as every interface, but asyncio sets IPV6_V6ONLY: IPv4 clients,
    and the URL printed with this machine's IPv4 name, were refused. One socket now takes both."""
    cert, key = pair if tls else (None, None)

    async def main():
        async with served(stylizer, registry, tls_cert=cert, tls_key=key, host="::", token=TOKEN) as (_server, url):
            scheme, port = url.split("://")[0], port_of(url)
            return [(await https_get(f"{scheme}://{host}:{port}"))[0] for host in ("127.0.0.1", "[::1]")]

    assert asyncio.run(main()) == [200, 200]
