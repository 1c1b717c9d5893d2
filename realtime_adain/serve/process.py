"""The server run: listening until stopped or signalled (a second signal hurries the stop), in a
block for tests and in-process use, and the `serve` command's process (the model loaded, the
folder for uploads, the end a stop signal gives every command)."""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import signal
import sys
import tempfile
from pathlib import Path
from typing import AsyncIterator, Callable, Iterator, NoReturn

from aiohttp import web

from realtime_adain import interrupts
from realtime_adain.errors import UserError
from realtime_adain.live.style_cache import note_unwritable_style_cache, run_cache_dir
from realtime_adain.live.styles import StyleLibrary
from realtime_adain.serve import app
from realtime_adain.serve.app import Server
from realtime_adain.serve.connections import REQUEST_HEAD_S, QuietAcceptErrors
from realtime_adain.serve.listening import check_listen, listen_error, print_url
from realtime_adain.serve.log import log, say_held_lines
from realtime_adain.serve.sdp import has_ice_addresses
from realtime_adain.serve.settings import ServeSettings
from realtime_adain.serve.styles import StyleRegistry
from realtime_adain.serve.tls import tls_context
from realtime_adain.stylizer import Stylizer

HURRIED_ANSWER_S = 0.5  # after a second stop signal, for uploads to send their 503 before the loop ends


async def serve_until_stopped(server: Server, settings: ServeSettings, stop: asyncio.Event,
                              started: Callable[[int], None]) -> None:
    """Listen until `stop` is set, then close every peer connection and the worker."""
    # keepalive_timeout runs from the connection until its request's head has arrived (then between requests)
    runner = web.AppRunner(server.app, handle_signals=False, access_log=None, keepalive_timeout=REQUEST_HEAD_S,
                           shutdown_timeout=app.SHUTDOWN_S)  # (app's: one value, Server.close's too)
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


def load(settings: ServeSettings, upload_dir: Path | None) -> tuple[Stylizer, StyleRegistry, int]:
    """The shared stylizer, the style registry and the processing size (as `live`: 160 on a CPU)."""
    from realtime_adain.live.inference import processing_size

    # Clients' cameras differ in size: on a GPU, 'auto' is the eager engine (no build per size).
    stylizer = Stylizer.for_command(settings.engine_model, sizes_vary=True)
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
    other commands do (one line, 130/143), through `end_now`: the interpreter's teardown, seconds
    on a loaded machine, would follow the line with every signal ignored (a second Ctrl-C or
    SIGTERM then did nothing)."""
    tls_context(settings)  # a bad certificate is said before the model loads
    check_listen(settings)
    stderr = os.dup(2)  # (as it is now: an upload's decode may hold fd 2 redirected at the end, `end_now`)
    received: list[int] = []
    try:
        with later_signals_end_now(received, stderr):
            with upload_folder(settings.allow_uploads) as folder:
                stylizer, styles, side = load(settings, folder)
                server = Server(settings, stylizer, styles, side)

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
                end_now(received[0], stderr, exit_handlers=len(received) == 1 and not native_work_left(server))
        return 0
    finally:
        os.close(stderr)


@contextlib.contextmanager
def later_signals_end_now(received: list[int], stderr: int) -> Iterator[None]:
    """Inside the block, once the event loop has taken a stop signal (`received`), another one ends
    the process at once with the first's line and status (`end_now`), wherever the main thread is
    after the loop: asyncio's own end, the upload folder's removal, the exit handlers (the loop's
    handlers, `loop_signals`, put this one back after it). Until then a signal goes to the handler
    that was in place (the command's: a KeyboardInterrupt, as while the model loads)."""
    before = {sig: handler for sig in interrupts.SIGNALS if callable(handler := signal.getsignal(sig))}

    def end_or_as_before(signum: int, frame: object) -> None:
        if received:
            end_now(received[0], stderr)
        before[signum](signum, frame)

    for sig in before:
        signal.signal(sig, end_or_as_before)
    try:
        yield
    finally:
        for sig, handler in before.items():
            signal.signal(sig, handler)


def native_work_left(server: Server) -> bool:
    """Whether a thread that may be inside a native library outlives the loop: an upload's decode
    or style encoding (`Server._off_loop`, not waited for), or the worker still in its batch past
    BATCHER_JOIN_S."""
    return server.batcher.is_alive() or any(thread.is_alive() for thread in server.decoders)


def end_now(signum: int, stderr: int, exit_handlers: bool = False) -> NoReturn:
    """The end a stop signal gives every command (its line, its exit status), without the
    interpreter's teardown: seconds of freeing modules on a loaded machine, with every signal
    ignored (`cli.entry`), and with a daemon thread still inside OpenCV, torch or PyAV (the
    worker's batch, an upload's decode, aiortc's encoders; `native_work_left`, or a second signal
    having cut the waits short) an abort ("terminate called without an active exception", 134; 6
    runs in 10 with two clients after a second SIGTERM). Everything that matters is done by then:
    the upload folder is removed (the block around the loop has ended), the log's lines are said
    and the standard streams flushed. With `exit_handlers` (no such thread left) the `atexit`
    handlers run first, as at a normal exit (a style cache in a temporary folder, for a user with
    no home, is removed: 20 ms); else a temporary style cache left is removed by a later run. The
    line goes to `stderr`, the process's own: the decode's capture of the native libraries' lines
    holds fd 2 meanwhile."""
    try:
        interrupts.raise_received(signum)
    except KeyboardInterrupt as exc:
        if exit_handlers:  # (a signal meanwhile: `later_signals_end_now` ends here, the line said once)
            atexit._run_exitfuncs()  # (CPython's own call at exit; the API has no public one)
        with contextlib.suppress(OSError, ValueError):
            sys.stdout.flush()
            sys.stderr.flush()
            os.write(stderr, f"{interrupts.message(exc)}\n".encode())
        os._exit(interrupts.exit_code(exc))
