"""The aiohttp application: routes, the access token, client limits, and a clean shutdown.

Routes and messages follow docs/serve.md (the protocol shared with the page). Every `/api/`
request needs the token when one is set; `/` and `/static/` hold no data and are open, so the
page can load and say that a token is needed. A periodic tick sends each client its figures
and closes clients silent for longer than the idle timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import signal
import tempfile
import time
from pathlib import Path
from typing import AsyncIterator, Awaitable, Callable

from aiohttp import web
from aiortc import RTCSessionDescription

from realtime_adain import __version__, interrupts
from realtime_adain.live.keys import BINDINGS
from realtime_adain.live.styles import StyleLibrary, default_cache_dir
from realtime_adain.serve import uploads
from realtime_adain.serve.batcher import Batcher
from realtime_adain.serve.control import Look
from realtime_adain.serve.peers import Client
from realtime_adain.serve.settings import ServeSettings
from realtime_adain.serve.styles import StyleRegistry
from realtime_adain.settings import STABILIZE_MODES
from realtime_adain.stylizer import Stylizer

STATIC = Path(__file__).resolve().parent / "static"
TICK = 1.0  # seconds between the figures sent to each client (and idle checks)
MAX_OFFER_BYTES = 256 * 1024  # an SDP offer is a few KiB


def error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


class Server:
    """Shared by all clients: one stylizer (on the batcher's worker thread) and the style registry."""

    def __init__(self, settings: ServeSettings, stylizer: Stylizer, styles: StyleRegistry, side: int) -> None:
        self.settings, self.stylizer, self.styles = settings, stylizer, styles
        self.batcher = Batcher(stylizer, side, settings.max_resolution)
        self.clients: dict[str, Client] = {}
        self.closed_clients = 0  # removed so far (tests and logs)
        self._tick: asyncio.Task | None = None
        self.app = self._build_app()

    # ---- app ---------------------------------------------------------------------------------

    def _build_app(self) -> web.Application:
        limit = max(self.settings.max_upload_bytes + 64 * 1024, MAX_OFFER_BYTES) if self.settings.allow_uploads else MAX_OFFER_BYTES
        app = web.Application(middlewares=[self._guard], client_max_size=limit)
        app.router.add_get("/", self.index)
        app.router.add_get("/api/config", self.config)
        app.router.add_get("/api/styles/{id}/thumbnail.jpg", self.thumbnail)
        app.router.add_post("/api/offer", self.offer)
        app.router.add_post("/api/styles", self.upload)
        if STATIC.is_dir():
            app.router.add_static("/static/", STATIC, follow_symlinks=False)
        app.on_startup.append(self._start)
        app.on_shutdown.append(self._shutdown)
        return app

    @web.middleware
    async def _guard(self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]):
        """The token on /api/*; request bodies over the limit as a JSON 413."""
        token = self.settings.token
        if token and request.path.startswith("/api/") and not self._authorised(request, token):
            return error(401, "access token required: open the URL printed by `realtime-adain serve` (…/?token=…)")
        try:
            return await handler(request)
        except web.HTTPRequestEntityTooLarge:
            return error(413, f"the request is larger than the {self.settings.max_upload_bytes} bytes allowed")

    @staticmethod
    def _authorised(request: web.Request, token: str) -> bool:
        header = request.headers.get("Authorization", "")
        given = header[7:] if header.startswith("Bearer ") else request.query.get("token", "")
        return hmac.compare_digest(given.encode(), token.encode())

    async def _start(self, _app: web.Application) -> None:
        self.batcher.start()
        self._tick = asyncio.ensure_future(self._ticker())

    async def _shutdown(self, _app: web.Application) -> None:
        await self.close()

    async def close(self) -> None:
        """Close every peer connection, stop the worker (bounded waits: a stuck peer cannot hang the exit)."""
        if self._tick is not None:
            self._tick.cancel()
        clients = list(self.clients.values())
        if clients:
            await asyncio.wait([asyncio.ensure_future(c.close()) for c in clients], timeout=5.0)
        self.batcher.stop()
        await asyncio.get_running_loop().run_in_executor(None, self.batcher.join, 10.0)

    # ---- routes ------------------------------------------------------------------------------

    async def index(self, _request: web.Request) -> web.StreamResponse:
        page = STATIC / "index.html"
        if not page.is_file():
            raise web.HTTPNotFound(text="the page is not installed (realtime_adain/serve/static/index.html)")
        return web.FileResponse(page)

    async def config(self, _request: web.Request) -> web.Response:
        settings = self.settings
        return web.json_response({
            "styles": self.styles.describe(),
            "keys": [{"keys": b.keys, "action": b.action, "description": b.description} for b in BINDINGS],
            "alpha": settings.alpha, "style": self.styles.first.id, "preserve_color": settings.preserve_color,
            "stabilize_modes": list(STABILIZE_MODES), "stabilize": settings.stabilize,
            "max_upload_bytes": settings.max_upload_bytes if settings.allow_uploads else 0,
            "uploads": settings.allow_uploads, "version": __version__,
        })

    async def thumbnail(self, request: web.Request) -> web.Response:
        served = self.styles.get(request.match_info["id"])
        if served is None:
            return error(404, "no such style")
        try:
            data = await asyncio.get_running_loop().run_in_executor(None, self.styles.thumbnail, served)
        except Exception as exc:  # the file vanished or changed since the start
            return error(404, f"the style image cannot be read: {type(exc).__name__}")
        return web.Response(body=data, content_type="image/jpeg", headers={"Cache-Control": "max-age=3600"})

    async def offer(self, request: web.Request) -> web.Response:
        if len(self.clients) >= self.settings.max_clients:
            return error(429, f"the server already has its maximum of {self.settings.max_clients} clients")
        try:
            body = await request.json()
        except (ValueError, UnicodeDecodeError):
            return error(400, "the body must be JSON {sdp, type}")
        if not (isinstance(body, dict) and isinstance(body.get("sdp"), str) and body.get("type") == "offer"):
            return error(400, 'the body must be JSON {"sdp": ..., "type": "offer"}')
        look = Look(self.styles.first.id, alpha=self.settings.alpha, preserve_color=self.settings.preserve_color,
                    stabilize=self.settings.stabilize)
        client = Client(self.styles, self.stylizer, self.batcher, look, self.settings.stabilize_strength, self._remove)
        client.client_count = lambda: len(self.clients)
        self.clients[client.id] = client
        try:
            await client.pc.setRemoteDescription(RTCSessionDescription(sdp=body["sdp"], type="offer"))
            if not client.has_video:
                raise ValueError("the offer has no video track")
            await client.pc.setLocalDescription(await client.pc.createAnswer())
        except Exception as exc:  # a malformed SDP: the client's error, never the server's
            await client.close()
            return error(400, f"bad offer: {str(exc)[:200] or type(exc).__name__}")
        answer = client.pc.localDescription
        return web.json_response({"sdp": answer.sdp, "type": answer.type, "client": client.id})

    async def upload(self, request: web.Request) -> web.Response:
        settings = self.settings
        if not settings.allow_uploads:
            return error(403, "uploads are off (start the server with --allow-uploads)")
        try:
            data = await self._upload_bytes(request)
            image, digest = await asyncio.get_running_loop().run_in_executor(
                None, uploads.decode, data, settings.max_upload_bytes, settings.max_upload_pixels)
        except uploads.UploadRefused as exc:
            return error(exc.status, str(exc))
        try:
            served = await asyncio.get_running_loop().run_in_executor(None, self.styles.add_upload, image, digest)
        except Exception as exc:  # e.g. a full disk under the upload folder
            return error(500, f"the style could not be added: {type(exc).__name__}: {str(exc)[:200]}")
        return web.json_response(served.describe())

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
        raise uploads.UploadRefused(400, "the body must be multipart/form-data with a field 'image'")

    # ---- clients -----------------------------------------------------------------------------

    def _remove(self, client: Client) -> None:
        if self.clients.pop(client.id, None) is not None:
            self.closed_clients += 1

    async def _ticker(self) -> None:
        while True:
            await asyncio.sleep(TICK)
            now = time.monotonic()
            for client in list(self.clients.values()):
                if now - client.last_activity > self.settings.idle_timeout:
                    asyncio.ensure_future(client.close())
                else:
                    client.send_status(len(self.clients))


