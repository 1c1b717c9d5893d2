"""Picture sizes read from the headers of the still formats FFmpeg decodes here (JPEG 2000,
OpenEXR, PAM, lossless, 12-bit JPEG, JPEG-LS, DPX, SGI, XWD and PHM: `still_decoders._ffmpeg_still`), and of
others OpenCV decodes (TIFF, PNG, Radiance, GIF, WebP, RLE BMP), before anything is decoded: a few bytes may
claim billions of pixels, and FFmpeg allocates what they claim. Also what an EXR's header says of its
blocks of pixels (a file cut short reads black rows, and FFmpeg says nothing), how many scans
a JPEG holds (each costs its decoder a pass over the whole picture), and the EXIF orientation of
a JPEG or WebP, which FFmpeg leaves to its caller."""

from __future__ import annotations

import re
import struct
import zlib
from typing import Iterator, NamedTuple

import numpy as np

from realtime_adain.errors import UserError
from realtime_adain.hdr_stills import MAX_BOXES, boxes

# What FFmpeg decodes here, by signature: a .jp2 file, a bare JPEG 2000 codestream; OpenEXR; PAM; DPX
# (big- or little-endian); SGI (verbatim or RLE, 8 or 16 bits); PHM (FFmpeg's half-float PFM: colour,
# grey). XWD has no signature at its start (`_is_xwd`). OpenCV reads none of the last four, Pillow SGI
# alone (it refused FFmpeg's RLE files): they were "not a readable image".
JPEG2000_SIGNATURES = (b"\0\0\0\x0cjP  \r\n\x87\n", b"\xff\x4f\xff\x51")
_SGI_SIGNATURES = tuple(b"\x01\xda" + bytes([rle, depth]) for rle in (0, 1) for depth in (1, 2))
_PHM_SIGNATURES = tuple(b"P" + kind + space for kind in (b"H", b"h") for space in (b" ", b"\t", b"\r", b"\n"))
FFMPEG_STILLS = {"JPEG 2000": JPEG2000_SIGNATURES, "OpenEXR": (b"\x76\x2f\x31\x01",), "PAM": (b"P7\n",),
                 "DPX": (b"SDPX", b"XPDS"), "SGI": _SGI_SIGNATURES, "PHM": _PHM_SIGNATURES}
# JPEG start-of-frame markers FFmpeg decodes and OpenCV's libjpeg here does not: lossless (SOF3), JPEG-LS (SOF55).
LOSSLESS_JPEGS = {0xC3: "lossless JPEG", 0xF7: "JPEG-LS"}
TWELVE_BIT_JPEG = "12-bit JPEG"  # (a frame of 12-bit samples: OpenCV's libjpeg decodes 8-bit ones alone)
RADIANCE_SIGNATURES = (b"#?RADIANCE", b"#?RGBE")  # (OpenCV's HDR decoder takes either)
# A Radiance resolution line: "-Y 480 +X 640" (rows from the top), or another of its eight orientations.
_RADIANCE_SIZE = re.compile(rb"([-+])([XY])\s*([-+]?\d{1,12})\s*([-+])([XY])\s*([-+]?\d{1,12})")
_EXR_ATTRIBUTES = {b"dataWindow": b"box2i", b"displayWindow": b"box2i", b"compression": b"compression"}
# Scan lines in a chunk of an EXR by its compression: none, RLE, ZIPS, ZIP, PIZ, PXR24, B44, B44A, DWAA, DWAB.
_EXR_CHUNK_LINES = (1, 1, 1, 16, 32, 16, 32, 32, 32, 256)


def jpeg2000_size(data: np.ndarray) -> tuple[int, int] | None:
    """(width, height) from a JPEG 2000 codestream's SIZ marker segment (a .jp2's in its `jp2c`
    box): its reference grid less its offset; None where unreadable."""
    view = memoryview(np.ascontiguousarray(data))
    start = 0
    if bytes(view[:12]) == JPEG2000_SIGNATURES[0]:
        start = next((first for kind, first, _ in boxes(view, 0, len(view), cut_short=True) if kind == b"jp2c"), None)
        if start is None:
            return None
    if bytes(view[start:start + 4]) != JPEG2000_SIGNATURES[1] or start + 24 > len(view):
        return None
    width, height, left, top = struct.unpack_from(">4I", view, start + 8)
    return (width - left, height - top) if width > left and height > top else None


def exr_size(data: np.ndarray, name: str) -> tuple[int, int] | None:
    """(width, height) of an OpenEXR picture: the larger of its header's data and display windows
    (FFmpeg allocates the display window, fills it from the data window); None where unreadable."""
    attributes = (_exr_header(data, name) or ({}, 0))[0]
    windows = [struct.unpack("<4i", value) for field in (b"dataWindow", b"displayWindow")
               for value in attributes.get(field, []) if len(value) == 16]
    sizes = [(right - left + 1, bottom - top + 1) for left, top, right, bottom in windows]
    if not sizes or any(width <= 0 or height <= 0 for width, height in sizes):
        return None
    return max(sizes, key=lambda size: size[0] * size[1])


