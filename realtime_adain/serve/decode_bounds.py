"""The bound on a client's received frames waiting for aiortc's decoder: how many, their bytes,
and the picture size they set (`DecodeBacklog`, put in place by `bound_decoding`)."""

from __future__ import annotations

import queue
from typing import Callable

from aiortc import RTCRtpReceiver

from realtime_adain.serve.bitstream import is_keyframe, most_pixels, picture_size
from realtime_adain.settings import MAX_RESOLUTION

MAX_DECODE_BACKLOG = 8  # received frames waiting for the decoder (a quarter second at 30 fps); beyond, dropped
MAX_DECODE_BACKLOG_BYTES = 16 * 1024 * 1024  # and their bytes (aiortc takes frames of up to 512 packets)


class DecodeBacklog(queue.Queue):
    """aiortc's queue of received frames waiting for a receiver's decoder thread, which it leaves
    unbounded: a client sending faster than its frames decode (7 KB 2048x2048 keyframes that take
    6 ms each) grew it by over a hundred frames a second, and at the end of the track the decoder
    went on through the whole backlog into frames nobody read (10 GB in 20 s with 4096x4096 ones).
    Here at most `frames` frames (`max_bytes`) wait: a keyframe replaces those before it (live
    video: the newest is what counts); a frame past the bound is dropped, and so is each after it
    until a keyframe, which is asked for (`request_keyframe`: aiortc sends a PLI); the end of the
    track (None) drops what waits. A frame that sets a picture of over `pixels` pixels is dropped
    before it is decoded, with every frame after it, and told to `refuse` (width, height) once:
    decoding takes memory by the size the client chose. A frame whose size cannot be read (an
    H.264 SPS cut short, more SPS units than are read) is dropped as one past the bound is. Frames
    are read only where they would be queued: this runs on aiortc's event loop."""

    def __init__(self, request_keyframe: Callable[[], None], frames: int = MAX_DECODE_BACKLOG,
                 max_bytes: int = MAX_DECODE_BACKLOG_BYTES, pixels: int = most_pixels(MAX_RESOLUTION),
                 refuse: Callable[[int, int], None] = lambda width, height: None) -> None:
        super().__init__()
        self.request_keyframe, self.frames, self.max_bytes = request_keyframe, frames, max_bytes
        self.pixels, self.refuse = pixels, refuse
        self.refused = False
        self.bytes = self.dropped = 0
        self.waiting_for_key = False

    def _clear(self) -> None:
        self.dropped += sum(item is not None for item in self.queue)
        self.queue.clear()
        self.bytes = 0

    def _put(self, item) -> None:
        """(codec, JitterFrame) from aiortc's event loop, or None at the end (the queue's lock held)."""
        if self.queue and self.queue[-1] is None:  # ended: the decoder stops at the None
            return
        if item is None:
            self._clear()
            self.queue.append(None)
            return
        codec, frame = item
        if self.refused:
            self.dropped += 1
            return
        size = len(frame.data)
        key = is_keyframe(codec.name, frame.data)
        if not key and (self.waiting_for_key or len(self.queue) >= self.frames
                        or (self.queue and self.bytes + size > self.max_bytes)):
            self._drop_until_keyframe()
            return
        try:  # (only a frame that would be queued is read: reading takes time on the event loop)
            picture = picture_size(codec.name, frame.data)
        except ValueError:  # (no browser sends one: its size is not known, so it is not decoded)
            self._drop_until_keyframe()
            return
        if picture is not None and picture[0] * picture[1] > self.pixels:
            self.dropped += 1
            self.refused = True
            self.refuse(*picture)
            return
        if key:
            self._clear()
            self.waiting_for_key = False
        self.queue.append(item)
        self.bytes += size

    def _drop_until_keyframe(self) -> None:
        self.dropped += 1  # the frames after it refer to it: none decodes until a keyframe
        self.waiting_for_key = True
        self.request_keyframe()

    def _get(self):
        item = self.queue.popleft()
        if item is not None:
            self.bytes -= len(item[1].data)
        return item


def bound_decoding(receiver: RTCRtpReceiver, pixels: int = most_pixels(MAX_RESOLUTION),
                   refuse: Callable[[int, int], None] = lambda width, height: None) -> None:
    """Put a DecodeBacklog in place of the receiver's own queue: before the connection, when its
    decoder thread starts with it (private: aiortc has no bound; left as it is if it changed)."""
    error = getattr(receiver, "_RTCRtpReceiver__decoder_error", None)
    if isinstance(getattr(receiver, "_RTCRtpReceiver__decoder_queue", None), queue.Queue) and error is not None:
        # (a decode error: PLI on the next packet)
        receiver._RTCRtpReceiver__decoder_queue = DecodeBacklog(error.set, pixels=pixels, refuse=refuse)
