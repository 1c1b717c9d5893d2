"""`serve`'s bound on a client's H.264 picture size, read from each SPS before decoding: read as
FFmpeg (the decoder that runs) reads it, in displayed pixels, and quickly (it runs on the event loop)."""

from __future__ import annotations

import time

import av
import pytest
from aiortc import RTCRtpCodecParameters
from aiortc.jitterbuffer import JitterFrame

from realtime_adain.serve.bitstream import H264_MOST_SPS, is_keyframe, most_pixels, picture_size
from realtime_adain.serve.decode_bounds import DecodeBacklog
from test_serve import moving

H264 = RTCRtpCodecParameters(mimeType="video/H264", clockRate=90000, payloadType=102)
SPS = b"\x00\x00\x01\x67"  # a start code and an SPS's header


def keyframe(width: int, height: int, profile: str = "high", pix_fmt: str = "yuv420p", params: str = "") -> bytes:
    """One encoded H.264 keyframe (SPS, PPS, IDR slice); `params`: x264's (8x8dct=1: High profile)."""
    codec = av.CodecContext.create("libx264", "w")
    codec.width, codec.height, codec.pix_fmt = width, height, pix_fmt
    codec.options = {"preset": "ultrafast", "tune": "zerolatency", "profile": profile, "x264-params": params}
    frame = av.VideoFrame.from_ndarray(moving(0, width, height), format="rgb24").reformat(format=pix_fmt)
    frame.pts = 0
    return b"".join(bytes(packet) for packet in [*codec.encode(frame), *codec.encode(None)])


def decoded_size(data: bytes) -> tuple[int, int]:
    """The size FFmpeg's H.264 decoder (aiortc's) gives the frame's picture."""
    codec = av.CodecContext.create("h264", "r")
    (picture,) = codec.decode(av.Packet(data)) + codec.decode(None)
    return picture.width, picture.height


def with_profile(data: bytes, profile: int) -> bytes:
    at = data.index(SPS) + len(SPS)
    return data[:at] + bytes([profile]) + data[at + 1:]


def put(backlog: DecodeBacklog, data: bytes) -> None:
    backlog.put((H264, JitterFrame(data, 0)))


