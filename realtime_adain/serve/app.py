"""The aiohttp application: routes, the access token, client limits, and a clean shutdown.

Routes and messages follow docs/serve.md (the protocol shared with the page). Every `/api/`
request needs the token when one is set; `/` and `/static/` hold no data and are open, so the
page can load and say that a token is needed. Before that, what other sites' pages could send is
refused: a Host header naming another server, a request that changes something from another
origin. A periodic tick sends each client its figures and closes clients silent for longer than
the idle timeout, or not connected within the connect timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import os
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import AsyncIterator, Awaitable, Callable, Iterator, NoReturn

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_protocol import RequestPayloadError
from aiortc import RTCSessionDescription

from realtime_adain import __version__, interrupts
from realtime_adain.errors import UserError, one_line
from realtime_adain.live.keys import BINDINGS
from realtime_adain.live.disk_room import DISK_FULL
from realtime_adain.live.styles import StyleLibrary, note_unwritable_style_cache, run_cache_dir
from realtime_adain.serve import uploads
from realtime_adain.serve.batcher import Batcher
from realtime_adain.serve.connections import (OUT_OF_RESOURCES, REQUEST_HEAD_S, ConnectionLimits, QuietAcceptErrors,
                                              address_group, group_name, shortage)
from realtime_adain.serve.control import Look, stabilize_modes
from realtime_adain.serve.listening import check_listen, listen_error, print_url
from realtime_adain.serve.peers import Client, slots_per_address
from realtime_adain.serve.sdp import for_aiortc, has_ice_addresses, offer_problem
from realtime_adain.serve.settings import ServeSettings
from realtime_adain.serve.styles import StyleRegistry
from realtime_adain.serve.tls import tls_context
from realtime_adain.stylizer import Stylizer
from realtime_adain.notes import STDERR_LOCK, collected

STATIC = Path(__file__).resolve().parent / "static"
TICK = 1.0  # seconds between the figures sent to each client (and idle checks)
MAX_OFFER_BYTES = 256 * 1024  # an SDP offer is a few KiB
OFFER_READ_S = 30.0  # an offer body still arriving after this is refused (a slow sender holds a connection)
SHUTDOWN_S = 3.0  # requests still running when it stops (aiohttp's 60 s let a slow upload hold the exit)
HURRIED_ANSWER_S = 0.5  # after a second stop signal, for uploads to send their 503 before the loop ends
BATCHER_JOIN_S = 10.0  # for the worker's batch under way when it stops
MAX_UPLOADS_AT_ONCE = 2  # uploads read at the same time: each holds up to --max-upload-mb in memory
UPLOAD_READ_S = 120.0  # an upload still arriving after this is refused (a slow sender cannot hold a slot)
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")  # change nothing: any origin may send them (it cannot read the answer)
NO_FRAMING = {"Content-Security-Policy": "frame-ancestors 'none'", "X-Frame-Options": "DENY"}  # (the latter: older browsers)


def log(message: str) -> None:
    """One line on stderr per client arriving or leaving (the URL is the only line on stdout).
    While an upload's decode catches the native libraries' lines (fd 2 is the process's, and its
    holder has STDERR_LOCK), a line is held and said after it, not waited for on the event loop:
    written into the catch, it was lost, or became the detail of that upload's error, another
    client's address in a stranger's answer."""
    _held_lines.append(f"serve: {message}")
    say_held_lines()


def say_held_lines() -> None:
    """The lines `log` held, said where stderr is free now (else at the next chance)."""
    if not STDERR_LOCK.acquire(blocking=False):
        return
    try:
        while _held_lines:
            print(_held_lines.pop(0), file=sys.stderr, flush=True)
    finally:
        STDERR_LOCK.release()


_held_lines: list[str] = []  # (the event loop's thread only)


class QuietMalformedRequests(logging.Filter):
    """aiohttp answers a request it cannot parse (bytes HTTP does not allow) with a 400, then logs
    a traceback for it, so any client could fill the server's stderr; such records are dropped,
    as aiohttp itself drops them for an unknown method. So are its records of a body it could not
    read (a Content-Encoding that does not decode), logged again as it drains the body after our
    400 (`unreadable_body`). Tracebacks of our own handlers stay."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], (HttpProcessingError, RequestPayloadError)))


