"""HDR and wide-gamut still pictures (AVIF, HEIF: a camera's PQ or HLG `.HIF`, an HDR export; PNG) read as SDR.

Decoded to 8 bits as SDR pictures are, they kept their HDR code values and looked washed out, as
HDR video did before `video/hdr.py`; so did SDR pictures over BT.2020 or Display P3 primaries
stated only by code points (no ICC profile). Their container states the colour in an ISOBMFF
`colr` box of type `nclx` (and the PQ peak in `clli`/`mdcv`), or a PNG `cICP` chunk (or its older
`cHRM` primaries, with `gAMA`); when it says PQ or HLG, or wide primaries, `hdr_still_decoding` decodes the picture at full depth and `tone_mapped` gives
it the same conversion as a video's pictures (`video.hdr.needs_mapping`).
"""

from __future__ import annotations

import functools
import struct
from dataclasses import dataclass
from typing import Iterator

import numpy as np

# FFmpeg's / ITU-T H.273's transfer and primaries numbers (as `video.hdr`, which loads PyAV:
# imported when a picture is converted, so reading an image does not load it)
PQ, HLG = 16, 18
SRGB = 13  # IEC 61966-2-1's curve (Display P3's)
GAMMA_22 = 4  # a plain power (BT.470M's 2.2): a PNG's `gAMA`, its exponent in `HdrTags.gamma`
WIDE_GAMUT = (9, 12)  # BT.2020, Display P3 (`video.hdr.WIDE_GAMUT`)
# A PNG `cHRM` chunk's white, red, green and blue x, y (times 100000) for the wide primaries; a
# chunk is taken for them where its 8 values' differences from them add up to under 0.001 (FFmpeg's
# `av_csp_primaries_id_from_desc`): as its PNG decoder names them
CHRM_PRIMARIES = {12: (31270, 32900, 68000, 32000, 26500, 69000, 15000, 6000),
                  9: (31270, 32900, 70800, 29200, 17000, 79700, 13100, 4600)}
CHRM_TOLERANCE = 100
# The `gAMA` values libpng accepts (png_colorspace_check_gamma); it, and browsers, ignore others
# (taken on the sRGB curve): 1 made a picture black, 0xFFFFFFFF white.
PNG_GAMMA_RANGE = (16, 625000000)

# `full_scale` works this many samples at a time (a 100 MP picture's copy would be 600 MB).
STRIP_SAMPLES = 1 << 18
# The most boxes (or PNG chunks) walked at one level: real files have a few (a tiled HEIF's
# properties some hundreds); a hostile file of millions of empty ones would take minutes.
MAX_BOXES = 4096

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@dataclass(frozen=True)
class HdrTags:
    """What an HDR or wide-gamut still picture's container states about its colour."""

    transfer: int  # FFmpeg's / ITU-T H.273's numbers: 16 PQ, 18 HLG (else SDR)
    primaries: int
    peak: float | None  # PQ: the content's (MaxCLL) or mastering display's peak, cd/m2
    depth: int | None  # bits per sample of the coded picture (AVIF's `pixi`/`av1C`), when stated
    full_range: bool = True  # False: a PNG's RGB samples in narrow range (16..235 at 8 bits)
    gamma: float | None = None  # a PNG's `gAMA`: its samples' plain power (transfer `GAMMA_22`)

    @property
    def converted(self) -> bool:
        """Whether the picture is tone-mapped or moved to BT.709 primaries (`video.hdr.needs_mapping`);
        else (a narrow-range SDR PNG) only its range is expanded."""
        return self.transfer in (PQ, HLG) or self.primaries in WIDE_GAMUT


def colour_tags(data: np.ndarray | bytes, name: str = "") -> HdrTags | None:
    """The colour an AVIF/HEIF picture (its primary item's `nclx` box) or a PNG (`cICP` chunk,
    else `cHRM` and `gAMA`) states, when it is HDR (PQ, HLG), SDR over wide primaries without an ICC profile (which then
    states the colour, `icc.in_srgb`), or a narrow-range PNG; None otherwise (BT.709 SDR, no
    such box, or another format). `name`: the file's, for a note on an invalid cICP chunk."""
    view = _view(data)
    if bytes(view[:8]) == PNG_SIGNATURE:
        return _png_tags(view, name)
    if bytes(view[4:8]) != b"ftyp":
        return None
    own, others = _item_properties(view)
    colours = [content for kind, content in own if kind == b"colr"] or [
        content for kind, content in others if kind == b"colr"]  # (a grid's tiles may hold its colour)
    nclx = next((content for content in colours if content[:4] == b"nclx" and len(content) >= 11), None)
    if nclx is None:
        return None
    properties = own + others
    primaries, transfer, _matrix = struct.unpack(">3H", nclx[4:10])
    tags = HdrTags(transfer, primaries, _stated_peak(properties) if transfer == PQ else None, _depth(properties))
    profiled = any(content[:4] in (b"prof", b"rICC") for content in colours)  # (its ICC profile wins: MIAF)
    return tags if transfer in (PQ, HLG) or (tags.converted and not profiled) else None


