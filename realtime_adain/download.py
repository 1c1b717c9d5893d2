"""Fetching the published AdaIN weights into the per-user weights directory.

Downloads go to `NAME.part` beside the target: a broken transfer is resumed from there with an
HTTP Range request (automatically a few times, and again on the next run; a server that ignores
Range, cut short each time, has its `.part` deleted: it would start over again), and only a file that
passed verification (size and SHA-256 where known, then structure and shapes through the real
loaders) is renamed into place. A body with neither a length nor chunks ends where the connection
closes: short of the pinned size, it was cut only if the server then sends the rest (a 206 from
there); else it was all of a shorter file, which the size check rejects. Nothing says which
URL a kept `.part` came from, so a file built on one that fails verification is fetched once
more from byte 0 before it counts as the server's fault. Anything that fails verification is
deleted, so the cache never holds a partial or wrong file; a failed run also removes the
directories it created that are still empty (a `.part` worth resuming keeps its directory).

A server that sends more than the file's known size (or, size unknown, `MAX_DOWNLOAD_BYTES`) is
cut off at that size, so a broken or hostile mirror cannot fill the disk; that deletes the `.part`,
as does an error writing it (a full disk), which names the weights file. One that trickles (under
`MinRate`, 4 KiB/s over a minute) is cut off too, so it cannot hold the command for ever; what it
sent stays in the `.part` for the next run to resume, as after a dropped connection.
"""

from __future__ import annotations

import base64
import http.client
import os
import re
import socket
import ssl
import stat
import threading
import time
import urllib.error
import urllib.request
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Literal
from urllib.parse import unquote, urlsplit

from tqdm import tqdm

from realtime_adain import __version__, weights
from realtime_adain.atomic import lost_during_run, naming
from realtime_adain.checks import ascii_whole
from realtime_adain.errors import UserError, one_line
from realtime_adain.paths import check_writable_dir
from realtime_adain.release import BASE_URL_ENV_VAR, DEFAULT_BASE_URL, PUBLISHED, PublishedFile  # noqa: F401 (part of this module's interface)

KINDS = tuple(PUBLISHED)  # ("vgg", "decoder")
CHUNK = 1 << 20
TIMEOUT_S = 30.0  # the most one read waits
ANSWER_S = 60.0  # the most a server's answer takes to its last header (redirects included)
ATTEMPTS = 4  # one transfer plus three resumes when the connection drops mid-way
MAX_DOWNLOAD_BYTES = 1 << 30  # the bound where the size is not known (--no-checksum): 12x the VGG file


LOADERS: dict[str, Callable[[Path], object]] = {
    "vgg": weights.load_encoder,
    "decoder": weights.load_decoder,
}


# Where weights may come from: the web, or a local mirror folder (no ftp://, data:, ...).
URL_SCHEMES = ("https", "http", "file")


def file_urls(
    base_url: str | None = None, vgg_url: str | None = None, decoder_url: str | None = None
) -> dict[str, str]:
    """Where each file comes from: per-file URL, else base URL (flag, then env var, then default)."""
    from_env = os.environ.get(BASE_URL_ENV_VAR)
    for name, given in (("--base-url", base_url), ("--vgg-url", vgg_url), ("--decoder-url", decoder_url),
                        (f"${BASE_URL_ENV_VAR}", from_env if from_env else None)):  # (set empty: the default)
        if given is not None and not given.strip():
            raise UserError(f"{name} is empty: give a URL")
        if given and (problem := _unsendable(given)):
            raise UserError(f"{shown(given)} (from {name}): {problem}")
    base, base_source = ((base_url, "--base-url") if base_url else (from_env, f"${BASE_URL_ENV_VAR}") if from_env
                         else (DEFAULT_BASE_URL, None))
    explicit = {"vgg": vgg_url, "decoder": decoder_url}
    urls = {}
    for kind in KINDS:
        source = f"--{kind}-url" if explicit[kind] else base_source
        named = f" (from {source})" if source else ""  # (a bad URL from the environment named no variable)
        try:
            url = explicit[kind] or joined(base, PUBLISHED[kind].filename)
            parts = urlsplit(url)
            scheme, host = parts.scheme.lower(), parts.hostname
        except ValueError as exc:  # e.g. "http://[::1/x": Invalid IPv6 URL
            raise UserError(f"{shown(explicit[kind] or base)}{named}: {exc}") from None
        if scheme not in URL_SCHEMES:
            raise UserError(f"{shown(url)}{named}: not an {', '.join(URL_SCHEMES[:-1])} or {URL_SCHEMES[-1]} URL")
        if scheme == "file" and (problem := _file_url_problem(parts)):  # ("file://tmp/w": "No such file or directory")
            raise UserError(f"{shown(url)}{named}: {problem}")
        if scheme != "file" and not host:  # ("http:///x" said "cannot reach  (no host given)")
            raise UserError(f"{shown(url)}{named}: no host in the URL ({scheme}://HOST/...)")
        if scheme != "file" and not _valid_port(parts):  # (":99999" said "cannot reach ... (Connection refused)")
            port = _host(parts.netloc).rpartition(":")[2]
            raise UserError(f"{shown(url)}{named}: the URL's port {one_line(port)[:20]!r} is not valid (a number from 1 to 65535)")
        urls[kind] = url
    return urls


