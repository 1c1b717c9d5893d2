"""One browser (or test client): its peer connection, incoming camera, outgoing stylized track
and `control` data channel, and the figures it is sent about once a second."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections import deque
from typing import Callable

import av
import numpy as np
from aiortc import MediaStreamTrack, RTCConfiguration, RTCPeerConnection
from aiortc.mediastreams import MediaStreamError
from aiortc.rtcsctptransport import WEBRTC_BINARY, WEBRTC_STRING

from realtime_adain.serve import control
from realtime_adain.serve.batcher import Batcher, Delivery, Pipeline
from realtime_adain.serve.bitstream import most_pixels
from realtime_adain.serve.decode_bounds import bound_decoding
from realtime_adain.serve.styles import StyleRegistry
from realtime_adain.stylizer import Stylizer

LATENCY_WINDOW = 60  # frames the reported p50/p95 are taken over (2 s at 30 fps)
MAX_MESSAGES_PER_S = 100  # a dragged slider sends about 60; a flood beyond this is dropped, not processed
FPS_WINDOW = 30
MAX_DATA_CHANNELS = 4  # data channels a client may open, `control` included: the page opens that one only
# Why a connection aiortc closed by itself is closed: all its DTLS transports ended.
AIORTC_CLOSED = ("aiortc closed the connection: its DTLS transport ended (the peer closed it, or no answer "
                 "to ICE consent checks for 30 s)")
CLOSE_SAID_S = 0.5  # how long a closing client's last message (why it is closed) is given to leave
CHANNEL_OPEN_S = 2.0  # how long a closing client's data channel, not open yet, is waited for to say it


def slots_per_address(max_clients: int) -> int:
    """Client slots one address may hold at once (shared loopback: any): half, so one host cannot
    lock the others out, but a lone server's one user still gets its one slot."""
    return max(1, max_clients // 2)


def peer_connection() -> RTCPeerConnection:
    """No STUN server: the default one is on the internet, and this may be an offline machine."""
    return RTCPeerConnection(RTCConfiguration(iceServers=[]))


class StylizedTrack(MediaStreamTrack):
    """The outgoing video: each `recv` returns the newest stylized frame (older ones are skipped)."""

    kind = "video"

    def __init__(self, shown: Callable[[Delivery], None]) -> None:
        super().__init__()
        self._newest: Delivery | None = None
        self._ready = asyncio.Event()
        self._shown = shown
        self._last_pts = -1

    def put(self, delivery: Delivery) -> None:
        """From the worker, through the event loop (`call_soon_threadsafe`)."""
        self._newest = delivery
        self._ready.set()

    def stop(self) -> None:
        super().stop()
        self._ready.set()

    async def recv(self) -> av.VideoFrame:
        while True:
            if self.readyState != "live":
                raise MediaStreamError
            await self._ready.wait()
            self._ready.clear()
            delivery, self._newest = self._newest, None
            if delivery is None:
                continue
            # Timestamps as the frame came in; one that does not advance (a frame the client
            # sent twice) would merge with the previous one in the receiver's jitter buffer.
            if delivery.pts is not None and delivery.pts <= self._last_pts:
                continue
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(delivery.image), format="rgb24")
            if delivery.pts is not None:
                frame.pts, frame.time_base = delivery.pts, delivery.time_base
                self._last_pts = delivery.pts
            self._shown(delivery)
            return frame