def _exr_header(data: np.ndarray, name: str) -> tuple[dict[bytes, list[bytes]], int] | None:
    """An OpenEXR header's attributes read here (`_EXR_ATTRIBUTES`: each value stated, its first
    16 bytes) and where the header ends; None where it is cut short or an attribute's size is
    wrong. A header of more than MAX_BOXES attributes is refused: FFmpeg's decoder searches the
    ones it keeps for each next one (40 000, a 2.4 MB header, took it 8 s)."""
    at, found = 8, {}
    for _ in range(MAX_BOXES):
        field, at = _exr_string(data, at)
        if field == b"":
            return found, at
        kind, at = _exr_string(data, at)
        if field is None or kind is None or at + 4 > len(data):
            return None
        size = int.from_bytes(bytes(data[at:at + 4]), "little", signed=True)
        at += 4
        if size < 0 or at + size > len(data):
            return None
        if _EXR_ATTRIBUTES.get(field) == kind:
            found.setdefault(field, []).append(bytes(data[at:at + min(size, 16)]))
        at += size
    raise UserError(f"{name}: an OpenEXR header of more than {MAX_BOXES} attributes (not a picture's; refused)")


def exr_chunks_missing(data: np.ndarray, name: str) -> tuple[int, int]:
    """(how many, of how many) of a single-part scan-line EXR's chunks its offset table places
    outside the file, or whose data runs past its end: FFmpeg leaves their rows black, without a
    word (a file cut short). (0, 0) for the others, tiled and multi-part, not checked."""
    header = _exr_header(data, name)
    if header is None or data[5] & 0x12:  # (version bits 9 and 12: tiled, multi-part)
        return 0, 0
    attributes, table = header
    compression = attributes.get(b"compression", [b""])[-1][:1]
    window = attributes.get(b"dataWindow", [b""])[-1]
    if len(compression) != 1 or compression[0] >= len(_EXR_CHUNK_LINES) or len(window) != 16:
        return 0, 0
    _, top, _, bottom = struct.unpack("<4i", window)
    count = -(-(bottom - top + 1) // _EXR_CHUNK_LINES[compression[0]])
    if count <= 0 or table + 8 * count > len(data):
        return max(count, 0), max(count, 0)
    offsets = data[table:table + 8 * count].view("<u8")
    inside = offsets[(offsets >= table + 8 * count) & (offsets <= len(data) - 8)]
    if not inside.size:
        return count, count
    last = int(inside.max())  # (its data: the last in the file)
    cut = int(data[last + 4:last + 8].view("<u4")[0]) > len(data) - last - 8
    return count - inside.size + cut, count


def _exr_string(data: np.ndarray, at: int) -> tuple[bytes | None, int]:
    """An EXR header's name or type at `at` (255 bytes at most, NUL-ended) and where the next
    field starts; None where it does not end."""
    field = bytes(data[at:at + 256])
    end = field.find(b"\0")
    return (None, at) if end < 0 else (field[:end], at + end + 1)


def ffmpeg_still_size(data: np.ndarray, name: str) -> tuple[str, tuple[int, int] | None] | None:
    """The kind and (width, height) from its header (None: none stated) of a picture FFmpeg
    decodes here (`FFMPEG_STILLS`, `ffmpeg_jpeg`); None for other files. Shared by the reader
    (`still_decoders._ffmpeg_still`) and serve's upload check, which answers an oversized one 413."""
    head = bytes(data[:48])
    kind = next((kind for kind, signatures in FFMPEG_STILLS.items() if head.startswith(signatures)), None)
    if kind is None and _is_xwd(head):
        kind = "XWD"
    if kind is None:
        return ffmpeg_jpeg(data, name)
    return kind, exr_size(data, name) if kind == "OpenEXR" else _STILL_SIZES[kind](data)


def _is_xwd(head: bytes) -> bool:
    """Whether a file starting with `head` (48 bytes) is an X Window Dump (version 7, big-endian
    header), its fields as FFmpeg's probe checks them: the header's size (100 bytes or more),
    the pixmap's format (0-2) and depth (1-32 bits), its byte and bit orders (0 or 1)."""
    if len(head) < 48:
        return False
    size, version, layout, depth, width, height, _, byte_order, _, bit_order = struct.unpack(">10I", head[:40])
    return (size >= 100 and version == 7 and layout <= 2 and 1 <= depth <= 32 and width > 0 and height > 0
            and byte_order <= 1 and bit_order <= 1)


def _dpx_size(data: np.ndarray) -> tuple[int, int] | None:
    """(width, height) from a DPX's image information header (pixels a line, lines an element, at
    byte 772), in the byte order its signature says; None where unreadable."""
    fields = bytes(data[772:780])
    if len(fields) < 8:
        return None
    width, height = struct.unpack((">" if bytes(data[:4]) == b"SDPX" else "<") + "II", fields)
    return (width, height) if width and height else None


def _sgi_size(data: np.ndarray) -> tuple[int, int] | None:
    """(width, height) from an SGI header (xsize, ysize); None where unreadable."""
    fields = bytes(data[6:10])
    width, height = struct.unpack(">HH", fields) if len(fields) == 4 else (0, 0)
    return (width, height) if width and height else None


def _xwd_size(data: np.ndarray) -> tuple[int, int] | None:
    """(width, height) from an XWD header (pixmap width, height)."""
    return struct.unpack(">II", bytes(data[16:24]))


# A PHM header: "PH" (colour) or "Ph" (grey), its width and height, then its scale (as a PFM's; FFmpeg
# skips comments in it, as in PNM headers).
_PHM_HEADER = re.compile(rb"P[Hh](?:\s|#[^\r\n]*[\r\n])+(\d{1,12})(?:\s|#[^\r\n]*[\r\n])+(\d{1,12})\s")


def _phm_size(data: np.ndarray) -> tuple[int, int] | None:
    """(width, height) from a PHM header; None where unreadable."""
    found = _PHM_HEADER.match(bytes(data[:4096]))
    return (int(found[1]), int(found[2])) if found and int(found[1]) and int(found[2]) else None


def sgi_data_short(data: np.ndarray) -> bool:
    """Whether an SGI file is shorter than its header's picture needs: a verbatim one its samples
    (x * y * z channels * 1 or 2 bytes, after the 512-byte header), an RLE one its tables (where
    each row of each channel starts, and its length: 8 bytes each; rows may share their data, so
    no more is certain). FFmpeg allocates the picture before it finds the data missing: a
    7.9 KB RLE file stating 16000x16000 took 0.8 GB, a 1 KB 16-bit RGBA one 2 GB."""
    head = bytes(data[:12])
    if len(head) < 12:
        return True
    width, height, channels = struct.unpack(">HHH", head[6:12])
    needed = 8 * height * channels if head[2] else width * height * channels * head[3]
    return data.size < 512 + needed


def ffmpeg_jpeg(data: np.ndarray, name: str) -> tuple[str, tuple[int, int] | None] | None:
    """The kind ("lossless JPEG", "JPEG-LS", "12-bit JPEG") and (width, height) of a JPEG whose
    frame header (its first SOF marker segment, before any scan) says it is one (None: no size
    stated); None for other files, 8-bit baseline and progressive JPEGs among them. Its markers
    are read as `_jpeg_markers` reads them."""
    if bytes(data[:3]) != b"\xff\xd8\xff":
        return None
    for at, marker in _jpeg_markers(data, name):
        if marker == 0xDA:  # (the scan: no frame header before it)
            return None
        if marker == 0xF7 or (0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC)):
            segment = bytes(data[at:at + 9])
            twelve_bit = marker in _SOF_MARKERS and len(segment) > 4 and segment[4] == 12
            kind = TWELVE_BIT_JPEG if twelve_bit else LOSSLESS_JPEGS.get(marker)
            if kind is None:
                return None
            height, width = struct.unpack(">HH", segment[5:9]) if len(segment) == 9 else (0, 0)
            return kind, ((width, height) if width and height else None)
    return None