def print_url(settings: ServeSettings, port: int) -> None:
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    query = f"/?token={settings.token}" if settings.token else "/"
    print(f"serving on http://{host}:{port}{query}", flush=True)


async def serve_until_stopped(server: Server, settings: ServeSettings, stop: asyncio.Event,
                              started: Callable[[int], None]) -> None:
    """Listen until `stop` is set, then close every peer connection and the worker."""
    runner = web.AppRunner(server.app, handle_signals=False, access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, settings.host, settings.port)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # the chosen one when --port 0
        started(port)
        await stop.wait()
    finally:
        await runner.cleanup()  # on_shutdown: Server.close


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
        yield f"http://127.0.0.1:{ports[0]}"
    finally:
        stop.set()
        await task


def load(settings: ServeSettings, upload_dir: Path | None) -> tuple[Stylizer, StyleRegistry, int]:
    """The shared stylizer, the style registry and the processing size (as `live`: 160 on a CPU)."""
    from realtime_adain.live.inference import processing_size

    # Clients' cameras differ in size: on a GPU, 'auto' is the eager engine (no build per size).
    stylizer = Stylizer.from_settings(settings.model, sizes_vary=True)
    library = StyleLibrary(list(settings.styles), stylizer, settings.style_size,
                           settings.style_cache or default_cache_dir()).load()
    return stylizer, StyleRegistry(library, upload_dir), processing_size(settings.size, stylizer)


def run(settings: ServeSettings) -> int:
    """The `serve` command: load, listen, and on SIGINT/SIGTERM close everything and end as the
    other commands do (one line, 130/143)."""
    with tempfile.TemporaryDirectory(prefix="realtime-adain-uploads-") as tmp:
        stylizer, styles, side = load(settings, Path(tmp) if settings.allow_uploads else None)
        server = Server(settings, stylizer, styles, side)
        received: list[int] = []

        async def main() -> None:
            loop = asyncio.get_running_loop()
            stop = asyncio.Event()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, lambda s=sig: (received.append(s), stop.set()))
            try:
                await serve_until_stopped(server, settings, stop, lambda port: print_url(settings, port))
            finally:
                for sig in (signal.SIGINT, signal.SIGTERM):
                    loop.remove_signal_handler(sig)

        asyncio.run(main())
    if received:
        raise interrupts.Terminated() if received[0] == signal.SIGTERM else KeyboardInterrupt()
    return 0