def _unsendable(url: str) -> str | None:
    """What `url` holds that no request can carry, or None. Refused up front: urlsplit drops a tab
    or line break without a word (a token pasted over two lines became another token), and
    http.client's own refusal quoted the URL with its token in clear ('S3CR\\tET')."""
    if re.search(r"[\x00-\x1f\x7f]", url):
        return "a URL cannot hold a control character (a tab or line break: pasted over two lines?)"
    if " " in url and not re.match(r"\s*file:", url, re.I):  # (a file:// URL's path is opened as it is written)
        return "a URL cannot hold a space; write it %20"
    return None


def _file_url_problem(parts) -> str | None:
    """Why a file:// URL names no file here (None where it names one). Judged here, not by urllib
    (which is given the URL without its host): urllib checks the host only once the path exists,
    so the usual typo `file://tmp/w` (the host `tmp`) said "No such file or directory" about `/w`;
    it read file://:80/x as /x, called localhost:80 another machine, and could not look up [::1]."""
    if not _on_this_machine(parts.hostname or ""):
        return f"a file:// URL names a file on this machine, not on {_host(parts.netloc)}: file:///folder/name (three slashes)"
    if "@" in parts.netloc:
        return "a file:// URL takes no login (user@): file:///folder/name"
    if ":" in _host(parts.netloc).rpartition("]")[2]:  # (after an IPv6 address's brackets)
        return "a file:// URL takes no port: file:///folder/name"
    return None


def _on_this_machine(host: str) -> bool:
    """Whether a file:// URL's host names this machine, as far as is known without a DNS look-up."""
    return host in ("", "localhost", "127.0.0.1", "::1", socket.gethostname().lower())


def _valid_port(parts) -> bool:
    """Whether the URL's port, where it gives one, is a number a connection can go to."""
    try:
        port = parts.port  # (a ValueError for one out of 0-65535 or not a number)
    except ValueError:
        return False
    return port is None or 1 <= port <= 65535


def joined(base: str, filename: str) -> str:
    """`filename` appended to the base URL's path: a query (a signed or token URL of a private
    mirror, `...?token=...`) stays the query of each file's URL."""
    parts = urlsplit(base)
    return parts._replace(path=parts.path.rstrip("/") + "/" + filename).geturl()


def verify(path: Path, kind: str, check_checksum: bool = True, load: bool = True) -> None:
    """Raise UserError unless `path` is a sound `kind` weights file (the published one if pinned).

    `load=False` skips the structure check when the digest is pinned: a file with the published
    SHA-256 is the published file, which loads (checked when it was downloaded).
    """
    spec = PUBLISHED[kind]
    if check_checksum and spec.size is not None:
        size = path.stat().st_size
        if size != spec.size:
            raise UserError(f"{path}: {size} bytes, expected {spec.size} ({spec.filename} of the release)")
    if check_checksum and spec.sha256 is not None:
        digest = weights.file_sha256(path)
        if digest != spec.sha256:
            raise UserError(f"{path}: SHA-256 {digest} does not match the published {spec.sha256}")
        if not load:
            return
    LOADERS[kind](path)


def is_valid(path: Path, kind: str, check_checksum: bool = True) -> bool:
    """Whether a file already in the cache can stay (cheap when its digest is pinned)."""
    try:
        verify(path, kind, check_checksum, load=False)
    except UserError:
        return False
    return True


def _host(netloc: str) -> str:
    """A URL's netloc without the user:password@ a private mirror's URL may carry."""
    return netloc.rpartition("@")[2]


def _masked_query(query: str) -> str:
    """Each value of a query replaced by *** (the names stay, to tell which URL it is)."""
    return "&".join(item.partition("=")[0] + "=***" if "=" in item else "***" if item else ""
                    for item in query.split("&"))


def shown(url: str) -> str:
    """`url` for messages: a user name or password in it, and the values of its query (a mirror's
    token), are replaced by ***, so an error line or a log does not print credentials."""
    try:
        parts = urlsplit(url)
        if parts.username is None and parts.password is None and not parts.query and not parts.fragment:
            return url
        if parts.username is not None or parts.password is not None:
            parts = parts._replace(netloc="***@" + _host(parts.netloc))
        # (a redirect's target may carry a token in its fragment too: #access_token=...)
        return parts._replace(query=_masked_query(parts.query), fragment="***" if parts.fragment else "").geturl()
    except ValueError:  # malformed (e.g. an unclosed IPv6 bracket): hide everything before the last @
        head, mark, query = ("***@" + url.rpartition("@")[2] if "@" in url else url).partition("?")
        return head + mark + _masked_query(query)


