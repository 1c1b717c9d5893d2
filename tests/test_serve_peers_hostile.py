"""`serve` against hostile WebRTC peers (aiortc's own RTCPeerConnection as the client): offers that
are valid JSON but hostile SDP, tracks the server does not read, text messages that are not
UTF-8, and frames whose shape would multiply the server's work."""

from __future__ import annotations

import asyncio
import json
import logging

import aiohttp
import pytest
from aiortc import AudioStreamTrack
from aiortc.rtcsctptransport import WEBRTC_STRING

from realtime_adain.live.styles import StyleLibrary
from realtime_adain.serve.batcher import work_size
from realtime_adain.serve.client import FrameSource, ServeClient
from realtime_adain.serve.peers import peer_connection
from realtime_adain.serve.styles import StyleRegistry
from test_serve import WEBRTC, moving, served


@pytest.fixture(scope="module")
def registry(stylizer, data_dir, tmp_path_factory) -> StyleRegistry:
    library = StyleLibrary([data_dir / "style" / "mondrian.jpg"], stylizer, 64, tmp_path_factory.mktemp("cache")).load()
    return StyleRegistry(library, None)


async def offer_sdp(videos: int = 1, audio: bool = False, channel: bool = True) -> str:
    pc = peer_connection()
    if channel:
        pc.createDataChannel("control")
    for _ in range(videos):
        pc.addTransceiver(FrameSource(moving), direction="sendrecv")
    if audio:
        pc.addTransceiver(AudioStreamTrack(), direction="sendrecv")
    await pc.setLocalDescription(await pc.createOffer())
    await pc.close()
    return pc.localDescription.sdp


def candidates(count: int) -> str:
    return "".join(f"a=candidate:{i} 1 udp 2130706431 10.9.{i // 250}.{i % 250 + 1} {2000 + i} typ host\r\n"
                   for i in range(count))


