"""The server's lines on stderr (held while an upload's decode catches fd 2), and aiohttp's
tracebacks for requests it could not parse dropped."""

from __future__ import annotations

import logging
import sys

from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_protocol import RequestPayloadError

from realtime_adain.notes import STDERR_LOCK


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