# The most scans (SOS marker segments) a JPEG may hold. Encoders write 1 to 4 (baseline) or, progressive,
# 6 (grey), 10 (colour) or 18 (CMYK: libjpeg's scan scripts); the decoder goes over every block of the
# picture once a scan, however little the scan holds: 5 ms a scan at 4096x4096, so a 462 KB file of 12 000
# 33-byte scans took 100 s of CPU. 100 (libjpeg-turbo's -maxscans, TJPARAM_SCANLIMIT, is this bound) costs
# at most half a second there.
MAX_JPEG_SCANS = 100
_MARKER_LOOK = 1 << 12  # bytes looked at first for the next marker, doubled up to 1 MiB while none is found


def check_jpeg(data: np.ndarray, name: str, max_pixels: int) -> None:
    """Refuse, before it is decoded, a JPEG of more than MAX_JPEG_SCANS scans (a "scan bomb": a
    small file that keeps a decoder busy for minutes), or one whose coded picture data could hold
    less than half of the blocks of the components its scans code (`_blocks`): a 634-byte file
    stating 16000x16000 was decoded whole, 52 s and 2.2 GB for a grey picture, with a "cut short?"
    note (one of over `max_pixels` is left to the decoder's refusal, which says that). A component
    no scan codes takes no data: it reads flat (a placeholder holding only its grey's DC scan).
    Read as libjpeg reads markers (`_jpeg_markers`), on the bytes already read, without a copy.
    Other files pass."""
    if bytes(data[:3]) != b"\xff\xd8\xff":
        return
    layout = _jpeg_layout(data, name)
    coded = {component for scan in layout.scans for component in scan.components}
    blocks = sum(count for component, count in layout.blocks if component in coded)
    picture = layout.picture
    if picture and picture[0] * picture[1] <= max_pixels and layout.coded * 8 < blocks / 2:
        raise UserError(f"{name}: not a readable image (a {picture[0]}x{picture[1]} JPEG with {layout.coded} bytes "
                        "of picture data: most of its picture is missing, cut short?)")


