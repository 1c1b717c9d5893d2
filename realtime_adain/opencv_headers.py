"""What the headers of the stills OpenCV decodes here (Radiance, TIFF, PNG, GIF, WebP, BMP)
say before anything is decoded: their size and the bytes a pixel decoded takes (OpenCV decodes
at the file's own depth: a few bytes may claim gigabytes), whether a PNG's or an RLE BMP's data
could hold its picture, the fields of a TIFF's first IFD (an EXIF block's too), a WebP's EXIF
chunk, and whether a JPEG, PNG or WebP ends before its own structure says (cut short)."""

from __future__ import annotations

import re
import struct
import zlib
from typing import Iterator

import numpy as np

from realtime_adain.errors import UserError
from realtime_adain.hdr_stills import MAX_BOXES

RADIANCE_SIGNATURES = (b"#?RADIANCE", b"#?RGBE")  # (OpenCV's HDR decoder takes either)
# A Radiance resolution line: "-Y 480 +X 640" (rows from the top), or another of its eight orientations.
_RADIANCE_SIZE = re.compile(rb"([-+])([XY])\s*([-+]?\d{1,12})\s*([-+])([XY])\s*([-+]?\d{1,12})")


def radiance_sample_bytes(data: np.ndarray) -> tuple[int, int, int] | None:
    """(width, height, 12) of a Radiance picture (OpenCV decodes it to 3 floats a pixel), from the
    line OpenCV takes for its size; None where it is not one, or OpenCV would find no size (it
    then refuses it too: `still_decoders` says so itself). OpenCV reads these from a copy of the file in
    /tmp, and left the copy there when it refused the size."""
    line = _radiance_size_line(data)
    if line is None:
        return None
    found = line[0]
    sides = {found[2]: int(found[3]), found[5]: int(found[6])}
    return (sides[b"X"], sides[b"Y"], 12) if min(sides.values()) > 0 else None


# The EXIF orientation that turns a Radiance picture's scanlines, decoded as if its resolution line were
# "-Y N +X M" (scanlines top to bottom, each left to right), upright: by its line's axes and signs.
_RADIANCE_ORIENTATIONS = {b"-Y+X": 1, b"-Y-X": 2, b"+Y-X": 3, b"+Y+X": 4, b"+X-Y": 5, b"-X-Y": 6, b"-X+Y": 7,
                          b"+X+Y": 8}


def radiance_as_opencv_reads(data: np.ndarray) -> tuple[np.ndarray, int]:
    """A Radiance picture's bytes as OpenCV's reader takes them, and the EXIF orientation that turns
    its decode of them upright (`still_orientation.ORIENT`): OpenCV reads only "-Y N +X M", and
    refused a file stored bottom up ("+Y N +X M") or in any other order ("missing image size
    specifier"), so that line is rewritten and the picture turned after. Unchanged (and 1) for
    others."""
    line = _radiance_size_line(data)
    if line is None:
        return data, 1
    found, at, end, exact = line
    orientation = _RADIANCE_ORIENTATIONS.get(found[1] + found[2] + found[4] + found[5], 1)
    if orientation == 1 and exact:
        return data, 1
    form = np.frombuffer(b"" if exact else _RADIANCE_RGBE, np.uint8)
    standard = np.frombuffer(b"-Y %d +X %d" % (int(found[3]), int(found[6])) if orientation != 1 else
                             found[0], np.uint8)
    return np.concatenate([data[:end], form, data[end:at], standard, data[at + found.end():]]), orientation


# The FORMAT line OpenCV's reader takes, and no other: Radiance's own readers take a header without one
# as RGBE, and skip white space around its value, as FFmpeg did (`radiance_as_opencv_reads` writes it in).
_RADIANCE_RGBE = b"FORMAT=32-bit_rle_rgbe\n"