def coded_depth(data: np.ndarray | bytes) -> int | None:
    """The bits per sample an AVIF/HEIF picture's primary item states (`pixi`, `av1C`), None
    where unstated or not such a file: OpenCV decodes a 10- or 12-bit AVIF, SDR or HDR, to
    uint16 holding that many bits (`full_scale` makes them 16)."""
    view = _view(data)
    if bytes(view[4:8]) != b"ftyp":
        return None
    own, others = _item_properties(view)
    return _depth(own + others)


def _view(data: np.ndarray | bytes) -> memoryview:
    return memoryview(np.ascontiguousarray(np.frombuffer(data, np.uint8) if isinstance(data, bytes) else data))


def boxes(view: memoryview, start: int, end: int, cut_short: bool = False) -> Iterator[tuple[bytes, int, int]]:
    """(type, where its content starts, where it ends) of each ISOBMFF (or JP2) box in view[start:end],
    walked by their sizes (so coded data never passes for a box); stops at one cut short, or with
    `cut_short` yields it, ending at `end` (a truncated file's coded data)."""
    for _ in range(MAX_BOXES):
        if start + 8 > end:
            return
        size, kind = struct.unpack_from(">I4s", view, start)
        header = 8
        if size == 1 and start + 16 <= end:  # a 64-bit size follows the type
            size, header = struct.unpack_from(">Q", view, start + 8)[0], 16
        elif size == 0:  # to the end
            size = end - start
        if size < header or (start + size > end and not (cut_short and start + header <= end)):
            return
        yield kind, start + header, min(start + size, end)
        start += size


def _child(view: memoryview, start: int, end: int, kind: bytes) -> tuple[int, int] | None:
    return next(((first, last) for found, first, last in boxes(view, start, end) if found == kind), None)


def _item_properties(view: memoryview) -> tuple[list[tuple[bytes, bytes]], list[tuple[bytes, bytes]]]:
    """(type, content) of the item properties (`meta`/`iprp`/`ipco`) the primary item (`pitm`)
    has (`ipma`), then of the others; all are the primary's where those boxes are missing or
    unreadable. (Another item, a thumbnail or a gain map, may state another colour; `mdat` may
    come before `meta`.)"""
    meta = _child(view, 0, len(view), b"meta")
    iprp = meta and _child(view, meta[0] + 4, meta[1], b"iprp")  # (`meta` is a full box)
    ipco = iprp and _child(view, iprp[0], iprp[1], b"ipco")
    if not ipco:
        return [], []
    properties = [(kind, bytes(view[first:last][:64])) for kind, first, last in boxes(view, *ipco)]
    try:
        indices = _associations(view, _child(view, iprp[0], iprp[1], b"ipma"), _primary_item(view, meta))
    except struct.error:  # cut short
        indices = None
    if indices is None:
        return properties, []
    own = [index - 1 for index in indices if 0 < index <= len(properties)]
    mine = set(own)
    return [properties[index] for index in own], [item for n, item in enumerate(properties) if n not in mine]


def _primary_item(view: memoryview, meta: tuple[int, int]) -> int | None:
    pitm = _child(view, meta[0] + 4, meta[1], b"pitm")
    if not pitm:
        return None
    content = view[pitm[0]:pitm[1]]  # (read past: struct.error)
    return struct.unpack_from(">H" if content[0:1] == b"\0" else ">I", content, 4)[0]


def _associations(view: memoryview, ipma: tuple[int, int] | None, item: int | None) -> list[int] | None:
    """The 1-based property indices `ipma` associates with `item` (None: no such box or item);
    struct.error where the box is cut short."""
    if ipma is None or item is None:
        return None
    content = view[ipma[0]:ipma[1]]
    version, flags, count = struct.unpack_from(">B3sI", content)
    wide, at = flags[2] & 1, 8  # (flags & 1: 15-bit indices)
    for _ in range(min(count, MAX_BOXES)):
        item_id = struct.unpack_from(">H" if version < 1 else ">I", content, at)[0]
        at += 2 if version < 1 else 4
        associations, at = struct.unpack_from(">B", content, at)[0], at + 1
        indices = [struct.unpack_from(">H" if wide else ">B", content, at + n * (1 + wide))[0]
                   & (0x7FFF if wide else 0x7F) for n in range(associations)]  # (less the essential bit)
        at += associations * (1 + wide)
        if item_id == item:
            return indices
    return None