HOSTILE = {
    "empty": (lambda good: "", "not an SDP session description"),
    "50 video tracks": (lambda good: None, "51 media sections; at most 4"),
    "no codec taken": (lambda good: good.replace("VP8/90000", "XYZ/90000").replace("H264/90000", "ABC/90000"),
                       "no codec this server takes (H264, VP8)"),
    "500 candidates": (lambda good: good.replace("a=end-of-candidates", candidates(500) + "a=end-of-candidates", 1),
                       "ICE candidates; at most 64"),
    # (aioice sent to port 65536: two tracebacks in the log for every such offer, answered 200)
    "candidate port 65536": (lambda good: good.replace("a=end-of-candidates", "a=candidate:1 1 udp 2130706431 "
                                                       "10.9.0.1 65536 typ host\r\na=end-of-candidates", 1),
                             "ICE candidate whose port '65536' is not in 0..65535"),
    "candidate port -1": (lambda good: good.replace("a=end-of-candidates", "a=candidate:1 1 udp 2130706431 "
                                                    "10.9.0.1 -1 typ host\r\na=end-of-candidates", 1),
                          "ICE candidate whose port '-1' is not in 0..65535"),
    "candidate port '²'": (lambda good: good.replace("a=end-of-candidates", "a=candidate:1 1 udp 2130706431 "
                                                      "10.9.0.1 \u00b2 typ host\r\na=end-of-candidates", 1),
                            "ICE candidate whose port '\u00b2' is not in 0..65535"),  # (isdigit, but no int: was a 500)
    "candidate port of 5000 digits": (lambda good: good.replace("a=end-of-candidates", "a=candidate:1 1 udp 2130706431 "
                                                                "10.9.0.1 " + "9" * 5000 + " typ host\r\na=end-of-candidates", 1),
                                      "ICE candidate whose port '999999999999' is not in 0..65535"),
    "cut in half": (lambda good: good[:len(good) // 2], "no DTLS fingerprint"),
    # Once past those checks they reached aiortc: a BUNDLE naming no section made its close fail
    # inside the refusal (a 500 and two tracebacks for every such offer), then aiortc's internals
    # were the reason; now each is said in our words (session 40).
    "BUNDLE of nothing": (lambda good: good.replace("a=group:BUNDLE", "a=group:BUNDLE x y z", 1),
                          "a=group:BUNDLE names mid 'x', which no media section has"),
    "no a=setup": (lambda good: "".join(line for line in good.splitlines(True) if not line.startswith("a=setup:")),
                   "video section has no DTLS role (a=setup"),
    "clock rate not a number": (lambda good: good.replace("VP8/90000", "VP8/abc"),
                                "a=rtpmap line must be PAYLOAD-TYPE NAME/CLOCK-RATE"),
}


def test_hostile_offers_are_a_400_with_one_reason_and_leave_no_peer(stylizer, registry, caplog):
    """Each is refused before a peer connection exists: one clear reason (not aiortc's internal
    error), no traceback, no peer left."""
    async def main():
        good, fifty = await offer_sdp(), await offer_sdp(50)
        answers = {}
        async with served(stylizer, registry) as (server, url), aiohttp.ClientSession() as session:
            for name, (make, _says) in HOSTILE.items():
                sdp = make(good)
                body = {"sdp": fifty if sdp is None else sdp, "type": "offer"}
                async with session.post(f"{url}/api/offer", data=json.dumps(body)) as response:
                    answers[name] = (response.status, (await response.json())["error"], len(server.clients))
        return answers

    with caplog.at_level(logging.WARNING):
        answers = asyncio.run(main())
    for name, (_make, says) in HOSTILE.items():
        status, message, left = answers[name]
        assert status == 400 and says in message and left == 0, (name, answers[name])
    assert "Traceback" not in caplog.text


@WEBRTC
def test_an_unread_audio_track_queues_nothing_and_bad_utf8_is_one_error(stylizer, registry, one_thread, caplog):
    """An audio track beside the video is answered inactive (aiortc would decode 50 frames a second
    into a queue no one reads); a text message that is not UTF-8 is refused as a message, where
    aiortc raised in its DTLS loop (a traceback, and the connection lost)."""
    async def main():
        async with served(stylizer, registry) as (server, url):
            client = ServeClient(url, FrameSource(moving, 30))
            client.pc.addTransceiver(AudioStreamTrack(), direction="sendrecv")
            await client.connect()
            await client.wait_frames(2)
            await asyncio.sleep(1.0)
            peer = next(iter(server.clients.values()))
            queued = {t.kind: t.receiver.track._queue.qsize() for t in peer.pc.getTransceivers()}
            await client.pc.sctp._send(client.channel.id, WEBRTC_STRING, b"\xff\xfe{\"alpha\": 0.5}")
            refused = await client.wait_message(lambda m: "error" in m)
            client.send({"alpha": 0.5})  # still heard
            await client.wait_message(lambda m: m.get("state", {}).get("alpha") == 0.5)
            count = len(server.clients)
            await client.close()
            return queued, refused, count

    with caplog.at_level(logging.WARNING):
        queued, refused, count = asyncio.run(main())
    assert queued["audio"] == 0, queued
    assert refused == {"error": "messages are JSON text"} and count == 1
    assert "Traceback" not in caplog.text


@pytest.mark.parametrize("height, width", [(100, 4800), (16, 4000), (4000, 16), (16383, 16), (30, 16383)])
def test_an_extreme_aspect_ratio_is_stylized_within_a_pixel_budget(height, width):
    """A cheap thin frame is not scaled up to the full width limit (4800x100 was 7680x160, 27 times
    a camera frame's work at --size 160); a camera frame keeps its short side."""
    out_w, out_h = work_size(height, width, 160, (7680, 4320))
    assert out_w * out_h <= 160 * 160 * 3 + 16 * 7680, (out_w, out_h)
    assert work_size(1080, 1920, 160, (7680, 4320)) == (284, 160)
    assert work_size(1080, 2560, 160, (7680, 4320)) == (378, 160)  # 21:9 kept whole