def _radiance_size_line(data: np.ndarray) -> tuple[re.Match, int, int, bool] | None:
    """The line OpenCV takes for a Radiance picture's size (matched by `_RADIANCE_SIZE`), where it
    starts, where the blank line before it starts, and whether OpenCV's reader takes its FORMAT line
    (`_RADIANCE_RGBE`); None where it is not one, it is not RGBE, or OpenCV would find no size. Read
    as OpenCV's reader reads the header (`_radiance_pieces`): a header over 64 KiB, or a line cut at
    127 bytes, made it see another size line than the one checked here."""
    if not bytes(data[:10]).startswith(RADIANCE_SIGNATURES):
        return None
    pieces = _radiance_pieces(bytes(data[:RADIANCE_HEADER_BYTES]))
    form, exact, at = None, False, 0
    for piece in pieces:
        at += len(piece)
        if piece[:1] in (b"\n", b"\0"):  # the header's end
            found = _RADIANCE_SIZE.match(next(pieces, b"")) if form in (None, "32-bit_rle_rgbe") else None
            if not found or found[2] == found[5] or max(len(found[3]), len(found[6])) > 9:
                return None
            return found, at, at - len(piece), exact
        form = _radiance_format_value(piece) if form is None else form
        exact = exact or piece == _RADIANCE_RGBE
    return None


RADIANCE_HEADER_BYTES = 1 << 20  # a longer header is not read (refused)


def radiance_format(data: np.ndarray) -> str | None:
    """The value of a Radiance header's first FORMAT line ("32-bit_rle_rgbe", "32-bit_rle_xyze", ""),
    read as OpenCV reads the header; None where it has none (OpenCV reads RGBE alone: an XYZE picture
    was said to lack its size line)."""
    for piece in _radiance_pieces(bytes(data[:RADIANCE_HEADER_BYTES])):
        if piece[:1] in (b"\n", b"\0"):
            return None
        if (form := _radiance_format_value(piece)) is not None:
            return form
    return None


def _radiance_format_value(piece: bytes) -> str | None:
    """A Radiance header line's FORMAT value, the white space around it skipped (as Radiance's
    `formatval` does), other than printable ASCII shown as "?"; None for another line."""
    if not piece.startswith(b"FORMAT="):
        return None
    return "".join(c if c.isascii() and c.isprintable() else "?" for c in piece[7:].strip().decode("latin-1"))


def _radiance_pieces(head: bytes) -> Iterator[bytes]:
    """The header as OpenCV's Radiance reader takes it: `fgets` into 128 bytes, so a line of 127
    bytes or more comes in pieces, a piece that starts with its newline ending the header."""
    at = 0
    while at < len(head):
        end = head.find(b"\n", at, at + 127)
        stop = end + 1 if end >= 0 else min(at + 127, len(head))
        yield head[at:stop]
        at = stop


