"""`ServeSettings`: one `serve` run's options as a typed, checked value (see settings.py)."""

from __future__ import annotations

import contextlib
import ipaddress
import math
import os
import socket
import stat
from dataclasses import dataclass, field
from pathlib import Path

from realtime_adain.errors import UserError
from realtime_adain.settings import (MAX_RESOLUTION, STABILIZE_MODES, ModelSettings, StyleSettings, check_stats_engine,
                                     model_for_stabilizer)

MAX_UPLOAD_MB = 64  # the highest --max-upload-mb: a style image beyond it is a mistake or an attack
DEFAULT_UPLOAD_MB = 8.0
MAX_CLIENTS = 64
MAX_TOKEN = 256  # characters: it travels in every URL and header
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
MAX_TLS_FILE_BYTES = 1024 * 1024  # a PEM certificate chain or key is a few KiB
# The shortest --idle-timeout: a client sends at most a few frames a second when its tab is hidden.
MIN_IDLE_TIMEOUT = 1.0
CONNECT_TIMEOUT = 15.0  # seconds from an answered offer to a connected peer (a browser takes 1-5); then its slot is freed


def is_loopback(host: str) -> bool:
    """Whether `host` only accepts connections from this machine (localhost, 127.0.0.0/8, ::1)."""
    if host.lower() == "localhost":  # (names are compared without case: LOCALHOST was taken as off loopback)
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def is_every_interface(host: str) -> bool:
    """Whether `host` listens on every interface (0.0.0.0, ::)."""
    try:
        return ipaddress.ip_address(host).is_unspecified
    except ValueError:
        return False


