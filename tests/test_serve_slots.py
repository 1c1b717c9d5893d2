"""`serve`'s client slots and incoming frames against one hostile host: offers whose peers never
connect, one host taking every slot, and a client sending frames faster than they decode. Real
servers on 127.0.0.1, real aiohttp and aiortc clients; a second client host is 127.0.0.2 (only
127.0.0.1 and ::1, which tunnels and proxies share, are exempt from the per-address share)."""

from __future__ import annotations

import asyncio
import fractions
import json
import time

import aiohttp
import av
import numpy as np
import pytest
from aiortc import MediaStreamTrack, RTCRtpCodecParameters, RTCSessionDescription
from aiortc.codecs import get_decoder
from aiortc.jitterbuffer import JitterFrame
from aiortc.mediastreams import MediaStreamError

from realtime_adain.live.styles import StyleLibrary
from realtime_adain.serve import app as serve_app
from realtime_adain.serve import process as serve_process
from realtime_adain.serve import bitstream, decode_bounds, peers
from realtime_adain.serve.decode_bounds import DecodeBacklog
from realtime_adain.serve.peers import peer_connection
from realtime_adain.serve.styles import StyleRegistry
from test_serve import WEBRTC, connected, moving, served, settings_for
from test_serve_hostile import OTHER, until
from test_serve_peers_hostile import offer_sdp

VP8 = RTCRtpCodecParameters(mimeType="video/VP8", clockRate=90000, payloadType=96)


@pytest.fixture(scope="module")
def registry(stylizer, data_dir, tmp_path_factory) -> StyleRegistry:
    library = StyleLibrary([data_dir / "style" / "mondrian.jpg"], stylizer, 64, tmp_path_factory.mktemp("cache")).load()
    return StyleRegistry(library, None)


async def stalled_sdp() -> str:
    """A valid offer with no candidates and no end-of-candidates: the server's ICE waits for
    trickled candidates that never come (a peer that never connects, and never fails either)."""
    lines = (await offer_sdp()).splitlines()
    return "\r\n".join(line for line in lines if not line.startswith(("a=candidate:", "a=end-of-candidates"))) + "\r\n"


async def post_offer(url: str, sdp: str, source: str | None = None) -> tuple[int, dict]:
    """POST /api/offer from the address `source` (if given); (status, JSON body)."""
    connector = aiohttp.TCPConnector(local_addr=(source, 0)) if source else None
    async with aiohttp.ClientSession(connector=connector) as http:
        async with http.post(f"{url}/api/offer", json={"sdp": sdp, "type": "offer"}) as response:
            return response.status, await response.json()


@pytest.mark.slow  # (default run's time: 2 s)
def test_a_peer_that_never_connects_gives_its_slot_back(stylizer, registry, capsys):
    """An answered offer whose peer never connects held its slot until the idle timeout (60 s):
    four such offers locked everyone out for a minute, again and again. Now it is closed once
    `connect_timeout` passes without the peer reaching the connected state."""
    async def main():
        sdp = await stalled_sdp()
        async with served(stylizer, registry, connect_timeout=1.0, idle_timeout=30.0) as (server, url):
            status, _body = await post_offer(url, sdp, source=OTHER)
            held = len(server.clients)
            started = time.monotonic()
            await until(lambda: not server.clients, timeout=4.0)
            return status, held, len(server.clients), time.monotonic() - started

    status, held, left, waited = asyncio.run(main())
    assert status == 200 and held == 1
    assert left == 0 and waited < 3.0, (left, waited)
    assert "left: not connected within 1 s" in capsys.readouterr().err


