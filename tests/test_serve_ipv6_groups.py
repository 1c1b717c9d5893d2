"""`serve`'s per-address limits (16 connections, half the client slots) against one IPv6 host.

Every IPv6 host is given a /64 and may use any address in it: counted address by address, one host
went around both limits. An IPv6 address now counts as its /64 (`connections.address_group`, used
by both), an IPv4-mapped one as its IPv4 address; 127.0.0.1 and ::1 stay exempt. The real-socket
tests need a non-loopback IPv6 address on this machine (one is enough: a second one in its /64
cannot be added without changing the network); the grouping of several addresses is tested on
the function and on the connection counter itself.
"""

from __future__ import annotations

import asyncio
import json
import socket
from pathlib import Path

import pytest

from realtime_adain.serve import connections
from test_serve import served
from test_serve_hostile import registry  # noqa: F401  (a fixture)
from test_serve_hostile import HEAD, TOKEN, answer_or_silence, close_all, until
from test_serve_slots import stalled_sdp


def local_ipv6() -> str | None:
    """A global-scope IPv6 address of this machine that a socket can bind, or None."""
    try:
        lines = Path("/proc/net/if_inet6").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        fields = line.split()
        if len(fields) >= 4 and fields[3] == "00":  # scope: global (ULAs included)
            address = socket.inet_ntop(socket.AF_INET6, bytes.fromhex(fields[0]))
            try:
                with socket.socket(socket.AF_INET6) as probe:
                    probe.bind((address, 0))
            except OSError:
                continue
            return address
    return None


IPV6 = local_ipv6()
NEEDS_IPV6 = pytest.mark.skipif(IPV6 is None, reason="no non-loopback IPv6 address on this machine")


@pytest.mark.parametrize("address, group", [
    ("2001:db8:1:2::5", "2001:db8:1:2::/64"),
    ("2001:db8:1:2:ffff:ab:cd:ef", "2001:db8:1:2::/64"),
    ("2001:db8:1:3::5", "2001:db8:1:3::/64"),
    ("fe80::1%eth0", "fe80::/64"),
    ("::ffff:198.51.100.7", "198.51.100.7"),
    ("198.51.100.7", "198.51.100.7"),
    ("::1", "::1"),
    ("::ffff:127.0.0.1", "127.0.0.1"),
    ("", ""),
    ("/run/serve.sock", "/run/serve.sock"),
])
def test_an_ipv6_address_counts_as_its_64(address, group):
    assert connections.address_group(address) == group


class Peer:
    """The one thing `ConnectionLimits.admit` asks of a TCP transport: its peer's address (no
    machine here has two addresses in one IPv6 /64 without a change to its network)."""

    def __init__(self, address: str) -> None:
        self.address, self.closed = address, False

    def get_extra_info(self, name: str):  # noqa: ANN201
        return (self.address, 40000, 0, 0) if name == "peername" else None

    def close(self) -> None:
        self.closed = True


def test_connections_from_one_64_share_its_limit():
    """Two connections each from two addresses of one /64, per_address 3: the fourth was admitted
    (2 per address) before; refused now, while another /64, the IPv4-mapped form of an IPv4 host
    already at its limit, and ::1 are told apart."""
    async def main():
        limits = connections.ConnectionLimits(total=100, per_address=3)
        admitted = []
        for address in ("2001:db8:0:1::a", "2001:db8:0:1::b", "2001:db8:0:1::a", "2001:db8:0:1::c",
                        "2001:db8:0:2::a", "198.51.100.7", "198.51.100.7", "198.51.100.7", "::ffff:198.51.100.7",
                        "::1", "::1", "::1", "::1"):
            handler = object()
            limits.admit(handler, Peer(address))
            admitted.append(handler in limits.open)
        return admitted, limits.refused

    admitted, refused = asyncio.run(main())
    assert admitted == [True, True, True, False, True, True, True, True, False, True, True, True, True]
    assert sorted(refused.values()) == [
        "198.51.100.7 already has 3 connections open to this server",
        "2001:db8:0:1::/64 (of 2001:db8:0:1::c) already has 3 connections open to this server",
    ]


@NEEDS_IPV6
def test_a_real_ipv6_host_is_refused_naming_its_64(stylizer, registry):
    """16 connections from a real IPv6 address (this machine's, to a server on ::): the 17th's
    request gets 503 naming the /64, and offers past half the client slots get 429 naming it too."""
    network = connections.address_group(IPV6)
    request = f"GET /api/config?token={TOKEN} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode()

    async def post_offer(port: int, sdp: str) -> tuple[int, dict]:
        body = json.dumps({"sdp": sdp, "type": "offer"}).encode()
        reader, writer = await asyncio.open_connection(IPV6, port, local_addr=(IPV6, 0))
        writer.write(f"POST /api/offer HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\nConnection: close\r\n"
                     f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body)
        answer = await asyncio.wait_for(reader.read(), 5)
        writer.close()
        head, _, rest = answer.partition(b"\r\n\r\n")
        return int(head.split()[1]), json.loads(rest)

    async def main():
        sdp = await stalled_sdp()
        async with served(stylizer, registry, host="::", token=TOKEN, max_clients=4, connect_timeout=30.0) as (
                server, url):
            port = int(url.rsplit(":", 1)[1])
            held = []
            for _ in range(connections.MAX_PER_ADDRESS):
                reader, writer = await asyncio.open_connection(IPV6, port, local_addr=(IPV6, 0))
                writer.write(HEAD)
                held.append((reader, writer))
            await until(lambda: len(server.connection_limits.open) == connections.MAX_PER_ADDRESS)
            reader, writer = await asyncio.open_connection(IPV6, port, local_addr=(IPV6, 0))
            writer.write(request)
            told = await answer_or_silence(reader, 3.0)
            writer.close()
            close_all(held)
            await until(lambda: not server.connection_limits.open)
            offers = [await post_offer(port, sdp) for _ in range(3)]
        return told, offers

    told, offers = asyncio.run(main())
    assert told is not None and told.startswith(b"HTTP/1.1 503"), told
    assert json.loads(told.partition(b"\r\n\r\n")[2])["error"] == (
        f"{network} (of {IPV6}) already has 16 connections open to this server")
    assert [status for status, _ in offers] == [200, 200, 429], offers
    assert offers[2][1]["error"] == (
        f"{network} (of {IPV6}) already holds 2 of the 4 client slots (at most 2 per address)")
