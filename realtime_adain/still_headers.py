"""Picture sizes read from the headers of the still formats FFmpeg decodes here (JPEG 2000,
OpenEXR, PAM, lossless, 12-bit JPEG, JPEG-LS, DPX, SGI, XWD, PHM, 16-bit PSD, FITS, Alias PIX and
the TIFFs of `tiff_layouts.TIFF_KINDS`:
`ffmpeg_stills.ffmpeg_still`; the JPEGs' from `jpeg_headers`) before anything is decoded: a few
bytes may claim billions of pixels, and FFmpeg allocates what they claim. Also what an EXR's header
says of its blocks of pixels (a file cut short reads black rows, and FFmpeg says nothing), whether
an SGI, PSD or Alias PIX file holds the data its header states, and the EXIF orientation of a JPEG,
WebP or TIFF, which FFmpeg leaves to its caller. The headers of the stills OpenCV decodes:
`opencv_headers`; the size any of these (or a PSD or PSB Pillow reads) states, for a caller's pixel
budget: `stated_size`."""

from __future__ import annotations

import re
import struct

import numpy as np

from realtime_adain.errors import UserError
from realtime_adain.hdr_stills import MAX_BOXES, boxes
from realtime_adain.jpeg_headers import ffmpeg_jpeg, jpeg_exif, jpeg_size
from realtime_adain.opencv_headers import (bmp_size, gif_sample_bytes, png_sample_bytes, radiance_sample_bytes,
                                           tiff_fields, tiff_sample_bytes, webp_exif, webp_sample_bytes)
from realtime_adain.tiff_layouts import TIFF_KINDS, tiff_layout

# What FFmpeg decodes here, by signature: a .jp2 file, a bare JPEG 2000 codestream; OpenEXR; PAM; DPX
# (big- or little-endian); SGI (verbatim or RLE, 8 or 16 bits); PHM (FFmpeg's half-float PFM: colour,
# grey). XWD has no signature at its start (`_is_xwd`). OpenCV reads none of the last four, Pillow SGI
# alone (it refused FFmpeg's RLE files): they were "not a readable image".
JPEG2000_SIGNATURES = (b"\0\0\0\x0cjP  \r\n\x87\n", b"\xff\x4f\xff\x51")
_SGI_SIGNATURES = tuple(b"\x01\xda" + bytes([rle, depth]) for rle in (0, 1) for depth in (1, 2))
_PHM_SIGNATURES = tuple(b"P" + kind + space for kind in (b"H", b"h") for space in (b" ", b"\t", b"\r", b"\n"))
FFMPEG_STILLS = {"JPEG 2000": JPEG2000_SIGNATURES, "OpenEXR": (b"\x76\x2f\x31\x01",), "PAM": (b"P7\n",),
                 "DPX": (b"SDPX", b"XPDS"), "SGI": _SGI_SIGNATURES, "PHM": _PHM_SIGNATURES}
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
    decodes here (`FFMPEG_STILLS`, a 16- or 32-bit PSD, a FITS image, an Alias PIX named .pix,
    `jpeg_headers.ffmpeg_jpeg`); None for other files. Shared by the reader
    (`ffmpeg_stills.ffmpeg_still`) and serve's upload check, which answers an oversized one 413."""
    head = bytes(data[:48])
    kind = next((kind for kind, signatures in FFMPEG_STILLS.items() if head.startswith(signatures)), None)
    if kind is None and _is_xwd(head):
        kind = "XWD"
    kind = (kind or _wide_psd_kind(head) or ("FITS" if fits_cards(data).get(b"NAXIS", 0) >= 2 else None)
            or _tiff_kind(data))
    if kind is None and _is_alias_pix(head, name):
        kind = "Alias PIX"
    if kind is None:
        return ffmpeg_jpeg(data, name)
    return kind, exr_size(data, name) if kind == "OpenEXR" else _STILL_SIZES[kind](data)


def stated_size(data: np.ndarray, name: str) -> tuple[int, int] | None:
    """(width, height) of the picture a still's header states, turned as a JPEG's or WebP's EXIF
    orientation turns it, before anything is decoded: a caller's pixel budget is checked on it
    first (a 16384x16384 PNG took 46 s and 2.1 GB to decode before it was refused; a 207-byte
    arithmetic-coded JPEG cut short, 30 s and 1.5 GB). JPEG (any coding), PNG, TIFF, GIF, WebP,
    Radiance, BMP, PSD and PSB (any depth: a 6.8 MB RLE one of 12000x12000 took 3.1 GB) and the
    stills FFmpeg decodes; None for others (Pillow's other formats, which `pillow_stills.pillow_rgb`
    checks against MAX_DECODE_PIXELS) and headers that state none. A side of 0 is refused here, for
    every format at once: a PNG, GIF or WebP stating one reached the budget's arithmetic, a
    ZeroDivisionError's traceback."""
    ffmpeg = ffmpeg_still_size(data, name)
    stated = ffmpeg[1] if ffmpeg else jpeg_size(data, name)
    if stated is None and not ffmpeg:
        opencv = (tiff_sample_bytes(data) or png_sample_bytes(data) or radiance_sample_bytes(data)
                  or gif_sample_bytes(data) or webp_sample_bytes(data))
        stated = opencv[:2] if opencv else bmp_size(data) or _photoshop_size(data)
    if stated is None:
        return None
    width, height = stated
    if not (width and height):
        raise UserError(f"{name}: not a readable image (its header states a size of {width}x{height})")
    return (height, width) if exif_orientation(data, name) >= 5 else (width, height)


