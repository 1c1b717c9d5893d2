"""Where `serve` listens and the URL it prints: the address checked (bound and released) before
the model loads, and the URL (with its token) once listening."""

from __future__ import annotations

import socket
import sys
import urllib.parse

from realtime_adain.errors import UserError
from realtime_adain.serve.settings import ServeSettings, is_every_interface, is_loopback


def machine_name() -> str:
    """This machine's name for a URL others can open; 127.0.0.1 when it has none."""
    try:
        return socket.gethostname() or "127.0.0.1"
    except OSError:
        return "127.0.0.1"


def print_url(settings: ServeSettings, port: int) -> None:
    """The URL on stdout once listening; off loopback the token also on stderr (said only now, so
    a refused start stays one line). On every interface the URL names this machine (a browser
    cannot open 0.0.0.0)."""
    host, where = settings.host, ""
    if is_every_interface(host):
        host, where = machine_name(), f"all interfaces ({settings.host}) port {port}: "
    host = f"[{host}]" if ":" in host else host
    # (percent-encoded: a token with '#' or '+' printed as is was cut or changed by the browser)
    query = f"/?token={urllib.parse.quote(settings.token, safe='')}" if settings.token else "/"
    if settings.needs_token:
        why = "off loopback" if not is_loopback(settings.host) else "behind --allow-host"
        print(f"access token (required {why}): {settings.token}", file=sys.stderr, flush=True)
    print(f"serving on {where}{settings.scheme}://{host}:{port}{query}", flush=True)


def listen_error(settings: ServeSettings, exc: OSError) -> UserError:
    return UserError(f"cannot listen on {settings.host} port {settings.port}: {(exc.strerror or str(exc)).lower()}")


def check_listen(settings: ServeSettings) -> None:
    """Bind and release the address to listen on, so a host name that does not resolve, an address
    not on this machine or a port in use is said before the model loads."""
    try:
        for family, kind, proto, _name, address in socket.getaddrinfo(
                settings.host, settings.port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE):
            with socket.socket(family, kind, proto) as probe:
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as aiohttp listens
                probe.bind(address)
    except OSError as exc:
        raise listen_error(settings, exc) from None
    except UnicodeError as exc:  # (a name the resolver cannot encode; check_address_form says which part)
        raise UserError(f"cannot listen on {settings.host} port {settings.port}: {exc}") from None