def check_address_form(host: str) -> None:
    """An address written short (`0`, `127.1`) or IPv4 in IPv6 (`::ffff:127.0.0.1`) is refused
    with its plain form: the socket took `0` for every interface and `127.1` for loopback, but the
    checks of who may connect (by the Host header a browser sends: `127.0.0.1`) did not, so the
    printed URL was refused (403), and `::ffff:...` failed to bind only after the model loaded.
    So is an IPv6 address with a zone (`fe80::1%eth0`): no browser opens a URL with one, and
    clients' Host headers name it without, so each request was refused (403)."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        try:
            plain = socket.inet_ntoa(socket.inet_aton(host))  # (the forms inet_aton takes: 0, 127.1, 0x7f.1)
        except OSError:
            try:  # a name, whose parts the resolver encodes (an empty one or one over 63 characters was a traceback)
                host.encode("idna")
            except UnicodeError:
                raise UserError(f"--host {host}: not a host name (a part between dots is empty or longer than "
                                f"63 characters)") from None
            return
        octal = " (a part with a leading 0 is octal)" if any(len(part) > 1 and part.startswith("0") and
                                                                not part.lower().startswith("0x")
                                                                for part in host.split(".")) else ""
        raise UserError(f"--host {host}: write the address in full (--host {plain}){octal}") from None
    if isinstance(address, ipaddress.IPv6Address) and address.scope_id:
        bare = host.partition("%")[0]
        instead = ("a global address or every interface (--host ::)" if address.is_link_local
                   else f"the address without it (--host {bare})")
        raise UserError(f"--host {host}: an address with a zone (%{address.scope_id}) cannot be served: browsers "
                        f"open no URL with one; listen on {instead}")
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        raise UserError(f"--host {host}: give the IPv4 address itself (--host {address.ipv4_mapped})")
    if str(address) != host.lower():  # (IPv6 the long way: a browser's Host header names it short)
        raise UserError(f"--host {host}: write the address in its short form (--host {address})")


def check_host_name(name: str) -> str:
    """An `--allow-host` value: a DNS name or an IP address as a browser's Host header gives it
    (an IPv6 address in brackets or not), without a scheme, port, path or wildcard."""
    bare = name[1:-1] if name.startswith("[") and name.endswith("]") else name
    try:
        address = ipaddress.ip_address(bare)
    except ValueError:
        pass
    else:
        if isinstance(address, ipaddress.IPv6Address) and address.scope_id:
            raise UserError(f"--allow-host {name}: a Host header never names a zone (give {bare.partition('%')[0]})")
        return name
    if bare.isascii() and bare.replace(".", "").isalnum():  # (inet_aton also takes "1.2.3.4 and more")
        with contextlib.suppress(OSError):  # (as for --host: a browser's Host header names 127.1 as 127.0.0.1)
            plain = socket.inet_ntoa(socket.inet_aton(bare))
            raise UserError(f"--allow-host {name}: write the address in full (--allow-host {plain})")
    labels = bare.rstrip(".").split(".")
    if not (bare and len(bare) <= 253 and all(label and len(label) <= 63 and label.isascii()
                                                and label.replace("-", "").replace("_", "").isalnum()
                                                for label in labels)):
        raise UserError(f"--allow-host {name!r} is not a host name (give the bare name a browser shows, "
                        f"e.g. stylize.example.com: no scheme, port, path or wildcard){punycode_hint(bare)}")
    return name


def punycode_hint(name: str) -> str:
    """For a name in Unicode, its ASCII form (what a browser's Host header gives), if it has one."""
    if name.isascii():
        return ""
    try:
        import idna  # (yarl's, so aiohttp's: there where serve runs)
    except ImportError:
        return ""
    try:
        return f"; a name in Unicode is given in its ASCII form: --allow-host {idna.encode(name, uts46=True).decode()}"
    except (idna.IDNAError, UnicodeError):
        return ""


def check_token(token: str, source: str) -> None:
    """A token as `source` gave it (`--token`, `the token in --token-file PATH`, `$REALTIME_ADAIN_SERVE_TOKEN`);
    never said back: it is a password."""
    if not (8 <= len(token) <= MAX_TOKEN and token.isascii() and token.isprintable() and " " not in token):
        raise UserError(f"{source} must be 8 to {MAX_TOKEN} printable ASCII characters without spaces")


def check_access(host: str, allowed_hosts: tuple[str, ...], token: str | None) -> None:
    """--host, --allow-host and --token (`ServeSettings.check`); the command checks them before it
    loads torch, aiohttp and aiortc: a short --token was refused only after 11 s of imports."""
    if not host or any(c.isspace() for c in host):
        raise UserError(f"--host {host!r} is not a host name or address")
    if host.startswith("[") and host.endswith("]"):  # (as in a URL: getaddrinfo knows no brackets)
        raise UserError(f"--host {host}: give the address without brackets (--host {host[1:-1]})")
    check_address_form(host)
    name, colon, port = host.rpartition(":")
    if colon and port.isdigit() and (":" not in name or (name.startswith("[") and name.endswith("]"))):
        raise UserError(f"--host {host}: give the port with --port (--host {name.strip('[]')} --port {port})")
    for name in allowed_hosts:
        check_host_name(name)
    if token is not None:
        check_token(token, "--token")


def check_tls_file(path: Path, option: str) -> None:
    """A --tls-cert/--tls-key file must be a regular file of a PEM's size: OpenSSL would block on
    a pipe (opening one waits for a writer), read /dev/zero or a huge file for ever."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise UserError(f"{path}: no such file ({option})") from None
    except OSError as exc:
        raise UserError(f"{path}: {(exc.strerror or str(exc)).lower()} ({option})") from None
    if stat.S_ISDIR(info.st_mode):
        raise UserError(f"{path}: is a directory, not a PEM file ({option})")
    if not stat.S_ISREG(info.st_mode):
        raise UserError(f"{path}: not a regular file (a device or a pipe), so not a PEM file ({option})")
    if info.st_size > MAX_TLS_FILE_BYTES:
        raise UserError(f"{path}: {info.st_size} bytes, too large for a PEM certificate or key "
                        f"(at most {MAX_TLS_FILE_BYTES // 1024} KiB; {option})")


@dataclass(frozen=True)
class ServeSettings:
    """Where to listen, who may connect, and how frames are stylized (as `live`)."""

    styles: tuple[str, ...]
    model: ModelSettings = field(default_factory=ModelSettings)
    host: str = "127.0.0.1"
    port: int = 8080  # 0: a free port, printed
    token: str | None = None  # required of every /api request when set (always off loopback)
    max_clients: int = 4
    idle_timeout: float = 60.0  # seconds without frames or messages before a client is closed
    connect_timeout: float = CONNECT_TIMEOUT  # seconds for a client's peer to connect (offers that never do held slots)
    allow_uploads: bool = False
    max_upload_mb: float = DEFAULT_UPLOAD_MB
    max_upload_pixels: int = 4096 * 4096
    alpha: float = 1.0
    preserve_color: bool = False
    style_size: int = 512
    style_cache: Path | None = None
    size: int | None = None  # processing size (shorter side); None: the device's default, as `live`
    max_resolution: tuple[int, int] = MAX_RESOLUTION  # incoming frames beyond it are scaled down
    stabilize: str = "flow"
    stabilize_strength: float = 0.7
    tls_cert: Path | None = None  # with tls_key: serve https (browsers give the camera only to https or localhost)
    tls_key: Path | None = None
    allowed_hosts: tuple[str, ...] = ()  # more names the Host header may give (a reverse proxy's public name)

    @property
    def scheme(self) -> str:
        return "https" if self.tls_cert else "http"

    @property
    def engine_model(self) -> ModelSettings:
        """The model to load: the eager engine for 'auto' where the server starts with stats."""
        return model_for_stabilizer(self.model, self.stabilize)

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)

    @property
    def needs_token(self) -> bool:
        """Off loopback, or behind a proxy given a public name (`allowed_hosts`): others can connect."""
        return not is_loopback(self.host) or bool(self.allowed_hosts)

    @property
    def host_names(self) -> frozenset[str] | None:
        """The names a request's Host header may give: a browser sends the name it resolved, so a
        site that resolves its own name to this address (DNS rebinding) is told apart. On every
        interface any name (None): the token guards the server there."""
        if is_every_interface(self.host):
            return None
        given = self.host.strip("[]").lower().rstrip(".")
        names = LOOPBACK_NAMES | {given} if is_loopback(given) else frozenset({given})
        return names | {name.strip("[]").lower().rstrip(".") for name in self.allowed_hosts}

    def check(self) -> None:
        self.model.check_for_command()
        StyleSettings(self.alpha, None, self.preserve_color, self.style_size).check_for_command()
        if not self.styles:
            raise UserError("--styles needs at least one style image or folder")
        check_access(self.host, self.allowed_hosts, self.token)
        if not 0 <= self.port <= 65535:
            raise UserError(f"--port {self.port} is outside 0..65535 (0: any free port)")
        if not 1 <= self.max_clients <= MAX_CLIENTS:
            raise UserError(f"--max-clients {self.max_clients} is outside 1..{MAX_CLIENTS}")
        if not (math.isfinite(self.idle_timeout) and self.idle_timeout > 0):
            raise UserError(f"--idle-timeout {self.idle_timeout} must be a positive number of seconds")
        if self.idle_timeout < MIN_IDLE_TIMEOUT:
            raise UserError(f"--idle-timeout {self.idle_timeout:g} is under a second: clients would be closed "
                            "between two of their frames")
        if not (math.isfinite(self.connect_timeout) and self.connect_timeout > 0):
            raise UserError(f"connect timeout {self.connect_timeout} must be a positive number of seconds")
        if not (math.isfinite(self.max_upload_mb) and 0 < self.max_upload_mb <= MAX_UPLOAD_MB):
            raise UserError(f"--max-upload-mb {self.max_upload_mb} is outside (0, {MAX_UPLOAD_MB}]")
        if self.allow_uploads and self.max_upload_bytes < 1024:  # (uploads on in name: every one a 413)
            raise UserError(f"--max-upload-mb {self.max_upload_mb:g} is under a KiB: no style image fits "
                            "(leave --allow-uploads off instead)")
        if self.size is not None and self.size < 0:
            raise UserError(f"--size {self.size} is negative")
        width, height = self.max_resolution
        if not (min(width, height) >= 16 and max(width, height) <= max(MAX_RESOLUTION)
                and min(width, height) <= min(MAX_RESOLUTION)):  # (portrait too, as `live --resolution`)
            raise UserError("--max-resolution %dx%d: between 16x16 and %dx%d, either way up" % (width, height, *MAX_RESOLUTION))
        if (self.tls_cert is None) != (self.tls_key is None):
            raise UserError("--tls-cert and --tls-key go together")
        for path, option in ((self.tls_cert, "--tls-cert"), (self.tls_key, "--tls-key")):
            if path is not None:
                check_tls_file(path, option)
        if self.stabilize not in STABILIZE_MODES:
            raise UserError(f"--stabilize {self.stabilize}: use one of {', '.join(STABILIZE_MODES)}")
        if not (math.isfinite(self.stabilize_strength) and 0.0 <= self.stabilize_strength <= 1.0):
            raise UserError(f"--stabilize-strength {self.stabilize_strength} is outside [0, 1]")
        check_stats_engine(self.model, self.stabilize)