def jpeg_without_end(data: np.ndarray, name: str) -> tuple[np.ndarray, bool] | None:
    """For a JPEG without its end marker (a download cut short, or a camera's file missing only
    its last two bytes), which OpenCV refuses and browsers and FFmpeg show: the bytes to decode,
    an end marker appended where libjpeg takes it (one cut inside a marker segment between two
    scans is cut back to where that segment starts: libjpeg read the marker as the segment's
    bytes, and refused the file), and whether more than its end marker may be missing: unless
    its scans code every coefficient of every component in full and it does not end in a run of
    zero bytes (allocated whole, its tail never written). A cut in the last scan's data libjpeg
    says itself. None for other files."""
    if looks_cut_short(data) != "JPEG":
        return None
    layout = _jpeg_layout(data, name)
    if layout.last is None or layout.last[1] == 0xD9:  # (bytes after its end marker: it decodes)
        return None
    at, marker = layout.last
    inside = marker not in _NO_LENGTH and (at + 4 > data.size or at + 2 + _segment_length(data, at) > data.size)
    ended = np.concatenate([data[:at] if inside else data, _JPEG_END])
    coded = {component: 0 for component, _ in layout.blocks}  # a bit for each coefficient coded in full
    for scan in layout.scans:
        band = ((1 << min(scan.last, 63) + 1) - 1) >> scan.first << scan.first
        for component in scan.components:
            if scan.precision == 0 and component in coded:
                coded[component] |= band
    whole = bool(coded) and all(bits == (1 << 64) - 1 for bits in coded.values())
    return ended, not whole or (data.size >= _ZERO_TAIL and not data[-_ZERO_TAIL:].any())


class _Scan(NamedTuple):
    """A scan header's components (their ids), its band of coefficients (`first` to `last`, in
    zigzag order) and the bit they are coded down to (`precision`, Al: 0 is in full)."""

    components: tuple[int, ...]
    first: int
    last: int
    precision: int


class _JpegLayout(NamedTuple):
    """What a JPEG's markers say (`_jpeg_layout`)."""

    picture: tuple[int, int] | None  # (width, height): its first frame header's
    blocks: list[tuple[int, int]]  # (id, 8x8 blocks) of each component of that frame
    scans: list[_Scan]  # (those whose header is whole)
    coded: int  # bytes of entropy-coded data
    last: tuple[int, int] | None  # (where, marker) of its last marker


_JPEG_END = np.array([0xFF, 0xD9], np.uint8)  # a JPEG's end-of-image marker
_NO_LENGTH = (0x01, 0xD8, 0xD9)  # markers without a segment: TEM, start and end of image
_ZERO_TAIL = 64  # the zero bytes a JPEG without its end marker ends in to be taken as one whose tail was not written


def _jpeg_layout(data: np.ndarray, name: str) -> _JpegLayout:
    """A JPEG's frame, scans and entropy-coded bytes, read as libjpeg reads its markers
    (`_jpeg_markers`); more than MAX_JPEG_SCANS scans are refused."""
    scans: list[_Scan] = []
    coded, blocks, picture, last = 0, [], None, None
    scan_data = None  # where the entropy-coded data of the scan being read starts
    for last in _jpeg_markers(data, name):
        at, marker = last
        if scan_data is not None:
            coded, scan_data = coded + max(0, at - scan_data), None
        if marker in _SOF_MARKERS and picture is None:
            picture, blocks = _blocks(data, at)
        elif marker == 0xDA:
            if len(scans) >= MAX_JPEG_SCANS:
                raise UserError(f"{name}: a JPEG of more than {MAX_JPEG_SCANS} scans (encoders write up to 18, and "
                                "each costs the decoder a pass over the whole picture): refused")
            scan_data = at + 2 + _segment_length(data, at)
            scan = _scan(data, at)
            if scan:
                scans.append(scan)
    if scan_data is not None:  # (no end marker: the data runs to the file's end)
        coded += max(0, data.size - scan_data)
    return _JpegLayout(picture, blocks, scans, coded, last)


def _scan(data: np.ndarray, at: int) -> _Scan | None:
    """The scan header (SOS marker segment) at `at`; None where the file ends inside it."""
    segment = bytes(data[at + 4:at + 2 + _segment_length(data, at)])
    count = segment[0] if segment else 0
    if not count or len(segment) < 4 + 2 * count:
        return None
    first, last, approximation = segment[1 + 2 * count:4 + 2 * count]
    return _Scan(tuple(segment[1:1 + 2 * count:2]), first, last, approximation & 15)


