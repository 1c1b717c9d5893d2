"""`serve`: a client's frame size is bounded before its frames are decoded (decoding takes memory
by the size the client chose, --max-resolution applied only after it), and a client the server
closes is told why on its data channel."""

from __future__ import annotations

import asyncio
import functools

import av
import pytest
from aiortc import RTCRtpCodecParameters
from aiortc.jitterbuffer import JitterFrame

from realtime_adain.live.styles import StyleLibrary
from realtime_adain.serve import bitstream
from realtime_adain.serve.client import FrameSource, ServeClient
from realtime_adain.serve.bitstream import picture_size
from realtime_adain.serve.decode_bounds import DecodeBacklog
from realtime_adain.serve.styles import StyleRegistry
from test_serve import WEBRTC, H, W, connected, moving, served
from test_serve_slots import vp8_frames

VP8 = RTCRtpCodecParameters(mimeType="video/VP8", clockRate=90000, payloadType=96)


@pytest.fixture(scope="module")
def registry(stylizer, data_dir, tmp_path_factory) -> StyleRegistry:
    library = StyleLibrary([data_dir / "style" / "mondrian.jpg"], stylizer, 64, tmp_path_factory.mktemp("cache")).load()
    return StyleRegistry(library, None)


def h264_frames(width: int, height: int, profile: str) -> list[bytes]:
    """Two encoded H.264 frames (SPS, PPS and IDR; then a P slice), as a browser sends them."""
    codec = av.CodecContext.create("libx264", "w")
    codec.width, codec.height, codec.pix_fmt = width, height, "yuv420p"
    codec.options = {"preset": "ultrafast", "tune": "zerolatency", "profile": profile}
    encoded = []
    for k in range(2):
        frame = av.VideoFrame.from_ndarray(moving(k, width, height), format="rgb24").reformat(format="yuv420p")
        frame.pts = k
        encoded += [bytes(packet) for packet in codec.encode(frame)]
    return encoded


def claiming(keyframe: bytes, width: int, height: int) -> bytes:
    """A VP8 keyframe whose header says another size (what a hostile client can send)."""
    return keyframe[:6] + width.to_bytes(2, "little") + height.to_bytes(2, "little") + keyframe[10:]


def test_picture_sizes_are_read_before_decoding():
    """VP8 keyframes and H.264 SPSs (baseline and high profile, whose SPS has more fields before
    the size) give the size the decoder will take (H.264's with its crop taken off); frames that
    set no size give None, and an SPS that ends first a ValueError (tests/test_fixes43_serve_sps.py)."""
    for width, height in ((64, 48), (322, 182), (4000, 30)):
        key, inter = vp8_frames(2, width=width, height=height)
        assert picture_size("VP8", key) == (width, height) and picture_size("VP8", inter) is None
        for profile in ("baseline", "high"):
            idr, slice_ = h264_frames(width, height, profile)
            assert picture_size("H264", idr) == (width, height), profile
            assert picture_size("H264", slice_) is None
    assert picture_size("VP8", claiming(vp8_frames(1)[0], 16383, 16383)) == (16383, 16383)
    with pytest.raises(ValueError, match="the SPS ends"):
        picture_size("H264", b"\x00\x00\x00\x01\x67\x42\x00")
    assert picture_size("VP8", b"") is None and picture_size("H264", b"") is None


def test_a_picture_over_the_bound_is_dropped_before_decoding():
    """The backlog drops a frame whose picture is over its pixels, tells `refuse` once, and takes
    nothing from that client after it; 4 x --max-resolution's pixels pass, and the bound is never
    over 7680x4320's."""
    key, inter = vp8_frames(2)
    refused = []
    backlog = DecodeBacklog(lambda: None, pixels=W * H, refuse=lambda width, height: refused.append((width, height)))
    backlog.put((VP8, JitterFrame(key, 0)))
    backlog.put((VP8, JitterFrame(claiming(key, 12000, 12000), 3000)))
    backlog.put((VP8, JitterFrame(inter, 6000)))
    backlog.put((VP8, JitterFrame(key, 9000)))
    assert refused == [(12000, 12000)]
    assert backlog.qsize() == 1 and backlog.get_nowait()[1].data == key and backlog.dropped == 3
    assert bitstream.most_pixels((W, H)) == 4 * W * H and bitstream.most_pixels((7680, 4320)) == 7680 * 4320


