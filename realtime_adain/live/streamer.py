"""`live --stream`: low-latency H.264 to a URL, the URL checked before the session starts."""

from __future__ import annotations

import ctypes
import functools
import socket
import urllib.parse
from typing import Callable

from realtime_adain.download_urls import shown
from realtime_adain.errors import UserError
from realtime_adain.live.encoder_thread import EncodedOutput, EncoderThread
from realtime_adain.live.outputs import output_rate

STREAM_FORMATS = {"udp": "mpegts", "rtp": "rtp_mpegts", "srt": "mpegts", "tcp": "mpegts", "rtmp": "flv", "rtmps": "flv"}
STREAM_CLOSE_TIMEOUT = 5.0


def udp_packets(url: str) -> str:
    """The URL asking for datagrams of 7 MPEG-TS packets (1316 bytes), unless it says its own: a
    lost datagram then loses whole TS packets. Given to the muxer, the option was unused (FFmpeg
    said so on stderr) and datagrams ran from 32 to 1472 bytes; it is the UDP protocol's."""
    if "pkt_size=" in url.partition("?")[2]:
        return url
    return f"{url}{'&' if '?' in url else '?'}pkt_size=1316"


@functools.cache
def writable_protocols() -> frozenset[str] | None:
    """The URL protocols PyAV's FFmpeg can write to (`avio_enum_protocols`, which PyAV does not
    offer), or None where its libavformat is not found among the libraries this process loaded
    (read from /proc/self/maps: Linux)."""
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as maps:
            paths = {line.split()[-1] for line in maps if "/libavformat" in line}
        # (OpenCV's wheel loads its own FFmpeg too, with other protocols: PyAV's is the one in its
        # wheel's av.libs, or the only one loaded)
        ours = {path for path in paths if "/av.libs/" in path} or paths
        if len(ours) != 1:
            return None
        enum = ctypes.CDLL(ours.pop()).avio_enum_protocols
    except (OSError, AttributeError):
        return None
    enum.restype, enum.argtypes = ctypes.c_char_p, [ctypes.POINTER(ctypes.c_void_p), ctypes.c_int]
    opaque, names = ctypes.c_void_p(), set()
    while (name := enum(ctypes.byref(opaque), 1)) is not None:
        names.add(name.decode("ascii", "replace"))
    return frozenset(names)


def check_host(url: str, host: str) -> None:
    """A UserError where `host` does not resolve (a typo): before the model loads, not at the
    first frame as "Input/output error"."""
    try:
        socket.getaddrinfo(host, None)
    except socket.gaierror as exc:
        raise UserError(f"{url}: the host name {host} does not resolve ({exc.strerror})") from None
    except UnicodeError:  # (a label over 63 characters)
        raise UserError(f"{url}: {host} is not a valid host name") from None


RTMP_PORT = 1935
STREAM_ANSWER_S = 5.0  # a receiver's connection and first answer, at most
RTMP_HANDSHAKE = 1 + 1536  # C0 (the version byte) and C1; the server answers S0 and S1, as long


def tcp_timeout(url: str) -> str:
    """The URL with FFmpeg's tcp `timeout` (microseconds) unless it names one: PyAV opens the output
    holding Python's lock, so a receiver that never accepted held the whole session (window,
    signals) for the system's connect timeout, minutes."""
    query = url.partition("?")[2]
    if "timeout=" in query:
        return url
    return f"{url}{'&' if query else '?'}timeout={round(STREAM_ANSWER_S * 1e6)}"


def check_rtmp_answers(url: str, host: str, port: int) -> None:
    """A UserError unless the RTMP server answers a handshake within STREAM_ANSWER_S. FFmpeg's
    RTMP has no timeout PyAV can set, and opens the output holding Python's lock: a server that
    accepted and never answered froze the session for good (SIGTERM and Ctrl-C unanswered)."""
    try:
        with socket.create_connection((host, port), timeout=STREAM_ANSWER_S) as probe:
            probe.sendall(b"\x03" + bytes(RTMP_HANDSHAKE - 1))
            answered = b""
            while len(answered) < RTMP_HANDSHAKE:
                if not (block := probe.recv(RTMP_HANDSHAKE - len(answered))):
                    break
                answered += block
    except socket.timeout:
        raise UserError(f"{url}: the RTMP server did not answer within {STREAM_ANSWER_S:g} s") from None
    except OSError as exc:
        raise UserError(f"{url}: cannot connect ({exc.strerror or exc})") from None
    if len(answered) < RTMP_HANDSHAKE:
        raise UserError(f"{url}: the server closed the connection without an RTMP answer")