@WEBRTC
@pytest.mark.slow  # (default run's time: waits out a deadline)
def test_a_connected_peer_outlives_the_connect_deadline(stylizer, registry, one_thread):
    """The deadline is for reaching the connected state, not a limit on a session; the video is
    read through the bounded decode queue."""
    async def main():
        async with served(stylizer, registry, connect_timeout=1.0, idle_timeout=30.0) as (server, url):
            client = await connected(url)
            await client.wait_frames(2)
            await asyncio.sleep(2.2)
            count = len(client.frames)
            await client.wait_frames(count + 2)
            peer = next(iter(server.clients.values()))
            queue = next(t.receiver for t in peer.pc.getTransceivers()
                         if t.receiver.track is not None and t.receiver.track.kind == "video")._RTCRtpReceiver__decoder_queue
            kept = len(server.clients)
            await client.close()
            return kept, queue

    kept, queue = asyncio.run(main())
    assert kept == 1
    assert isinstance(queue, DecodeBacklog)


def test_one_host_holds_at_most_half_the_client_slots(stylizer, registry):
    """One address (here 127.0.0.2) gets max(1, max_clients // 2) slots; its next offer is a 429
    saying why, and leaves no peer. 127.0.0.1 and ::1 (a tunnel's or a proxy's, shared by many
    users) are held only to the total; with --max-clients 1 one host still gets the slot."""
    async def main():
        sdp = await stalled_sdp()
        answers = {}
        async with served(stylizer, registry, max_clients=4, connect_timeout=30.0) as (server, url):
            answers["other"] = [await post_offer(url, sdp, source=OTHER) for _ in range(3)]
            answers["other clients"] = len(server.clients)
            answers["shared"] = [await post_offer(url, sdp) for _ in range(2)]
            answers["third host"] = await post_offer(url, sdp, source="127.0.0.3")
            answers["clients"] = len(server.clients)
        async with served(stylizer, registry, max_clients=1, connect_timeout=30.0) as (server, url):
            answers["lone"] = [await post_offer(url, sdp, source=OTHER) for _ in range(2)]
        return answers

    answers = asyncio.run(main())
    assert [status for status, _ in answers["other"]] == [200, 200, 429], answers["other"]
    assert answers["other"][2][1]["error"] == f"{OTHER} already holds 2 of the 4 client slots (at most 2 per address)"
    assert answers["other clients"] == 2
    assert [status for status, _ in answers["shared"]] == [200, 200]
    assert answers["third host"] == (429, {"error": "the server already has its maximum of 4 clients"})
    assert answers["clients"] == 4
    assert [status for status, _ in answers["lone"]] == [200, 429]
    assert peers.slots_per_address(1) == 1 and peers.slots_per_address(5) == 2 and peers.slots_per_address(64) == 32


