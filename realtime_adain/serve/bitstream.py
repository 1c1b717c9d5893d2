"""Encoded video frames read without decoding them, as aiortc reassembles them: whether one is a
keyframe (VP8's frame tag, H.264's first slice) and the picture size it sets (a VP8 keyframe's
header, an H.264 SPS), and the most pixels a client's frames may have."""

from __future__ import annotations

import itertools
import re

from realtime_adain.settings import MAX_RESOLUTION

H264_SPS_READ = 4096  # bytes of an SPS read for its size: its longest legal scaling lists end within 3.7 KB
H264_MOST_SPS = 4  # SPS units read in a frame (a browser sends one a keyframe); a frame with more is dropped unread
# Profiles whose SPS has a chroma format, bit depths and scaling lists before the size: FFmpeg's list
# (h264_ps.c), not the spec's, since FFmpeg decodes it (it reads no such fields for 134, 135 or 139).
H264_HIGH_PROFILES = (100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 144)


def h264_units(*kinds: int) -> re.Pattern[bytes]:
    """Start codes of H.264 NAL units of `kinds` (Annex B: 00 00 01, then the unit's header byte
    of any nal_ref_idc). A search finds every one, where a start code taking the header byte as
    (.) hid the next in `00 00 01 00 00 01 67` (FFmpeg finds that SPS)."""
    headers = bytes(ref << 5 | kind for ref in range(4) for kind in kinds)
    return re.compile(rb"\x00\x00\x01[" + re.escape(headers) + rb"]")


H264_SLICES = h264_units(1, 2, 3, 4, 5)  # 5: IDR
H264_SPS = h264_units(7)
H264_UNIT_END = re.compile(rb"\x00\x00[\x00-\x02]")  # FFmpeg's unit ends at 00 00 01 or 02 (00 00 00: zeros after it)



def is_keyframe(codec: str, data: bytes) -> bool:
    """Whether an encoded frame, as aiortc reassembles it, decodes without the frames before it:
    VP8's frame tag says so in its lowest bit (0); in H.264's Annex B stream the first slice is an
    IDR one (type 5; found after the few parameter sets before it). Frames of another codec count
    as keyframes (none is waited for)."""
    if codec == "VP8":
        return bool(data) and not data[0] & 1
    if codec == "H264":
        first = H264_SLICES.search(data)  # all of a picture's slices are IDR or none
        return first is not None and first[0][3] & 0x1F == 5
    return True


def most_pixels(max_resolution: tuple[int, int]) -> int:
    """Pixels a client's frames may have, read before they are decoded: 4 x --max-resolution's, at
    most 7680x4320's. Decoding takes memory by the size sent, before any scaling to the work size
    (12000x12000 VP8 frames took 660 MB for one client; VP8 goes to 16383 a side)."""
    return min(4 * max_resolution[0] * max_resolution[1], MAX_RESOLUTION[0] * MAX_RESOLUTION[1])


def picture_size(codec: str, data: bytes) -> tuple[int, int] | None:
    """(width, height) an encoded frame sets its decoder to, read without decoding it, or None
    where it sets none (a VP8 inter frame, H.264 slices without an SPS, a VP8 keyframe without
    its start code): a VP8 keyframe has it after its 3-byte frame tag and start code 9d 01 2a (14
    bits a side); H.264 has it in each SPS (the largest is taken). ValueError where an SPS cannot
    be read or there are over H264_MOST_SPS of them (this runs on serve's event loop: reading
    150,000 in a 600 KB frame took over a second)."""
    if codec == "VP8":
        if len(data) >= 10 and not data[0] & 1 and data[3:6] == b"\x9d\x01\x2a":
            return int.from_bytes(data[6:8], "little") & 0x3FFF, int.from_bytes(data[8:10], "little") & 0x3FFF
        return None
    if codec == "H264":
        units = list(itertools.islice(H264_SPS.finditer(data), H264_MOST_SPS + 1))
        if len(units) > H264_MOST_SPS:
            raise ValueError(f"a frame holds over {H264_MOST_SPS} H.264 SPS units")
        sizes = [h264_sps_size(H264_UNIT_END.split(data[unit.end():unit.end() + H264_SPS_READ], 1)[0])
                 for unit in units]
        return max(sizes, key=lambda size: size[0] * size[1], default=None)
    return None


def h264_sps_size(sps: bytes) -> tuple[int, int]:
    """An H.264 SPS's picture size as shown (after its NAL header; H.264 7.3.2.1.1), its crop taken
    off only as far as it undoes the rounding up to whole macroblocks (under 16 pixels; under 32
    rows in fields): the decoder takes memory by the whole picture, which a larger crop would hide.
    ValueError where it ends before its crop (FFmpeg reads on into the next unit: a 4-byte SPS was
    decoded at 13408x832) or holds an exp-Golomb code of over 32 bits (which FFmpeg reads its own way)."""
    rbsp = sps.replace(b"\x00\x00\x03", b"\x00\x00")
    value, unread = int.from_bytes(rbsp, "big"), 8 * len(rbsp)  # the bits not read yet, and their count

    def u(count: int) -> int:
        nonlocal value, unread
        if count > unread:
            raise ValueError("the SPS ends")
        unread -= count
        read, value = value >> unread, value & ((1 << unread) - 1)
        return read

    def ue() -> int:
        zeros = unread - value.bit_length()
        if zeros > 31:
            raise ValueError("an exp-Golomb code of over 32 bits")
        u(zeros)
        return u(zeros + 1) - 1

    profile = u(8)
    u(16)  # constraint flags, level
    ue()  # its id
    chroma_format = chroma_type = 1  # (4:2:0)
    if profile in H264_HIGH_PROFILES:
        chroma_format = chroma_type = ue()
        if chroma_format == 3 and u(1):  # separate colour planes: each cropped as a monochrome picture
            chroma_type = 0
        ue(), ue(), u(1)  # bit depths, lossless
        if u(1):  # scaling matrices: lists of deltas, each list ending at a next scale of 0
            for size in [16] * 6 + [64] * (6 if chroma_format == 3 else 2):
                if u(1):
                    last = scale = 8
                    for _ in range(size):
                        if scale:
                            delta = ue()
                            scale = (last + (delta + 1) // 2 * (1 if delta % 2 else -1) + 256) % 256
                        last = scale or last
    ue()  # log2 of the largest frame_num
    order = ue()
    if order == 0:
        ue()
    elif order == 1:
        u(1), ue(), ue()
        for _ in range(ue()):
            ue()
    ue(), u(1)  # reference frames, gaps
    width_in_blocks, height_in_units = ue() + 1, ue() + 1
    fields = 1 - u(1)  # (not frames: a unit is a pair of macroblocks, one in each field)
    if fields:
        u(1)  # macroblock-adaptive
    u(1)  # direct 8x8 inference
    left, right, top, bottom = (ue(), ue(), ue(), ue()) if u(1) else (0, 0, 0, 0)  # its crop
    # Crop units (Table 6-1): chroma samples of 4:2:0 and 4:2:2 across, of 4:2:0 down; rows of each field.
    unit_x, unit_y = (2 if chroma_type in (1, 2) else 1), (2 if chroma_type == 1 else 1) * (1 + fields)
    block_y = 16 * (1 + fields)
    return (16 * width_in_blocks - min((left + right) * unit_x, 15),
            block_y * height_in_units - min((top + bottom) * unit_y, block_y - 1))