def stream_shown(url: str) -> str:
    """A --stream URL as messages say it: without its user:password and query values (`shown`: an
    SRT passphrase), and an RTMP URL without its stream key (what follows the application's name:
    rtmp://HOST/live/***), the password of a live channel."""
    said = shown(url)
    if said.partition("://")[0].lower() not in ("rtmp", "rtmps"):
        return said
    try:
        parts = urllib.parse.urlsplit(said)
    except ValueError:  # (malformed: said as `shown` says it)
        return said
    app, _, key = parts.path.lstrip("/").partition("/")
    return parts._replace(path=f"/{app}/***").geturl() if key else said


class Streamer(EncodedOutput):
    """Low-latency H.264 to a URL: MPEG-TS over UDP/SRT/TCP or in RTP, FLV over RTMP (OBS, ffplay, VLC)."""

    key = "target"

    def __init__(self, url: str, size: tuple[int, int], fps: float, log: Callable[..., None]) -> None:
        self.url = url
        scheme = self.checked_scheme(url)
        options = {"preset": "ultrafast", "tune": "zerolatency", "g": str(max(1, round(output_rate(fps))))}
        target = udp_packets(url) if scheme == "udp" else tcp_timeout(url) if scheme == "tcp" else url
        self._encoder = EncoderThread(target, STREAM_FORMATS[scheme], size, fps, options, log, label=stream_shown(url))

    @staticmethod
    def checked_scheme(url: str) -> str:
        """The URL's scheme, after checking the URL is one we can stream to (scheme, host, port)."""
        scheme = url.split("://", 1)[0].lower() if "://" in url else ""
        said = stream_shown(url)  # (the URL without its secrets)
        if scheme not in STREAM_FORMATS:
            raise UserError(f"{said}: --stream takes udp://, srt://, tcp://, rtp:// or rtmp:// URLs")
        # Checked before the session starts: `udp://:99999` loaded the model and ran, then ended
        # with "output-failed ... Invalid argument".
        try:
            parts = urllib.parse.urlsplit(url)
            port = parts.port
        except ValueError as exc:  # an unclosed [IPv6 address, a port that is no number
            if "port" not in str(exc).lower():
                raise UserError(f"{said}: not a URL ({exc})") from None
            port = -1
        if port is not None and not 1 <= port <= 65535:
            raise UserError(f"{said}: the port must be a number from 1 to 65535")
        if scheme in ("udp", "rtp", "tcp", "srt") and not (parts.hostname and port):
            raise UserError(f"{said}: --stream {scheme}:// needs HOST:PORT, e.g. {scheme}://127.0.0.1:5000")
        if not parts.hostname:  # (RTMP: its port may be left out; found only after the model loaded)
            raise UserError(f"{said}: --stream {scheme}:// needs a host, e.g. {scheme}://127.0.0.1/live/stream")
        # (found only at the first frame, once the model had loaded: "Protocol not found",
        # "Input/output error")
        if (protocols := writable_protocols()) is not None and scheme not in protocols:
            raise UserError(f"{said}: this FFmpeg (PyAV's) has no {scheme.upper()} support; use udp:// or tcp://")
        if scheme in ("tcp", "rtmp") and "listen" in urllib.parse.parse_qs(parts.query, keep_blank_values=True):
            # (PyAV opens the output holding Python's lock: the session froze, signals unanswered,
            # until a viewer came; and on 0.0.0.0 anyone could watch, with no token)
            raise UserError(f"{said}: --stream does not listen for viewers (the session would stop until one came); "
                            f"start the viewer listening and stream to it, e.g. ffplay '{scheme}://127.0.0.1:5000?listen'")
        if parts.hostname:
            check_host(said, parts.hostname)
        if scheme == "rtmp":
            check_rtmp_answers(said, parts.hostname, port or RTMP_PORT)
        return scheme

    @property
    def label(self) -> str:
        return stream_shown(self.url)

    outcome = label

    def close(self) -> None:
        """Stale frames are worthless to a live viewer: what is still queued is dropped."""
        self._encoder.close(STREAM_CLOSE_TIMEOUT, keep_queued=False)