def _png_tags(view: memoryview, name: str) -> HdrTags | None:
    """A PNG's `cICP` chunk (PNG's third edition: H.273's primaries, transfer, matrix, range),
    looked for among the chunks before its image data; its samples are stored at full depth. It
    outranks an `iCCP` profile (the third edition's colour chunk priority). Its matrix must be 0
    (RGB, PNG's only colour model) and its range flag 0 (narrow, legal if rare) or 1: another is
    an invalid chunk, ignored (as libpng and image-rs do) with a note. Without one, `cHRM`
    primaries (Display P3, BT.2020: `_chrm_tags`) with a valid `gAMA` and where no `iCCP` or
    `sRGB` chunk outranks them, as browsers apply them (Chromium takes `cHRM` only with `gAMA`):
    the picture was read as sRGB. The first of each chunk counts, as in libpng and browsers."""
    at, chrm, gamma, outranked = len(PNG_SIGNATURE), None, None, False
    for _ in range(MAX_BOXES):
        if at + 8 > len(view):
            break
        length, kind = struct.unpack_from(">I4s", view, at)
        if kind == b"IDAT":
            break
        content = view[at + 8:at + 8 + length]
        if kind == b"cICP" and length >= 4 and at + 12 <= len(view):
            primaries, transfer, matrix, full_range = view[at + 8:at + 12]
            if matrix != 0 or full_range > 1:
                from realtime_adain.notes import note

                note(f"{name}: its cICP chunk is invalid (matrix {matrix}, range flag {full_range}: PNG allows "
                     f"matrix 0 and flag 0 or 1); ignored", once=True)
                return None
            tags = HdrTags(transfer, primaries, None, 16, bool(full_range))
            return tags if tags.converted or not tags.full_range else None
        if kind == b"cHRM" and len(content) >= 32 and chrm is None:
            chrm = struct.unpack(">8I", content[:32])
        elif kind == b"gAMA" and len(content) >= 4 and gamma is None:
            stated = struct.unpack(">I", content[:4])[0]
            gamma = stated if PNG_GAMMA_RANGE[0] <= stated <= PNG_GAMMA_RANGE[1] else None  # (else invalid, unstated)
        outranked = outranked or kind in (b"iCCP", b"sRGB")
        at += 12 + length  # (length, type, data, CRC)
    return _chrm_tags(chrm, gamma) if chrm and gamma and not outranked else None


def _chrm_tags(chrm: tuple[int, ...], gamma: int) -> HdrTags | None:
    """A PNG's wide `cHRM` primaries (`CHRM_PRIMARIES`) as tags, on the plain power its `gAMA`
    states (a file encoding exponent, times 100000); None for others (BT.709's, sRGB's: no
    conversion), as FFmpeg leaves them unnamed."""
    primaries = next((number for number, stated in CHRM_PRIMARIES.items()
                      if sum(abs(a - b) for a, b in zip(chrm, stated)) < CHRM_TOLERANCE), None)
    if primaries is None:
        return None
    return HdrTags(GAMMA_22, primaries, None, 16, gamma=100000 / gamma)


def _first(properties: list[tuple[bytes, bytes]], kind: bytes, size: int) -> bytes | None:
    """The content of the first property of type `kind` at least `size` bytes long."""
    return next((content for found, content in properties if found == kind and len(content) >= size), None)


def _stated_peak(properties: list[tuple[bytes, bytes]]) -> float | None:
    """MaxCLL (`clli`), else the mastering display's peak (`mdcv`, in 0.0001 cd/m2); zero: unstated."""
    light_level = _first(properties, b"clli", 4)
    if light_level and struct.unpack(">H", light_level[:2])[0]:
        return float(struct.unpack(">H", light_level[:2])[0])
    mastering = _first(properties, b"mdcv", 24)
    if mastering and struct.unpack(">I", mastering[16:20])[0]:
        return struct.unpack(">I", mastering[16:20])[0] / 10000
    return None