def _scrubbed(message: str, url: str) -> str:
    """`message` with the query of `url` masked wherever it appears: some errors of urllib and
    http.client quote the URL or the request path (e.g. "URL can't contain control characters")."""
    query = url.partition("?")[2].partition("#")[0]
    return message.replace(query, _masked_query(query)) if query else message


def _request(url: str, headers: dict[str, str]) -> urllib.request.Request:
    """A GET of `url`; a user:password in it (a private mirror) becomes an HTTP Basic login that
    is not sent on to the target of a redirect (urllib itself would take it for the host name)."""
    parts = urlsplit(url)
    if parts.scheme.lower() == "file":  # (its host, checked already, is this machine: see _file_url_problem)
        return urllib.request.Request(parts._replace(netloc="").geturl(), headers=headers)
    if parts.username is None:
        return urllib.request.Request(url, headers=headers)
    request = urllib.request.Request(parts._replace(netloc=_host(parts.netloc)).geturl(), headers=headers)
    login = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
    request.add_unredirected_header("Authorization", "Basic " + base64.b64encode(login.encode()).decode())
    return request


def _open(url: str, offset: int):
    """An open response for `url` from byte `offset`; network failures become one clear line
    (without the URL's secrets, even where the failure's own text quotes it)."""
    try:
        return _urlopen(url, offset)
    except UserError as exc:
        raise UserError(_scrubbed(str(exc), url)) from None


def _refuse_bad_file_url(url: str) -> None:
    """A file:// URL must name a regular file on this machine: urllib opens it by name, and a FIFO
    blocked the open for good (a device, /dev/zero, streamed until the size limit). A file that is
    not there, or unreadable, is left to urllib to name."""
    parts = urlsplit(url)
    if parts.scheme.lower() != "file":
        return
    if problem := _file_url_problem(parts):  # (for a URL not from file_urls, e.g. download_file's)
        raise UserError(f"{shown(url)}: {problem}")
    try:
        mode = os.stat(urllib.request.url2pathname(parts.path)).st_mode
    except (OSError, ValueError):
        return
    if not stat.S_ISREG(mode):
        raise UserError(f"{shown(url)}: not a regular file (a folder, pipe, device or socket)")


class _AnswerTooSlow(Exception):
    """The server's answer (status line and headers, redirects included) took over `ANSWER_S`."""


class _Watched:
    """The sockets of the connections urllib opens for one answer (a redirect opens another), so
    that a timer can end the wait: the read timeout restarts with every byte, and a server trickling
    its headers (a byte every few seconds) held `weights download` for good, without a word. The
    sockets, not the connections: urllib lets go of a connection's once the head is in, and the
    body is watched the same way (`_PaceWatch`)."""

    def __init__(self) -> None:
        self.sockets: list[socket.socket] = []
        self.expired = False
        self.hosts: list[str] = []  # each request's host (netloc), redirects' targets after the first

    def connection(self, kind: type[http.client.HTTPConnection]) -> Callable[..., http.client.HTTPConnection]:
        watched = self

        class Watched(kind):  # type: ignore[valid-type,misc]
            def connect(self) -> None:
                """One still connecting when the time ran out (a redirect's new host being looked
                up) had no socket to shut: it is ended once connected."""
                if watched.expired:
                    raise TimeoutError("the answer took too long")
                super().connect()
                watched.sockets.append(self.sock)
                if watched.expired:
                    self.sock.close()
                    raise TimeoutError("the answer took too long")

        return Watched

    def expire(self) -> None:
        self.expired = True
        for sock in self.sockets:
            with suppress(OSError):  # the blocked read returns (the plain socket's shutdown: an SSL
                socket.socket.shutdown(sock, socket.SHUT_RDWR)  # socket's own drops its TLS state mid-read)


