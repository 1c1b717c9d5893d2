"""One GET of a weights file's URL from a byte offset (https, http, file://): a login sent as HTTP
Basic and not on to a redirect's target, redirects followed to http(s) only and never from https
to http, the whole answer's head within `ANSWER_S`, and each failure said in one line without the
URL's secrets (a redirect's target, a proxy, a TLS handshake answered without TLS)."""

from __future__ import annotations

import base64
import datetime
import email.utils
import http.client
import math
import os
import socket
import ssl
import stat
import threading
import time
import urllib.error
import urllib.request
from contextlib import suppress
from typing import Callable, Literal, NoReturn
from urllib.parse import unquote, urlsplit

from realtime_adain import __version__
from realtime_adain.download_urls import file_url_problem, netloc_host, scrubbed, shown, valid_port
from realtime_adain.errors import UserError, one_line
from realtime_adain.release import BASE_URL_ENV_VAR


TIMEOUT_S = 30.0  # the most one read waits
ANSWER_S = 60.0  # the most a server's answer takes to its last header (redirects included)
REASON_CHARS = 80  # the most of a server's words (a reason phrase, a status line) in a message
ADDRESS_CHARS = 200  # the most of an address a server gave (a redirect's target) in a message


def _bounded(text: object, limit: int = REASON_CHARS) -> str:
    """What a server sent, for a message: control characters escaped, cut to `limit` characters. A
    404's 60 KB reason phrase, or a redirect's 60 KB address, made a 16 KB error line; a file's
    bytes where the status line was due went in raw."""
    text = str(text)
    return one_line(text) if len(text) <= limit else f"{one_line(text[:limit])}... ({len(text)} characters)"


def _request(url: str, headers: dict[str, str]) -> urllib.request.Request:
    """A GET of `url`; a user:password in it (a private mirror) becomes an HTTP Basic login that
    is not sent on to the target of a redirect (urllib itself would take it for the host name)."""
    parts = urlsplit(url)
    if parts.scheme.lower() == "file":  # (its host, checked already, is this machine: see file_url_problem)
        return urllib.request.Request(parts._replace(netloc="").geturl(), headers=headers)
    if parts.username is None:
        return urllib.request.Request(url, headers=headers)
    request = urllib.request.Request(parts._replace(netloc=netloc_host(parts.netloc)).geturl(), headers=headers)
    login = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
    request.add_unredirected_header("Authorization", "Basic " + base64.b64encode(login.encode()).decode())
    return request


def open_url(url: str, offset: int):
    """An open response for `url` from byte `offset`; network failures become one clear line
    (without the URL's secrets, even where the failure's own text quotes it)."""
    try:
        return _urlopen(url, offset)
    except UserError as exc:
        raise UserError(scrubbed(str(exc), url)) from None


def _refuse_bad_file_url(url: str) -> None:
    """A file:// URL must name a regular file on this machine: urllib opens it by name, and a FIFO
    blocked the open for good (a device, /dev/zero, streamed until the size limit). A file that is
    not there, or unreadable, is left to urllib to name."""
    parts = urlsplit(url)
    if parts.scheme.lower() != "file":
        return
    if problem := file_url_problem(parts):  # (for a URL not from file_urls, e.g. download_file's)
        raise UserError(f"{shown(url)}: {problem}")
    try:
        mode = os.stat(urllib.request.url2pathname(parts.path)).st_mode
    except (OSError, ValueError):
        return
    if not stat.S_ISREG(mode):
        raise UserError(f"{shown(url)}: not a regular file (a folder, pipe, device or socket)")


class _FinalResponse(http.client.HTTPResponse):
    """A response past any 1xx informational answers before it, as curl reads them: http.client
    skips only "100 Continue", and took a "103 Early Hints" (its preload links) for the answer,
    failing the download as "HTTP 103 Early Hints". (101 Switching Protocols, never asked for, stays
    the answer, refused as any status but 200 and 206; a stream of 1xx is bounded by `ANSWER_S`.)"""

    def _read_status(self):
        while True:
            version, status, reason = super()._read_status()
            if not (102 <= status < 200):  # (100: http.client's own)
                return version, status, reason
            http.client.parse_headers(self.fp)  # (its headers, dropped)