class Client:
    """A client from its offer to `close` (its own, the server's, or its connection failing), after
    which `on_close` tells the server; `count` is the server's number of clients (for the figures);
    `address` is where its offer came from; `leave_key` the secret its offer gave to leave with."""

    def __init__(self, styles: StyleRegistry, stylizer: Stylizer, batcher: Batcher, look: control.Look,
                 strength: float, on_close: Callable[["Client"], None], count: Callable[[], int],
                 address: str = "", leave_key: str = "") -> None:
        self.id = uuid.uuid4().hex[:12]
        self.styles, self.batcher, self.on_close, self.count = styles, batcher, on_close, count
        self.address = address
        self.leave_key = leave_key  # its offer's secret, for `POST /api/leave` ("": none)
        self.pc = peer_connection()
        self.loop = asyncio.get_running_loop()
        self.out = StylizedTrack(self._shown)
        self.pipeline = Pipeline(styles, stylizer, look, self._deliver, strength)
        self.channel = None
        self.data_channels = 0  # opened by the client
        self.created = self.last_activity = time.monotonic()
        self.connected = False  # its peer reached the connected state (at any time)
        self.returned: deque[float] = deque(maxlen=FPS_WINDOW)
        self.latencies: deque[tuple[int | None, float]] = deque(maxlen=LATENCY_WINDOW)  # (pts, seconds)
        self.frames_in = self.frames_out = 0
        self.last_batch = 0
        self.has_video = False
        self._video: MediaStreamTrack | None = None
        self.closing = False
        self._second, self._messages = 0.0, 0  # the current one-second window and its message count
        self.reason = ""  # why it was closed
        self._tasks: set[asyncio.Task] = set()
        self.pc.on("track", self._on_track)
        self.pc.on("datachannel", self._on_datachannel)
        self.pc.on("connectionstatechange", self._on_state)
        styles.join(self)  # the uploads it chooses are kept while it is here

    @property
    def look(self) -> control.Look:
        return self.pipeline.look

    # ---- incoming ----------------------------------------------------------------------------

    def _on_track(self, track: MediaStreamTrack) -> None:
        if track.kind != "video" or self.has_video:
            return
        self.has_video = True
        self._video = track
        receiver = next((t.receiver for t in self.pc.getTransceivers() if t.receiver.track is track), None)
        if receiver is not None:
            bound_decoding(receiver, most_pixels(self.batcher.max_resolution), self._refuse_picture)
        self.pc.addTrack(self.out)  # on the offer's transceiver: sendrecv
        self._spawn(self._read(track))

    async def _read(self, track: MediaStreamTrack) -> None:
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                break
            self.last_activity = time.monotonic()
            self.frames_in += 1
            self.batcher.submit(self.pipeline, frame, self.last_activity)
        # The peer is gone: it ended the track, or its connection ended and aiortc closed it
        # (signalling is closed at once, the connection state only once all is closed).
        await self.close(AIORTC_CLOSED if self.pc.signalingState == "closed" else "its video ended")

    def _refuse_picture(self, width: int, height: int) -> None:
        """From aiortc's packet handling (on the event loop), once: the client's frames are too large to decode."""
        pixels = most_pixels(self.batcher.max_resolution)
        self._spawn(self.close(f"its video is {width}x{height}: at most {pixels} pixels are decoded "
                               "(4 x --max-resolution's, at most 7680x4320's)"))

    def refuse_the_rest(self) -> None:
        """Before the answer: every track but the one video read is answered inactive, so nothing
        decodes frames into a queue no one reads (an audio track: 50 frames a second, for ever);
        a text message that is not UTF-8 arrives as bytes (refused as a message) instead of
        raising inside aiortc's DTLS loop (a traceback, and the connection lost)."""
        for transceiver in self.pc.getTransceivers():
            if transceiver.receiver.track is not self._video:
                transceiver.direction = "inactive"
        sctp = self.pc.sctp
        if sctp is None:
            return
        original = sctp._data_channel_receive  # private: aiortc decodes text with no error handling

        async def receive(stream_id: int, pp_id: int, data: bytes) -> None:
            if pp_id == WEBRTC_STRING:
                try:
                    data.decode("utf8")
                except UnicodeDecodeError:
                    pp_id = WEBRTC_BINARY
            await original(stream_id, pp_id, data)

        sctp._data_channel_receive = receive

    def _on_datachannel(self, channel) -> None:
        """Only the first `control` channel is read; any other is closed at once, and a client
        opening more than MAX_DATA_CHANNELS is closed, told why: one that opened 20,000 and sent
        60 KB on each lost its connection, and was never told."""
        self.data_channels += 1
        if self.data_channels == MAX_DATA_CHANNELS + 1:
            self._spawn(self.close(f"too many data channels: it opened over {MAX_DATA_CHANNELS} "
                                   "(the page uses one, `control`)"))
        if channel.label != "control" or self.channel is not None:
            channel.close()
            return
        self.channel = channel
        channel.on("message", self._on_message)
        channel.on("open", self.send_status)
        if channel.readyState == "open":
            self.send_status()

    def _on_message(self, text: object) -> None:
        now = self.last_activity = time.monotonic()
        if now - self._second >= 1.0:
            self._second, self._messages = now, 0
        self._messages += 1
        if self._messages > MAX_MESSAGES_PER_S:  # said once a second; the flood costs the other clients nothing more
            if self._messages == MAX_MESSAGES_PER_S + 1:
                self.send({"error": f"more than {MAX_MESSAGES_PER_S} messages a second: the rest are dropped"})
            return
        try:
            message = control.parse(text)
            answer = control.pong(message)
            if answer is not None:
                self.send(answer)
            with self.styles.choosing:  # (an upload checked here is not dropped before the look names it)
                look = control.apply(self.look, message, self.styles, control.stabilize_modes(self.pipeline.stylizer.engine_name))
                changed = look != self.look
                if changed:
                    self.pipeline.look = look
        except control.BadMessage as exc:
            self.send({"error": str(exc)})
            return
        if changed:
            self.send_status()

    def _on_state(self) -> None:
        state = self.pc.connectionState
        if state == "connected":
            self.connected = True
        elif state == "failed":
            self._spawn(self.close("connection failed"))
        elif state == "closed":  # (`close` closes it when already closing: this is aiortc's own, said as such)
            self._spawn(self.close(AIORTC_CLOSED))

    # ---- outgoing ----------------------------------------------------------------------------

    def _deliver(self, delivery: Delivery) -> None:
        """From the worker thread: into the track on the event loop (unless the server is gone)."""
        if not self.closing and not self.loop.is_closed():
            self.loop.call_soon_threadsafe(self.out.put, delivery)

    def _shown(self, delivery: Delivery) -> None:
        now = time.monotonic()
        self.frames_out += 1
        self.returned.append(now)
        self.latencies.append((delivery.pts, now - delivery.arrived))
        self.last_batch = delivery.batch

    def stats(self, clients: int) -> dict:
        recent = self.returned
        fps = (len(recent) - 1) / max(1e-6, recent[-1] - recent[0]) if len(recent) >= 2 else 0.0
        if fps and time.monotonic() - recent[-1] > max(2.0, 3.0 / fps):
            fps = 0.0  # nothing came back for three frame intervals (a paused or silent camera)
        seconds = [latency for _pts, latency in self.latencies]
        p50, p95 = (np.percentile(seconds, (50, 95)) * 1000) if seconds else (0.0, 0.0)
        stylizer = self.pipeline.stylizer
        # Each frame's own figure too, by its pts: `bench serve` takes those of the frames it measured
        # (its p50 from a message's window of the last 60 frames reached back into the warm-up).
        by_pts = [[pts, round(1000 * latency, 1)] for pts, latency in self.latencies if pts is not None]
        return {"fps": round(fps, 1), "latency_ms": {"p50": round(float(p50), 1), "p95": round(float(p95), 1),
                                                     "by_pts": by_pts},
                "batch": self.last_batch, "clients": clients, "device": str(stylizer.device), "engine": stylizer.engine_name,
                "frames_in": self.frames_in, "frames_out": self.frames_out, "dropped": self.pipeline.dropped}

    def send(self, message: dict) -> None:
        channel = self.channel
        if channel is not None and channel.readyState == "open":
            try:
                channel.send(json.dumps(message))
            except Exception:  # a channel closing under us: the connection's state change removes the client
                pass

    def send_status(self) -> None:
        """The figures and the look: about once a second, and after every change."""
        self.send({"stats": self.stats(self.count()), "state": self.look.state()})

    # ---- lifetime ----------------------------------------------------------------------------

    def overdue(self, now: float, connect_s: float, idle_s: float) -> str | None:
        """Why the server should close it now, or None. A peer that never connects (an offer's
        answer never used, ICE never completing) is not idle by its figures but holds a slot."""
        if not self.connected and now - self.created > connect_s:
            return f"not connected within {connect_s:g} s"
        if now - self.last_activity > idle_s:
            return f"idle for {idle_s:g} s"
        return None

    def _spawn(self, coro) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _peer_gone(self) -> bool:
        """Its connection ended, or its data channels' transport did: nothing more can open. (aiortc
        closes a connection whose DTLS the peer closed: signalling at once, the state last.)"""
        sctp = self.pc.sctp
        return (sctp is None or sctp.state == "closed" or sctp.transport.state in ("closed", "failed")
                or self.pc.signalingState == "closed" or self.pc.connectionState in ("closed", "failed"))

    async def _say_closed(self, reason: str, asked: bool) -> None:
        """Send `{"closed": reason}` and give it up to CLOSE_SAID_S to leave: closing the connection
        aborts its SCTP association, and with it a message still queued. A connected client whose
        offer has a data channel not open yet gets up to CHANNEL_OPEN_S for it: its video can
        arrive first (a client over --max-resolution was closed, on a loaded machine, never told);
        not one whose connection ended (`_peer_gone`) nor one that `asked` to leave: its slot (and
        the leave request) was held the 2 s for nobody."""
        deadline = time.monotonic() + CHANNEL_OPEN_S
        while self.connected and not asked and not self._peer_gone() and time.monotonic() < deadline and (
                self.channel is None or self.channel.readyState == "connecting"):
            await asyncio.sleep(0.02)
        self.send({"closed": reason})
        deadline = time.monotonic() + CLOSE_SAID_S
        while self.channel is not None and self.channel.readyState == "open" and self.channel.bufferedAmount \
                and time.monotonic() < deadline:
            await asyncio.sleep(0.02)

    async def close(self, reason: str, asked: bool = False) -> None:
        """Idempotent: say why on the data channel (`{"closed": reason}`), stop the tracks, drop any
        waiting frame, close the connection, tell the server. `asked`: the client's own leave."""
        if self.closing:
            return
        self.closing = True
        self.reason = reason
        self.styles.leave(self)
        self.batcher.discard(self.pipeline)
        self.out.stop()
        try:
            await self._say_closed(reason, asked)
            await self.pc.close()
        except Exception as exc:  # noqa: BLE001 - a connection half made from a malformed offer: aiortc's own
            # close fails inside (AttributeError). Said in the "left" line where it had connected; one that
            # never did is its offer's refusal, said already (the detail read as a fault of the server)
            if self.connected:
                self.reason = f"{reason}; closing its connection failed ({type(exc).__name__}: {str(exc)[:80]})"
        finally:
            self.on_close(self)
            current = asyncio.current_task()
            for task in list(self._tasks):
                if task is not current:
                    task.cancel()