async def offers_at_once(url: str, sdp: str, count: int, source: str | None = None) -> list[int]:
    """`count` offers whose bodies all arrive after every request has begun (a client holding
    each body back until the server has checked the slots for all of them); their statuses."""
    host, port = url.split("//")[1].rsplit(":", 1)
    body = json.dumps({"sdp": sdp, "type": "offer"}).encode()
    head = (f"POST /api/offer HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode()
    streams = []
    for _ in range(count):
        reader, writer = await asyncio.open_connection(host, int(port), local_addr=source and (source, 0))
        writer.write(head + body[:10])
        streams.append((reader, writer))
    await asyncio.sleep(0.3)  # every handler is now waiting for its body
    for _reader, writer in streams:
        writer.write(body[10:])
    answers = [await reader.read() for reader, _writer in streams]
    for _reader, writer in streams:
        writer.close()
    return sorted(int(answer.split()[1]) for answer in answers)


def test_offers_sent_at_once_get_no_more_than_their_slots(stylizer, registry):
    """The slots were counted before an offer's body was read, so offers whose bodies came later
    all passed: one host took every slot past its share, and any host past the total."""
    async def main():
        sdp = await stalled_sdp()
        async with served(stylizer, registry, max_clients=4, connect_timeout=30.0) as (server, url):
            other = await offers_at_once(url, sdp, 3, source=OTHER)
            shared = await offers_at_once(url, sdp, 4)
            return other, shared, len(server.clients)

    other, shared, clients = asyncio.run(main())
    assert other == [200, 200, 429]
    assert shared == [200, 200, 429, 429] and clients == 4


def vp8_frames(count: int, key_every: int = 0, width: int = 64, height: int = 48) -> list[bytes]:
    """`count` encoded VP8 frames of a moving picture (PyAV's libvpx): a keyframe first, then inter
    frames (a keyframe every `key_every`, if given)."""
    codec = av.CodecContext.create("libvpx", "w")
    codec.width, codec.height, codec.pix_fmt = width, height, "yuv420p"
    codec.options = {"deadline": "realtime", "cpu-used": "16", "lag-in-frames": "0"}
    codec.gop_size = key_every or 10000
    encoded = []
    for k in range(count):
        frame = av.VideoFrame.from_ndarray(moving(k, width, height), format="rgb24").reformat(format="yuv420p")
        frame.pts = k
        encoded += [bytes(packet) for packet in codec.encode(frame)]
    encoded += [bytes(packet) for packet in codec.encode(None)]
    assert len(encoded) == count
    return encoded


def test_the_decode_backlog_is_bounded_and_restarts_at_a_keyframe():
    """aiortc queues every received frame for its decoder thread, without bound. This queue keeps
    at most MAX_DECODE_BACKLOG; past that, frames are dropped (with those that depend on them) and
    a keyframe is asked for; a keyframe replaces what waits before it, and decoding goes on from
    it with aiortc's own decoder; the end of the track drops the backlog."""
    encoded = vp8_frames(40)
    key = vp8_frames(1)[0]
    requests = []
    backlog = DecodeBacklog(lambda: requests.append(1))
    for k, data in enumerate(encoded):  # nothing decodes: a client sending faster than its frames decode
        backlog.put((VP8, JitterFrame(data, k * 3000)))
    assert backlog.qsize() == decode_bounds.MAX_DECODE_BACKLOG and requests
    assert backlog.dropped == len(encoded) - decode_bounds.MAX_DECODE_BACKLOG

    backlog.put((VP8, JitterFrame(key, 40 * 3000)))
    assert backlog.qsize() == 1
    decoder = get_decoder(VP8)
    codec, frame = backlog.get_nowait()
    images = decoder.decode(frame)
    assert [(image.width, image.height) for image in images] == [(64, 48)]

    for k, data in enumerate(encoded[:5]):
        backlog.put((VP8, JitterFrame(data, k * 3000)))
    backlog.put(None)  # the track ended: nothing waiting is decoded
    assert backlog.qsize() == 1 and backlog.get_nowait() is None

    large = DecodeBacklog(lambda: None, max_bytes=len(encoded[0]) + len(encoded[1]))
    for k, data in enumerate(encoded[:4]):
        large.put((VP8, JitterFrame(data, k * 3000)))
    assert large.qsize() == 2  # the bytes bound, before the count


def test_h264_keyframes_are_told_apart():
    """An IDR picture starts over; other slices depend on earlier frames, even after parameter sets."""
    sps, pps = b"\x00\x00\x00\x01\x67\x42\x00\x1f", b"\x00\x00\x00\x01\x68\xce"
    idr, slice_ = b"\x00\x00\x00\x01\x65\x88\x84", b"\x00\x00\x01\x41\x9a\x02"
    assert bitstream.is_keyframe("H264", sps + pps + idr) and bitstream.is_keyframe("H264", idr)
    assert not bitstream.is_keyframe("H264", sps + pps + slice_) and not bitstream.is_keyframe("H264", slice_ + idr)
    assert not bitstream.is_keyframe("H264", b"") and not bitstream.is_keyframe("H264", sps)
    key, inter = vp8_frames(2)
    assert bitstream.is_keyframe("VP8", key) and not bitstream.is_keyframe("VP8", inter)
    codec = av.CodecContext.create("libx264", "w")  # as a browser sends it: SPS, PPS, IDR, then P slices
    codec.width, codec.height, codec.pix_fmt = 64, 48, "yuv420p"
    codec.options = {"preset": "ultrafast", "tune": "zerolatency"}
    encoded = []
    for k in range(3):
        frame = av.VideoFrame.from_ndarray(moving(k), format="rgb24").reformat(format="yuv420p")
        frame.pts = k
        encoded += [bytes(packet) for packet in codec.encode(frame)]
    assert [bitstream.is_keyframe("H264", data) for data in encoded] == [True, False, False]


class Replay(MediaStreamTrack):
    """Sends the same pre-encoded VP8 keyframe as fast as aiortc packs it: cheap to send, slow to
    decode (a flat 2048x2048 keyframe: 7 KB, about 6 ms)."""

    kind = "video"

    def __init__(self, data: bytes) -> None:
        super().__init__()
        self.data, self.sent = data, 0

    async def recv(self) -> av.Packet:
        if self.readyState != "live":
            raise MediaStreamError
        await asyncio.sleep(0)
        packet = av.Packet(self.data)
        packet.pts, packet.time_base = self.sent * 300, fractions.Fraction(1, 90000)
        self.sent += 1
        return packet


def flat_keyframe(side: int) -> bytes:
    codec = av.CodecContext.create("libvpx", "w")
    codec.width = codec.height = side
    codec.pix_fmt = "yuv420p"
    codec.options = {"deadline": "realtime", "cpu-used": "16", "b": "100k"}
    frame = av.VideoFrame(side, side, "yuv420p")
    for plane in frame.planes:
        plane.update(np.full(plane.buffer_size, 100, np.uint8))
    frame.pts = 0
    return b"".join(bytes(packet) for packet in [*codec.encode(frame), *codec.encode(None)])


@pytest.mark.slow  # (default run's time: 2 s)
@WEBRTC
def test_a_client_sending_faster_than_its_frames_decode_queues_little(stylizer, registry, one_thread):
    """Large keyframes replayed as fast as aiortc sends them: the frames waiting for the server's
    decoder stay within MAX_DECODE_BACKLOG (aiortc's own queue grew by dozens of frames a second,
    and on close its decoder went on to decode them all into frames nobody read: 10 GB in 20 s
    with 4096x4096 ones)."""
    data = flat_keyframe(2048)

    async def main():
        server = serve_app.Server(settings_for(idle_timeout=30.0), stylizer, registry, side=64)  # as `serve` on a CPU
        async with serve_process.running(server) as url:
            pc = peer_connection()
            pc.createDataChannel("control")
            track = Replay(data)
            pc.addTransceiver(track, direction="sendrecv")
            await pc.setLocalDescription(await pc.createOffer())
            status, answer = await post_offer(url, pc.localDescription.sdp)
            assert status == 200, answer
            await pc.setRemoteDescription(RTCSessionDescription(answer["sdp"], "answer"))
            await until(lambda: server.clients and next(iter(server.clients.values())).frames_in > 0, 10.0)
            peer = next(iter(server.clients.values()))
            receiver = next(t.receiver for t in peer.pc.getTransceivers() if t.receiver.track is not None
                            and t.receiver.track.kind == "video")
            queue = receiver._RTCRtpReceiver__decoder_queue
            sizes, started = [], time.monotonic()
            while time.monotonic() - started < 1.5:
                sizes.append(queue.qsize())
                await asyncio.sleep(0.05)
            sent, decoded = track.sent, peer.frames_in
            await pc.close()
            return sizes, sent, decoded

    sizes, sent, decoded = asyncio.run(main())
    print(f"sent {sent}, decoded {decoded}, most waiting {max(sizes)}")
    assert sent > 2 * decoded  # the flood outran the decoder
    assert max(sizes) <= decode_bounds.MAX_DECODE_BACKLOG, max(sizes)


def test_a_receivers_decode_queue_is_replaced_by_the_bounded_one():
    """`bound_decoding` reaches into aiortc's private receiver: if its names changed the bound
    would be gone without a word, so this fails instead (no network needed)."""
    async def check() -> None:
        pc = peer_connection()
        try:
            receiver = pc.addTransceiver("video", direction="recvonly").receiver
            decode_bounds.bound_decoding(receiver)
            assert isinstance(receiver._RTCRtpReceiver__decoder_queue, DecodeBacklog)
        finally:
            await pc.close()

    asyncio.run(check())
