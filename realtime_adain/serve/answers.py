"""What a request is answered beside its route's data: errors as JSON, request bodies read up to
a limit (a body that cannot be read a 400), and failures said without the server's internals."""

from __future__ import annotations

import asyncio
import os
from typing import Awaitable

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError, LineTooLong
from aiohttp.web_protocol import RequestPayloadError

from realtime_adain.live.disk_room import DISK_FULL
from realtime_adain.serve import uploads


def error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


async def read_body(request: web.Request, limit: int, seconds: float, what: str) -> bytes:
    """The request body, refused (413) as soon as it passes `limit` bytes, never read whole first
    (the app's client_max_size is the upload limit, far above what other routes take), and refused
    (408, `what` said) when not whole within `seconds`: a sender that stopped mid-body held its
    connection for good, and a few dozen such took every connection the server allows."""
    return await within(_read_body(request, limit), seconds, what)


async def within(reading: Awaitable[bytes], seconds: float, what: str) -> bytes:
    """`reading`'s body, refused (408, `what` said) when not whole within `seconds`: the one
    deadline of every body, a form's (an upload) and the others' (`read_body`)."""
    try:
        return await asyncio.wait_for(reading, seconds)
    except asyncio.TimeoutError:
        raise uploads.UploadRefused(408, f"{what} took longer than {seconds:g} s to arrive") from None


async def refused_body(request: web.Request, exc: uploads.UploadRefused) -> web.StreamResponse:
    """`exc` (from `read_body`) answered. After a 408 the connection is closed at once: aiohttp
    waited 10 s more for the body that had not come (its lingering close), the connection held.
    A sender that closed its connection as the deadline ran out is not answered, nor logged: the
    write raised, and aiohttp logged two chained tracebacks (its own writes end so, quietly)."""
    response = error(exc.status, str(exc))
    if exc.status == 408:
        response.force_close()
        try:
            await response.prepare(request)
            await response.write_eof()
        except ConnectionError:  # (aiohttp's "Cannot write to closing transport")
            pass
        request.protocol.force_close()
    return response


async def _read_body(request: web.Request, limit: int) -> bytes:
    if request.content_length is not None and request.content_length > limit:
        raise uploads.UploadRefused(413, f"the request body is larger than the {limit} bytes allowed")
    data = bytearray()
    try:
        while chunk := await request.content.read(64 * 1024):
            data += chunk
            if len(data) > limit:
                raise uploads.UploadRefused(413, f"the request body is larger than the {limit} bytes allowed")
    except ConnectionResetError:  # the client went away mid-body: nobody to answer, nothing to log
        raise uploads.UploadRefused(400, "the connection closed before the request body arrived") from None
    except RuntimeError as exc:  # (aiohttp's words for a connection the server closed: under a flood
        if str(exc) != "Connection closed.":  # the connection cap closes one a handler already reads)
            raise
        raise uploads.UploadRefused(400, "the connection closed before the request body arrived") from None
    except RequestPayloadError as exc:
        raise unreadable_body(exc) from None
    return bytes(data)


def unreadable_body(exc: RequestPayloadError) -> uploads.UploadRefused:
    """A body aiohttp could not read (a Content-Encoding that does not decode: gzip over garbage)
    as a 400; it was a 500 with a traceback in the log (an upload's said the exception's name)."""
    reason = " ".join(str(exc).split()).removeprefix("400, message: ")
    return uploads.UploadRefused(400, f"the request body could not be read ({reason[:200]})")


def malformed_form(exc: HttpProcessingError) -> uploads.UploadRefused:
    """A form aiohttp's multipart reader could not parse (a line past its limit, a part with too
    many headers) as a 400 of its own: it was a 500, its log line two lines with the client's bytes."""
    if isinstance(exc, LineTooLong):
        reason = f"a line of it is longer than the {exc.args[1]} bytes allowed"
    else:
        reason = " ".join(exc.message.split())[:200]
    return uploads.UploadRefused(400, f"the body must be multipart/form-data with a field 'image' ({reason})")


def upload_failure(exc: Exception) -> str:
    """What an uploader is told of a failure the log says in full: no server path, no class name
    (a full disk answered with the upload folder's path and "UserError")."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if (isinstance(exc, OSError) and exc.errno in DISK_FULL) or \
                any(os.strerror(code) in str(exc) for code in DISK_FULL):  # (a UserError naming the file)
            return "the server has no room to keep the style (disk full)"
        exc = exc.__cause__ or exc.__context__
    return "the server could not keep the style (its log says why)"


def offer_error(exc: Exception) -> str:
    """What aiortc found wrong with an offer `offer_problem` let through: its own message where it
    wrote one (a ValueError); else its internals (an AttributeError) said as what they are."""
    text = str(exc)[:200]
    if isinstance(exc, ValueError) and text and not text.startswith("invalid literal"):
        return text
    return f"its SDP is malformed (aiortc: {type(exc).__name__}{': ' + text if text else ''})"
