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
through one of them. An IPv6 address counts as its /64 network (`address_group`, shared with the
client slots): every IPv6 host is given one and may pick any address in it. The listen backlog,
which is also how many connections asyncio accepts in one go before any is counted, is a quarter
of the total; should descriptors run out all the same, one line a minute says so
(`QuietAcceptErrors`), not a traceback per connection.

Over https (`site` with a TLS context) a connection is counted from its TCP accept, not from the
end of its TLS handshake (when aiohttp first hears of it), and the handshake must end within
REQUEST_HEAD_S (asyncio's default is 60 s): otherwise connections that never send a ClientHello
would hold descriptors past every limit. A closing one waits TLS_CLOSE_S for the client's
close_notify (asyncio's 30 s let a client that never reads hold each connection that long).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import ipaddress
import socket
import ssl
import sys
from asyncio import sslproto
from typing import Callable

from aiohttp import web
from yarl import URL

REQUEST_HEAD_S = 15.0  # from the connection to its request's headers; also the idle keep-alive time
MAX_PER_ADDRESS = 16  # a browser opens at most 6 per server; a few tabs or people behind one address
REFUSED_HEAD_S = 1.0  # a refused connection's request must come at once to be told why (503)
MOST_REFUSED_HELD = 32  # refused connections waiting for their request; beyond, closed at once (a flood)
MIN_TOTAL, MAX_TOTAL = 32, 1024
TLS_CLOSE_S = 2.0  # a closing https connection waits this long for the client's close_notify (asyncio: 30 s)
FD_SHARE = 4  # connections may take a quarter of the descriptor limit
MIN_BACKLOG, MAX_BACKLOG = 8, 128  # the listen backlog: a quarter of the total, within these
NO_DESCRIPTOR_NOTE_S = 60.0  # out of descriptors, at most one line this often


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


SHARED_LOOPBACK = (ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1"))


def is_shared_loopback(address: str) -> bool:
    """Whether a peer is 127.0.0.1 or ::1 (also as ::ffff:127.0.0.1): where an ssh tunnel or a proxy
    on this machine connects from, so many users share it. Other loopback addresses (127.0.0.2, ...)
    are one program's choice and count as one host."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:  # a Unix socket's peer, or none
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip in SHARED_LOOPBACK


IPV6_HOST_PREFIX = 64  # what an IPv6 host is given (SLAAC, a delegated prefix), every address in it its own


def address_group(address: str) -> str:
    """What a peer's address counts as for the per-address limits: an IPv6 address as its /64
    network (counted one by one, one host with its 2^64 addresses went around every such limit),
    an IPv4-mapped one (::ffff:a.b.c.d) as the IPv4 address, another as itself."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:  # a Unix socket's peer, or none
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        if ip.is_loopback:  # ::1, the only one
            return str(ip)
        return str(ipaddress.IPv6Network((ip, IPV6_HOST_PREFIX), strict=False))  # (without a scope: fe80::/64)
    return str(ip)


def group_name(address: str) -> str:
    """The group of `address` in a refusal: the address, or `NETWORK (of ADDRESS)` for IPv6."""
    group = address_group(address)
    return f"{group} (of {address})" if "/" in group else group


class ConnectionLimits:
    """Counts the open connections of one aiohttp `web.Server` (through `site`) and refuses those over a
    limit: a request that arrives on one is answered 503 (`refusal`, from the app's middleware, so
    aiohttp sends it and closes the connection properly); one whose request has not arrived within
    REFUSED_HEAD_S is closed."""

    def __init__(self, total: int | None = None, per_address: int = MAX_PER_ADDRESS,
                 exempt: Callable[[str], bool] = is_shared_loopback) -> None:
        self.total = total_limit() if total is None else total
        self.per_address, self.exempt = per_address, exempt
        self.open: dict[object, str] = {}  # handler -> its remote address's group (`address_group`)
        self.refused: dict[object, str] = {}  # handler -> why

    def site(self, runner: web.AppRunner, host: str, port: int, context: ssl.SSLContext | None,
             handshake_s: float = REQUEST_HEAD_S) -> web.BaseSite:
        """A site listening on host:port whose connections these limits count (call once per runner).
        `::` listens on every interface, IPv4 too (`dual_stack_socket`)."""
        sock = dual_stack_socket(port) if host == "::" else None
        backlog = self.backlog
        if context is None:
            self.install(runner.server)
            return (web.SockSite(runner, sock, backlog=backlog) if sock is not None
                    else web.TCPSite(runner, host, port, backlog=backlog))
        return TLSSite(runner, host, port, context, self, handshake_s, sock, backlog)

    @property
    def backlog(self) -> int:
        """The listen backlog, which is also how many connections asyncio accepts at once, before
        any is counted here: at 128 (aiohttp's) that burst alone ran a low descriptor limit out."""
        return max(MIN_BACKLOG, min(MAX_BACKLOG, self.total // 4))

    def install(self, server: web.Server) -> None:
        """Wrap the server's connection hooks (each RequestHandler reports to them): plain HTTP,
        where a handler hears of its connection at the accept."""
        made, lost = server.connection_made, server.connection_lost

        def connection_made(handler, transport: asyncio.Transport) -> None:
            made(handler, transport)
            self.admit(handler, transport)

        def connection_lost(handler, exc: BaseException | None = None) -> None:
            self.release(handler)
            lost(handler, exc)

        server.connection_made, server.connection_lost = connection_made, connection_lost

    def admit(self, handler, transport: asyncio.Transport) -> None:
        """Count a new connection (`transport`: its TCP one); over a limit, refuse it: closed after
        REFUSED_HEAD_S unless its request comes."""
        peer = transport.get_extra_info("peername")
        address = str(peer[0]) if isinstance(peer, tuple) and peer else ""
        why = self._over(address)
        if why:
            # Each refused connection waiting holds a descriptor: in a flood, close at once.
            wait = REFUSED_HEAD_S if len(self.refused) < MOST_REFUSED_HELD else 0.0
            self.refused[handler] = why
            asyncio.get_running_loop().call_later(wait, self._drop, handler, transport)
        else:
            self.open[handler] = address_group(address)

    def release(self, handler) -> None:
        self.open.pop(handler, None)
        self.refused.pop(handler, None)

    def refusal(self, request: web.BaseRequest) -> web.Response | None:
        """The 503 for a request on a refused connection (which then closes), None for others."""
        why = self.refused.pop(request.protocol, None)
        if why is None:
            return None
        response = web.json_response({"error": why}, status=503)
        response.force_close()
        return response

    def _drop(self, handler, transport: asyncio.Transport) -> None:
        if self.refused.pop(handler, None) is not None:  # no request came: nothing to answer
            transport.close()

    def _over(self, address: str) -> str | None:
        if len(self.open) >= self.total:
            return f"the server already has its maximum of {self.total} connections open; try again shortly"
        group = address_group(address)
        if not self.exempt(address) and sum(g == group for g in self.open.values()) >= self.per_address:
            return f"{group_name(address)} already has {self.per_address} connections open to this server"
        return None


class QuietAcceptErrors:
    """An event loop's exception handler while serving. Out of descriptors, asyncio's accept loop
    logs a traceback for every connection left in its burst (it goes on after the first failure)
    and schedules a retry for each, which fail in turn ("Invalid file
    descriptor") once the server has closed: thousands of lines under a low `ulimit -n`. They
    become one line a minute; anything else goes on to the handler there before."""

    def __init__(self, loop: asyncio.AbstractEventLoop, say: Callable[[str], None]) -> None:
        self.before, self.say = loop.get_exception_handler(), say
        self.said: float | None = None

    def __call__(self, loop: asyncio.AbstractEventLoop, context: dict) -> None:
        exc = context.get("exception")
        if context.get("message") == "socket.accept() out of system resource" and isinstance(exc, OSError):
            if self.said is None or loop.time() - self.said >= NO_DESCRIPTOR_NOTE_S:
                self.said = loop.time()
                self.say(out_of_descriptors(exc))
        elif isinstance(exc, ValueError) and "._start_serving(" in repr(context.get("handle")):
            pass  # one of those retries, run after the server closed its socket
        elif self.before is not None:
            self.before(loop, context)
        else:
            loop.default_exception_handler(context)


# What the system ran out of, not what a client got wrong: descriptors (the process's, the
# system's), socket buffers, memory.
OUT_OF_RESOURCES = (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM)


def shortage(exc: OSError) -> str:
    """What ran out, for the operator: "too many open files; ulimit -n is 32: raise it"."""
    limit = ""
    if exc.errno == errno.EMFILE:
        with contextlib.suppress(ImportError, OSError, ValueError):
            import resource

            limit = f"; ulimit -n is {resource.getrlimit(resource.RLIMIT_NOFILE)[0]}: raise it"
    return f"{(exc.strerror or str(exc)).lower()}{limit}"


def out_of_descriptors(exc: OSError) -> str:
    """The line for connections left waiting by a failed accept (`exc`: one of OUT_OF_RESOURCES)."""
    return (f"warning: cannot accept a connection ({shortage(exc)}): new connections "
            "wait until others close (said at most once a minute)")


def dual_stack_socket(port: int) -> socket.socket:
    """A listening socket on `::` that takes IPv4 connections too (as ::ffff:a.b.c.d). asyncio sets
    IPV6_V6ONLY on the sockets it makes, so `--host ::` ("every interface") refused every IPv4
    client, the printed URL's included."""
    sock = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        sock.bind(("::", port))
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


class TLSSite(web.BaseSite):
    """aiohttp's TCPSite for https, but each connection is counted by `limits` from its accept and
    its handshake must end within `handshake_s` (TCPSite takes neither)."""

    def __init__(self, runner: web.AppRunner, host: str, port: int, context: ssl.SSLContext,
                 limits: ConnectionLimits, handshake_s: float, sock: socket.socket | None = None,
                 backlog: int = MAX_BACKLOG) -> None:
        super().__init__(runner, ssl_context=context, backlog=backlog)
        self._host, self._port, self._limits, self._handshake_s = host, port, limits, handshake_s
        self._sock = sock
        self._accepted: set[CountedTLS] = set()

    @property
    def name(self) -> str:
        return str(URL.build(scheme="https", host=self._host, port=self._port))

    async def start(self) -> None:
        await super().start()
        loop, handlers = asyncio.get_running_loop(), self._runner.server

        def protocol() -> CountedTLS:
            return CountedTLS(loop, handlers(), self._ssl_context, self._handshake_s, self._limits, self._accepted)

        if self._sock is not None:
            self._server = await loop.create_server(protocol, sock=self._sock, backlog=self._backlog)
        else:
            self._server = await loop.create_server(protocol, self._host, self._port, backlog=self._backlog)

    async def stop(self) -> None:
        """Stop listening and drop the handshakes under way: aiohttp, which closes the connections
        it knows of, knows nothing of them yet."""
        await super().stop()
        for connection in list(self._accepted):
            if connection.handler.transport is None:
                connection.raw.close()


class CountedTLS(sslproto.SSLProtocol):
    """asyncio's own TLS layer (what `loop.create_server(ssl=...)` puts under an app's protocol),
    telling `limits` of the TCP connection from its accept to its close."""

    def __init__(self, loop: asyncio.AbstractEventLoop, handler, context: ssl.SSLContext, handshake_s: float,
                 limits: ConnectionLimits, accepted: set[CountedTLS]) -> None:
        close = {"ssl_shutdown_timeout": TLS_CLOSE_S} if sys.version_info >= (3, 11) else {}  # 3.10 has none
        super().__init__(loop, handler, context, None, server_side=True, ssl_handshake_timeout=handshake_s, **close)
        self.handler, self.limits, self.accepted = handler, limits, accepted
        self.raw: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:
        self.raw = transport
        self.accepted.add(self)
        self.limits.admit(self.handler, transport)
        super().connection_made(transport)

    def connection_lost(self, exc: BaseException | None) -> None:
        self.accepted.discard(self)
        self.limits.release(self.handler)
        super().connection_lost(exc)
