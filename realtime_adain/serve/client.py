"""An aiortc client of `serve`, for the tests and `bench serve`: it sends generated frames,
stamped with their pts, and receives the stylized ones and the data-channel messages.

Frame k is sent with pts k * 90000 / fps (time base 1/90000). The server returns each frame
with the pts it arrived with; a WebRTC receiver counts pts from the first frame it got, and the
server never drops a client's first frame, so a returned pts names the frame it was made from
(`FrameSource.frame_of`; `sent_at` has that frame's send time).
"""

from __future__ import annotations

import asyncio
import fractions
import json
import time
from dataclasses import dataclass, field
from typing import Callable

import aiohttp
import av
import numpy as np
from aiortc import MediaStreamTrack, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError

from realtime_adain.serve.peers import peer_connection

CLOCK = 90000  # RTP video clock
TIME_BASE = fractions.Fraction(1, CLOCK)


class FrameSource(MediaStreamTrack):
    """Frames `make(k)` ((H, W, 3) uint8 RGB) paced at `fps`; `sent_at[k]` is when frame k left."""

    kind = "video"

    def __init__(self, make: Callable[[int], np.ndarray], fps: float = 30.0, frames: int | None = None) -> None:
        super().__init__()
        self.make, self.fps, self.frames = make, fps, frames
        self.index = 0
        self.started: float | None = None
        self.sent_at: dict[int, float] = {}

    def pts(self, index: int) -> int:
        return round(index * CLOCK / self.fps)

    def frame_of(self, pts: int) -> int:
        """The frame a returned pts names (RTP clock conversions may move it by a tick or two)."""
        return round(pts * self.fps / CLOCK)

    async def recv(self) -> av.VideoFrame:
        if self.readyState != "live" or (self.frames is not None and self.index >= self.frames):
            # After the last frame, hold (ending the track would end the connection's video).
            while self.readyState == "live":
                await asyncio.sleep(0.1)
            raise MediaStreamError
        now = time.monotonic()
        if self.started is None:
            self.started = now
        due = self.started + self.index / self.fps
        if due > now:
            await asyncio.sleep(due - now)
        frame = av.VideoFrame.from_ndarray(self.make(self.index), format="rgb24")
        frame.pts, frame.time_base = self.pts(self.index), TIME_BASE
        self.sent_at[self.index] = time.monotonic()
        self.index += 1
        return frame


@dataclass
class Received:
    pts: int
    image: np.ndarray  # (H, W, 3) uint8 RGB
    at: float  # time.monotonic() when aiortc handed the decoded frame over
    complete: float | None  # time.monotonic() when its last packet arrived (see `ServeClient._stamp_packets`)


