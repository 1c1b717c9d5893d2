"""The aiohttp application: routes, client limits, and a clean shutdown.

Routes and messages follow docs/serve.md (the protocol shared with the page); the checks before
them (origin, Host, token) are guards.py's. A periodic tick sends each client its figures and
closes clients silent for longer than the idle timeout, or not connected within the connect
timeout. process.py runs it.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import hmac
import json
import re
import threading
import time
import warnings
from typing import Awaitable, Callable

from aiohttp import BadContentDispositionHeader, BadContentDispositionParam, web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_protocol import RequestPayloadError
from aiortc import RTCSessionDescription

from realtime_adain import __version__
from realtime_adain.errors import one_line
from realtime_adain.live.keys import BINDINGS
from realtime_adain.serve import uploads
from realtime_adain.serve.answers import (error, malformed_form, offer_error, read_body, refused_body, unreadable_body,
                                         upload_failure, within)
from realtime_adain.serve.batcher import Batcher
from realtime_adain.serve.connections import OUT_OF_RESOURCES, ConnectionLimits, address_group, group_name, shortage
from realtime_adain.serve.control import Look, stabilize_modes
from realtime_adain.serve.guards import STATIC, RequestGuard, no_framing
from realtime_adain.serve.log import log, quiet_malformed_requests, say_held_lines
from realtime_adain.serve.peers import Client, slots_per_address
from realtime_adain.serve.sdp import for_aiortc, offer_problem
from realtime_adain.serve.settings import ServeSettings
from realtime_adain.serve.styles import StyleRegistry
from realtime_adain.stylizer import Stylizer
from realtime_adain.notes import collected
from realtime_adain.video.decoding import plural

MAX_REASON = 200  # characters of a library's reason quoted in an answer
TICK = 1.0  # seconds between the figures sent to each client (and idle checks)
MAX_OFFER_BYTES = 256 * 1024  # an SDP offer is a few KiB
OFFER_READ_S = 30.0  # an offer body still arriving after this is refused (a slow sender holds a connection)
SHUTDOWN_S = 3.0  # requests still running when it stops (aiohttp's 60 s let a slow upload hold the exit)
BATCHER_JOIN_S = 10.0  # for the worker's batch under way when it stops
MAX_UPLOADS_AT_ONCE = 2  # uploads read at the same time: each holds up to --max-upload-mb in memory
UPLOADS_PER_ADDRESS = slots_per_address(MAX_UPLOADS_AT_ONCE)  # of those, one address's (as for client slots)
UPLOAD_READ_S = 120.0  # an upload still arriving after this is refused (a slow sender cannot hold a slot)
CANCELLED_READ_S = 1.0  # for an upload's cancelled read to end (it does at the loop's next turns)
LEAVE_KEY = re.compile(r"[A-Za-z0-9_-]{16,128}")  # an offer's `leave_key`: random, of the client's making
LEFT_KEYS_KEPT = 64  # keys that left before their offer was taken: such an offer is refused
MAX_LEAVE_BYTES = 1024
LEAVE_READ_S = 5.0  # a leave body (a beacon's few dozen bytes) still arriving after this is refused
LEFT = "it left (its page was closed or reloaded)"


class Server:
    """Shared by all clients: one stylizer (on the batcher's worker thread) and the style registry."""

    def __init__(self, settings: ServeSettings, stylizer: Stylizer, styles: StyleRegistry, side: int) -> None:
        self.settings, self.stylizer, self.styles = settings, stylizer, styles
        self.batcher = Batcher(stylizer, side, settings.max_resolution)
        self.clients: dict[str, Client] = {}
        self.uploading = 0  # uploads being read or decoded now
        self._uploading_from: collections.Counter[str] = collections.Counter()  # of those, by `address_group`
        # uploads' threads (`_off_loop`: the decode, then the write and the style's encoding), senders gone
        # or not, each with its sender's `address_group`
        self.decoders: dict[threading.Thread, str] = {}
        self._answering: set[asyncio.Task] = set()  # uploads' handlers, until each has sent its answer
        self._stopped: asyncio.Event | None = None  # set once uploads stop being waited for (`_unless_stopped`)
        self.connection_limits = ConnectionLimits()
        self._tick: asyncio.Task | None = None
        self._left_keys: collections.deque[str] = collections.deque(maxlen=LEFT_KEYS_KEPT)  # (`leave`)
        self.app = self._build_app()

    # ---- app ---------------------------------------------------------------------------------

    def _build_app(self) -> web.Application:
        limit = max(self.settings.max_upload_bytes + 64 * 1024, MAX_OFFER_BYTES) if self.settings.allow_uploads else MAX_OFFER_BYTES
        app = web.Application(middlewares=[RequestGuard(self.settings, self.connection_limits).check],
                              client_max_size=limit)
        quiet_malformed_requests()
        for warning in (BadContentDispositionHeader, BadContentDispositionParam):  # a form part's header it cannot
            warnings.filterwarnings("ignore", category=warning)  # parse: the part has no name, no 2 lines on stderr
        app.router.add_get("/", self.index)
        app.router.add_get("/api/config", self.config)
        app.router.add_get("/api/styles/{id}/thumbnail.jpg", self.thumbnail)
        app.router.add_post("/api/offer", self.offer)
        app.router.add_post("/api/leave", self.leave)
        app.router.add_post("/api/styles", self.upload)
        if STATIC.is_dir():
            app.router.add_static("/static/", STATIC, follow_symlinks=False)
        app.on_response_prepare.append(no_framing)
        app.on_startup.append(self._start)
        app.on_shutdown.append(self._shutdown)
        return app

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
            await asyncio.wait([self._tick], timeout=1.0)  # (ended, not left pending with its frame when the loop stops)
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
            body = json.loads(await read_body(request, MAX_OFFER_BYTES, OFFER_READ_S, "the offer"))
        except uploads.UploadRefused as exc:
            return await refused_body(request, exc)
        except (ValueError, RecursionError):  # not JSON, not UTF-8, or nested past the parser's stack
            return error(400, 'the body must be JSON {"sdp": ..., "type": "offer"}')
        if not (isinstance(body, dict) and isinstance(body.get("sdp"), str) and body.get("type") == "offer"):
            return error(400, 'the body must be JSON {"sdp": ..., "type": "offer"}')
        problem = offer_problem(body["sdp"])
        if problem is not None:
            return error(400, f"bad offer: {problem}")
        leave_key = body.get("leave_key", "")
        if leave_key != "" and not (isinstance(leave_key, str) and LEAVE_KEY.fullmatch(leave_key)):
            return error(400, 'bad offer: its "leave_key" must be 16 to 128 letters, digits, "-" or "_"')
        if leave_key and any(hmac.compare_digest(leave_key, key) for key in self._left_keys):
            return error(400, "the offer's page left before it was answered")
        refused = self._no_slot(request.remote or "")  # again: other offers were read meanwhile
        if refused:
            return error(429, refused)
        look = Look(self.styles.first.id, alpha=self.settings.alpha, preserve_color=self.settings.preserve_color,
                    stabilize=self.settings.stabilize)
        client = Client(self.styles, self.stylizer, self.batcher, look, self.settings.stabilize_strength, self._remove,
                        lambda: len(self.clients), request.remote or "", leave_key)
        self.clients[client.id] = client
        log(f"client {client.id} connecting from {request.remote} ({len(self.clients)} of {self.settings.max_clients})")
        try:
            await client.pc.setRemoteDescription(RTCSessionDescription(sdp=for_aiortc(body["sdp"]), type="offer"))
            if not client.has_video:
                raise ValueError("the offer has no video track")
            client.refuse_the_rest()
            await client.pc.setLocalDescription(await client.pc.createAnswer())
        except Exception as exc:  # a malformed SDP: the client's error, never the server's
            if client.closing and client.reason == LEFT:  # (its page's `leave` came meanwhile: aiortc's closed state)
                return error(400, "the offer's page left before it was answered")
            if isinstance(exc, OSError) and exc.errno in OUT_OF_RESOURCES:  # (ICE's sockets: the server's, said as
                await client.close("out of resources")                    # "its SDP is malformed" to the client)
                log(f"warning: cannot take client {client.id} ({shortage(exc)})")
                return error(503, "the server is out of resources for another client; try again later")
            await client.close("bad offer")
            return error(400, f"bad offer: {offer_error(exc)}")
        except asyncio.CancelledError:  # (the server stopping, or aiohttp's cancelling the request)
            asyncio.ensure_future(client.close("its offer was not answered"))
            raise
        if client.closing and client.reason == LEFT:
            return error(400, "the offer's page left before it was answered")
        if request.transport is None or request.transport.is_closing():
            # its sender went away while the answer was made: nobody can use it, so its slot is freed
            # now (it held one for the connect timeout: 6 aborted offers took all 4 slots for 15 s)
            await client.close("the offer's sender went away before its answer")
            return error(400, "the connection closed before the offer was answered")
        answer = client.pc.localDescription
        return web.json_response({"sdp": answer.sdp, "type": answer.type, "client": client.id})

    async def leave(self, request: web.Request) -> web.Response:
        """`{"leave_key": KEY}` (the page's beacon as it is closed or reloaded): the client whose offer
        gave KEY is closed now. A page reloaded while connecting closes a peer connection whose DTLS
        never began, which the server cannot see: it held the slot for the connect timeout, and the
        reloaded page was refused. A key not (yet) known is kept, its offer to come refused."""
        try:
            body = json.loads(await read_body(request, MAX_LEAVE_BYTES, LEAVE_READ_S, "the leave request"))
        except uploads.UploadRefused as exc:
            return await refused_body(request, exc)
        except (ValueError, RecursionError):
            body = None
        key = body.get("leave_key") if isinstance(body, dict) else None
        if not (isinstance(key, str) and LEAVE_KEY.fullmatch(key)):
            return error(400, 'the body must be JSON {"leave_key": ...} with the key its offer gave')
        leaving = [c for c in self.clients.values() if c.leave_key and hmac.compare_digest(c.leave_key, key)]
        if not leaving:
            self._left_keys.append(key)
            return error(404, "no client has this key (it left already, or its offer is still to come)")
        await asyncio.gather(*(client.close(LEFT, asked=True) for client in leaving))
        return web.json_response({"left": len(leaving)})

    async def upload(self, request: web.Request) -> web.Response:
        settings = self.settings
        if not settings.allow_uploads:
            return error(403, "uploads are off (start the server with --allow-uploads)")
        refused = self._no_upload_slot(request.remote or "")
        if refused:
            return error(429, refused)
        sender = address_group(request.remote or "")
        self.uploading += 1
        self._uploading_from[sender] += 1
        handler = asyncio.current_task()
        self._answering.add(handler)
        handler.add_done_callback(self._answering.discard)
        try:
            self.styles.check_room()  # before reading a body that could not be kept
            data = await self._unless_stopped(within(self._upload_bytes(request), UPLOAD_READ_S, "the upload"))
            image, digest, notes = await self._unless_stopped(self._off_loop(sender, self._decode, data))
            served = await self._unless_stopped(self._off_loop(sender, self.styles.add_upload, image, digest))
        except uploads.UploadRefused as exc:  # (a 408 closes its connection with it, as the offer's)
            return await refused_body(request, exc)
        except Exception as exc:  # e.g. a full disk under the upload folder
            log(one_line(f"an upload could not be kept: {str(exc) or type(exc).__name__}"))
            return error(500, upload_failure(exc))
        finally:
            self.uploading -= 1
            self._uploading_from[sender] -= 1
            if not self._uploading_from[sender]:
                del self._uploading_from[sender]
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

    def _no_upload_slot(self, address: str) -> str | None:
        """Why an upload from `address` gets no slot now, or None. A slot is held while the upload
        is read and while its thread (`_off_loop`) runs, its sender gone or not; one address (as
        for client slots: an IPv6 one's /64, a shared loopback one only counting toward the total)
        holds at most UPLOADS_PER_ADDRESS (one sender trickling two uploads held both slots for
        their 120 s, every other client answered 429 meanwhile)."""
        self.decoders = {thread: group for thread, group in self.decoders.items() if thread.is_alive()}
        group = address_group(address)
        held = max(self._uploading_from[group], sum(sender == group for sender in self.decoders.values()))
        if not self.connection_limits.exempt(address) and held >= UPLOADS_PER_ADDRESS:
            return (f"{group_name(address)} already holds {held} of the {MAX_UPLOADS_AT_ONCE} upload slots "
                    f"(at most {UPLOADS_PER_ADDRESS} per address); try again when its upload is done")
        if self.uploading >= MAX_UPLOADS_AT_ONCE or len(self.decoders) >= MAX_UPLOADS_AT_ONCE:
            return f"{MAX_UPLOADS_AT_ONCE} uploads are already in progress; try again when they are done"
        return None

    def _off_loop(self, sender: str, work: Callable, *args) -> asyncio.Future:
        """`work(*args)` on a daemon thread of its own, not on asyncio's executor: `asyncio.run`
        waits for that one's threads, so a slow decode or style encoding held a stopping server
        (2 min for a 2048x2048 style at --style-size 0; a second Ctrl-C did not hurry it). The
        thread holds an upload slot of `sender`'s (an `address_group`) until it ends, its sender
        gone or not."""
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
        self.decoders[thread] = sender
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
                # Its end waited for: a body's read not yet ended still waited on the request's payload,
                # and aiohttp, draining the body after our 503, read it too (a traceback in the log,
                # "readany() called while another coroutine is already waiting for incoming data").
                await asyncio.wait((work,), timeout=CANCELLED_READ_S)
        if not work.done() or work.cancelled():  # (or aiohttp's own: the body's read cancelled as it stops)
            raise uploads.UploadRefused(503, "the server stopped before the style was added; try again when it is back")
        return work.result()

    async def _upload_bytes(self, request: web.Request) -> bytes:
        """The multipart field `image` (`uploads.image_field`), a form that cannot be read a 400."""
        limit = self.settings.max_upload_bytes
        if request.content_length is not None and request.content_length > limit + 64 * 1024:
            raise uploads.UploadRefused(413, f"the upload is larger than the {limit} bytes allowed")
        try:
            return await uploads.image_field(request.headers, request.content, limit)
        except (ValueError, AssertionError, KeyError, RuntimeError) as exc:  # (RuntimeError: a long _charset_)
            why = one_line(str(exc))  # (cut: a 7000-character boundary was echoed whole)
            why = why if len(why) <= MAX_REASON else f"{why[:MAX_REASON]}... ({len(why)} characters)"
            raise uploads.UploadRefused(400, f"the body must be multipart/form-data with a field 'image' ({why})") from None
        except ConnectionResetError:
            raise uploads.UploadRefused(400, "the connection closed before the upload arrived") from None
        except RequestPayloadError as exc:
            raise unreadable_body(exc) from None
        except HttpProcessingError as exc:
            raise malformed_form(exc) from None

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
            return f"the server already has its maximum of {plural(most, 'client')}"
        return None

    def _remove(self, client: Client) -> None:
        if self.clients.pop(client.id, None) is not None:
            log(f"client {client.id} left: {client.reason} ({len(self.clients)} of {self.settings.max_clients})")

    async def _ticker(self) -> None:
        while True:
            await asyncio.sleep(TICK)
            self._tick_clients(time.monotonic())

    def _tick_clients(self, now: float) -> None:
        """Each client closed if overdue, else sent its figures. A function of its own: the loop's
        last client stayed bound in the ticker's frame while it slept, and a closed client (its
        peer connection, its track) was kept as long as the ticker was."""
        for client in list(self.clients.values()):
            why = client.overdue(now, self.settings.connect_timeout, self.settings.idle_timeout)
            if why:
                asyncio.ensure_future(client.close(why))
            else:
                client.send_status()

