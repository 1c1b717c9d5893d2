"""An aiortc client of `serve`, for the tests and `bench serve`: it sends generated frames,
stamped with their pts, and receives the stylized ones and the data-channel messages.

Frame k is sent with pts k * 90000 / fps (time base 1/90000). The server returns each frame
with the pts it arrived with; a WebRTC receiver counts pts from the first frame it got, and the
server never drops a client's first frame, so a returned pts names the frame it was made from
(`sent_at` has that frame's send time).
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
    """Frames `make(k)` ((H, W, 3) uint8 RGB) paced at `fps`; `sent_at[pts]` is when each left."""

    kind = "video"

    def __init__(self, make: Callable[[int], np.ndarray], fps: float = 30.0, frames: int | None = None) -> None:
        super().__init__()
        self.make, self.fps, self.frames = make, fps, frames
        self.index = 0
        self.started: float | None = None
        self.sent_at: dict[int, float] = {}

    def pts(self, index: int) -> int:
        return round(index * CLOCK / self.fps)

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
        self.sent_at[frame.pts] = time.monotonic()
        self.index += 1
        return frame


@dataclass
class Received:
    pts: int
    image: np.ndarray  # (H, W, 3) uint8 RGB
    at: float  # time.monotonic() on arrival


@dataclass
class ServeClient:
    """One connection: `connect`, then `frames` fills with what comes back and `messages` with the
    server's data-channel messages (JSON objects)."""

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

    def headers(self) -> dict:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    async def connect(self) -> None:
        """Offer, answer, and wait for the data channel to open."""
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
            self._reader = asyncio.ensure_future(self._read(track))

    async def _read(self, track: MediaStreamTrack) -> None:
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            image = frame.to_ndarray(format="rgb24") if self.keep is None or self.keep > 0 else np.empty((0, 0, 3), np.uint8)
            self.frames.append(Received(int(frame.pts), image, time.monotonic()))
            if self.keep is not None and len(self.frames) > self.keep:
                self.frames[-self.keep - 1].image = np.empty((0, 0, 3), np.uint8)
            self.arrived.set()

    def send(self, message: dict) -> None:
        self.channel.send(json.dumps(message))

    async def wait_frames(self, count: int, timeout: float = 20.0) -> None:
        """Until `count` frames came back in all."""
        deadline = time.monotonic() + timeout
        while len(self.frames) < count:
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
            if time.monotonic() > deadline:
                raise TimeoutError("no such message from the server")
            await asyncio.sleep(0.02)

    async def close(self) -> None:
        self.source.stop()
        if self._reader is not None:
            self._reader.cancel()
        await self.pc.close()