class _AnswerTooSlow(Exception):
    """The server's answer (status line and headers, redirects included) took over `ANSWER_S`."""


class _Watched:
    """The sockets of the connections urllib opens for one answer (a redirect opens another), so
    that a timer can end the wait: the read timeout restarts with every byte, and a server trickling
    its headers (a byte every few seconds) held `weights download` for good, without a word. The
    sockets, not the connections: urllib lets go of a connection's once the head is in, and the
    body is watched the same way (`download_transfer._PaceWatch`)."""

    def __init__(self) -> None:
        self.sockets: list[socket.socket] = []
        self.expired = False
        self.urls: list[str] = []  # each request's URL, redirects' targets after the first

    def connection(self, kind: type[http.client.HTTPConnection]) -> Callable[..., http.client.HTTPConnection]:
        watched = self

        class Watched(kind):  # type: ignore[valid-type,misc]
            response_class = _FinalResponse

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


class _RefusedRedirect(urllib.error.HTTPError):
    """A redirect `_HttpRedirectsOnly` does not follow; its reason is in our words (the server's
    parts in it bounded already)."""


class _HttpRedirectsOnly(urllib.request.HTTPRedirectHandler):
    """Redirects to http(s) only: urllib follows ftp:// too, whose failure then said the mirror
    itself could not be reached (file:// it refuses already, in these words). Nor from https to
    plain http: what was asked over an encrypted connection (with a login, perhaps) would come
    unencrypted without a word; a user who accepts that gives the http URL."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        scheme = urlsplit(newurl).scheme.lower()
        said, target = _bounded(msg), _bounded(shown(newurl), ADDRESS_CHARS)
        if scheme not in ("http", "https"):
            raise _RefusedRedirect(newurl, code, f"{said} - Redirection to url '{target}' is not allowed", headers, fp)
        if scheme == "http" and req.type == "https":
            raise _RefusedRedirect(newurl, code, f"{said} - a redirect from https to plain http ('{target}') "
                                   "is not followed; give that http URL to download over it", headers, fp)
        if not valid_port(urlsplit(newurl)):  # (":99999" was "Connection refused", ":abc" blamed the mirror's URL)
            raise _RefusedRedirect(newurl, code, f"{said} - a redirect to '{target}', whose port is not "
                                   "valid (a number from 1 to 65535)", headers, fp)
        return super().redirect_request(req, fp, code, msg, headers, newurl)

    def http_error_302(self, req, fp, code, msg, headers):
        """Too many redirects, or a loop, in our words with the last address reached: urllib's
        were "... would lead to an infinite loop" for both."""
        try:
            return super().http_error_302(req, fp, code, msg, headers)
        except _RefusedRedirect:
            raise
        except urllib.error.HTTPError as exc:
            if not str(exc.reason).startswith(self.inf_msg):
                raise
            visited = getattr(req, "redirect_dict", {})
            what = (f"too many redirects (more than {self.max_redirections})" if len(visited) >= self.max_redirections
                    else f"redirects in a loop (one address reached {self.max_repeats} times)")
            raise _TooManyRedirects(exc.filename, code, f"{what}; the last address reached: "
                                    f"'{_bounded(shown(req.full_url), ADDRESS_CHARS)}' (HTTP {code} {_bounded(msg)})",
                                    headers, fp) from None

    http_error_301 = http_error_303 = http_error_307 = http_error_308 = http_error_302


class _TooManyRedirects(_RefusedRedirect):
    """Redirects past `max_redirections`, or round a loop; its reason is the whole message."""


def _answer(request: urllib.request.Request):
    """urlopen with the whole answer's head bounded by `ANSWER_S` (`_Watched`)."""
    watched = _Watched()

    class Http(urllib.request.HTTPHandler):
        def http_open(self, req):
            watched.urls.append(req.full_url)  # (not req.host: through a proxy, the proxy's)
            return self.do_open(watched.connection(http.client.HTTPConnection), req)

    class Https(urllib.request.HTTPSHandler):
        def https_open(self, req):
            watched.urls.append(req.full_url)  # (not req.host: through a proxy, the proxy's)
            return self.do_open(watched.connection(http.client.HTTPSConnection), req, context=self._context)

    timer = threading.Timer(ANSWER_S, watched.expire)
    timer.daemon = True
    timer.start()
    try:
        response = urllib.request.build_opener(Http, Https, _HttpRedirectsOnly).open(request, timeout=TIMEOUT_S)
    except (OSError, http.client.HTTPException, ValueError) as exc:  # (URLError is an OSError)
        if watched.expired:
            raise _AnswerTooSlow() from None
        if isinstance(exc, (urllib.error.URLError, ValueError)) and len(watched.urls) > 1:
            exc.redirected_url = watched.urls[-1]  # (the error named the first host, which answered)
            exc.redirected_to = urlsplit(watched.urls[-1]).netloc
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
    except _TooManyRedirects as exc:
        raise UserError(f"{shown(url)}: {exc.reason}") from None
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and offset:  # our partial file is not a prefix of theirs
            exc.close()
            return None
        reason = exc.reason if isinstance(exc, _RefusedRedirect) else _bounded(
            next(iter(str(exc.reason).strip().splitlines()), ""))  # a redirect loop's is 3 lines
        answered = exc.filename  # the address that answered so: a redirect's target, where there was one
        if answered and answered != request.full_url and exc.code not in range(300, 400):
            # (no blame on a mirror: the default address redirects to GitHub's own download servers)
            raise UserError(f"{_bounded(shown(answered), ADDRESS_CHARS)}, where {shown(url)} redirected: "
                            f"HTTP {exc.code} {reason}".rstrip() + _busy_hint(exc)) from None
        raise UserError(f"{shown(url)}: HTTP {exc.code} {reason}".rstrip() + _busy_hint(exc)) from None
    except urllib.error.URLError as exc:
        host = netloc_host(urlsplit(url).netloc)
        reason = exc.reason.strerror if isinstance(exc.reason, OSError) and exc.reason.strerror else exc.reason
        if urlsplit(url).scheme.lower() == "file":  # file:// mirrors (was "cannot reach HOST ...; check the network")
            raise UserError(f"{shown(url)}: {reason}") from None
        reason = _bounded(reason, ADDRESS_CHARS)  # (a proxy's refusal quotes its: "Tunnel connection failed: 403 ...")
        handshake = _tls_handshake_failure(exc.reason)
        target = getattr(exc, "redirected_to", None)
        if isinstance(exc.reason, ssl.SSLCertVerificationError):  # (it answered: was "cannot reach HOST ([SSL:
            # CERTIFICATE_VERIFY_FAILED] ...); check the network")
            where = f"{_bounded(netloc_host(target), ADDRESS_CHARS)}, where {host} redirected," if target else host
            raise _untrusted_answer(where, exc.reason, _proxy_for(getattr(exc, "redirected_url", url)),
                                    redirected=target is not None) from None
        if target is not None:  # a redirect's target failed, not the server asked
            _refuse_failed_redirect(host, _bounded(netloc_host(target), ADDRESS_CHARS), handshake,
                                    "a redirect to an address with a login (user:password@) in it, which is not "
                                    "followed" if "@" in target else reason)
        if proxy := _proxy_for(url):  # (the proxy, or what its tunnel reaches, failed the handshake: no scheme advice)
            address, variable = proxy
            where, undo = (f"set in ${variable}", f"unset {variable}") if variable else ("the system's", "change it")
            failure = TLS_HANDSHAKE_FAILURES[handshake].format(timeout=TIMEOUT_S) if handshake else reason
            raise UserError(f"cannot reach {host} through the proxy {address} ({where}): {failure}; "
                            f"check that proxy, or {undo} to connect directly") from None
        if handshake == "not TLS":
            raise UserError(f"{host} answered, but not with TLS (https): check the URL's scheme "
                            "(http:// for a server without TLS)") from None
        if handshake == "closed":  # (a server without TLS may do so, but so do TLS servers and middleboxes)
            raise UserError(f"{host} closed the connection during the TLS (https) handshake; check the network, "
                            f"or use a mirror with --base-url or ${BASE_URL_ENV_VAR}") from None
        if handshake == "silent":
            raise _no_handshake_answer(host) from None
        raise UserError(
            f"cannot reach {host} ({reason}); check the network, or use a mirror with --base-url "
            f"or ${BASE_URL_ENV_VAR}"
        ) from None
    except TimeoutError:
        raise UserError(f"{shown(url)}: no answer within {TIMEOUT_S:.0f} s") from None
    except http.client.RemoteDisconnected as exc:  # closed before any response
        raise UserError(f"{shown(url)}: connection failed ({exc})") from None
    except http.client.BadStatusLine as exc:  # ("GARBAGE...", or a file's bytes after "100 Continue")
        raise UserError(f"{shown(url)}: the server's answer is not HTTP (its status line: "
                        f"'{_bounded(exc.line.strip())}'); check the URL, or use a mirror with --base-url") from None
    except (OSError, http.client.HTTPException) as exc:
        raise UserError(f"{shown(url)}: connection failed ({exc or type(exc).__name__})") from None
    except ValueError as exc:  # a malformed URL ("unknown url type"), a host name too long for the DNS
        invalid_host = exc.__cause__ if isinstance(exc, UnicodeError) else None  # (IDNA's "label too long")
        target = getattr(exc, "redirected_to", None)
        if invalid_host is not None and target is not None:
            _refuse_failed_redirect(netloc_host(urlsplit(url).netloc), _bounded(netloc_host(target), ADDRESS_CHARS),
                                    None, f"the redirect's target host name is not valid: {invalid_host}")
        if invalid_host is not None:
            raise UserError(f"{shown(url)}: the host name is not valid ({invalid_host})") from None
        raise UserError(f"{shown(url)}: {exc}") from None
    if response.status not in (None, 200, 206):  # (None: a file:// URL's) a 204 said "interrupted 4 times"
        response.close()
        raise UserError(f"{shown(url)}: HTTP {response.status} {one_line(response.reason or '')[:80]}".rstrip())
    return response


