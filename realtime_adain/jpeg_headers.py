"""What a JPEG's markers say, read as libjpeg reads them, before anything is decoded: whether
FFmpeg decodes it here rather than OpenCV (lossless, 12-bit, JPEG-LS: its kind and size, for
`still_headers.ffmpeg_still_size`), how many scans it holds (each costs its decoder a pass over
the whole picture) and whether its coded data could hold its picture (`check_jpeg`), its size
whatever its coding (`jpeg_size`), what to decode of one without its end marker
(`jpeg_without_end`) or after zero bytes (`after_zero_padding`), and its EXIF segment (`jpeg_exif`)."""

from __future__ import annotations

import struct
from typing import Iterator, NamedTuple

import numpy as np

from realtime_adain.errors import UserError
from realtime_adain.hdr_stills import MAX_BOXES
from realtime_adain.opencv_headers import looks_cut_short

# JPEG start-of-frame markers FFmpeg decodes and OpenCV's libjpeg here does not: lossless (SOF3), JPEG-LS (SOF55).
LOSSLESS_JPEGS = {0xC3: "lossless JPEG", 0xF7: "JPEG-LS"}
TWELVE_BIT_JPEG = "12-bit JPEG"  # (a frame of 12-bit samples: OpenCV's libjpeg decodes 8-bit ones alone)


# The bytes looked through for a JPEG's start marker after others (`jpeg_start`).
_START_LOOK = 1 << 16


def jpeg_start(data: np.ndarray) -> int:
    """Where a JPEG's start marker (FF D8 FF) is in the file's first 64 KiB; -1 where it is not."""
    return bytes(data[:_START_LOOK + 3]).find(b"\xff\xd8\xff")


def after_zero_padding(data: np.ndarray) -> np.ndarray:
    """`data` from its JPEG's start marker (`jpeg_start`) where zero bytes alone come before it (a
    padded copy or a recovered file), as FFmpeg reads it (OpenCV's libjpeg and Pillow refused it,
    "not a readable image" with no reason); `data` itself otherwise. Zeros alone: a JPEG found
    after other bytes may be a thumbnail inside another format's file (`still_decoders` says where
    one is, of a file none reads), and no format read here starts with zeros and then FF D8 FF."""
    if data.size < 4 or data[0] != 0:
        return data
    at = jpeg_start(data)
    return data[at:] if at > 0 and not data[:at].any() else data


def ffmpeg_jpeg(data: np.ndarray, name: str) -> tuple[str, tuple[int, int] | None] | None:
    """The kind ("lossless JPEG", "JPEG-LS", "12-bit JPEG") and (width, height) of a JPEG whose
    frame header (its first SOF marker segment, before any scan) says it is one (None: no size
    stated); None for other files, 8-bit baseline and progressive JPEGs among them. Its markers
    are read as `_jpeg_markers` reads them."""
    frame = _frame_header(data, name)
    if frame is None:
        return None
    marker, segment = frame
    twelve_bit = marker in _SOF_MARKERS and len(segment) > 4 and segment[4] == 12
    kind = TWELVE_BIT_JPEG if twelve_bit else LOSSLESS_JPEGS.get(marker)
    return None if kind is None else (kind, _frame_size(segment))


def jpeg_size(data: np.ndarray, name: str) -> tuple[int, int] | None:
    """(width, height) a JPEG's frame header states, whatever its coding (Huffman, arithmetic,
    lossless, JPEG-LS), before anything is decoded; None where none is stated (a DNL's height)
    or for other files. An arithmetic-coded picture's size says nothing of its data (`_SOF_MARKERS`):
    a caller's pixel budget is the one bound on what decoding it costs."""
    frame = _frame_header(data, name)
    return None if frame is None else _frame_size(frame[1])


def lossless_frame(data: np.ndarray, name: str) -> tuple[int, int] | None:
    """(bits a sample, components) a lossless JPEG's (SOF3) frame header states; None for other files."""
    frame = _frame_header(data, name)
    return (frame[1][4], frame[1][9]) if frame and frame[0] == 0xC3 and len(frame[1]) >= 10 else None


def rgb_coded(data: np.ndarray, name: str) -> bool:
    """Whether a 3-component JPEG says its components are R, G and B: an Adobe segment (APP14) of
    transform 0, or component ids "R", "G", "B" (as libjpeg tells them)."""
    frame = _frame_header(data, name)
    if frame and frame[1][10:19:3] == b"RGB":
        return True
    for at, marker in _jpeg_markers(data, name):
        if marker in (0xDA, 0xD9):
            return False
        if marker == 0xEE and bytes(data[at + 4:at + 9]) == b"Adobe" and _segment_length(data, at) >= 14:
            return int(data[at + 15]) == 0
    return False


def codes_32768(data: np.ndarray, name: str) -> bool:
    """Whether a JPEG's Huffman tables (its DHT segments) code a difference of category 16, which
    a 16-bit lossless JPEG's encoder gives a difference of 32768: a code with no bits after it,
    where FFmpeg's decoder reads 16 (the picture from there on garbage)."""
    for at, marker in _jpeg_markers(data, name):
        segment = bytes(data[at + 4:at + 2 + _segment_length(data, at)]) if marker == 0xC4 else b""
        while len(segment) >= 17:  # (each table: its class and id, 16 counts, its symbols)
            count = sum(segment[1:17])
            if segment[0] >> 4 == 0 and 16 in segment[17:17 + count]:  # (a DC table: a lossless JPEG's)
                return True
            segment = segment[17 + count:]
    return False


def _frame_header(data: np.ndarray, name: str) -> tuple[int, bytes] | None:
    """The marker and first 19 bytes of a JPEG's first start-of-frame segment before any scan (its
    markers read as `_jpeg_markers` reads them); None for other files, or where there is none."""
    if bytes(data[:3]) != b"\xff\xd8\xff":
        return None
    for at, marker in _jpeg_markers(data, name):
        if marker == 0xDA:  # (the scan: no frame header before it)
            return None
        if marker == 0xF7 or (0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC)):
            return marker, bytes(data[at:at + 19])
    return None


def _frame_size(segment: bytes) -> tuple[int, int] | None:
    """(width, height) of a start-of-frame segment's first bytes; None where cut or zero."""
    height, width = struct.unpack(">HH", segment[5:9]) if len(segment) >= 9 else (0, 0)
    return (width, height) if width and height else None


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
# Lossless JPEG has no blocks. Arithmetic coding (SOF9, SOF10) has no such bound: its coder codes
# a run of likely decisions as zero bytes, which libjpeg's encoder leaves off the end and its
# decoder reads back as zeros, so a whole flat 16000x16000 colour picture takes 7 bytes of data
# (cut after 4 of them, it decodes too): a cut one is told by its missing end marker alone
# (`jpeg_without_end`'s note), not by its size. What bounds decoding one is the pixel budget
# (`jpeg_size`, `still_headers.stated_size`).
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


def jpeg_exif(data: np.ndarray, name: str) -> np.ndarray | None:
    """A JPEG's first APP1 Exif segment's content (from its "Exif" header) before its first scan."""
    for at, marker in _jpeg_markers(data, name):
        if marker in (0xDA, 0xD9):
            return None
        if marker == 0xE1 and bytes(data[at + 4:at + 10]) == b"Exif\0\0":
            return data[at + 4:at + 2 + _segment_length(data, at)]
    return None