def tiff_sample_bytes(data: np.ndarray) -> tuple[int, int, int] | None:
    """(width, height, bytes a pixel) of a classic TIFF's first picture, from its first IFD (OpenCV
    decodes it at its own depth: a 14 KB float TIFF of 16000x16000 became 3 GiB of samples before
    any size check); None where it is not one or the fields are not there."""
    fields = {tag: max(values) for tag, values in (tiff_fields(data, (256, 257, 258, 277)) or {}).items()}
    if 256 not in fields or 257 not in fields:
        return None
    return fields[256], fields[257], fields.get(277, 1) * -(-fields.get(258, 1) // 8)


def tiff_fields(data: np.ndarray, wanted: tuple[int, ...]) -> dict[int, tuple[int, ...]] | None:
    """The `wanted` tags' whole-number values (up to 16 each) in a TIFF's first IFD, classic or
    BigTIFF (8-byte offsets and counts, 20-byte entries: `is_bigtiff`); None where the file is not one."""
    entries = _tiff_entries(data, wanted)
    if entries is None:
        return None
    order = "<" if bytes(data[:2]) == b"II" else ">"
    fields: dict[int, tuple[int, ...]] = {}
    for tag, unit, count, where in entries:
        shown = min(count, 16)
        values = bytes(data[where:where + shown * struct.calcsize(unit)])
        if len(values) == shown * struct.calcsize(unit):
            fields[tag] = struct.unpack(order + unit * shown, values)
    return fields


def _tiff_ifd_layout(data: np.ndarray) -> tuple[str, str, str, int, int] | None:
    """A TIFF's byte order, the `struct` units of its offsets and of its IFDs' entry counts, an
    entry's length (classic, or BigTIFF: `is_bigtiff`) and where its first IFD is; None where the
    file is not one."""
    head = bytes(data[:16])
    big = is_bigtiff(data)
    if len(head) < (16 if big else 8) or not big and head[:4] not in (b"II*\0", b"MM\0*"):  # (4 bytes alone: a
        return None  # struct.error)
    order = "<" if head[:2] == b"II" else ">"
    offset, number, entry = ("Q", "Q", 20) if big else ("I", "H", 12)  # (offsets, the entries' number, an entry)
    return order, offset, number, entry, struct.unpack_from(order + offset, head, 8 if big else 4)[0]


def _tiff_entries(data: np.ndarray, wanted: tuple[int, ...]) -> list[tuple[int, str, int, int]] | None:
    """(tag, `struct` unit, count, where its values start in the file) of the `wanted` tags of
    whole numbers in a TIFF's first IFD (up to 4096 entries read; those of the entries the file
    holds); None where the file is not one. Values in the entry are found there, others where it
    points: in the file or beyond its end."""
    layout = _tiff_ifd_layout(data)
    if layout is None:
        return None
    order, offset, number, entry, ifd = layout
    inline = struct.calcsize(offset)  # (a value of up to this many bytes is in its entry)
    raw = bytes(data[ifd:ifd + struct.calcsize(number)])
    if len(raw) < struct.calcsize(number):
        return []
    start = ifd + len(raw)
    entries = bytes(data[start:start + entry * min(struct.unpack(order + number, raw)[0], 4096)])
    found = []
    for at in range(0, len(entries) - entry + 1, entry):
        tag, kind, count = struct.unpack_from(order + "HH" + offset, entries, at)
        unit = {3: "H", 4: "I", 16: "Q"}.get(kind)  # (16: BigTIFF's 8-byte whole numbers)
        if tag not in wanted or unit is None or count == 0:
            continue
        value_at = start + at + 4 + inline
        if count * struct.calcsize(unit) > inline:  # (an RGB's three sample sizes, elsewhere in the file)
            value_at = struct.unpack_from(order + offset, entries, at + 4 + inline)[0]
        found.append((tag, unit, count, value_at))
    return found


# A TIFF's tags that place its picture data: strip offsets and byte counts, tile offsets and byte counts.
_TIFF_PIECES = ((273, 279), (324, 325))


def tiff_cut_short(data: np.ndarray) -> bool:
    """Whether a TIFF ends before its first IFD, the values it points to, or the strips or tiles
    they place (offset plus byte count) do: libtiff's words for one cut short were a warning of
    its recovery ("Bogus StripByteCounts field, ignoring and calculating from imagelength") or
    "Seek error accessing TIFF directory". False for other files, and for one whole but damaged."""
    layout, entries = _tiff_ifd_layout(data), _tiff_entries(data, tuple(tag for pair in _TIFF_PIECES for tag in pair))
    if layout is None or entries is None:
        return False
    order, offset, number, entry, ifd = layout
    if ifd < 2 * struct.calcsize(offset):  # (within its header, 8 or 16 bytes: damaged, not cut)
        return False
    raw = bytes(data[ifd:ifd + struct.calcsize(number)])
    if len(raw) < struct.calcsize(number):
        return True
    if ifd + len(raw) + entry * struct.unpack(order + number, raw)[0] + struct.calcsize(offset) > data.size:
        return True  # (its entries, or the offset of the next IFD after them)
    values = {}
    for tag, unit, count, where in entries:
        if where + count * struct.calcsize(unit) > data.size:
            return True
        values[tag] = np.frombuffer(bytes(data[where:where + count * struct.calcsize(unit)]), order + unit).astype(np.uint64)
    size = np.uint64(data.size)
    for starts, counts in _TIFF_PIECES:  # (each piece's end compared without a sum that could wrap)
        if starts in values and counts in values and len(values[starts]) == len(values[counts]):
            if np.any((values[counts] > size) | (values[starts] > size - np.minimum(values[counts], size))):
                return True
    return False


def tiff_pages(data: np.ndarray, most: int = 10000) -> int | None:
    """How many directories (pages) a TIFF's chain of IFDs holds, up to `most` (a loop stops it);
    None where the file is not one. Pillow's count opens none it cannot read (16-bit grey and alpha,
    CMYK and alpha): their other pages went unmentioned."""
    layout = _tiff_ifd_layout(data)
    if layout is None:
        return None
    order, offset, number, entry, ifd = layout
    seen: set[int] = set()
    while ifd and ifd not in seen and len(seen) < most:
        seen.add(ifd)
        raw = bytes(data[ifd:ifd + struct.calcsize(number)])
        if len(raw) < struct.calcsize(number):
            break
        at = ifd + len(raw) + entry * struct.unpack(order + number, raw)[0]
        after = bytes(data[at:at + struct.calcsize(offset)])
        ifd = struct.unpack(order + offset, after)[0] if len(after) == struct.calcsize(offset) else 0
    return len(seen)


def is_bigtiff(data: np.ndarray) -> bool:
    """Whether the file is a BigTIFF (version 43, 8-byte offsets), which FFmpeg does not open."""
    head = bytes(data[:8])
    return len(head) == 8 and head[:4] in (b"II+\0", b"MM\0+") and head[4:8] in (b"\x08\0\0\0", b"\0\x08\0\0")


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


def webp_exif(data: np.ndarray) -> np.ndarray | None:
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


# The shortest BMP information header of 32-bit sides OpenCV decodes past (OS/2 2.x's 16 bytes aside):
# Windows' BITMAPINFOHEADER is 40, its successors 52, 56, 108, 124, OS/2 2.x's 64; OpenCV takes any
# length from 36 up to 2^31 - 1 (a 200-byte one stating 16000x16000 was decoded whole, 1.6 GB, to be
# refused; one of 16 MiB, 1.6 GB too). No header is 16 MiB long: from there up, a length is taken
# only where OpenCV reads on past its compression (0 to 3, which it asserts): four bytes of text
# read as a length (a text file starting "BM") fail there, in OpenCV as here.
_BMP_LONG_HEADER = 36
_BMP_HEADER_LIMIT = 1 << 24
_BMP_OPENCV_HEADER_LIMIT = 1 << 31
_BMP_COMPRESSIONS = 4  # (RGB, RLE8, RLE4, BITFIELDS)


def bmp_size(data: np.ndarray) -> tuple[int, int] | None:
    """(width, height) from a BMP's header: an OS/2 core one's (12 bytes: 16-bit sides) or a
    BITMAPINFOHEADER's, OS/2 2.x's and their successors' (32-bit, signed: a negative height is a
    picture stored top-down). None where it is not one. Its decode is the picture's size, however little data
    follows: a 32 MB 1-bit file stating 16000x16000 was decoded whole (1.6 GB) to be refused."""
    head = bytes(data[:34])
    if len(head) < 26 or head[:2] != b"BM":
        return None
    header = int.from_bytes(head[14:18], "little")
    compressed = int.from_bytes(head[30:34], "little") if len(head) == 34 else _BMP_COMPRESSIONS
    long = _BMP_LONG_HEADER <= header < _BMP_OPENCV_HEADER_LIMIT and (header < _BMP_HEADER_LIMIT
                                                                     or compressed < _BMP_COMPRESSIONS)
    width, height = (struct.unpack("<HH", head[18:22]) if header == 12 else
                     struct.unpack("<ii", head[18:26]) if header == 16 or long else (0, 0))
    return (width, abs(height)) if width > 0 and height else None


def check_bmp(data: np.ndarray, name: str, max_pixels: int) -> None:
    """Refuse, before it is decoded, an RLE8 or RLE4 BMP whose picture data (from where its header
    places it to the file's end) cannot set all the pixels its header states (at most
    BMP_RLE_PIXELS_PER_2_BYTES a 2 bytes): a 1,100-byte RLE8 file stating 16000x16000 was decoded
    whole, 85 s and 2.2 GB (Pillow refuses it). Held above SPARSE_RLE_PIXELS only (smaller sparse
    pictures are valid, and cheap); one of over `max_pixels` is left to the decoder's refusal,
    which says that. Other files pass."""
    head, size = bytes(data[:34]), bmp_size(data)  # (an OS/2 1.x header, of 12 bytes, has no compression field)
    if len(head) < 34 or size is None or int.from_bytes(head[14:18], "little") < 40:
        return
    offset = int.from_bytes(head[10:14], "little")
    (width, height), (bits, compression) = size, struct.unpack("<HI", head[28:34])
    if (compression, bits) not in ((1, 8), (2, 4)):
        return
    pixels, coded = width * height, max(0, data.size - offset)
    most = coded // 2 * BMP_RLE_PIXELS_PER_2_BYTES
    if most < pixels <= max_pixels and pixels > SPARSE_RLE_PIXELS:
        raise UserError(f"{name}: not a readable image (a {width}x{height} RLE{bits} BMP whose {coded} bytes of "
                        f"picture data can set at most {most} of its {pixels} pixels: cut short, or a sparse "
                        f"picture too large to decode from so little)")


def looks_cut_short(data: np.ndarray) -> str | None:
    """The format's name ("JPEG", "PNG", "WebP", "TIFF", "GIF", "BMP") when a file of it ends before
    its own structure says it does (a download or copy cut short), else None. A JPEG ends with its
    end marker (trailing bytes after it are another matter: such files decode), a PNG with its IEND
    chunk, a GIF with its trailer (";"); a WebP states its length, a TIFF where its directory and
    strips are (`tiff_cut_short`), an uncompressed BMP its rows' length (`_bmp_rows_short`)."""
    head, tail = bytes(data[:12]), bytes(data[-12:])
    if head.startswith(b"\xff\xd8\xff"):
        return None if tail.endswith(b"\xff\xd9") else "JPEG"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return None if b"IEND" in tail else "PNG"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WebP" if int.from_bytes(head[4:8], "little") + 8 > data.size else None
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return None if tail.endswith(b";") else "GIF"
    if tiff_cut_short(data):
        return "TIFF"
    if _bmp_rows_short(data):
        return "BMP"
    return None


def _bmp_rows_short(data: np.ndarray) -> bool:
    """Whether an uncompressed BMP (or one of bit fields) ends before the rows its header states
    (even unpadded) from where it places them: OpenCV said "can't read data: Unexpected end
    of input stream"."""
    head, size = bytes(data[:34]), bmp_size(data)
    if size is None or len(head) < 30:
        return False
    core = int.from_bytes(head[14:18], "little") == 12  # (OS/2 1.x: its bits a pixel at 24, no compression)
    bits = int.from_bytes(head[24:26] if core else head[28:30], "little")
    compression = 0 if core or len(head) < 34 else int.from_bytes(head[30:34], "little")
    if compression not in (0, 3, 6) or not bits:  # (RGB, BITFIELDS, ALPHABITFIELDS)
        return False
    width, height = size
    start = int.from_bytes(head[10:14], "little")  # (rows stored unpadded, which FFmpeg reads, fill less: not cut)
    return data.size < start + (width * bits + 7) // 8 * height
