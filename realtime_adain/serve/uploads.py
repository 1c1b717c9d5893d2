"""Style images uploaded by a client: read from the form within bounds, limited in bytes and
pixels, decoded by our own reader.

The form is read part by part, its parts and lines bounded (`image_field`). The byte limit is
enforced while reading the request (aiohttp's client_max_size, and per part), the pixel
limit from the image header before any decoding (so a small file that claims a huge image is
refused without allocating it), and the decoding itself is `imageio.decode_image`, the same
safe decoder every command reads files with (from memory; a Radiance picture from a temporary
file of its own, removed after), its native libraries' lines on stderr caught as the commands'
are, on whatever thread decodes.
"""

from __future__ import annotations

import asyncio
import hashlib
import struct
import zlib
from typing import Mapping

import numpy as np
from aiohttp import BodyPartReader, MultipartReader, StreamReader
from aiohttp.helpers import parse_mimetype

from realtime_adain.errors import UserError
from realtime_adain.imageio import decode_image
from realtime_adain.native_stderr import capturing_here
from realtime_adain.pillow_stills import open_with_pillow
from realtime_adain.still_headers import stated_size


class UploadRefused(Exception):
    """Answered with `status` and `{"error": message}`."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


MAX_FORM_PARTS = 8  # parts looked at for the field `image` (the page sends that field alone)
MAX_FORM_LINES = 256  # lines of the form's own: text before its first boundary, boundaries, parts' headers


class CountedLines:
    """The request body as aiohttp's multipart reader reads it, its lines counted and bounded: the
    reader loops over lines (text before the first boundary, parts' headers) without yielding while
    they are buffered, so a body of a million of them held the event loop, every client's frames
    with it, for half a minute. The parts' contents are read in chunks, not lines."""

    def __init__(self, content: StreamReader) -> None:
        self._content, self.lines = content, 0

    async def readline(self, **limits) -> bytes:
        self.lines += 1
        if self.lines > MAX_FORM_LINES:
            raise UploadRefused(400, f"the form has more than {MAX_FORM_LINES} lines of headers and boundaries "
                                     "(or text before its first boundary)")
        return await self._content.readline(**limits)

    def __getattr__(self, name: str):
        return getattr(self._content, name)


async def image_field(headers: Mapping[str, str], content: StreamReader, limit: int) -> bytes:
    """The multipart field `image`, read up to `limit` bytes (a larger one is refused while
    reading), found among at most MAX_FORM_PARTS parts, each of the others read to the void up to
    the limit too. Each part gives the event loop a turn: aiohttp's reader gives none while the
    body is buffered (100000 parts of a byte each held every client's frames for 50 s)."""
    given = headers.get("Content-Type")
    if given is None or parse_mimetype(given).type != "multipart":  # (aiohttp's reader: a KeyError, an assertion)
        said = "the request has no Content-Type" if given is None else f"its Content-Type is {given[:60]!r}"
        raise UploadRefused(400, f"the body is not multipart/form-data: {said} "
                                 "(the image goes in the form's field 'image')")
    if not parse_mimetype(given).parameters.get("boundary", "").strip('"'):
        # (an empty one: aiohttp's reader said "more than 256 lines of headers and boundaries")
        raise UploadRefused(400, "the form's Content-Type names no boundary (multipart/form-data; boundary=...)")
    reader = MultipartReader(headers, CountedLines(content))
    for _ in range(MAX_FORM_PARTS):
        part = await reader.next()
        if part is None:
            raise UploadRefused(400, "the body must be multipart/form-data with a field 'image'")
        if not isinstance(part, BodyPartReader):  # (its own parts: a loop of their own)
            raise UploadRefused(400, "the form's parts must not be multipart themselves: the field 'image' is a file")
        data = await _part_bytes(part, limit)
        if part.name == "image":
            return data
        await asyncio.sleep(0)  # (another field: the other clients' turn)
    raise UploadRefused(400, f"the field 'image' is not among the form's first {MAX_FORM_PARTS} parts "
                             "(the page sends that field alone)")


async def _part_bytes(part: BodyPartReader, limit: int) -> bytes:
    data = bytearray()
    while chunk := await part.read_chunk(64 * 1024):
        data += chunk
        if len(data) > limit:
            what = "the image" if part.name == "image" else f"the form's field {str(part.name)[:40]!r}"
            raise UploadRefused(413, f"{what} is larger than the {limit} bytes allowed")
    return bytes(data)


def header_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) the image header states, without decoding: from `still_headers.stated_size`
    for the formats it reads (JPEG, PNG, TIFF, GIF, WebP, BMP, PSD, Radiance, those FFmpeg decodes),
    else from Pillow's header. Pillow's own bomb check refused a 44-byte WebP stating 16000x16000
    without saying its size (400, after 0.8 GB), where the size is the 413 answer."""
    try:
        stated = stated_size(np.frombuffer(data, np.uint8), "the upload")
    except UserError:  # (a header the reader refuses, an EXR's of too many attributes: it says so)
        return None
    if stated is not None:
        return stated
    try:
        with open_with_pillow(data) as image:
            return image.size
    except Exception:  # noqa: BLE001 - not a format Pillow knows, or a damaged header: the reader decides
        return None


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# The chunks a PNG's pixels are read from (and tRNS's transparency, iCCP's colour profile, eXIf's
# orientation, APNG's frames); the rest (sRGB, gAMA, text, ...) change nothing the reader reads.
PNG_PIXEL_CHUNKS = {b"IHDR", b"PLTE", b"tRNS", b"iCCP", b"IDAT", b"IEND", b"eXIf", b"acTL", b"fcTL", b"fdAT"}
ICC_NAME = b"ICC profile"


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


MAX_ICC_BYTES = 4 << 20  # a colour profile is a few KB; a larger one is left out, not inflated


D50 = bytes.fromhex("0000f6d6 00010000 0000d32d")  # the PCS illuminant, as an ICC profile writes it


def _sound_profile(body: bytes, colour_type: int) -> bytes | None:
    """An iCCP chunk's compressed profile where libpng reads it without a warning, else None (the
    chunk is left out): the header's checks of libpng's png_icc_check_header and tag table (size,
    signature, colour space for the PNG's `colour_type`, intent, D50 illuminant, the tags inside)."""
    _name, _, rest = body.partition(b"\0")
    if not rest or rest[0] != 0:  # (0: deflate, the one method PNG has)
        return None
    try:
        inflater = zlib.decompressobj()
        profile = inflater.decompress(rest[1:], MAX_ICC_BYTES)
    except zlib.error:
        return None
    if inflater.unconsumed_tail or len(profile) < 132:
        return None
    (size,), (intent,), (tags,) = (struct.unpack_from(">I", profile, at) for at in (0, 64, 128))
    space = profile[16:20]
    sound = (size == len(profile) and profile[36:40] == b"acsp" and intent < 4 and profile[68:80] == D50
             and space == (b"GRAY" if colour_type in (0, 4) else b"RGB ") and profile[20:24] in (b"XYZ ", b"Lab ")
             and (profile[8] < 4 or size % 4 == 0) and 132 + 12 * tags <= size)
    for at in range(132, 132 + 12 * tags if sound else 132, 12):
        start, length = struct.unpack_from(">II", profile, at + 4)
        sound = sound and start % 4 == 0 and start <= size and length <= size - start
    return rest[1:] if sound else None


def png_pixels_only(data: bytes) -> bytes:
    """A PNG upload as the reader needs it: the chunks that hold no pixels left out, and the
    colour profile's name (chosen by the client) replaced, the profile itself kept where libpng
    reads it without a warning. libpng printed its warnings about them ("iCCP: profile 'NAME':
    ...") on the server's log, which is one line per client. What is not
    a PNG is returned as it is; a PNG's bytes past chunks that do not add up are kept as they are."""
    if not data.startswith(PNG_SIGNATURE):
        return data
    kept, at, colour_type, profiles = [PNG_SIGNATURE], len(PNG_SIGNATURE), None, 0
    while at + 12 <= len(data):
        length, kind = struct.unpack_from(">I4s", data, at)
        end = at + 12 + length
        if end > len(data):
            break
        if kind == b"IHDR" and length == 13:
            colour_type = data[at + 17]
        if kind == b"iCCP":  # (the first only: libpng warns of a second)
            profiles += 1
            if profiles == 1 and colour_type is not None and (
                    profile := _sound_profile(data[at + 8:end - 4], colour_type)) is not None:
                kept.append(_chunk(kind, ICC_NAME + b"\0\0" + profile))
        elif kind in PNG_PIXEL_CHUNKS:
            kept.append(data[at:end])
        at = end
        if kind == b"IEND":
            break
    return b"".join(kept) + data[at:]


def decode(data: bytes, max_bytes: int, max_pixels: int) -> tuple[np.ndarray, str]:
    """The upload as (H, W, 3) uint8 RGB and the SHA-256 of its bytes."""
    if len(data) > max_bytes:
        raise UploadRefused(413, f"the image is {len(data)} bytes, more than the {max_bytes} allowed")
    if not data:
        raise UploadRefused(400, "the upload is empty")
    size = header_size(data)
    if size is not None and size[0] * size[1] > max_pixels:
        raise UploadRefused(413, f"the image is {size[0]}x{size[1]}, more than the {max_pixels} pixels allowed")
    try:
        with capturing_here():  # (on a worker thread: libtiff's, libjpeg's warnings filled the server's log)
            image = decode_image(png_pixels_only(data), "the upload")
    except UserError as exc:
        raise UploadRefused(400, str(exc)) from None
    if image.shape[0] * image.shape[1] > max_pixels:
        raise UploadRefused(413, f"the image is {image.shape[1]}x{image.shape[0]}, more than the {max_pixels} pixels allowed")
    return image, hashlib.sha256(data).hexdigest()
