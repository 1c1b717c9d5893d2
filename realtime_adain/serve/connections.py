"""Limits on HTTP connections, so that one slow or flooding client cannot take the server from others.

Left alone, aiohttp (run through an AppRunner) keeps a connection whose request has not fully
arrived for an hour, and accepts connections until the process runs out of file descriptors:
then nobody is served and asyncio logs a traceback for every accept refused. So a request's head
must arrive within REQUEST_HEAD_S of the connection (aiohttp's keep-alive timer, which also
closes a connection left idle after a response), one remote address holds at most
MAX_PER_ADDRESS connections, and all together hold a share of the descriptor limit (the rest is
for the peers' UDP sockets, the model and the style files). A connection beyond a limit has its
request answered 503, or is closed after REFUSED_HEAD_S without one (at once when
MOST_REFUSED_HELD such connections wait already: a flood would hold their descriptors). Loopback addresses are
only held to the total: an SSH tunnel or a reverse proxy on this machine carries every client
through one of them.
"""

from __future__ import annotations

import asyncio
import ipaddress
from typing import Callable

from aiohttp import web

REQUEST_HEAD_S = 15.0  # from the connection to its request's headers; also the idle keep-alive time
MAX_PER_ADDRESS = 16  # a browser opens at most 6 per server; a few tabs or people behind one address
REFUSED_HEAD_S = 1.0  # a refused connection's request must come at once to be told why (503)
MOST_REFUSED_HELD = 32  # refused connections waiting for their request; beyond, closed at once (a flood)
MIN_TOTAL, MAX_TOTAL = 32, 1024
FD_SHARE = 4  # connections may take a quarter of the descriptor limit


def total_limit() -> int:
    """Connections at once: a quarter of the soft descriptor limit, within [MIN_TOTAL, MAX_TOTAL]."""
    try:
        import resource

        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    except (ImportError, OSError, ValueError):  # no resource module (Windows)
        return 256
    if soft == resource.RLIM_INFINITY:
        return MAX_TOTAL
    return max(MIN_TOTAL, min(MAX_TOTAL, soft // FD_SHARE))


def is_loopback_address(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:  # a Unix socket's peer, or none
        return False


class ConnectionLimits:
    """Counts the open connections of one aiohttp `web.Server` (`install`) and refuses those over a
    limit: a request that arrives on one is answered 503 (`refusal`, from the app's middleware, so
    aiohttp sends it and closes the connection properly); one whose request has not arrived within
    REFUSED_HEAD_S is closed."""

    def __init__(self, total: int | None = None, per_address: int = MAX_PER_ADDRESS,
                 exempt: Callable[[str], bool] = is_loopback_address) -> None:
        self.total = total_limit() if total is None else total
        self.per_address, self.exempt = per_address, exempt
        self.open: dict[object, str] = {}  # handler -> remote address
        self.refused: dict[object, str] = {}  # handler -> why

    def install(self, server: web.Server) -> None:
        """Wrap the server's connection hooks (each RequestHandler reports to them)."""
        made, lost = server.connection_made, server.connection_lost

        def connection_made(handler, transport: asyncio.Transport) -> None:
            made(handler, transport)
            peer = transport.get_extra_info("peername")
            address = str(peer[0]) if isinstance(peer, tuple) and peer else ""
            why = self._over(address)
            if why:
                # Each refused connection waiting holds a descriptor: in a flood, close at once.
                wait = REFUSED_HEAD_S if len(self.refused) < MOST_REFUSED_HELD else 0.0
                self.refused[handler] = why
                asyncio.get_running_loop().call_later(wait, self._drop, handler)
            else:
                self.open[handler] = address

        def connection_lost(handler, exc: BaseException | None = None) -> None:
            self.open.pop(handler, None)
            self.refused.pop(handler, None)
            lost(handler, exc)

        server.connection_made, server.connection_lost = connection_made, connection_lost

    def refusal(self, request: web.BaseRequest) -> web.Response | None:
        """The 503 for a request on a refused connection (which then closes), None for others."""
        why = self.refused.pop(request.protocol, None)
        if why is None:
            return None
        response = web.json_response({"error": why}, status=503)
        response.force_close()
        return response

    def _drop(self, handler) -> None:
        if self.refused.pop(handler, None) is not None:  # no request came: nothing to answer
            handler.force_close()

    def _over(self, address: str) -> str | None:
        if len(self.open) >= self.total:
            return f"the server already has its maximum of {self.total} connections open; try again shortly"
        if not self.exempt(address) and sum(a == address for a in self.open.values()) >= self.per_address:
            return f"{address} already has {self.per_address} connections open to this server"
        return None
