"""The checks before any route. Every `/api/` request needs the token when one is set; `/` and
`/static/` hold no data and are open, so the page can load and say that a token is needed. Before
that, what other sites' pages could send is refused: a Host header naming another server, a
request that changes something from another origin. Every answer forbids framing.
"""

from __future__ import annotations

import hmac
import re
from pathlib import Path
from typing import Awaitable, Callable

from aiohttp import web

from realtime_adain.serve.answers import error
from realtime_adain.serve.connections import ConnectionLimits
from realtime_adain.serve.settings import ServeSettings

STATIC = Path(__file__).resolve().parent / "static"  # the page's files (routes in app.py)
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")  # change nothing: any origin may send them (it cannot read the answer)
NO_FRAMING = {"Content-Security-Policy": "frame-ancestors 'none'", "X-Frame-Options": "DENY"}  # (the latter: older browsers)


class RequestGuard:
    """The app's middleware (`check`): a server's settings and its connection limits."""

    def __init__(self, settings: ServeSettings, connection_limits: ConnectionLimits) -> None:
        self.settings, self.connection_limits = settings, connection_limits

    @web.middleware
    async def check(self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]):
        """Connections over the limits refused; other sites' requests refused; the token on /api/*;
        request bodies over the limit as a JSON 413."""
        over = self.connection_limits.refusal(request)
        if over is not None:
            return over
        refused = self._foreign(request)
        if refused:
            return error(403, refused)
        if not request.path.startswith("/"):  # CONNECT's host:port, OPTIONS's *: aiohttp's plain-text 404
            if request.method == "CONNECT":
                return error(405, "CONNECT is not allowed: this server is not a proxy")
            return error(400, f"the request must name a path on this server (/...), not {request.path[:40]!r}")
        token = self.settings.token
        if token and request.path.startswith("/api/") and not self._authorised(request, token):
            given = "Authorization" in request.headers or "token" in request.query
            return error(401, f"{'the access token is wrong' if given else 'access token required'}: open the URL "
                              "printed by `realtime-adain serve` (…/?token=…)")
        try:
            response = await handler(request)
            if request.path.startswith("/static/") and not is_static_file(request.match_info.get("filename", "")):
                raise web.HTTPNotFound()  # (aiohttp answers a missing static file with an empty octet-stream 404)
            if request.path == "/" or request.path.startswith("/static/"):
                # (asked again each time, answered 304 by its ETag: after an upgrade a browser went on
                # with its cached page or script, which may not speak to the new server)
                response.headers.setdefault("Cache-Control", "no-cache")
            return response
        except web.HTTPRequestEntityTooLarge as exc:
            return error(413, f"the request body is too large ({exc.text or 'over the limit'})")
        except web.HTTPException as exc:  # aiohttp's own refusals (no route, a method, an encoding): JSON on /api/ too
            if exc.status == 403 and (request.path + "/").startswith("/static/"):
                raise web.HTTPNotFound() from None  # (the folder itself: aiohttp's 403 for a listing it does not show)
            if exc.status < 400 or not request.path.startswith("/api/"):
                raise
            allow = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else {}
            answer = error(exc.status, (exc.text or exc.reason).removeprefix(f"{exc.status}: ").strip())
            answer.headers.update(allow)
            return answer
        except OSError:
            if not request.path.startswith("/static/"):
                raise
            # aiohttp's static files let the file system's refusal through: a 300-byte name was a 500,
            # its traceback naming the install folder in the log
            raise web.HTTPNotFound() from None

    def _foreign(self, request: web.Request) -> str | None:
        """Why a request a page of another site could have sent is refused, or None. A Host header not
        naming this server: DNS rebinding (that site's name resolved to this address; its pages could
        read the answers). An Origin other than the Host on a request that changes something: a
        cross-site form or fetch (the page's own requests carry its origin; curl sends none). The
        scheme is not compared, so an https proxy that passes the Host header on still works."""
        authority = target_authority(request.raw_path)  # (it replaces the Host header: RFC 9112 3.2.2)
        host = authority if authority is not None else request.headers.get("Host", "")  # (absent: "", no name)
        names = self.settings.host_names
        if names is not None and host_name(host) not in names:
            named = ("the request's URL" if authority is not None else "the Host header" if "Host" in request.headers
                     else None)
            return (f"this server answers to {' or '.join(sorted(names))} only, "
                    + (f"not to the name in {named}" if named else "and the request names none (no Host header)")
                    + " (open the URL `realtime-adain serve` printed)")
        origin = request.headers.get("Origin")
        if request.method not in SAFE_METHODS and origin is not None \
                and origin.lower() not in (f"http://{host}".lower(), f"https://{host}".lower()):
            return "a page of another site sent this request (its Origin header is not this server's)"
        return None

    @staticmethod
    def _authorised(request: web.Request, token: str) -> bool:
        """Header values and the query may hold any characters (bytes no UTF-8 allows arrive as
        surrogates, which do not encode): only an ASCII one can be the token. Whitespace around it
        is no part of it, in the header (whose parser strips it anyway) and the query alike: a
        `?token=TOKEN%20` pasted so was refused while the page's header with it was taken (the
        stream played, its thumbnails did not)."""
        header = request.headers.get("Authorization", "")
        scheme, _, credentials = header.partition(" ")  # the scheme in any case (RFC 7235)
        given = (credentials if scheme.lower() == "bearer" else request.query.get("token", "")).strip()
        return given.isascii() and hmac.compare_digest(given.encode(), token.encode())


def is_static_file(name: str) -> bool:
    """Whether `name` (after /static/) names one of the page's files: `app.js/` does not, though
    aiohttp served the file for it (a path drops the trailing slash)."""
    return not name.endswith("/") and (STATIC / name).is_file()


async def no_framing(_request: web.Request, response: web.StreamResponse) -> None:
    """Every answer forbids other sites' pages to show it in a frame: framed, the page was given
    the camera, took a client slot and could be clicked through a decoy laid over it."""
    response.headers.update(NO_FRAMING)


# A Host header as a browser sends it: a host name or IPv4 address, or an IPv6 address in brackets,
# then a port of digits or none
HOST_HEADER = re.compile(r"(?:\[(?P<ipv6>[0-9A-Fa-f:.]+)\]|(?P<name>[A-Za-z0-9._-]+))(?::[0-9]{1,5})?")


# A request target in absolute form (`GET http://evil.example/api/config`): its scheme, then the authority
ABSOLUTE_TARGET = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://(?P<authority>[^/?#]*)")


def target_authority(target: str) -> str | None:
    """The authority of a request target in absolute form (`http://evil.example/api/config`), or None
    for another form. aiohttp routes such a request by its path alone, so with this server's name in
    the Host header it was served, though the host it is for is the target's."""
    absolute = ABSOLUTE_TARGET.match(target)
    return absolute["authority"] if absolute else None


def host_name(host: str) -> str:
    """The name in a Host header, without its port or an IPv6 address's brackets, in lower case,
    without a root's trailing dot (`example.com.` is `example.com`). A header of another form (an
    empty one too) gives "", which names no server: what came before its first ':' was taken, so
    `127.0.0.1:80@evil.com`, `localhost:abc` and `[::1` passed as this server's names."""
    found = HOST_HEADER.fullmatch(host)
    if found is None:
        return ""
    return found["ipv6"].lower() if found["ipv6"] else found["name"].lower().rstrip(".")