def _depth(properties: list[tuple[bytes, bytes]]) -> int | None:
    """Bits per sample: `pixi` (version and flags, a channel count, then each channel's bits),
    else AV1's `av1C` (high_bitdepth and twelve_bit flags)."""
    pixi = _first(properties, b"pixi", 6)
    if pixi and pixi[4] and 8 <= pixi[5] <= 16:
        return pixi[5]
    av1c = _first(properties, b"av1C", 3)
    if av1c:
        return 12 if av1c[2] & 0x20 else 10 if av1c[2] & 0x40 else 8
    return None


def full_scale(samples: np.ndarray, depth: int) -> np.ndarray:
    """`depth`-bit samples (uint16, as OpenCV decodes a 10- or 12-bit AVIF) scaled to 16 bits in
    place, the top bits repeated into the bottom ones (0 stays 0, the top code becomes 65535)."""
    rows = max(1, STRIP_SAMPLES // max(1, samples[:1].size))
    for top in range(0, samples.shape[0] if depth < 16 else 0, rows):  # (in strips: no 16-bit copy of it all)
        strip = samples[top:top + rows]
        high = strip >> (2 * depth - 16) if depth > 8 else strip.copy()
        np.left_shift(strip, 16 - depth, out=strip)
        np.bitwise_or(strip, high, out=strip)
    return samples


def narrow_to_full(samples: np.ndarray) -> np.ndarray:
    """Narrow-range RGB samples (uint8 16..235, uint16 4096..60160: H.273's scaling, which with
    matrix 0 applies to each of R, G and B) expanded to full range in place, in strips."""
    black, white = (16.0, 235.0) if samples.dtype == np.uint8 else (4096.0, 60160.0)
    top = float(np.iinfo(samples.dtype).max)
    rows = max(1, STRIP_SAMPLES // max(1, samples[:1].size))
    for first in range(0, samples.shape[0], rows):
        strip = samples[first:first + rows]
        expanded = (strip.astype(np.float32) - black) * np.float32(top / (white - black)) + np.float32(0.5)
        strip[...] = np.clip(expanded, 0, top)
    return samples


def tone_mapped(rgb16: np.ndarray, tags: HdrTags) -> tuple[np.ndarray, str]:
    """(H, W, 3) 16-bit HDR or wide-gamut RGB -> (H, W, 3) uint8 SDR BT.709 RGB, and what it was
    (for a note), converted as `converted` converts it."""
    from realtime_adain.video.hdr import ToneMap

    tone_map = ToneMap(transfer=tags.transfer, primaries=tags.primaries, peak=tags.peak)
    return converted(rgb16, tags, tone_map), tone_map.description


def converted(rgb16: np.ndarray, tags: HdrTags, tone_map) -> np.ndarray:
    """(H, W, 3) 16-bit RGB of the colour `tags` states through `tone_map` (a `video.hdr.ToneMap`
    of its transfer and primaries: `image`'s pictures and `video`'s frames alike). SDR is converted
    over BT.1886's 2.4 power, as video is; a picture on the sRGB curve (Display P3's) or on a PNG's
    `gAMA` power is re-coded to that power and back around it (to the sRGB curve), or its dark
    saturated colours came out up to 24 levels off."""
    if (tags.transfer != SRGB and tags.gamma is None) or tags.primaries not in WIDE_GAMUT:
        return tone_map(np.ascontiguousarray(rgb16))
    srgb_to_power, power_to_srgb = _srgb_tables()
    to_power = srgb_to_power if tags.gamma is None else _gamma_to_power(tags.gamma)
    return power_to_srgb[tone_map(to_power[rgb16])]


@functools.lru_cache(maxsize=1)
def _srgb_tables() -> tuple[np.ndarray, np.ndarray]:
    """16-bit codes on the sRGB curve -> on a 2.4 power (same light); 8-bit codes back."""
    codes = np.arange(65536) / 65535
    linear = np.where(codes <= 0.04045, codes / 12.92, ((codes + 0.055) / 1.055) ** 2.4)
    light = (np.arange(256) / 255) ** 2.4
    encoded = np.where(light <= 0.0031308, 12.92 * light, 1.055 * light ** (1 / 2.4) - 0.055)
    return (np.round(linear ** (1 / 2.4) * 65535).astype(np.uint16),
            np.round(encoded * 255).astype(np.uint8))


@functools.lru_cache(maxsize=4)
def _gamma_to_power(gamma: float) -> np.ndarray:
    """16-bit codes on a plain `gamma` power (a PNG's `gAMA`) -> on a 2.4 power (same light)."""
    codes = np.arange(65536) / 65535
    return np.round(codes ** (gamma / 2.4) * 65535).astype(np.uint16)