class _HttpRedirectsOnly(urllib.request.HTTPRedirectHandler):
    """Redirects to http(s) only: urllib follows ftp:// too, whose failure then said the mirror
    itself could not be reached (file:// it refuses already, in these words). Nor from https to
    plain http: what was asked over an encrypted connection (with a login, perhaps) would come
    unencrypted without a word; a user who accepts that gives the http URL."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        scheme = urlsplit(newurl).scheme.lower()
        if scheme not in ("http", "https"):
            raise urllib.error.HTTPError(newurl, code, f"{msg} - Redirection to url '{shown(newurl)}' is not allowed",
                                         headers, fp)
        if scheme == "http" and req.type == "https":
            raise urllib.error.HTTPError(newurl, code, f"{msg} - a redirect from https to plain http ('{shown(newurl)}') "
                                         "is not followed; give that http URL to download over it", headers, fp)
        if not _valid_port(urlsplit(newurl)):  # (":99999" was "Connection refused", ":abc" blamed the mirror's URL)
            raise urllib.error.HTTPError(newurl, code, f"{msg} - a redirect to '{shown(newurl)}', whose port is not "
                                         "valid (a number from 1 to 65535)", headers, fp)
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def _answer(request: urllib.request.Request):
    """urlopen with the whole answer's head bounded by `ANSWER_S` (`_Watched`)."""
    watched = _Watched()

    class Http(urllib.request.HTTPHandler):
        def http_open(self, req):
            watched.hosts.append(req.host)
            return self.do_open(watched.connection(http.client.HTTPConnection), req)

    class Https(urllib.request.HTTPSHandler):
        def https_open(self, req):
            watched.hosts.append(req.host)
            return self.do_open(watched.connection(http.client.HTTPSConnection), req, context=self._context)

    timer = threading.Timer(ANSWER_S, watched.expire)
    timer.daemon = True
    timer.start()
    try:
        response = urllib.request.build_opener(Http, Https, _HttpRedirectsOnly).open(request, timeout=TIMEOUT_S)
    except (OSError, http.client.HTTPException) as exc:  # (URLError is an OSError)
        if watched.expired:
            raise _AnswerTooSlow() from None
        if isinstance(exc, urllib.error.URLError) and len(watched.hosts) > 1:
            exc.redirected_to = watched.hosts[-1]  # (the error named the first host, which answered)
        raise
    finally:
        timer.cancel()
        timer.join()  # (one firing just now would shut the answer's socket after the check below)
    if watched.expired:  # (cut off mid-header, http.client took what came as the whole head, and no body)
        response.close()
        raise _AnswerTooSlow()
    response.cut_off = watched.expire  # (for `_PaceWatch`)
    return response