BUSY_CODES = (429, 503)  # Too Many Requests, Service Unavailable: the server's state, not the URL


def _busy_hint(exc: urllib.error.HTTPError) -> str:
    """For a server that is busy (`BUSY_CODES`): when it asks to retry (its Retry-After, seconds
    or an HTTP date) and the advice other failures carry; "HTTP 429 Too Many Requests" said neither."""
    if exc.code not in BUSY_CODES:
        return ""
    wait = retry_after_s(exc.headers.get("Retry-After") if exc.headers is not None else None)
    asks = f"; the server asks to retry in {wait} s" if wait is not None else ""
    return f"{asks}; try again later, or use a mirror with --base-url or ${BASE_URL_ENV_VAR}"


def retry_after_s(value: str | None, now: float | None = None) -> int | None:
    """A Retry-After header's wait in whole seconds (RFC 9110: seconds, or an HTTP date), None
    where there is none or it cannot be read."""
    if not value or not (value := value.strip()):
        return None
    if value.isdigit():
        return int(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # (-0000: UTC, as HTTP dates are)
        when = when.replace(tzinfo=datetime.timezone.utc)
    return max(0, math.ceil(when.timestamp() - (time.time() if now is None else now)))


def _refuse_failed_redirect(host: str, target: str, handshake: str | None, reason: str) -> NoReturn:
    """Raise the error of a redirect's `target` (host[:port], bounded) that failed, not `host`:
    in the handshake's words where it was one (as for `host` itself), else `reason`'s."""
    where = f"{target}, where {host} redirected,"
    if handshake == "closed":  # (was "cannot reach T, where H redirected ([SSL: UNEXPECTED_EOF_WHILE_READING] ...)")
        raise UserError(f"{where} closed the connection during the TLS (https) handshake; check the network, "
                        f"or use a mirror with --base-url or ${BASE_URL_ENV_VAR}") from None
    if handshake == "not TLS":
        raise UserError(f"{where} answered, but not with TLS (https): the mirror's redirect is wrong (https:// to a "
                        f"server without TLS), or use another mirror with --base-url or ${BASE_URL_ENV_VAR}") from None
    if handshake == "silent":
        raise _no_handshake_answer(where) from None
    raise UserError(f"cannot reach {target}, where {host} redirected ({reason}); the mirror's "
                    f"redirect is wrong, or use another mirror with --base-url or ${BASE_URL_ENV_VAR}") from None


# How an https handshake failed, in words for a proxy's message (the host's own have their own).
def _no_handshake_answer(where: str) -> UserError:
    """`where` (a host, or where a redirect led) took the connection and never answered the TLS
    handshake: said so, not as "cannot reach" with OpenSSL's words."""
    return UserError(f"{where} accepted the connection but did not answer the TLS (https) handshake within "
                     f"{TIMEOUT_S:g} s; check the network, or use a mirror with --base-url or ${BASE_URL_ENV_VAR}")


NAME_MISMATCHES = (62, 64)  # OpenSSL's X509_V_ERR_HOSTNAME_MISMATCH, X509_V_ERR_IP_ADDRESS_MISMATCH


def _untrusted_answer(where: str, failure: ssl.SSLCertVerificationError,
                      proxy: tuple[str, str | None] | None, redirected: bool) -> UserError:
    """`where` answered with a TLS certificate this machine does not trust, said in OpenSSL's short
    words ("self-signed certificate", "certificate has expired", "Hostname mismatch, ..."): the
    server is reached, so not "cannot reach ...; check the network". The fix: the host name the
    certificate is for, or a certificate from a trusted CA, or a private CA's made known
    (SSL_CERT_FILE, which OpenSSL reads). Through a proxy, the certificate may be the proxy's own
    (one that inspects https). A redirect's target (`redirected`) with another host's certificate is
    the mirror's doing: the user never typed that host name."""
    why = _bounded((failure.verify_message or failure.reason or "verify failed").rstrip("."))
    through = f" through the proxy {proxy[0]} (which may show its own)" if proxy else ""
    if failure.verify_code not in NAME_MISMATCHES:
        fix = ("a mirror needs one from a trusted CA, or, for a private CA, set SSL_CERT_FILE to that CA's "
               "certificate (PEM)")
    elif redirected:
        fix = (f"the mirror redirects to a host its certificate is not for; use another mirror with --base-url or "
               f"${BASE_URL_ENV_VAR}, or the URL with the host name the certificate is for")
    else:
        fix = "give the host name the certificate is for"
    return UserError(f"{where} answered{through}, but its TLS (https) certificate is not trusted ({why}); {fix}")


TLS_HANDSHAKE_FAILURES = {
    "not TLS": "the answer to the TLS (https) handshake was not TLS",
    "closed": "the connection closed during the TLS (https) handshake",
    "silent": "the TLS (https) handshake got no answer within {timeout:g} s",
}


def _tls_handshake_failure(reason: object) -> Literal["not TLS", "closed", "silent"] | None:
    """How an https handshake failed: "not TLS" (a plain http answer where a TLS record was due),
    "closed" (hung up on it), "silent" (no answer to it within `TIMEOUT_S`), or None. OpenSSL's
    words for these ("[SSL: WRONG_VERSION_NUMBER] wrong version number (_ssl.c:1006)", "_ssl.c:989:
    The handshake operation timed out") read as "cannot reach HOST (...); check the network", though
    the host had answered, or at least accepted the connection. (The handshake's timeout is a
    TimeoutError whose words alone tell it from the TCP connection's.)"""
    if isinstance(reason, ssl.SSLEOFError):
        return "closed"
    if isinstance(reason, TimeoutError) and "handshake operation timed out" in str(reason):
        return "silent"
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
    if not proxy or urllib.request.proxy_bypass(netloc_host(parts.netloc)):
        return None
    names = sorted((name for name in os.environ if name.lower() == f"{scheme}_proxy" and os.environ[name] == proxy),
                   key=lambda name: name != name.lower())  # (urllib prefers the lower-case one)
    return shown(proxy), names[0] if names else None