def baseline_sps(width_in_blocks: int, height_in_blocks: int, crop: tuple[int, int, int, int]) -> bytes:
    """An SPS unit (Baseline, 4:2:0, frames) cropped by (left, right, top, bottom) chroma samples."""
    def ue(value: int) -> str:
        code = f"{value + 1:b}"
        return "0" * (len(code) - 1) + code

    bits = (f"{66:08b}{0:08b}{31:08b}" + ue(0) + ue(0) + ue(2) + ue(1) + "0"  # id, frame_num, POC type, refs, gaps
            + ue(width_in_blocks - 1) + ue(height_in_blocks - 1) + "11" + "1" + "".join(map(ue, crop)) + "0" + "1")
    bits += "0" * (-len(bits) % 8)
    return SPS + int(bits, 2).to_bytes(len(bits) // 8, "big")


def test_profiles_are_those_ffmpeg_reads_a_chroma_format_for():
    """Profile 139, 134 or 135 has no chroma format, bit depths or scaling lists before the size
    in FFmpeg's reading (the spec's list has them): an 8192x4608 frame so labelled was read as
    16x512 and decoded; 144 (the old High 4:4:4) has them."""
    baseline = keyframe(320, 240, "baseline")
    for profile in (139, 134, 135):
        labelled = with_profile(baseline, profile)
        assert picture_size("H264", labelled) == decoded_size(labelled) == (320, 240), profile
    high = with_profile(keyframe(320, 240, params="8x8dct=1"), 144)
    assert picture_size("H264", high) == decoded_size(high) == (320, 240)


def test_an_sps_after_an_empty_start_code_is_read():
    """`00 00 01` right before the SPS's start code (empty, or after an access unit delimiter) hid
    the SPS: the frame set no size, and FFmpeg decoded it at its full size."""
    key = keyframe(640, 360)
    at = key.index(SPS)
    for hiding in (b"\x00\x00\x01", b"\x00\x00\x00\x01\x09\xf0\x00\x00\x01"):
        frame = hiding + key[at:]
        assert picture_size("H264", frame) == decoded_size(frame) == (640, 360)
        assert is_keyframe("H264", frame)
        refused = []
        backlog = DecodeBacklog(lambda: None, pixels=320 * 180, refuse=lambda *size: refused.append(size))
        put(backlog, frame)
        assert refused == [(640, 360)] and backlog.qsize() == 0


@pytest.mark.parametrize("width, height, profile, pix_fmt, params", [
    (640, 360, "baseline", "yuv420p", ""),
    (1920, 1080, "high", "yuv420p", "8x8dct=1"),
    (322, 182, "high422", "yuv422p", ""),
    (322, 182, "high444", "yuv444p", "cqm=jvt:8x8dct=1"),
    (320, 180, "high", "yuv420p", "tff=1"),  # interlaced: rounded up to 192 (pairs of macroblocks)
    (322, 180, "high422", "yuv422p", "tff=1"),
])
def test_h264_sizes_are_the_displayed_ones(width, height, profile, pix_fmt, params):
    """The SPS's crop is taken off (640x360 read as 640x368, whole macroblocks): a 2Wx2H camera,
    at the bound of 4 x --max-resolution's pixels, was refused with a size it never sent."""
    key = keyframe(width, height, profile, pix_fmt, params)
    assert picture_size("H264", key) == decoded_size(key) == (width, height)
    refused = []
    bound = most_pixels((width // 2, height // 2))
    backlog = DecodeBacklog(lambda: None, pixels=bound, refuse=lambda *size: refused.append(size))
    put(backlog, key)
    assert refused == [] and backlog.qsize() == 1


def test_a_crop_beyond_the_rounding_to_macroblocks_is_not_taken_off():
    """The decoder takes memory by the whole picture: an 8192x4608 one cropped to 2x2 counts as
    8177x4593 (under a macroblock off each way), not 2x2."""
    assert picture_size("H264", baseline_sps(512, 288, (0, 4095, 0, 2303))) == (8192 - 15, 4608 - 15)
    assert picture_size("H264", baseline_sps(40, 23, (0, 0, 0, 4))) == (640, 360)  # (as x264 crops)


def test_an_sps_cut_short_is_not_decoded():
    """An SPS that ends before its size is read on by FFmpeg into the next unit (this one's first
    4 bytes, before its PPS, were decoded at 13408x832): its frame is dropped as unreadable, not
    passed as one that sets no size."""
    key = keyframe(64, 48, params="tff=1")
    sps = key.index(SPS) + len(SPS)
    frame = key[:sps + 4] + key[key.index(b"\x00\x00\x00\x01\x68"):]  # (its PPS, then its IDR slice)
    with pytest.raises(ValueError, match="the SPS ends"):
        picture_size("H264", frame)
    asked = []
    backlog = DecodeBacklog(lambda: asked.append(1))
    put(backlog, frame)
    assert backlog.qsize() == 0 and backlog.dropped == 1 and asked == [1]
    put(backlog, key)
    assert backlog.qsize() == 1


def test_frames_of_many_sps_units_are_dropped_unread_and_quickly():
    """At most H264_MOST_SPS SPS units of a frame are read (a frame with more is dropped: reading
    150,000 empty ones in a 600 KB frame took a second on serve's event loop), each with integers,
    not a string of bits; a frame that would be dropped anyway (the backlog full) is not read."""
    sps = keyframe(64, 48)
    sps = sps[sps.index(SPS):sps.index(b"\x00\x00\x01", sps.index(SPS) + len(SPS))]
    assert picture_size("H264", sps * H264_MOST_SPS) == (64, 48)
    with pytest.raises(ValueError, match=f"over {H264_MOST_SPS} H.264 SPS units"):
        picture_size("H264", sps * (H264_MOST_SPS + 1))
    # The longest SPS read: every scaling list given, in 15-bit deltas (4 KB read of each).
    bits = f"{100:08b}" + "0" * 16 + "1" + "010" + "11" + "0" + "1" + ("1" + "000000010000000" * 16) * 6 \
        + ("1" + "000000010000000" * 64) * 2
    bits += "1" * (-len(bits) % 8)
    longest = SPS + int(bits, 2).to_bytes(len(bits) // 8, "big") + b"\xff" * 3000
    for frame in (SPS * (600_000 // len(SPS)), longest * H264_MOST_SPS, longest * 150):
        asked = []
        backlog = DecodeBacklog(lambda: asked.append(1))
        started = time.process_time()  # (CPU time, not a loaded machine's wait)
        put(backlog, frame)
        assert time.process_time() - started < 0.2
    assert backlog.qsize() == 0 and asked == [1]
    refused = []
    backlog = DecodeBacklog(lambda: None, frames=0, pixels=64 * 48, refuse=lambda *size: refused.append(size))
    put(backlog, baseline_sps(512, 288, (0, 0, 0, 0)))  # (no slice: not a keyframe, over the bound of 0 frames)
    assert refused == [] and backlog.dropped == 1