def _tiff_kind(data: np.ndarray) -> str | None:
    """The kind of a TIFF only FFmpeg reads right (`tiff_layouts.TiffLayout.ffmpeg_kind`); None for others."""
    layout = tiff_layout(data)
    return layout.ffmpeg_kind if layout else None


def _tiff_size(data: np.ndarray) -> tuple[int, int] | None:
    """(width, height) from a TIFF's first directory; None where unstated."""
    stated = tiff_sample_bytes(data)
    return stated[:2] if stated else None


def _is_xwd(head: bytes) -> bool:
    """Whether a file starting with `head` (48 bytes) is an X Window Dump (version 7, big-endian
    header), its fields as FFmpeg's probe checks them: the header's size (100 bytes or more),
    the pixmap's format (0-2) and depth (1-32 bits), its byte and bit orders (0 or 1)."""
    if len(head) < 48:
        return False
    size, version, layout, depth, width, height, _, byte_order, _, bit_order = struct.unpack(">10I", head[:40])
    return (size >= 100 and version == 7 and layout <= 2 and 1 <= depth <= 32 and width > 0 and height > 0
            and byte_order <= 1 and bit_order <= 1)


# A Photoshop file's depths Pillow does not read (it reads 1- and 8-bit ones), by its header's depth
# field: FFmpeg reads 16-bit ones (they were "not a readable image"), no decoder here 32-bit ones.
_WIDE_PSD_KINDS = {16: "16-bit PSD", 32: "32-bit PSD"}


def _wide_psd_kind(head: bytes) -> str | None:
    """"16-bit PSD" or "32-bit PSD" for a Photoshop file (version 1: a PSB, version 2, is not
    one FFmpeg reads) of that depth; None for other files."""
    return _WIDE_PSD_KINDS.get(int.from_bytes(head[22:24], "big")) if head[:6] == b"8BPS\0\1" else None


def _psd_size(data: np.ndarray) -> tuple[int, int] | None:
    """(width, height) from a PSD header (its height first); None where unreadable."""
    fields = bytes(data[14:22])
    height, width = struct.unpack(">II", fields) if len(fields) == 8 else (0, 0)
    return (width, height) if width and height else None


def _photoshop_size(data: np.ndarray) -> tuple[int, int] | None:
    """(width, height) from the header of a Photoshop file (a PSD, version 1, or a PSB, version 2,
    of any depth: Pillow reads 1- and 8-bit PSDs, FFmpeg 16-bit ones); None for other files."""
    return _psd_size(data) if bytes(data[:6]) in (b"8BPS\0\1", b"8BPS\0\2") else None


def psd_samples(data: np.ndarray) -> tuple[int, bool]:
    """How many bytes a 16-bit PSD's channels (up to 5) take decoded, and whether its file is shorter
    than its merged picture needs (after the colour map, image resources and layers: its samples
    uncompressed, or an RLE one's table of row lengths, 2 bytes a row of each channel). FFmpeg
    allocates the picture (and an RLE one's samples) before it finds the data missing."""
    width, height = _psd_size(data) or (0, 0)
    channels = int.from_bytes(bytes(data[12:14]), "big")
    at = 26
    for _ in range(3):  # (colour map, image resources, layers and masks: each its length, then itself)
        at += 4 + int.from_bytes(bytes(data[at:at + 4]), "big")
    compression = bytes(data[at:at + 2])
    stated = width * height * channels * 2
    needed = stated if compression == b"\0\0" else 2 * height * channels
    return stated, len(compression) < 2 or data.size < at + 2 + needed


# The FITS header cards read here (80 characters each, in blocks of 36): those of a picture's size.
_FITS_CARDS = (b"NAXIS", b"NAXIS1", b"NAXIS2", b"NAXIS3")
_FITS_MAX_CARDS = 36 * 100


