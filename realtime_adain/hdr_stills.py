"""HDR still pictures (AVIF, HEIF: a camera's PQ or HLG `.HIF`, an HDR export; PNG) read as SDR.

Decoded to 8 bits as SDR pictures are, they kept their HDR code values and looked washed out, as
HDR video did before `video/hdr.py`. Their container states the colour in an ISOBMFF `colr` box
of type `nclx` (and the PQ peak in `clli`/`mdcv`); when it says PQ or HLG, `imageio` decodes the
picture at full depth and `tone_mapped` gives it the same tone map as an HDR video's pictures.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np

# FFmpeg's / ITU-T H.273's transfer numbers (as `video.hdr`, which loads PyAV: imported when
# a picture is HDR, so reading an image does not load it)
PQ, HLG = 16, 18

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# How far into the file the boxes that describe the picture are looked for (they sit in its
# `meta` box, before the coded data; a 4-letter code found inside coded data would mislead).
HEADER_BYTES = 1 << 16


@dataclass(frozen=True)
class HdrTags:
    """What an HDR still picture's container states about its colour."""

    transfer: int  # FFmpeg's / ITU-T H.273's numbers: 16 PQ, 18 HLG
    primaries: int
    peak: float | None  # PQ: the content's (MaxCLL) or mastering display's peak, cd/m2
    depth: int | None  # bits per sample of the coded picture (AVIF's `pixi`/`av1C`), when stated


def _box(header: bytes, kind: bytes, size: int) -> bytes | None:
    """The first `size` bytes after `kind` (a box's 4-letter type, and maybe more) in `header`
    (None where absent or cut short)."""
    at = header.find(kind)
    start = at + len(kind)
    content = header[start:start + size] if at >= 0 else b""
    return content if len(content) == size else None


def hdr_tags(data: np.ndarray | bytes) -> HdrTags | None:
    """The colour an AVIF/HEIF picture (`nclx` box) or a PNG (`cICP` chunk) states, when its
    transfer is PQ or HLG; None otherwise (SDR, no such box, or another format)."""
    header = bytes(data[:HEADER_BYTES])
    if header.startswith(PNG_SIGNATURE):
        return _png_tags(header)
    if header[4:8] != b"ftyp":
        return None
    header = header[:header.find(b"mdat")] if b"mdat" in header else header
    nclx = _box(header, b"colrnclx", 7)
    if nclx is None:
        return None
    primaries, transfer, _matrix = struct.unpack(">3H", nclx[:6])
    if transfer not in (PQ, HLG):
        return None
    return HdrTags(transfer, primaries, _stated_peak(header) if transfer == PQ else None, _depth(header))


def _png_tags(header: bytes) -> HdrTags | None:
    """A PNG's `cICP` chunk (PNG's third edition: H.273's primaries, transfer, matrix, range),
    looked for among the chunks before its image data; its samples are stored at full depth."""
    at = len(PNG_SIGNATURE)
    while at + 8 <= len(header):
        length, kind = struct.unpack(">I4s", header[at:at + 8])
        if kind == b"IDAT":
            return None
        if kind == b"cICP" and length >= 4 and at + 12 <= len(header):
            primaries, transfer = header[at + 8], header[at + 9]
            return HdrTags(transfer, primaries, None, 16) if transfer in (PQ, HLG) else None
        at += 12 + length  # (length, type, data, CRC)
    return None


def _stated_peak(header: bytes) -> float | None:
    """MaxCLL (`clli`), else the mastering display's peak (`mdcv`, in 0.0001 cd/m2); zero: unstated."""
    light_level = _box(header, b"clli", 4)
    if light_level and struct.unpack(">H", light_level[:2])[0]:
        return float(struct.unpack(">H", light_level[:2])[0])
    mastering = _box(header, b"mdcv", 24)
    if mastering and struct.unpack(">I", mastering[16:20])[0]:
        return struct.unpack(">I", mastering[16:20])[0] / 10000
    return None


def _depth(header: bytes) -> int | None:
    """Bits per sample: `pixi` (version and flags, a channel count, then each channel's bits),
    else AV1's `av1C` (high_bitdepth and twelve_bit flags)."""
    pixi = _box(header, b"pixi", 6)
    if pixi and pixi[4]:
        return pixi[5]
    av1c = _box(header, b"av1C", 3)
    if av1c:
        return 12 if av1c[2] & 0x20 else 10 if av1c[2] & 0x40 else 8
    return None


def full_scale(samples: np.ndarray, depth: int) -> np.ndarray:
    """`depth`-bit samples (uint16, as OpenCV decodes a 10- or 12-bit AVIF) scaled to 16 bits in
    place, the top bits repeated into the bottom ones (0 stays 0, the top code becomes 65535)."""
    if depth < 16:
        top = samples >> (2 * depth - 16) if depth > 8 else samples.copy()
        np.left_shift(samples, 16 - depth, out=samples)
        np.bitwise_or(samples, top, out=samples)
    return samples


def tone_mapped(rgb16: np.ndarray, tags: HdrTags) -> tuple[np.ndarray, str]:
    """(H, W, 3) 16-bit HDR RGB -> (H, W, 3) uint8 SDR BT.709 RGB, and what it was (for a note)."""
    from realtime_adain.video.hdr import ToneMap

    tone_map = ToneMap(transfer=tags.transfer, primaries=tags.primaries, peak=tags.peak)
    return tone_map(np.ascontiguousarray(rgb16)), tone_map.description