# Start-of-frame markers of Huffman-coded JPEGs (baseline, extended, progressive): every 8x8 block
# of every component a scan codes takes at least one bit in it (its DC coefficient's code, or its
# bit of a DC refinement: a Huffman code of all ones is not allowed, the shortest is one bit).
# Arithmetic coding can take less; lossless JPEG has no blocks.
_SOF_MARKERS = (0xC0, 0xC1, 0xC2)


def _blocks(data: np.ndarray, at: int) -> tuple[tuple[int, int] | None, list[tuple[int, int]]]:
    """(width, height) a start-of-frame segment at `at` states, and (id, 8x8 blocks) of each of its
    components (subsampled ones have fewer); (None, []) where it is cut or makes no sense."""
    segment = bytes(data[at + 4:at + 2 + _segment_length(data, at)])
    if len(segment) < 6 or len(segment) < 6 + 3 * segment[5]:
        return None, []
    height, width, count = struct.unpack(">HHB", segment[1:6])
    ids = [segment[6 + 3 * i] for i in range(count)]
    factors = [(segment[7 + 3 * i] >> 4, segment[7 + 3 * i] & 15) for i in range(count)]
    most = (max((h for h, _ in factors), default=0), max((v for _, v in factors), default=0))
    if not width or not height or not min(most):
        return None, []
    columns = [-(-width * h // most[0]) for h, _ in factors]  # (each component's samples: ceilings)
    rows = [-(-height * v // most[1]) for _, v in factors]
    return (width, height), [(component, -(-across // 8) * -(-down // 8))
                             for component, across, down in zip(ids, columns, rows)]


def _segment_length(data: np.ndarray, at: int) -> int:
    """The length a marker segment at `at` states (its two length bytes included)."""
    return int.from_bytes(bytes(data[at + 2:at + 4]), "big")


def _jpeg_markers(data: np.ndarray, name: str) -> Iterator[tuple[int, int]]:
    """(where, marker) of each marker of a JPEG up to its end marker (given too) or the file's
    end, as libjpeg reads them: by each segment's length, resynchronised past anything else (a
    scan's entropy-coded data). More than MAX_BOXES are refused."""
    at = 2
    for _ in range(MAX_BOXES):
        at = _next_jpeg_marker(data, at)
        if at < 0:
            return
        marker = int(data[at + 1])
        yield at, marker
        if marker == 0xD9:
            return
        at += 2 if marker in _NO_LENGTH else 2 + _segment_length(data, at)  # (TEM and a stray SOI: no length)
    raise UserError(f"{name}: a JPEG of more than {MAX_BOXES} marker segments (not a picture's; refused)")


def _next_jpeg_marker(data: np.ndarray, at: int) -> int:
    """Where the next marker from `at` starts (its 0xFF), or -1: the first 0xFF followed by
    neither 0x00 (a stuffed byte), 0xFF (fill) nor RST0-7 (restart markers, inside a scan), as
    libjpeg finds it. Looked for a growing piece at a time: one is usually right at `at`."""
    look = _MARKER_LOOK
    while at + 1 < data.size:
        piece = data[at:at + look + 1]
        starts = np.flatnonzero(piece[:-1] == 0xFF)
        follow = piece[starts + 1]
        found = starts[(follow != 0) & (follow != 0xFF) & ((follow < 0xD0) | (follow > 0xD7))]
        if found.size:
            return at + int(found[0])
        at, look = at + piece.size - 1, min(look * 2, 1 << 20)
    return -1


def radiance_sample_bytes(data: np.ndarray) -> tuple[int, int, int] | None:
    """(width, height, 12) of a Radiance picture (OpenCV decodes it to 3 floats a pixel), from the
    line OpenCV takes for its size; None where it is not one, or OpenCV would find no size (it
    then refuses it too: `still_decoders` says so itself). OpenCV reads these from a copy of the file in
    /tmp, and left the copy there when it refused the size. Read as OpenCV's reader reads the
    header (`_radiance_pieces`): a header over 64 KiB, or a line cut at 127 bytes, made it see
    another size line than the one checked here."""
    if not bytes(data[:10]).startswith(RADIANCE_SIGNATURES):
        return None
    pieces = _radiance_pieces(bytes(data[:RADIANCE_HEADER_BYTES]))
    has_format = False
    for piece in pieces:
        if piece[:1] in (b"\n", b"\0"):  # the header's end (OpenCV: refused without a FORMAT line)
            found = _RADIANCE_SIZE.match(next(pieces, b"")) if has_format else None
            if not found or found[2] == found[5] or max(len(found[3]), len(found[6])) > 9:
                return None
            sides = {found[2]: int(found[3]), found[5]: int(found[6])}
            return (sides[b"X"], sides[b"Y"], 12) if min(sides.values()) > 0 else None
        has_format = has_format or piece == b"FORMAT=32-bit_rle_rgbe\n"
    return None


RADIANCE_HEADER_BYTES = 1 << 20  # a longer header is not read (refused)


def _radiance_pieces(head: bytes) -> Iterator[bytes]:
    """The header as OpenCV's Radiance reader takes it: `fgets` into 128 bytes, so a line of 127
    bytes or more comes in pieces, a piece that starts with its newline ending the header."""
    at = 0
    while at < len(head):
        end = head.find(b"\n", at, at + 127)
        stop = end + 1 if end >= 0 else min(at + 127, len(head))
        yield head[at:stop]
        at = stop


def pam_size(data: np.ndarray) -> tuple[int, int] | None:
    """(width, height) from a PAM (P7) header's WIDTH and HEIGHT lines; None where unreadable."""
    header = bytes(data[:4096])
    if b"ENDHDR" not in header:
        return None
    fields = dict(re.findall(rb"^\s*(WIDTH|HEIGHT)\s+(\d{1,12})\s*$", header[:header.index(b"ENDHDR")], re.M))
    return (int(fields[b"WIDTH"]), int(fields[b"HEIGHT"])) if len(fields) == 2 else None


# (width, height) from the header of a still FFmpeg decodes here, by its kind (OpenEXR's: `exr_size`).
_STILL_SIZES = {"JPEG 2000": jpeg2000_size, "PAM": pam_size, "DPX": _dpx_size, "SGI": _sgi_size, "XWD": _xwd_size,
                "PHM": _phm_size}


def tiff_sample_bytes(data: np.ndarray) -> tuple[int, int, int] | None:
    """(width, height, bytes a pixel) of a classic TIFF's first picture, from its first IFD (OpenCV
    decodes it at its own depth: a 14 KB float TIFF of 16000x16000 became 3 GiB of samples before
    any size check); None where it is not one or the fields are not there."""
    fields = {tag: max(values) for tag, values in (tiff_fields(data, (256, 257, 258, 277)) or {}).items()}
    if 256 not in fields or 257 not in fields:
        return None
    return fields[256], fields[257], fields.get(277, 1) * -(-fields.get(258, 1) // 8)


def tiff_fields(data: np.ndarray, wanted: tuple[int, ...]) -> dict[int, tuple[int, ...]] | None:
    """The `wanted` tags' whole-number values (up to 16 each) in a classic TIFF's first IFD; None
    where the file is not one."""
    head = bytes(data[:8])
    if head[:4] not in (b"II*\0", b"MM\0*") or len(head) < 8:  # (4 bytes of signature alone: a struct.error)
        return None
    order = "<" if head[:2] == b"II" else ">"
    ifd = struct.unpack(order + "I", head[4:8])[0]
    raw = bytes(data[ifd:ifd + 2])
    if len(raw) < 2:
        return {}
    entries = bytes(data[ifd + 2:ifd + 2 + 12 * min(struct.unpack(order + "H", raw)[0], 4096)])
    fields: dict[int, tuple[int, ...]] = {}
    for at in range(0, len(entries) - 11, 12):
        tag, kind, count = struct.unpack_from(order + "HHI", entries, at)
        if tag not in wanted or kind not in (3, 4) or count == 0:
            continue
        unit, shown = ("H" if kind == 3 else "I"), min(count, 16)
        length = shown * struct.calcsize(unit)
        if count * struct.calcsize(unit) <= 4:
            values = entries[at + 8:at + 8 + length]
        else:  # (an RGB's three sample sizes, elsewhere in the file)
            where = struct.unpack_from(order + "I", entries, at + 8)[0]
            values = bytes(data[where:where + length])
        if len(values) == length:
            fields[tag] = struct.unpack(order + unit * shown, values)
    return fields


PNG_CHANNELS = {0: 1, 2: 3, 3: 3, 4: 2, 6: 4}  # by IHDR colour type (a palette one decodes to RGB)


def png_sample_bytes(data: np.ndarray) -> tuple[int, int, int] | None:
    """(width, height, bytes a pixel decoded) of a PNG, from its IHDR (a 16-bit RGB one of
    16000x16000, 1.5 MB, decoded to 3.65 GB); None where it is not one."""
    head = bytes(data[:26])
    if len(head) < 26 or head[:8] != b"\x89PNG\r\n\x1a\n" or head[12:16] != b"IHDR":
        return None
    width, height = struct.unpack(">II", head[16:24])
    depth, colour = head[24], head[25]
    return width, height, PNG_CHANNELS.get(colour, 4) * (2 if depth == 16 else 1)


# A PNG's samples a pixel as stored, by IHDR colour type (a palette one: an index; PNG_CHANNELS: as decoded),
# and its Adam7 passes: (first column, first row, column step, row step).
_PNG_STORED_SAMPLES = {**PNG_CHANNELS, 3: 1}
_ADAM7 = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2))


def png_data_short(data: np.ndarray) -> bool:
    """Whether a PNG's IDAT data inflates to fewer bytes than its IHDR's picture needs: libpng
    refuses it ("Not enough image data"), but Pillow read it, the missing rows black, where the
    file still ended with IEND. Inflated a MiB at a time and counted, not kept."""
    head = bytes(data[:29])
    if len(head) < 29 or head[:8] != b"\x89PNG\r\n\x1a\n" or head[12:16] != b"IHDR":
        return False
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", head[16:29])
    bits = _PNG_STORED_SAMPLES.get(colour, 4) * depth
    needed = 0
    for column, row, column_step, row_step in _ADAM7 if interlace else ((0, 0, 1, 1),):
        columns, rows = (width - column + column_step - 1) // column_step, (height - row + row_step - 1) // row_step
        if columns > 0 and rows > 0:
            needed += rows * (1 + (columns * bits + 7) // 8)  # (each row: its filter byte, then its samples)
    inflate, inflated, at = zlib.decompressobj(), 0, 8
    try:
        while at + 8 <= data.size and inflated < needed:
            length, kind = struct.unpack(">I4s", bytes(data[at:at + 8]))
            if kind == b"IEND":
                break
            start, end = at + 8, min(at + 8 + length, data.size) if kind == b"IDAT" else 0
            while start < end and inflated < needed:  # (64 KiB in at a time: what is left of it is copied each MiB out)
                piece = bytes(data[start:min(start + (1 << 16), end)])
                start += len(piece)
                while piece and inflated < needed:
                    inflated += len(inflate.decompress(piece, 1 << 20))
                    piece = inflate.unconsumed_tail
            at += 12 + length
    except zlib.error:  # damaged otherwise: the decoders say why
        return False
    return inflated < needed


def gif_sample_bytes(data: np.ndarray) -> tuple[int, int, int] | None:
    """(width, height, 8) of a GIF: the larger of its logical screen and its first picture's extent
    (image descriptor: Pillow grows the canvas to it). OpenCV takes 8 bytes a pixel of the screen
    (the picture's colour indices, a BGRA canvas, the BGR result): a 29-byte GIF stating
    16000x16000 took 2 GB before it was found unreadable. None where it is not one, or holds no
    picture the decoder would read."""
    head = bytes(data[:13])
    if len(head) < 13 or head[:6] not in (b"GIF87a", b"GIF89a"):
        return None
    width, height, flags = struct.unpack("<HHB", head[6:11])
    at = 13 + (3 << ((flags & 7) + 1) if flags & 0x80 else 0)  # (after the global colour table)
    in_extension = False
    for _ in range(MAX_BOXES):  # extensions ("!", a label, sub-blocks ended by a 0), then the first picture
        if in_extension:  # (a sub-block: its length, then that many bytes)
            length = int(data[at]) if at < len(data) else 0
            at, in_extension = at + 1 + length, length > 0
        elif bytes(data[at:at + 1]) == b"!":
            at, in_extension = at + 2, True
        elif bytes(data[at:at + 1]) == b"," and at + 9 <= len(data):
            left, top, wide, high = struct.unpack("<4H", bytes(data[at + 1:at + 9]))
            return max(width, left + wide), max(height, top + high), 8
        else:
            break
    return None  # (no picture found: not a GIF the decoder reads, "GIF89a" and junk was called a huge one)


def webp_sample_bytes(data: np.ndarray) -> tuple[int, int, int] | None:
    """(width, height, 4) of a WebP from its first chunk (VP8X's canvas, or the VP8L or VP8 frame's
    header): OpenCV decodes to BGRA at most. None where it is not one. Read here, not by Pillow,
    which reads a whole WebP to open it (training sizes a file from its first bytes only)."""
    head = bytes(data[:30])
    if len(head) < 30 or head[:4] != b"RIFF" or head[8:12] != b"WEBP":
        return None
    kind = head[12:16]
    if kind == b"VP8X":
        return 1 + int.from_bytes(head[24:27], "little"), 1 + int.from_bytes(head[27:30], "little"), 4
    if kind == b"VP8L" and head[20] == 0x2F:
        bits = int.from_bytes(head[21:25], "little")
        return 1 + (bits & 0x3FFF), 1 + (bits >> 14 & 0x3FFF), 4
    if kind == b"VP8 " and head[23:26] == b"\x9d\x01\x2a":
        return int.from_bytes(head[26:28], "little") & 0x3FFF, int.from_bytes(head[28:30], "little") & 0x3FFF, 4
    return None


# The most pixels 2 bytes of a BMP's RLE data can set: a run (a count, then the colour index, or RLE4's
# two indices alternating) sets at most 255. Its other codes set fewer: an absolute run (0, n, then n
# indices, padded to 2 bytes) one pixel a byte, RLE4's two. Its escapes set none but skip pixels, left
# unset: end of line (0, 0: the rest of the row), end of the picture (0, 1: the rows after), a delta
# (0, 2, dx, dy: up to 255 columns and rows on). Encoders of still pictures (GIMP's, ImageMagick's)
# code every pixel, each row's end-of-line after its last one, so a picture's own data can set every
# pixel: the bound holds with room to spare (a run of 255 codes one colour). Deltas skip what did not
# change between the frames of RLE video (AVI's msrle), not a still's. But a still may use them
# too (bmpsuite's rle8-delta and rle8-blank, a blank picture that is only its end code: FFmpeg and
# OpenCV read them), so the bound is held only above SPARSE_RLE_PIXELS (the default --max-pixels):
# a sparse picture that large costs what a 16000x16000 photo does, from a kilobyte.
BMP_RLE_PIXELS_PER_2_BYTES = 255
SPARSE_RLE_PIXELS = 4096 * 4096


def check_bmp(data: np.ndarray, name: str, max_pixels: int) -> None:
    """Refuse, before it is decoded, an RLE8 or RLE4 BMP whose picture data (from where its header
    places it to the file's end) cannot set all the pixels its header states (at most
    BMP_RLE_PIXELS_PER_2_BYTES a 2 bytes): a 1,100-byte RLE8 file stating 16000x16000 was decoded
    whole, 85 s and 2.2 GB (Pillow refuses it). Held above SPARSE_RLE_PIXELS only (smaller sparse
    pictures are valid, and cheap); one of over `max_pixels` is left to the decoder's refusal,
    which says that. Other files pass."""
    head = bytes(data[:34])  # (an OS/2 1.x header, of 12 bytes, has no compression field)
    if len(head) < 34 or head[:2] != b"BM" or int.from_bytes(head[14:18], "little") < 40:
        return
    offset = int.from_bytes(head[10:14], "little")
    width, height, _, bits, compression = struct.unpack("<iiHHI", head[18:34])
    if (compression, bits) not in ((1, 8), (2, 4)) or width <= 0:
        return
    pixels, coded = width * abs(height), max(0, data.size - offset)
    most = coded // 2 * BMP_RLE_PIXELS_PER_2_BYTES
    if most < pixels <= max_pixels and pixels > SPARSE_RLE_PIXELS:
        raise UserError(f"{name}: not a readable image (a {width}x{abs(height)} RLE{bits} BMP whose {coded} bytes of "
                        f"picture data can set at most {most} of its {pixels} pixels: cut short, or a sparse "
                        f"picture too large to decode from so little)")


def exif_orientation(data: np.ndarray, name: str) -> int:
    """The EXIF orientation (1 to 8; 1 where none, or another value) of a JPEG (its first APP1 Exif
    segment before its first scan, the one libjpeg's readers and Pillow take) or a WebP (its EXIF
    chunk); 1 for other files. FFmpeg's decoders leave it to their caller: a lossless JPEG, a
    JPEG-LS or a WebP libwebp refuses read sideways where OpenCV turned the same picture."""
    head = bytes(data[:12])
    exif = (_jpeg_exif(data, name) if head.startswith(b"\xff\xd8\xff") else
            _webp_exif(data) if head[:4] == b"RIFF" and head[8:12] == b"WEBP" else None)
    if exif is None:
        return 1
    if bytes(exif[:6]) == b"Exif\0\0":  # (a JPEG's; a WebP's holds the TIFF structure alone, but some writers add it)
        exif = exif[6:]
    value = (tiff_fields(exif, (0x0112,)) or {}).get(0x0112, (1,))[0]
    return value if 1 <= value <= 8 else 1


def _jpeg_exif(data: np.ndarray, name: str) -> np.ndarray | None:
    """A JPEG's first APP1 Exif segment's content (from its "Exif" header) before its first scan."""
    for at, marker in _jpeg_markers(data, name):
        if marker in (0xDA, 0xD9):
            return None
        if marker == 0xE1 and bytes(data[at + 4:at + 10]) == b"Exif\0\0":
            return data[at + 4:at + 2 + _segment_length(data, at)]
    return None


def _webp_exif(data: np.ndarray) -> np.ndarray | None:
    """A WebP's EXIF chunk's content, its chunks read to the file's end, as FFmpeg reads them (a
    RIFF size field smaller than the file is one of the WebPs it reads here, libwebp not)."""
    at = 12
    for _ in range(MAX_BOXES):
        header = bytes(data[at:at + 8])
        if len(header) < 8:
            return None
        size = int.from_bytes(header[4:], "little")
        if header[:4] == b"EXIF":
            return data[at + 8:at + 8 + size]
        at += 8 + size + (size & 1)
    return None


def looks_cut_short(data: np.ndarray) -> str | None:
    """The format's name ("JPEG", "PNG", "WebP") when a file of it ends before its own structure
    says it does (a download or copy cut short), else None. A JPEG ends with its end marker
    (trailing bytes after it are another matter: such files decode), a PNG with its IEND chunk; a
    WebP states its length."""
    head, tail = bytes(data[:12]), bytes(data[-12:])
    if head.startswith(b"\xff\xd8\xff"):
        return None if tail.endswith(b"\xff\xd9") else "JPEG"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return None if b"IEND" in tail else "PNG"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WebP" if int.from_bytes(head[4:8], "little") + 8 > data.size else None
    return None