def sending(url: str, width: int, height: int) -> ServeClient:
    return ServeClient(url, FrameSource(functools.partial(moving, width=width, height=height), 30))


@WEBRTC
def test_a_client_sending_frames_over_the_bound_is_closed_with_the_reason(stylizer, registry, one_thread):
    """With --max-resolution WxH, a client sending (2W+2)x2H frames (just over 4 x its pixels) is
    closed before any frame is decoded, told why on its data channel, and the server's log line
    says it; one sending 2Wx2H frames (at the bound) is stylized as before."""
    async def main():
        async with served(stylizer, registry, max_resolution=(W, H)) as (server, url):
            big = sending(url, 2 * W + 2, 2 * H)
            await big.connect()
            peer = next(iter(server.clients.values()))
            try:
                closed = await big.wait_message(lambda message: "closed" in message)
                with pytest.raises(ConnectionError, match=f"; the server closed it: its video is {2 * W + 2}x{2 * H}"):
                    await big.wait_frames(1)
            finally:
                await big.close()
            async with sending(url, 2 * W, 2 * H) as fine:
                await fine.wait_frames(4)
                shape = fine.frames[-1].image.shape
            return closed["closed"], peer.reason, peer.frames_in, len(big.frames), shape

    closed, reason, decoded, came_back, shape = asyncio.run(main())
    assert closed == reason == (f"its video is {2 * W + 2}x{2 * H}: at most {4 * W * H} pixels are decoded "
                                "(4 x --max-resolution's, at most 7680x4320's)")
    assert decoded == 0 and came_back == 0
    assert shape == (H, W, 3)  # (scaled to --max-resolution, as before)


@WEBRTC
@pytest.mark.slow  # (default run's time: a whole serve session)
def test_a_client_the_server_closes_is_told_why(stylizer, registry, one_thread):
    """The idle timeout and the server stopping each send `{"closed": reason}` before closing (the
    page showed only "the server closed the connection")."""
    async def main():
        async with served(stylizer, registry, idle_timeout=1.0) as (_server, url):
            idle = await connected(url, frames=3)  # then silent, its connection left open
            try:
                idle_said = await idle.wait_message(lambda message: "closed" in message)
            finally:
                await idle.close()
            stopped = await connected(url)
        try:
            stop_said = await stopped.wait_message(lambda message: "closed" in message, timeout=0)
        finally:
            await stopped.close()
        return idle_said, stop_said

    idle_said, stop_said = asyncio.run(main())
    assert idle_said == {"closed": "idle for 1 s"}
    assert stop_said == {"closed": "the server stopped"}


@pytest.mark.slow
def test_the_page_shows_why_the_server_closed_it(weights_env, data_dir, tmp_path):
    """Headless Chromium's 640x480 fake camera against --max-resolution 16x16 (at most 1024 pixels):
    the page says the server's reason, not only "the server closed the connection"."""
    from test_serve_browser import chromium, devtools, serve  # (asserts Chromium is installed: this test only)

    async def drive(url: str, port: int) -> str:
        async with devtools(port) as page:
            await page.call("Page.navigate", url=url)
            await page.wait("document.body.dataset.state === 'failed'", 40, "the server's refusal")
            return await page.js("document.getElementById('status').textContent")

    with serve("--styles", str(data_dir / "style" / "mondrian.jpg"), "--style-size", "64",
               "--max-resolution", "16x16") as url, chromium(tmp_path / "profile") as port:
        status = asyncio.run(asyncio.wait_for(drive(url, port), 50))
    assert status == ("the server closed the connection: its video is 640x480: at most 1024 pixels are decoded "
                      "(4 x --max-resolution's, at most 7680x4320's); reload to reconnect"), status
