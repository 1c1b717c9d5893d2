"""`serve` as a tester met it (session 61): a 408 racing its sender's own close printed two chained
tracebacks in the log; a client closed before its data channel opened held its slot (and a leave
request) 2 s for a peer already gone; a header over aiohttp's 8190 bytes is a plain-text 400."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

import aiohttp
import pytest
from aiortc import RTCSessionDescription

from realtime_adain.live.styles import StyleLibrary
from realtime_adain.serve import app as serve_app
from realtime_adain.serve.client import FrameSource
from realtime_adain.serve.peers import AIORTC_CLOSED, CHANNEL_OPEN_S, peer_connection
from test_fixes60_serve import STALLED, stalled
from test_serve import FPS, WEBRTC, moving, served

REPO = Path(__file__).resolve().parents[1]
KEY = "f1e2d3c4b5a697887766554433221100"  # a page's leave_key


@pytest.fixture(scope="module")
def registry(stylizer, data_dir, tmp_path_factory):
    from realtime_adain.serve.styles import StyleRegistry

    library = StyleLibrary([data_dir / "style" / "mondrian.jpg"], stylizer, 64, tmp_path_factory.mktemp("cache")).load()
    return StyleRegistry(library, None)


@pytest.mark.parametrize("kind", ["leave", "offer", "upload"])
def test_a_408_whose_sender_closed_meanwhile_is_no_traceback(stylizer, registry, monkeypatch, caplog, kind):
    """A sender that closed its connection just as its body's deadline ran out: the 408's write
    raised ("Cannot write to closing transport") and aiohttp logged "Error handling request" with
    two chained tracebacks. The race made certain: the transport closed before the 408 is written."""
    monkeypatch.setattr(serve_app, "LEAVE_READ_S", 0.3)
    monkeypatch.setattr(serve_app, "OFFER_READ_S", 0.3)
    monkeypatch.setattr(serve_app, "UPLOAD_READ_S", 0.3)
    original = serve_app.refused_body
    answered = []

    async def closed_first(request, exc):
        request.transport.close()  # (the sender's close, processed first)
        response = await original(request, exc)
        answered.append(exc.status)
        return response

    monkeypatch.setattr(serve_app, "refused_body", closed_first)

    async def main():
        async with served(stylizer, registry, allow_uploads=True) as (_server, url):
            answer, _ = await stalled(int(url.rsplit(":", 1)[1]), STALLED[kind])
            await asyncio.sleep(0.2)  # (aiohttp's finishing of the request, its log line)
            return answer

    with caplog.at_level(logging.DEBUG):
        answer = asyncio.run(main())
    assert answered == [408], answered
    assert answer == b"", answer  # nobody to answer
    assert "Error handling request" not in caplog.text, caplog.text
    assert "Traceback" not in caplog.text and "closing transport" not in caplog.text, caplog.text


async def channelless(url: str, server) -> tuple:
    """A connected client whose offer has a data channel (negotiated, `x`) but never opens
    `control`: the server's client has no channel to say why it is closed on."""
    pc = peer_connection()
    pc.createDataChannel("x", negotiated=True, id=100)
    pc.addTransceiver(FrameSource(moving, FPS), direction="sendrecv")
    await pc.setLocalDescription(await pc.createOffer())
    offer = {"sdp": pc.localDescription.sdp, "type": "offer", "leave_key": KEY}
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{url}/api/offer", json=offer) as response:
            assert response.status == 200, await response.text()
            body = await response.json()
    await pc.setRemoteDescription(RTCSessionDescription(sdp=body["sdp"], type=body["type"]))
    client = server.clients[body["client"]]
    deadline = time.monotonic() + 20
    while not (client.connected and pc.connectionState == "connected"):
        assert time.monotonic() < deadline, (client.connected, pc.connectionState)
        await asyncio.sleep(0.02)
    assert client.channel is None
    return pc, client


async def freed_in(server, client) -> float:
    started = time.monotonic()
    while client.id in server.clients:
        assert time.monotonic() - started < 10
        await asyncio.sleep(0.01)
    return time.monotonic() - started


@WEBRTC
def test_a_client_gone_before_its_channel_opened_frees_its_slot_at_once(stylizer, registry):
    """`_say_closed` waited up to CHANNEL_OPEN_S for a data channel not open yet while the client
    had ever connected and had an SCTP transport, both true of a peer already gone: its slot was
    freed 2 s late (a fifth client got 429 meanwhile). Now the wait ends with the connection."""

    async def main():
        async with served(stylizer, registry, max_clients=1) as (server, url):
            pc, client = await channelless(url, server)
            await pc.close()
            return await freed_in(server, client), client.reason

    seconds, reason = asyncio.run(main())
    assert seconds < CHANNEL_OPEN_S / 2, seconds
    assert reason in (AIORTC_CLOSED, "its video ended"), reason  # (its RTCP BYE or its DTLS close first)


@WEBRTC
def test_a_leave_of_a_client_whose_channel_never_opened_is_answered_at_once(stylizer, registry):
    """`POST /api/leave` for a connected client with no open data channel took 2 s: the client that
    asked to leave was waited for to be told it left. Now it is closed at once."""

    async def main():
        async with served(stylizer, registry, max_clients=1) as (server, url):
            pc, client = await channelless(url, server)
            try:
                started = time.monotonic()
                async with aiohttp.ClientSession() as http:
                    async with http.post(f"{url}/api/leave", json={"leave_key": KEY}) as response:
                        answer = response.status, await response.json()
                took = time.monotonic() - started
                return answer, took, client.id in server.clients, client.reason
            finally:
                await pc.close()

    answer, took, kept, reason = asyncio.run(main())
    assert answer == (200, {"left": 1}), answer
    assert took < CHANNEL_OPEN_S / 2 and not kept, (took, kept)
    assert reason == serve_app.LEFT, reason


def test_the_docs_list_a_header_over_8190_bytes_among_aiohttps_plain_text_400s(stylizer, registry):
    """A header (or request line: `?token=` of 9000 characters) over aiohttp's 8190 bytes is answered
    by aiohttp's parser in plain text, before any handler: docs/serve.md listed two other cases only."""
    docs = " ".join((REPO / "docs" / "serve.md").read_text(encoding="utf-8").split())
    assert "a request line or header longer than 8190 bytes" in docs

    async def main():
        async with served(stylizer, registry, token="secret-token-123") as (_server, url):
            async with aiohttp.ClientSession() as http:
                answers = []
                for headers, query in (({"Authorization": "Bearer " + "a" * 9000}, ""), ({}, "?token=" + "a" * 9000)):
                    async with http.get(f"{url}/api/config{query}", headers=headers) as response:
                        answers.append((response.status, response.content_type, await response.text()))
                return answers

    for status, content_type, text in asyncio.run(main()):
        assert (status, content_type) == (400, "text/plain") and "Got more than 8190 bytes when reading" in text, text