def fits_cards(data: np.ndarray) -> dict[bytes, int]:
    """A FITS file's primary header's axis cards (`_FITS_CARDS`) that hold whole numbers, read up to
    its END card; empty for other files. Only its primary picture is read (NAXIS 2 or 3): one of
    NAXIS 0, the pictures in extensions (Pillow reads a compressed one), is left to Pillow."""
    if bytes(data[:10]) != b"SIMPLE  = " or bytes(data[29:30]) != b"T":
        return {}
    found = {}
    for at in range(80, min(data.size, 80 * _FITS_MAX_CARDS), 80):
        card = bytes(data[at:at + 80])
        keyword = card[:8].rstrip()
        if keyword == b"END":
            break
        value = card[10:30].strip() if card[8:10] == b"= " else b""
        if keyword in _FITS_CARDS and value.isdigit():
            found[keyword] = int(value)
    return found


def _fits_size(data: np.ndarray) -> tuple[int, int] | None:
    """(width, height) of a FITS file's primary picture (NAXIS1, NAXIS2); None where unstated."""
    cards = fits_cards(data)
    width, height = cards.get(b"NAXIS1", 0), cards.get(b"NAXIS2", 0)
    return (width, height) if width and height else None


def _is_alias_pix(head: bytes, name: str) -> bool:
    """Whether a file named `name` starting with `head` is an Alias PIX picture: it has no
    signature, so only a .pix file (as FFmpeg's image2 demuxer names them) whose header (width,
    height, unused offsets, bits a pixel) states a size and 8 or 24 bits a pixel."""
    if not name.lower().endswith(".pix") or len(head) < 10:
        return False
    width, height, _, _, bits = struct.unpack(">5H", head[:10])
    return width > 0 and height > 0 and bits in (8, 24)


def _alias_pix_size(data: np.ndarray) -> tuple[int, int] | None:
    """(width, height) from an Alias PIX header."""
    return struct.unpack(">HH", bytes(data[:4]))


def alias_pix_data_short(data: np.ndarray) -> bool:
    """Whether an Alias PIX file is shorter than its fewest runs need (a row is runs of at most 255
    pixels, each a count and a 1- or 3-byte colour): FFmpeg allocates the picture before it reads
    them (a 10-byte file stating 16384x16384 took 0.8 GB)."""
    width, height, _, _, bits = struct.unpack(">5H", bytes(data[:10]))
    return data.size < 10 + height * -(-width // 255) * (1 + bits // 8)


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


def pam_size(data: np.ndarray) -> tuple[int, int] | None:
    """(width, height) from a PAM (P7) header's WIDTH and HEIGHT lines; None where unreadable."""
    header = bytes(data[:4096])
    if b"ENDHDR" not in header:
        return None
    fields = dict(re.findall(rb"^\s*(WIDTH|HEIGHT)\s+(\d{1,12})\s*$", header[:header.index(b"ENDHDR")], re.M))
    return (int(fields[b"WIDTH"]), int(fields[b"HEIGHT"])) if len(fields) == 2 else None


# (width, height) from the header of a still FFmpeg decodes here, by its kind (OpenEXR's: `exr_size`).
_STILL_SIZES = {"JPEG 2000": jpeg2000_size, "PAM": pam_size, "DPX": _dpx_size, "SGI": _sgi_size, "XWD": _xwd_size,
                "PHM": _phm_size, "16-bit PSD": _psd_size, "32-bit PSD": _psd_size, "FITS": _fits_size,
                "Alias PIX": _alias_pix_size, **{kind: _tiff_size for kind in TIFF_KINDS}}


def exif_orientation(data: np.ndarray, name: str) -> int:
    """The EXIF orientation (1 to 8; 1 where none, or another value) of a JPEG (its first APP1 Exif
    segment before its first scan, the one libjpeg's readers and Pillow take), a WebP (its EXIF
    chunk) or a TIFF (its first directory's, as OpenCV applies it); 1 for other files. FFmpeg's
    decoders leave it to their caller: a lossless JPEG, a JPEG-LS or a WebP libwebp refuses read
    sideways where OpenCV turned the same picture."""
    head = bytes(data[:12])
    tiff = head[:4] in (b"II*\0", b"MM\0*")  # (the tag in its own first directory)
    exif = (jpeg_exif(data, name) if head.startswith(b"\xff\xd8\xff") else data if tiff else
            webp_exif(data) if head[:4] == b"RIFF" and head[8:12] == b"WEBP" else None)
    if exif is None:
        return 1
    if bytes(exif[:6]) == b"Exif\0\0":  # (a JPEG's; a WebP's holds the TIFF structure alone, but some writers add it)
        exif = exif[6:]
    value = (tiff_fields(exif, (0x0112,)) or {}).get(0x0112, (1,))[0]
    return value if 1 <= value <= 8 else 1