def _urlopen(url: str, offset: int):
    _refuse_bad_file_url(url)
    headers = {"User-Agent": f"realtime-adain/{__version__}", "Accept-Encoding": "identity"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    try:
        request = _request(url, headers)  # (a malformed URL is a ValueError, below)
        response = _answer(request)
    except _AnswerTooSlow:
        raise UserError(f"{shown(url)}: no whole answer within {ANSWER_S:.0f} s (the server sends its headers too "
                        "slowly); try again later, or use a mirror with --base-url") from None
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and offset:  # our partial file is not a prefix of theirs
            exc.close()
            return None
        reason = next(iter(str(exc.reason).strip().splitlines()), "")  # a redirect loop's is 3 lines
        answered = exc.filename  # the address that answered so: a redirect's target, where there was one
        if answered and answered != request.full_url and exc.code not in range(300, 400):
            # (no blame on a mirror: the default address redirects to GitHub's own download servers)
            raise UserError(f"{shown(answered)}, where {shown(url)} redirected: HTTP {exc.code} {reason}".rstrip()) from None
        raise UserError(f"{shown(url)}: HTTP {exc.code} {reason}".rstrip()) from None
    except urllib.error.URLError as exc:
        host = _host(urlsplit(url).netloc)
        reason = exc.reason.strerror if isinstance(exc.reason, OSError) and exc.reason.strerror else exc.reason
        if urlsplit(url).scheme.lower() == "file":  # file:// mirrors (was "cannot reach HOST ...; check the network")
            raise UserError(f"{shown(url)}: {reason}") from None
        target = getattr(exc, "redirected_to", None)
        if target is not None:  # a redirect's target failed, not the server asked
            if "@" in target:  # (urllib takes user:password@host for a host name: "Name or service not known")
                reason = "a redirect to an address with a login (user:password@) in it, which is not followed"
            raise UserError(f"cannot reach {_host(target)}, where {host} redirected ({reason}); the mirror's "
                            f"redirect is wrong, or use another mirror with --base-url or ${BASE_URL_ENV_VAR}") from None
        handshake = _tls_handshake_failure(exc.reason)
        if proxy := _proxy_for(url):  # (the proxy, or what its tunnel reaches, failed the handshake: no scheme advice)
            address, variable = proxy
            where, undo = (f"set in ${variable}", f"unset {variable}") if variable else ("the system's", "change it")
            raise UserError(f"cannot reach {host} through the proxy {address} ({where}): "
                            f"{TLS_HANDSHAKE_FAILURES.get(handshake, reason)}; check that proxy, "
                            f"or {undo} to connect directly") from None
        if handshake == "not TLS":
            raise UserError(f"{host} answered, but not with TLS (https): check the URL's scheme "
                            "(http:// for a server without TLS)") from None
        if handshake == "closed":  # (a server without TLS may do so, but so do TLS servers and middleboxes)
            raise UserError(f"{host} closed the connection during the TLS (https) handshake; check the network, "
                            f"or use a mirror with --base-url or ${BASE_URL_ENV_VAR}") from None
        raise UserError(
            f"cannot reach {host} ({reason}); check the network, or use a mirror with --base-url "
            f"or ${BASE_URL_ENV_VAR}"
        ) from None
    except TimeoutError:
        raise UserError(f"{shown(url)}: no answer within {TIMEOUT_S:.0f} s") from None
    except (OSError, http.client.HTTPException) as exc:  # e.g. closed before any response
        raise UserError(f"{shown(url)}: connection failed ({exc or type(exc).__name__})") from None
    except ValueError as exc:  # a malformed URL ("unknown url type")
        raise UserError(f"{shown(url)}: {exc}") from None
    if response.status not in (None, 200, 206):  # (None: a file:// URL's) a 204 said "interrupted 4 times"
        response.close()
        raise UserError(f"{shown(url)}: HTTP {response.status} {one_line(response.reason or '')[:80]}".rstrip())
    return response


# How an https handshake failed, in words for a proxy's message (the host's own have their own).
TLS_HANDSHAKE_FAILURES = {
    "not TLS": "the answer to the TLS (https) handshake was not TLS",
    "closed": "the connection closed during the TLS (https) handshake",
}


def _tls_handshake_failure(reason: object) -> Literal["not TLS", "closed"] | None:
    """How an https handshake failed: "not TLS" (a plain http answer where a TLS record was due),
    "closed" (hung up on it), or None. OpenSSL's words for these ("[SSL: WRONG_VERSION_NUMBER]
    wrong version number (_ssl.c:1006)") read as "cannot reach HOST (...); check the network",
    though the host had answered."""
    if isinstance(reason, ssl.SSLEOFError):
        return "closed"
    if isinstance(reason, ssl.SSLError) and reason.reason in ("WRONG_VERSION_NUMBER", "HTTP_REQUEST"):
        return "not TLS"
    return None


def _proxy_for(url: str) -> tuple[str, str | None] | None:
    """The proxy urllib goes through for `url` (its login hidden) and the variable it is set in
    (None: the system's settings), or None: a stale or wrong one made every failure read "cannot
    reach github.com ...; check the network"."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    proxy = urllib.request.getproxies().get(scheme)
    if not proxy or urllib.request.proxy_bypass(_host(parts.netloc)):
        return None
    names = sorted((name for name in os.environ if name.lower() == f"{scheme}_proxy" and os.environ[name] == proxy),
                   key=lambda name: name != name.lower())  # (urllib prefers the lower-case one)
    return shown(proxy), names[0] if names else None


def _resumed_offset(response, offset: int) -> int | None:
    """Where the response's body starts: `offset` for a matching 206, 0 for a full 200 body (or a
    206 holding the whole file, asked for whole); None for any other part."""
    status = getattr(response, "status", None) or 200
    if status != 206:
        return 0  # the server ignored the Range header: start over
    match = re.fullmatch(r"bytes (\d+)-(\d+)/(\d+|\*)", response.headers.get("Content-Range", "").strip(), re.I)
    if not match or int(match.group(1)) != offset:
        return None
    # Asked for all, a part of it is refused (docs/weights.md); an unknown total (`*`) is taken, the
    # size and checksum checks follow.
    whole = match.group(3) == "*" or int(match.group(2)) + 1 == int(match.group(3))
    return offset if offset or whole else None


class _WrongRange(Exception):
    """A resumed request answered from another byte than asked (`given`: its Content-Range)."""

    def __init__(self, offset: int, given: str) -> None:
        super().__init__(offset, given)
        self.offset, self.given = offset, given


def _size(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


@dataclass(frozen=True)
class SizeLimit:
    """The most bytes a download may have, and what that is (for the error): the file's own size
    where `exact` (`why` then names the file), else a bound."""

    limit: int
    why: str
    exact: bool = False

    def exceeded(self, url: str, sent: int | None = None) -> UserError:
        """`sent`: the size the server announced, where it did ("sends more than 80102481 bytes,
        expected 80102481" read as a contradiction for a file of 80109653)."""
        if self.exact and sent is not None:
            amount = f"{sent} bytes, expected {self.limit} ({self.why})"
        elif self.exact:
            amount = f"more than the expected {self.limit} bytes, the size of {self.why}"
        else:
            amount = ("" if sent is None else f"{sent} bytes, ") + f"more than {self.limit} bytes, {self.why}"
        return UserError(f"{shown(url)}: the server sends {amount}; stopped and deleted the download")


@dataclass(frozen=True)
class MinRate:
    """The slowest transfer accepted: fewer than `bytes_per_s` on average over `window_s` seconds
    ends it. The read timeout alone does not bound a server that trickles a byte now and then
    (80 MB at 1 byte/s is years); at the default a whole window of the slowest accepted pace is
    still a working, if poor, connection (32 kbit/s)."""

    bytes_per_s: float = 4096
    window_s: float = 60.0

    def too_slow(self, url: str, received: int, seconds: float, part: Path) -> UserError:
        """`part`: the download so far, kept (its bytes are good, only slow to come) for the next run."""
        return UserError(f"{shown(url)}: too slow, {received} bytes in the last {seconds:.0f} s (under "
                         f"{self.bytes_per_s:g} bytes/s); stopped, {_size(part)} bytes kept in {part} (the next run "
                         "resumes from them); try again later, or use a mirror with --base-url")


class _PaceWatch:
    """Cuts a body off (`cut_off`, shutting its socket) when fewer than `min_rate` bytes of it came
    in a window (`slow`: how many, in how many seconds). A timer, not a check between reads: a
    chunked body's framing is read inside one `read1`, and a server that sent trailer lines for
    ever, or a chunk-size line a byte every few seconds (each restarting the read timeout), held
    `weights download` for good. Use as a context manager; count each block in `received`."""

    def __init__(self, min_rate: MinRate, cut_off: Callable[[], None]) -> None:
        self.received = 0
        self.slow: tuple[int, float] | None = None
        self._min_rate, self._cut_off = min_rate, cut_off
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def __enter__(self) -> "_PaceWatch":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._done.set()
        self._thread.join()  # (one cutting off just now: `slow` is set before the read returns)

    def _watch(self) -> None:
        window_start, window_bytes = time.monotonic(), 0
        while not self._done.wait(self._min_rate.window_s):
            elapsed, came = time.monotonic() - window_start, self.received - window_bytes
            if came < self._min_rate.bytes_per_s * elapsed:
                self.slow = (came, elapsed)
                self._cut_off()
                return
            window_start, window_bytes = time.monotonic(), self.received


def size_limit(spec: PublishedFile, check_checksum: bool) -> SizeLimit:
    if check_checksum and spec.size is not None:
        return SizeLimit(spec.size, f"{spec.filename} of the release", exact=True)
    return SizeLimit(MAX_DOWNLOAD_BYTES, "the most for a file of unknown size")


# How a body ended: as its length or chunked coding says (or, size unknown, at the close: "whole"),
# by an error or short of its Content-Length ("dropped"), or by a close short of the pinned size
# with no length to go by ("closed early": cut, or all of a shorter file; only a resume tells).
Ending = Literal["whole", "dropped", "closed early"]


def _transfer(url: str, part: Path, label: str, limit: SizeLimit, min_rate: MinRate,
              after_close: bool = False) -> tuple[Ending, int]:
    """Append what the server sends to `part` (resuming it), never beyond `limit` bytes in all and
    never slower than `min_rate`; (how the body ended, the byte it was appended at: 0 where `part`
    was started over). `after_close`: the body before was "closed early", so only a 206 from its
    end continues it; any other answer (a 416, the whole file again) says it was all the server
    has, left to the size check (taken as cut, a shorter file was fetched again and again)."""
    offset = _size(part)
    response = _open(url, offset)
    if after_close and (response is None or _resumed_offset(response, offset) != offset):
        if response is not None:
            response.close()
        return "whole", offset
    if response is None:  # 416: discard the stale partial file and fetch the whole file
        part.unlink(missing_ok=True)
        offset = 0
        response = _open(url, 0)
    with response:
        if response.headers.get("Content-Type", "").lower().startswith("text/html"):
            raise UserError(f"{shown(url)}: the server answered with a web page (text/html), not the weights file: "
                            "a login or error page, or a wrong URL?")
        # (each header of the name: `identity` then `gzip` passed a check of the first)
        codings = [c.strip().lower() for h in response.headers.get_all("Content-Encoding") or () for c in h.split(",")]
        encoding = ", ".join(c for c in codings if c not in ("", "identity"))
        if encoding:  # (its compressed bytes were refused as "not a readable weights file")
            raise UserError(f"{shown(url)}: the server sent the file compressed (Content-Encoding: "
                            f"{one_line(encoding)[:40]}), which was not asked for; try again later, or use a mirror "
                            "with --base-url")
        start = _resumed_offset(response, offset)
        if start is None and not offset:  # part of a file it was asked for whole
            raise UserError(f"{shown(url)}: the server answered with part of the file (HTTP 206) to a request for "
                            "all of it; try again later, or use a mirror with --base-url")
        if start is None:  # a range we did not ask for: drop the partial file, start over
            part.unlink(missing_ok=True)
            raise _WrongRange(offset, response.headers.get("Content-Range", ""))
        if offset:  # (said once the answer tells: a server ignoring Range sends the whole file again)
            tqdm.write(f"{label}: resuming from byte {offset}" if start else
                       f"{label}: asked from byte {offset}, the server sends the whole file (it does not resume): "
                       "downloading again from the start")
        length = ascii_whole(response.headers.get("Content-Length", ""))
        total = start + length if length is not None else None
        # (with neither a length nor chunks, the body ends where the connection does)
        ends_by_close = total is None and not getattr(response, "chunked", False)
        if total is not None and total > limit.limit:
            part.unlink(missing_ok=True)
            raise limit.exceeded(url, total)
        received = start
        with open(part, "ab" if start else "wb") as out, tqdm(
            total=total or (limit.limit if limit.exact else None), initial=start, unit="B", unit_scale=True,
            unit_divisor=1024, desc=label, disable=None, leave=False,
        ) as bar, _PaceWatch(min_rate, response.cut_off) as pace:
            while True:
                lost = None
                try:
                    block = response.read1(CHUNK)  # what has arrived: `read` would wait for a whole CHUNK
                except (OSError, http.client.HTTPException) as exc:  # reset, timeout, IncompleteRead
                    block, lost = b"", exc
                if pace.slow is not None:  # (cut off: what read1 made of it, an end or an error, is moot)
                    out.close()
                    raise min_rate.too_slow(url, *pace.slow, part)
                if lost is not None:
                    tqdm.write(f"{label}: connection lost after {received} bytes ({type(lost).__name__})")
                    return "dropped", start
                if not block:
                    break
                if received + len(block) > limit.limit:
                    out.close()
                    part.unlink(missing_ok=True)
                    raise limit.exceeded(url)
                out.write(block)
                received += len(block)
                pace.received += len(block)
                bar.update(len(block))
            out.flush()
            os.fsync(out.fileno())
        if total is not None and received < total:
            return "dropped", start
        if ends_by_close and limit.exact and received < limit.limit:
            tqdm.write(f"{label}: the server closed the connection after {received} of the {limit.limit} bytes")
            return "closed early", start
        return "whole", start


def fetch(url: str, part: Path, label: str, limit: SizeLimit, attempts: int = ATTEMPTS,
          min_rate: MinRate = MinRate()) -> bool:
    """Download `url` into `part` (at most `limit` bytes, at least `min_rate`), resuming with Range
    requests while the connection drops. True when the file is built on the bytes `part` held
    before (an earlier run's, perhaps from another URL: nothing says where they came from)."""
    if limit.exact and _size(part) == limit.limit:  # (a run stopped while verifying it: asking for more is a 416)
        return True
    try:
        return _fetch_resuming(url, part, label, limit, attempts, min_rate)
    except BaseException:  # (a Ctrl-C too) an empty `.part` is nothing to resume, and kept the run's new folders
        if not _size(part):
            part.unlink(missing_ok=True)
        raise


def _fetch_resuming(url: str, part: Path, label: str, limit: SizeLimit, attempts: int, min_rate: MinRate) -> bool:
    """`fetch` once the `.part` needs more bytes."""
    wrong_range = None
    on_kept = _size(part) > 0
    ending = None
    restarted = False  # the last try was asked for the rest and sent the whole file again
    for _ in range(attempts):
        asked = _size(part)
        try:
            ending, start = _transfer(url, part, label, limit, min_rate, after_close=ending == "closed early")
            on_kept &= start > 0
            if ending == "whole":
                return on_kept
            wrong_range, restarted = None, asked > 0 and start == 0
        except _WrongRange as exc:
            wrong_range, on_kept, restarted = exc, False, False
            tqdm.write(f"{label}: asked from byte {exc.offset}, the server sent {one_line(exc.given[:80]) or 'no range'}: starting over")
    if restarted:  # (what `part` holds is not worth keeping: the next run starts over too)
        part.unlink(missing_ok=True)
        raise UserError(f"{shown(url)}: download interrupted {attempts} times, and the server does not resume (asked "
                        "for the rest, it sends the whole file again); try again later, or use a mirror with --base-url")
    have = _size(part)
    if not have and wrong_range is not None:  # (data came each time; what it resumed with did not fit)
        raise UserError(f"{shown(url)}: download interrupted {attempts} times, and the server answers a resumed "
                        f"request with another part of the file (asked from byte {wrong_range.offset}, sent "
                        f"{one_line(wrong_range.given[:80]) or 'no range'}); try again later, or use a mirror with --base-url")
    if not have:  # nothing to resume from
        raise UserError(f"{shown(url)}: download interrupted {attempts} times before any data arrived")
    raise UserError(
        f"{shown(url)}: download interrupted {attempts} times ({have} bytes kept in {part}); "
        "run `realtime-adain weights download` again with the same options (URLs, --dir, --no-checksum) to resume"
    )


@contextmanager
def _only_download_into(directory: Path) -> Iterator[int | None]:
    """Hold `directory` for this download (an advisory lock on the folder itself: no lock file is
    left); yields the handle holding it (for `folder_moved`). A second `weights download` into the
    same folder at once appended to the same `.part`: the bytes interleaved, and the first to finish
    renamed the other's half-written file. Where the system has no `flock` (Windows), nothing is
    held (None)."""
    try:
        import fcntl
    except ImportError:
        yield None
        return
    handle = os.open(directory, os.O_RDONLY)
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise UserError(f"{directory}: another download into this folder is running; wait for it to end, "
                            "or give another folder with --dir") from None
        yield handle
    finally:
        os.close(handle)  # (releases the lock)


@contextmanager
def _directory_for(directory: Path) -> Iterator[int | None]:
    """Create `directory` (and missing parents) and hold it (`_only_download_into`, whose handle it
    yields); on failure remove those it created, if still empty.

    So a run without network leaves the filesystem as it found it, but a `.part` kept for
    resuming keeps the directory it is in. Removed only while held: a second first-time run,
    refused the folder the first had just made, removed it from under that run.
    """
    check_writable_dir(directory, "the download folder")  # (mkdir behind a dead link: "Too many levels of symbolic links")
    created = [path for path in (directory, *directory.parents) if not path.exists()]  # deepest first
    try:  # (its own record of what it made, not `make_folders`': a folder another run holds is left)
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # (out of space or inodes: the parents made stayed, and the error was a bare strerror)
        _remove_created(created)
        raise UserError(f"{directory}: the download folder cannot be made ({exc.strerror or exc})") from None
    with _only_download_into(directory) as held:
        try:
            yield held
        except BaseException:
            _remove_created(created)
            raise


def _remove_created(created: list[Path]) -> None:
    """Remove the folders `_directory_for` made (deepest first) while empty."""
    for path in created:
        try:
            path.rmdir()
        except FileNotFoundError:  # (one that could not be made)
            continue
        except OSError:  # not empty: leave it and its parents
            break


def check_destination(kind: str, directory: Path) -> tuple[Path, Path]:
    """The `kind` file's place in `directory` and its `.part`, refused where something that is no
    file of ours is in the way (a folder, fifo, device; a link as the `.part`)."""
    filename = PUBLISHED[kind].filename
    target, part = directory / filename, directory / (filename + ".part")
    for path, goes in ((target, "the weights file"), (part, f"the partial download of {filename}")):
        if path.is_dir():
            raise UserError(f"{path}: a folder is where {goes} goes; move it away or use --dir")
        if path.exists() and not path.is_file():  # reading or appending to a fifo would hang
            raise UserError(f"{path}: a device, fifo or socket is where {goes} goes; move it away or use --dir")
    if part.is_symlink():  # resuming would append to whatever file it points to
        raise UserError(f"{part}: a symbolic link where the partial download goes; remove it")
    return target, part


def download_file(
    kind: str, url: str, directory: Path, force: bool = False, check_checksum: bool = True,
    min_rate: MinRate = MinRate(),
) -> tuple[Path, str]:
    """Fetch one weights file into `directory`; returns its path and what happened."""
    target, part = check_destination(kind, directory)
    if target.exists() and not force:
        if is_valid(target, kind, check_checksum):
            return target, "already present"
        tqdm.write(f"{target}: present but not valid; downloading it again")
    with _directory_for(directory) as held:
        if force and part.exists():
            part.unlink()
        rejected = _fetch_and_verify(kind, url, target, part, check_checksum, min_rate, held)
        if rejected is not None and rejected.on_kept:  # (the kept bytes may be another source's)
            tqdm.write(one_line(f"{target}: the partial download kept in {part.name} by an earlier run did not fit "
                                f"what {shown(url)} sends ({rejected.reason}); deleted it, downloading again from the start"))
            rejected = _fetch_and_verify(kind, url, target, part, check_checksum, min_rate, held)
        if rejected is not None:
            raise UserError(f"{shown(url)}: rejected the download (deleted it): {rejected.reason}")
        try:
            os.replace(part, target)
        except OSError as exc:
            raise naming(target, exc) from None
    return target, "downloaded"


@dataclass(frozen=True)
class _Rejected:
    """A download that failed verification: why, and whether it was built on a kept `.part`."""

    reason: str
    on_kept: bool


def _fetch_and_verify(kind: str, url: str, target: Path, part: Path, check_checksum: bool,
                      min_rate: MinRate, held: int | None) -> _Rejected | None:
    """Fetch `url` into `part` (resuming what it holds) and verify it; None when it passed, else
    why not (`part` deleted). `held`: the handle on the download folder (`_directory_for`)."""
    spec = PUBLISHED[kind]
    try:
        on_kept = fetch(url, part, spec.filename, limit=size_limit(spec, check_checksum), min_rate=min_rate)
    except OSError as exc:  # writing the .part: a full disk, a read-only folder
        part.unlink(missing_ok=True)
        raise naming(target, exc) from None
    if not part.exists():  # (was "rejected the download (deleted it): no such weights file", blaming the server)
        raise lost_during_run(target, part, "the partial download", part.parent, held)
    try:
        verify(part, kind, check_checksum)
    except UserError as exc:
        part.unlink(missing_ok=True)
        return _Rejected(str(exc).removeprefix(f"{part}: "), on_kept)
    return None


def download_all(
    urls: dict[str, str], directory: Path, force: bool = False, check_checksum: bool = True,
    landed: Callable[[Path, str], None] = lambda path, outcome: None,
) -> list[tuple[Path, str]]:
    """Both published files into `directory` (normally `weights.weights_dir()`). Both places are
    checked before anything is fetched, and `landed(path, outcome)` is called as each file is in
    place: a folder where the decoder goes was refused only after the 80 MB VGG had landed, and
    the error alone did not say it had."""
    for kind in KINDS:
        check_destination(kind, directory)
    results = []
    for kind in KINDS:
        results.append(download_file(kind, urls[kind], directory, force, check_checksum))
        landed(*results[-1])
    return results