@dataclass
class ServeClient:
    """One connection: `connect`, then `frames` fills with what comes back and `messages` with the
    server's data-channel messages (JSON objects); `close` (idempotent) when done, or
    `async with ServeClient(...) as client:`, which connects and closes. A failed `connect` closes
    it (its ICE sockets are open from the offer on); once closed, or once the connection ended
    (the server stopped or vanished), every call raises at once instead of waiting its timeout."""

    base_url: str
    source: FrameSource
    token: str | None = None
    keep: int | None = None  # most received images kept (None: all); pts and times are always kept
    frames: list[Received] = field(default_factory=list)
    messages: list[dict] = field(default_factory=list)
    client_id: str | None = None

    def __post_init__(self) -> None:
        self.pc = peer_connection()
        self.channel = self.pc.createDataChannel("control")
        self.opened = asyncio.Event()
        self.channel.on("open", self.opened.set)
        self.channel.on("message", lambda text: self.messages.append(json.loads(text)))
        self.pc.addTransceiver(self.source, direction="sendrecv")
        self.pc.on("track", self._on_track)
        self._reader: asyncio.Task | None = None
        self.arrived = asyncio.Event()
        self.closed = False
        self.pc.on("connectionstatechange", self.arrived.set)  # wakes `wait_frames` to see it ended

    async def __aenter__(self) -> "ServeClient":
        await self.connect()
        return self

    async def __aexit__(self, *_exc) -> None:
        await self.close()

    def _check_open(self) -> None:
        """RuntimeError once closed; ConnectionError once the connection ended by itself."""
        if self.closed:
            raise RuntimeError("the client is closed")
        if self.pc.connectionState in ("failed", "closed"):
            why = next((f"; the server closed it: {m['closed']}" for m in reversed(self.messages) if "closed" in m), "")
            raise ConnectionError(f"the connection to {self.base_url} {self.pc.connectionState} "
                                  f"({len(self.frames)} frames came back){why}")

    def headers(self) -> dict:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    async def connect(self) -> None:
        """Offer, answer, and wait for the data channel to open; on any failure, closed."""
        self._check_open()
        try:
            await self._connect()
        except BaseException:
            await self.close()
            raise

    async def _connect(self) -> None:
        await self.pc.setLocalDescription(await self.pc.createOffer())
        offer = {"sdp": self.pc.localDescription.sdp, "type": self.pc.localDescription.type}
        async with aiohttp.ClientSession() as session:
            async with session.post(f"{self.base_url}/api/offer", json=offer, headers=self.headers()) as response:
                body = await response.json()
                if response.status != 200:
                    raise ConnectionRefusedError(f"{response.status}: {body.get('error')}")
        self.client_id = body["client"]
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=body["sdp"], type=body["type"]))
        await asyncio.wait_for(self.opened.wait(), 20.0)

    def _on_track(self, track: MediaStreamTrack) -> None:
        if track.kind == "video":
            receiver = next(t.receiver for t in self.pc.getTransceivers() if t.receiver.track is track)
            self._stamp_packets(receiver)
            self._reader = asyncio.ensure_future(self._read(track))

    def _stamp_packets(self, receiver) -> None:
        """Note when each frame's last packet (RTP marker) arrives. aiortc's jitter buffer hands a
        frame over only when the next frame's first packet arrives, a whole frame interval later
        at a low frame rate; a browser decodes at the marker. Latency is measured to the marker.
        (Wraps aiortc's private `_handle_rtp_packet`; without it, `complete` stays None.)"""
        original = getattr(receiver, "_handle_rtp_packet", None)
        if original is None:
            return
        self._complete: dict[int, float] = {}
        self._first_rtp: int | None = None

        async def handle(packet, *args, **kwargs):
            if self._first_rtp is None:
                self._first_rtp = packet.timestamp
            if packet.marker:
                self._complete.setdefault(packet.timestamp, time.monotonic())
            return await original(packet, *args, **kwargs)

        receiver._handle_rtp_packet = handle

    def _completed(self, pts: int) -> float | None:
        first = getattr(self, "_first_rtp", None)
        return None if first is None else self._complete.pop((first + pts) % (1 << 32), None)

    async def _read(self, track: MediaStreamTrack) -> None:
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            image = frame.to_ndarray(format="rgb24") if self.keep is None or self.keep > 0 else np.empty((0, 0, 3), np.uint8)
            self.frames.append(Received(int(frame.pts), image, time.monotonic(), self._completed(int(frame.pts))))
            if self.keep is not None and len(self.frames) > self.keep:
                self.frames[-self.keep - 1].image = np.empty((0, 0, 3), np.uint8)
            self.arrived.set()

    def send(self, message: dict) -> None:
        self._check_open()
        if self.channel.readyState != "open":
            raise RuntimeError(f"the data channel is {self.channel.readyState}, not open (connect first)")
        self.channel.send(json.dumps(message))

    async def wait_frames(self, count: int, timeout: float = 20.0) -> None:
        """Until `count` frames came back in all."""
        deadline = time.monotonic() + timeout
        while len(self.frames) < count:
            self._check_open()
            self.arrived.clear()
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"{len(self.frames)} of {count} frames came back within {timeout} s")
            try:
                await asyncio.wait_for(self.arrived.wait(), left)
            except asyncio.TimeoutError:
                pass

    async def wait_message(self, test: Callable[[dict], bool], timeout: float = 10.0) -> dict:
        """The first message (already received or coming) for which `test` holds."""
        deadline = time.monotonic() + timeout
        seen = 0
        while True:
            for message in self.messages[seen:]:
                if test(message):
                    return message
            seen = len(self.messages)
            self._check_open()
            if time.monotonic() > deadline:
                raise TimeoutError("no such message from the server")
            await asyncio.sleep(0.02)

    async def close(self) -> None:
        """Idempotent: stop sending and reading, close the peer connection (its sockets)."""
        self.closed = True
        self.arrived.set()
        self.source.stop()
        if self._reader is not None:
            self._reader.cancel()
        await self.pc.close()
