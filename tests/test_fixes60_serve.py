"""`serve` against stalled senders (session 60): a `POST /api/leave` whose body never came held its
connection for good, and a few dozen such took every connection the server allows."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest

from realtime_adain.live.styles import StyleLibrary
from realtime_adain.serve import app as serve_app
from test_serve import served

HEAD = b"Host: 127.0.0.1\r\nContent-Type: application/json\r\n"
STALLED = {  # each sends its head and the start of its body, then nothing more
    "leave": b"POST /api/leave HTTP/1.1\r\n" + HEAD + b"Content-Length: 1000\r\n\r\n{",
    "chunked leave": b"POST /api/leave HTTP/1.1\r\n" + HEAD + b"Transfer-Encoding: chunked\r\n\r\n8\r\n{\"leave_",
    "offer": b"POST /api/offer HTTP/1.1\r\n" + HEAD + b"Content-Length: 5000\r\n\r\n{\"sdp\": ",
    "upload": b"POST /api/styles HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/form-data; boundary=XX\r\n"
              b"Content-Length: 100000\r\n\r\n--XX\r\n",
}
WHAT = {"offer": "the offer", "upload": "the upload"}


@pytest.fixture(scope="module")
def registry(stylizer, data_dir, tmp_path_factory):
    from realtime_adain.serve.styles import StyleRegistry

    library = StyleLibrary([data_dir / "style" / "mondrian.jpg"], stylizer, 64, tmp_path_factory.mktemp("cache")).load()
    return StyleRegistry(library, None)


async def stalled(port: int, request: bytes) -> tuple[bytes, float]:
    """`request` sent, the connection kept open (never closed from this side): all the server sent
    until it closed the connection, and when that was."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request)
    await writer.drain()
    started = time.monotonic()
    try:
        return await asyncio.wait_for(reader.read(), 8), time.monotonic() - started
    except asyncio.TimeoutError:
        return b"(no answer, the connection still open)", time.monotonic() - started
    finally:
        writer.close()


def test_a_stalled_leave_is_answered_408_and_frees_its_connection(stylizer, registry, monkeypatch):
    """`POST /api/leave` read its body with no deadline (the offer had 30 s, an upload 120 s): a
    sender that stopped mid-body was never answered nor closed, and as many as the connection cap
    (64 under `ulimit -n 256`) locked every client out, GET / answered 503 for good. Now it is a
    408 after LEAVE_READ_S and the connection is closed with it (aiohttp's lingering close held it
    10 s more), for the offer too; a leave that arrives is taken as before."""
    monkeypatch.setattr(serve_app, "LEAVE_READ_S", 1.0, raising=False)
    monkeypatch.setattr(serve_app, "OFFER_READ_S", 1.0)
    monkeypatch.setattr(serve_app, "UPLOAD_READ_S", 1.0)  # (its 408 closed the connection 10 s late)
    kinds = [kind for kind in STALLED for _ in range(2)]

    async def main():
        async with served(stylizer, registry, allow_uploads=True) as (server, url):
            server.connection_limits.total = len(kinds)  # (its cap: a quarter of the descriptor limit)
            port = int(url.rsplit(":", 1)[1])
            held = [asyncio.ensure_future(stalled(port, STALLED[kind])) for kind in kinds]
            while len(server.connection_limits.open) < len(kinds):
                await asyncio.sleep(0.02)
            async with aiohttp.ClientSession() as http:
                async with http.get(f"{url}/api/config") as response:
                    full = response.status
                answers = await asyncio.gather(*held)
                async with http.get(f"{url}/api/config") as response:
                    after = response.status
                async with http.post(f"{url}/api/leave", json={"leave_key": "k" * 32}) as response:
                    leave = response.status, await response.json()
            return full, answers, after, leave

    full, answers, after, leave = asyncio.run(main())
    assert full == 503, full  # (the cap full meanwhile)
    for kind, (answer, closed_in) in zip(kinds, answers):
        what = WHAT.get(kind, "the leave request")
        assert answer.startswith(b"HTTP/1.1 408 "), (kind, answer)
        assert answer.endswith(b'{"error": "' + what.encode() + b' took longer than 1 s to arrive"}'), (kind, answer)
        assert b"connection: close" in answer.lower(), (kind, answer)
        assert 0.9 < closed_in < 4.0, (kind, closed_in)  # closed with its answer, not 10 s later
    assert after == 200, after  # the stalled senders' connections (still open their side) freed
    assert leave == (404, {"error": "no client has this key (it left already, or its offer is still to come)"}), leave


def test_a_body_whose_connection_the_server_closed_is_no_traceback():
    """Under a flood the connection cap closes connections, one a handler was reading among them:
    aiohttp's RuntimeError('Connection closed.') went up as a traceback in the log and a 500."""
    from types import SimpleNamespace

    from aiohttp.base_protocol import BaseProtocol
    from aiohttp.streams import StreamReader

    from realtime_adain.serve import answers, uploads

    async def main():
        loop = asyncio.get_running_loop()
        content = StreamReader(BaseProtocol(loop), 2**16, loop=loop)  # (its protocol's connection gone)
        content.feed_data(b"{")
        request = SimpleNamespace(content_length=100, content=content)
        with pytest.raises(uploads.UploadRefused) as refused:
            await answers.read_body(request, 1024, 5, "the leave request")
        return refused.value

    refused = asyncio.run(main())
    assert (refused.status, str(refused)) == (400, "the connection closed before the request body arrived")