def quiet_malformed_requests() -> None:
    logger = logging.getLogger("aiohttp.server")
    if not any(isinstance(f, QuietMalformedRequests) for f in logger.filters):
        logger.addFilter(QuietMalformedRequests())


def error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


class Server:
    """Shared by all clients: one stylizer (on the batcher's worker thread) and the style registry."""

    def __init__(self, settings: ServeSettings, stylizer: Stylizer, styles: StyleRegistry, side: int) -> None:
        self.settings, self.stylizer, self.styles = settings, stylizer, styles
        self.batcher = Batcher(stylizer, side, settings.max_resolution)
        self.clients: dict[str, Client] = {}
        self.uploading = 0  # uploads being read or decoded now
        # uploads' threads (`_off_loop`: the decode, then the write and the style's encoding), senders gone or not
        self.decoders: list[threading.Thread] = []
        self._answering: set[asyncio.Task] = set()  # uploads' handlers, until each has sent its answer
        self._stopped: asyncio.Event | None = None  # set once uploads stop being waited for (`_unless_stopped`)
        self.connection_limits = ConnectionLimits()
        self._tick: asyncio.Task | None = None
        self.app = self._build_app()

    # ---- app ---------------------------------------------------------------------------------

    def _build_app(self) -> web.Application:
        limit = max(self.settings.max_upload_bytes + 64 * 1024, MAX_OFFER_BYTES) if self.settings.allow_uploads else MAX_OFFER_BYTES
        app = web.Application(middlewares=[self._guard], client_max_size=limit)
        quiet_malformed_requests()
        app.router.add_get("/", self.index)
        app.router.add_get("/api/config", self.config)
        app.router.add_get("/api/styles/{id}/thumbnail.jpg", self.thumbnail)
        app.router.add_post("/api/offer", self.offer)
        app.router.add_post("/api/styles", self.upload)
        if STATIC.is_dir():
            app.router.add_static("/static/", STATIC, follow_symlinks=False)
        app.on_response_prepare.append(no_framing)
        app.on_startup.append(self._start)
        app.on_shutdown.append(self._shutdown)
        return app

    @web.middleware
    async def _guard(self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]):
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
            if request.path.startswith("/static/") and not (STATIC / request.match_info.get("filename", "")).is_file():
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
        host = request.headers.get("Host", "")  # absent: not a browser (they always send it)
        names = self.settings.host_names
        if names is not None and host and host_name(host) not in names:
            return (f"this server answers to {' or '.join(sorted(names))} only, not to the name in the Host header "
                    "(open the URL `realtime-adain serve` printed)")
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

    async def _start(self, _app: web.Application) -> None:
        if self.batcher.ident is not None:  # its worker ran, and stopped with `close`
            raise RuntimeError("this Server has run and was closed: make a new Server to serve again")
        self.batcher.start()
        self._stopped = asyncio.Event()
        self._tick = asyncio.ensure_future(self._ticker())

    async def _shutdown(self, _app: web.Application) -> None:
        await self.close()

    async def close(self) -> None:
        """Close every peer connection, stop the worker (bounded waits: a stuck peer cannot hang the
        exit); uploads under way are answered 503 if still running SHUTDOWN_S later. The worker is
        waited for here, not on asyncio's executor, whose threads `asyncio.run` waits for even when
        a second Ctrl-C cancelled this wait."""
        loop = asyncio.get_running_loop()
        if self._tick is not None:
            self._tick.cancel()
        clients = list(self.clients.values())
        try:
            if clients:
                await asyncio.wait([asyncio.ensure_future(c.close("the server stopped")) for c in clients], timeout=5.0)
        finally:  # (a second Ctrl-C cancels the wait: the worker stops all the same)
            self.batcher.stop()
            loop.call_later(SHUTDOWN_S, self.hurry)
        deadline = loop.time() + BATCHER_JOIN_S
        while self.batcher.is_alive() and loop.time() < deadline:
            await asyncio.sleep(0.02)

    def hurry(self) -> None:
        """Stop waiting for uploads under way: each is answered 503 at once (`_unless_stopped`)."""
        if self._stopped is not None:
            self._stopped.set()

    async def answered(self, timeout: float) -> None:
        """Until the uploads' handlers have sent their answers (at most `timeout` s): when the
        serving task is cancelled, the loop ends soon after, and their answers with it."""
        if self._answering:
            await asyncio.wait(set(self._answering), timeout=timeout)

    # ---- routes ------------------------------------------------------------------------------

    async def index(self, _request: web.Request) -> web.StreamResponse:
        page = STATIC / "index.html"
        if not page.is_file():
            raise web.HTTPNotFound(text="the page is not installed (realtime_adain/serve/static/index.html)")
        return web.FileResponse(page)

    async def config(self, _request: web.Request) -> web.Response:
        settings, modes = self.settings, stabilize_modes(self.stylizer.engine_name)
        offered = f"temporal stabiliser: {', '.join(modes)}"  # (the live window's row names stats/both, eager only)
        return web.json_response({
            "styles": self.styles.describe(),
            "keys": [{"keys": b.keys, "action": b.action, "description": offered if b.action == "stabilize" else b.description}
                     for b in BINDINGS],
            "alpha": settings.alpha, "style": self.styles.first.id, "preserve_color": settings.preserve_color,
            "stabilize_modes": list(modes), "stabilize": settings.stabilize,
            "max_upload_bytes": settings.max_upload_bytes if settings.allow_uploads else 0,
            "uploads": settings.allow_uploads, "version": __version__,
        })

    async def thumbnail(self, request: web.Request) -> web.Response:
        served = self.styles.get(request.match_info["id"])
        if served is None:
            return error(404, "no such style")
        try:
            data = await asyncio.get_running_loop().run_in_executor(None, self.styles.thumbnail, served)
        except Exception as exc:  # the file vanished or changed since the start (its path is for the log only)
            log(one_line(f"style {served.name}: its thumbnail cannot be made: {str(exc) or type(exc).__name__}"))
            return error(404, "the style image cannot be read: it changed or went away since the server started")
        return web.Response(body=data, content_type="image/jpeg", headers={"Cache-Control": "max-age=3600"})

    async def offer(self, request: web.Request) -> web.Response:
        refused = self._no_slot(request.remote or "")
        if refused:
            return error(429, refused)
        try:
            body = json.loads(await asyncio.wait_for(read_body(request, MAX_OFFER_BYTES), OFFER_READ_S))
        except asyncio.TimeoutError:
            return error(408, f"the offer took longer than {OFFER_READ_S:g} s to arrive")
        except uploads.UploadRefused as exc:
            return error(exc.status, str(exc))
        except (ValueError, RecursionError):  # not JSON, not UTF-8, or nested past the parser's stack
            return error(400, "the body must be JSON {sdp, type}")
        if not (isinstance(body, dict) and isinstance(body.get("sdp"), str) and body.get("type") == "offer"):
            return error(400, 'the body must be JSON {"sdp": ..., "type": "offer"}')
        problem = offer_problem(body["sdp"])
        if problem is not None:
            return error(400, f"bad offer: {problem}")
        refused = self._no_slot(request.remote or "")  # again: other offers were read meanwhile
        if refused:
            return error(429, refused)
        look = Look(self.styles.first.id, alpha=self.settings.alpha, preserve_color=self.settings.preserve_color,
                    stabilize=self.settings.stabilize)
        client = Client(self.styles, self.stylizer, self.batcher, look, self.settings.stabilize_strength, self._remove,
                        lambda: len(self.clients), request.remote or "")
        self.clients[client.id] = client
        log(f"client {client.id} connecting from {request.remote} ({len(self.clients)} of {self.settings.max_clients})")
        try:
            await client.pc.setRemoteDescription(RTCSessionDescription(sdp=for_aiortc(body["sdp"]), type="offer"))
            if not client.has_video:
                raise ValueError("the offer has no video track")
            client.refuse_the_rest()
            await client.pc.setLocalDescription(await client.pc.createAnswer())
        except Exception as exc:  # a malformed SDP: the client's error, never the server's
            if isinstance(exc, OSError) and exc.errno in OUT_OF_RESOURCES:  # (ICE's sockets: the server's, said as
                await client.close("out of resources")                    # "its SDP is malformed" to the client)
                log(f"warning: cannot take client {client.id} ({shortage(exc)})")
                return error(503, "the server is out of resources for another client; try again later")
            await client.close("bad offer")
            return error(400, f"bad offer: {offer_error(exc)}")
        except asyncio.CancelledError:  # (the server stopping, or aiohttp's cancelling the request)
            asyncio.ensure_future(client.close("its offer was not answered"))
            raise
        if request.transport is None or request.transport.is_closing():
            # its sender went away while the answer was made: nobody can use it, so its slot is freed
            # now (it held one for the connect timeout: 6 aborted offers took all 4 slots for 15 s)
            await client.close("the offer's sender went away before its answer")
            return error(400, "the connection closed before the offer was answered")
        answer = client.pc.localDescription
        return web.json_response({"sdp": answer.sdp, "type": answer.type, "client": client.id})

    async def upload(self, request: web.Request) -> web.Response:
        settings = self.settings
        if not settings.allow_uploads:
            return error(403, "uploads are off (start the server with --allow-uploads)")
        self.decoders = [thread for thread in self.decoders if thread.is_alive()]
        if self.uploading >= MAX_UPLOADS_AT_ONCE or len(self.decoders) >= MAX_UPLOADS_AT_ONCE:
            return error(429, f"{MAX_UPLOADS_AT_ONCE} uploads are already in progress; try again when they are done")
        self.uploading += 1
        handler = asyncio.current_task()
        self._answering.add(handler)
        handler.add_done_callback(self._answering.discard)
        try:
            self.styles.check_room()  # before reading a body that could not be kept
            try:
                data = await self._unless_stopped(asyncio.wait_for(self._upload_bytes(request), UPLOAD_READ_S))
            except asyncio.TimeoutError:
                raise uploads.UploadRefused(408, f"the upload took longer than {UPLOAD_READ_S:g} s") from None
            image, digest, notes = await self._unless_stopped(self._off_loop(self._decode, data))
            served = await self._unless_stopped(self._off_loop(self.styles.add_upload, image, digest))
        except uploads.UploadRefused as exc:
            return error(exc.status, str(exc))
        except Exception as exc:  # e.g. a full disk under the upload folder
            log(one_line(f"an upload could not be kept: {str(exc) or type(exc).__name__}"))
            return error(500, upload_failure(exc))
        finally:
            self.uploading -= 1
        answer = served.describe()
        if notes:  # what reading the picture changed in it (its transparency): for the uploader too
            answer["note"] = "; ".join(notes)
        for line in notes:
            log(f"note: {line}")
        return web.json_response(answer)

    def _decode(self, data: bytes) -> tuple:
        """`uploads.decode` with its notes ("transparent areas ... over white") gathered, for the
        uploader's answer and the server's log: printed by the reader, they lacked the `serve:`
        prefix, and the uploader was never told."""
        with collected() as notes:
            image, digest = uploads.decode(data, self.settings.max_upload_bytes, self.settings.max_upload_pixels)
        return image, digest, notes

    def _off_loop(self, work: Callable, *args) -> asyncio.Future:
        """`work(*args)` on a daemon thread of its own, not on asyncio's executor: `asyncio.run`
        waits for that one's threads, so a slow decode or style encoding held a stopping server
        (2 min for a 2048x2048 style at --style-size 0; a second Ctrl-C did not hurry it). The
        thread holds an upload slot until it ends, its sender gone or not."""
        loop = asyncio.get_running_loop()
        done = loop.create_future()

        def settle(result, failure: Exception | None) -> None:
            say_held_lines()  # (those written while a decode caught stderr)
            if done.done():  # (given up: the request was cancelled, or the server stopped)
                return
            if failure is not None:
                done.set_exception(failure)
            else:
                done.set_result(result)

        def run() -> None:
            try:
                result, failure = work(*args), None
            except Exception as exc:  # noqa: BLE001 - the request's to answer
                result, failure = None, exc
            with contextlib.suppress(RuntimeError):  # the loop closed: the server stopped meanwhile
                loop.call_soon_threadsafe(settle, result, failure)

        thread = threading.Thread(target=run, name="upload", daemon=True)
        thread.start()
        self.decoders.append(thread)
        return done

    async def _unless_stopped(self, work: Awaitable):
        """What `work` gives, unless the server stops waiting for uploads first (`hurry`): then the
        uploader is answered 503 (it got no answer at all, the server's exit held by the work)."""
        work = asyncio.ensure_future(work)
        stopped = asyncio.ensure_future(self._stopped.wait())
        try:
            await asyncio.wait((work, stopped), return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopped.cancel()
            if not work.done():
                work.cancel()  # (a task: done only once it has run again)
        if not work.done() or work.cancelled():  # (or aiohttp's own: the body's read cancelled as it stops)
            raise uploads.UploadRefused(503, "the server stopped before the style was added; try again when it is back")
        return work.result()

    async def _upload_bytes(self, request: web.Request) -> bytes:
        """The multipart field `image`, read up to the limit (a larger one is refused while reading)."""
        limit = self.settings.max_upload_bytes
        if request.content_length is not None and request.content_length > limit + 64 * 1024:
            raise uploads.UploadRefused(413, f"the upload is larger than the {limit} bytes allowed")
        try:
            reader = await request.multipart()
            async for part in reader:
                if getattr(part, "name", None) == "image":
                    data = bytearray()
                    while chunk := await part.read_chunk(64 * 1024):
                        data += chunk
                        if len(data) > limit:
                            raise uploads.UploadRefused(413, f"the image is larger than the {limit} bytes allowed")
                    return bytes(data)
        except (ValueError, AssertionError, KeyError) as exc:
            raise uploads.UploadRefused(400, f"the body must be multipart/form-data with a field 'image' ({exc})") from None
        except ConnectionResetError:
            raise uploads.UploadRefused(400, "the connection closed before the upload arrived") from None
        except RequestPayloadError as exc:
            raise unreadable_body(exc) from None
        raise uploads.UploadRefused(400, "the body must be multipart/form-data with a field 'image'")

    # ---- clients -----------------------------------------------------------------------------

    def _no_slot(self, address: str) -> str | None:
        """Why an offer from `address` gets no client slot, or None. One address (an IPv6 one's /64,
        `address_group`) holds at most `slots_per_address` (peers that never connect hold theirs for
        the connect timeout); a shared loopback one (a tunnel's, a proxy's) only counts toward the total."""
        most = self.settings.max_clients
        share = slots_per_address(most)
        group = address_group(address)
        if (not self.connection_limits.exempt(address)
                and sum(address_group(c.address) == group for c in self.clients.values()) >= share):
            return (f"{group_name(address)} already holds {share} of the {most} client slots "
                    f"(at most {share} per address)")
        if len(self.clients) >= most:
            return f"the server already has its maximum of {most} clients"
        return None

    def _remove(self, client: Client) -> None:
        if self.clients.pop(client.id, None) is not None:
            log(f"client {client.id} left: {client.reason} ({len(self.clients)} of {self.settings.max_clients})")

    async def _ticker(self) -> None:
        while True:
            await asyncio.sleep(TICK)
            now = time.monotonic()
            for client in list(self.clients.values()):
                why = client.overdue(now, self.settings.connect_timeout, self.settings.idle_timeout)
                if why:
                    asyncio.ensure_future(client.close(why))
                else:
                    client.send_status()


async def no_framing(_request: web.Request, response: web.StreamResponse) -> None:
    """Every answer forbids other sites' pages to show it in a frame: framed, the page was given
    the camera, took a client slot and could be clicked through a decoy laid over it."""
    response.headers.update(NO_FRAMING)


async def read_body(request: web.Request, limit: int) -> bytes:
    """The request body, refused (413) as soon as it passes `limit` bytes, never read whole first
    (the app's client_max_size is the upload limit, far above what other routes take)."""
    if request.content_length is not None and request.content_length > limit:
        raise uploads.UploadRefused(413, f"the request body is larger than the {limit} bytes allowed")
    data = bytearray()
    try:
        while chunk := await request.content.read(64 * 1024):
            data += chunk
            if len(data) > limit:
                raise uploads.UploadRefused(413, f"the request body is larger than the {limit} bytes allowed")
    except ConnectionResetError:  # the client went away mid-body: nobody to answer, nothing to log
        raise uploads.UploadRefused(400, "the connection closed before the request body arrived") from None
    except RequestPayloadError as exc:
        raise unreadable_body(exc) from None
    return bytes(data)


def unreadable_body(exc: RequestPayloadError) -> uploads.UploadRefused:
    """A body aiohttp could not read (a Content-Encoding that does not decode: gzip over garbage)
    as a 400; it was a 500 with a traceback in the log (an upload's said the exception's name)."""
    reason = " ".join(str(exc).split()).removeprefix("400, message: ")
    return uploads.UploadRefused(400, f"the request body could not be read ({reason[:200]})")


def host_name(host: str) -> str:
    """The name in a Host header, without its port or an IPv6 address's brackets, in lower case,
    without a root's trailing dot (`example.com.` is `example.com`)."""
    if host.startswith("["):
        return host[1:].partition("]")[0].lower()
    return host.partition(":")[0].lower().rstrip(".")


async def serve_until_stopped(server: Server, settings: ServeSettings, stop: asyncio.Event,
                              started: Callable[[int], None]) -> None:
    """Listen until `stop` is set, then close every peer connection and the worker."""
    # keepalive_timeout runs from the connection until its request's head has arrived (then between requests)
    runner = web.AppRunner(server.app, handle_signals=False, access_log=None, keepalive_timeout=REQUEST_HEAD_S,
                           shutdown_timeout=SHUTDOWN_S)
    await runner.setup()
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(QuietAcceptErrors(loop, log))  # (kept: its retries can run after the close)
    try:
        try:
            site = server.connection_limits.site(runner, settings.host, settings.port, tls_context(settings), REQUEST_HEAD_S)
            await site.start()
        except OSError as exc:
            raise listen_error(settings, exc) from None
        port = runner.addresses[0][1]  # the chosen one when --port 0
        started(port)
        await stop.wait()
    finally:
        await runner.cleanup()  # on_shutdown: Server.close


async def serve_until_signalled(server: Server, settings: ServeSettings, received: list[int],
                                started: Callable[[int], None]) -> None:
    """`serve_until_stopped` until SIGINT, SIGTERM, SIGHUP or SIGQUIT (each kept in `received`): the
    first stops the server, which closes its clients and lets requests end (up to about 8 s); a
    second ends those waits at once (a second Ctrl-C did not hurry it)."""
    stop, serving = asyncio.Event(), asyncio.current_task()

    def stop_then_hurry() -> None:
        if stop.is_set():
            server.hurry()
            serving.cancel()
        stop.set()

    with interrupts.loop_signals(asyncio.get_running_loop(), received, stop_then_hurry):
        try:
            await serve_until_stopped(server, settings, stop, started)
        except asyncio.CancelledError:
            if len(received) < 2:
                raise
            await server.answered(HURRIED_ANSWER_S)


@contextlib.asynccontextmanager
async def running(server: Server) -> AsyncIterator[str]:
    """The server listening (on its settings' host and port, 0: a free one) inside the block,
    closed after it; yields its base URL (tests and in-process use)."""
    stop, ports = asyncio.Event(), []
    task = asyncio.ensure_future(serve_until_stopped(server, server.settings, stop, ports.append))
    while not ports:
        if task.done():
            task.result()  # it failed to start: raise that
        await asyncio.sleep(0.02)
    try:
        yield f"{server.settings.scheme}://127.0.0.1:{ports[0]}"
    finally:
        stop.set()
        await task


def upload_failure(exc: Exception) -> str:
    """What an uploader is told of a failure the log says in full: no server path, no class name
    (a full disk answered with the upload folder's path and "UserError")."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if (isinstance(exc, OSError) and exc.errno in DISK_FULL) or \
                any(os.strerror(code) in str(exc) for code in DISK_FULL):  # (a UserError naming the file)
            return "the server has no room to keep the style (disk full)"
        exc = exc.__cause__ or exc.__context__
    return "the server could not keep the style (its log says why)"


def offer_error(exc: Exception) -> str:
    """What aiortc found wrong with an offer `offer_problem` let through: its own message where it
    wrote one (a ValueError); else its internals (an AttributeError) said as what they are."""
    text = str(exc)[:200]
    if isinstance(exc, ValueError) and text and not text.startswith("invalid literal"):
        return text
    return f"its SDP is malformed (aiortc: {type(exc).__name__}{': ' + text if text else ''})"


def load(settings: ServeSettings, upload_dir: Path | None) -> tuple[Stylizer, StyleRegistry, int]:
    """The shared stylizer, the style registry and the processing size (as `live`: 160 on a CPU)."""
    from realtime_adain.live.inference import processing_size

    # Clients' cameras differ in size: on a GPU, 'auto' is the eager engine (no build per size).
    stylizer = Stylizer.from_settings(settings.engine_model, sizes_vary=True)
    library = StyleLibrary(list(settings.styles), stylizer, settings.style_size,
                           settings.style_cache or run_cache_dir(), note_unwritable_style_cache).load()
    return stylizer, StyleRegistry(library, upload_dir), processing_size(settings.size, stylizer)


@contextlib.contextmanager
def upload_folder(allow_uploads: bool) -> Iterator[Path | None]:
    """The run's temporary folder for uploaded styles, removed at the end; None with uploads off
    (a server with no writable temporary folder would not start, uploads or not)."""
    if not allow_uploads:
        yield None
        return
    try:
        folder = tempfile.TemporaryDirectory(prefix="realtime-adain-uploads-")
    except OSError as exc:
        raise UserError(f"--allow-uploads: the folder for uploaded styles cannot be made in the temporary folder "
                        f"({exc.strerror or exc}); set TMPDIR to a writable folder") from None
    with folder as path:
        yield Path(path)


def run(settings: ServeSettings) -> int:
    """The `serve` command: load, listen, and on SIGINT/SIGTERM close everything and end as the
    other commands do (one line, 130/143)."""
    tls_context(settings)  # a bad certificate is said before the model loads
    check_listen(settings)
    stderr = os.dup(2)  # (as it is now: an upload's decode may hold fd 2 redirected at the end, `end_now`)
    try:
        with upload_folder(settings.allow_uploads) as folder:
            stylizer, styles, side = load(settings, folder)
            server = Server(settings, stylizer, styles, side)
            received: list[int] = []

            async def main() -> None:
                if not has_ice_addresses():
                    log("warning: no network interface besides loopback; WebRTC peers (aiortc's ICE) cannot connect")
                await serve_until_signalled(server, settings, received, lambda port: print_url(settings, port))

            try:
                asyncio.run(main())
            finally:  # (an upload's thread may still be writing into the folder about to be removed)
                styles.stop_adding()
        say_held_lines()  # (any written while a decode caught stderr, its end not seen)
        if received:
            if any(thread.is_alive() for thread in server.decoders):
                end_now(received[0], stderr)
            interrupts.raise_received(received[0])
        return 0
    finally:
        os.close(stderr)


def end_now(signum: int, stderr: int) -> NoReturn:
    """The end a stop signal gives every command (its line, its exit status), without the
    interpreter's teardown: an upload's decode or style encoding still running (`Server._off_loop`,
    not waited for) that ended during it aborted the process inside OpenCV ("terminate called
    without an active exception", 134). Its line goes to `stderr`, the process's own: the
    decode's capture of the native libraries' lines holds fd 2 meanwhile. A temporary style cache left behind is removed
    by the next run."""
    try:
        interrupts.raise_received(signum)
    except KeyboardInterrupt as exc:
        with contextlib.suppress(OSError, ValueError):
            sys.stdout.flush()
            sys.stderr.flush()
            os.write(stderr, f"{interrupts.message(exc)}\n".encode())
        os._exit(interrupts.exit_code(exc))
