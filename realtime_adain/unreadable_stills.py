"""What to say of a still no decoder here reads: a format known but not decodable (JPEG XL, HEIF
without pillow-heif, a video, an SVG, gzip, PDF: `unsupported_format`; a PDF, or an AVIF or HEIC
sequence, to `video` and `live` too: `unsupported_document`, `unsupported_sequence`), a file cut short
(`CUT_SHORT`, `JPEG_CUT_SHORT`), and whether a WebP is animated (`is_animated_webp`: FFmpeg
decodes none of its frames, Pillow only its first)."""

from __future__ import annotations

import numpy as np

from realtime_adain.pillow_stills import heif_kind

# Signatures of formats neither OpenCV nor Pillow reads here: (prefix, offset, what the error says).
_UNSUPPORTED = ((b"\xff\x0a", 0, "JPEG XL"), (b"\0\0\0\x0cJXL \r\n\x87\n", 0, "JPEG XL"))

JPEG_CUT_SHORT = "the file ends before its picture does (cut short?); the rest of the picture is missing"
CUT_SHORT = {"JPEG": "the JPEG has no end marker: cut short?", "PNG": "the PNG does not end with its IEND chunk: "
             "cut short?", "WebP": "the WebP is shorter than its header says: cut short?",  # (`looks_cut_short`)
             "PNG data": "the PNG's image data ends before its picture does: cut short?",  # (`png_data_short`)
             "TIFF": "the TIFF ends before its picture data: cut short?", "GIF": "the GIF has no end marker: "
             "cut short?", "BMP": "the BMP ends before its picture's rows do: cut short?"}

_HEIF_INSTALL = 'pip install "realtime-adain[heif]"'

VIDEO_HINT = "(`realtime-adain video` stylizes videos)"  # (benches and the API say it their own way)

def is_animated_webp(head: bytes) -> bool:
    """Whether a file starting with `head` (30 bytes or more) is an animated WebP: an extended
    header (VP8X) whose flags say animation. Pillow reads only its first frame here (`frame_count`
    says so), and FFmpeg 8.1 decodes none of its frames."""
    return head[:4] == b"RIFF" and head[8:16] == b"WEBPVP8X" and len(head) > 20 and bool(head[20] & 0x02)


def _is_video(head: bytes) -> bool:
    """Whether a file that no image decoder read starts as a video container does (MP4/MOV, after
    HEIC/HEIF and AVIF, which share MP4's box: a damaged AVIF is not called a video; Matroska/WebM,
    AVI, MPEG-TS and -PS, FLV, Ogg, ASF)."""
    return ((head[4:8] == b"ftyp" and head[8:12] != b"avif")
            or head.startswith((b"\x1a\x45\xdf\xa3", b"FLV\x01", b"OggS", b"\x00\x00\x01\xba",
                                b"\x30\x26\xb2\x75\x8e\x66\xcf\x11"))
            or (head.startswith(b"RIFF") and head[8:12] == b"AVI ") or (head[:1] == b"\x47" and head[188:189] == b"\x47"))


def unsupported_format(data: np.ndarray) -> str | None:
    """What to say about a file in a format known but not decodable here (None: not recognised)."""
    head = bytes(data[:1024])
    kind = heif_kind(head)
    if kind:  # (with pillow-heif, `pillow_rgb` has said what is wrong)
        return f"{kind} images need pillow-heif: {_HEIF_INSTALL}"
    said = unsupported_picture(head)
    if said is None and _is_video(head):
        return f"a video or sound file, not an image {VIDEO_HINT}"
    return said


def unsupported_picture(head: bytes) -> str | None:
    """What to say about a file starting with `head` (its first 1024 bytes) that is a picture or
    document of a format nothing here reads (None: not one; HEIF aside, which pillow-heif reads):
    `image` says it, and `video` of a picture or sequence FFmpeg finds no decoder for (a JPEG XL
    was "a codec it does not know")."""
    for signature, offset, kind in _UNSUPPORTED:
        if head[offset:offset + len(signature)] == signature:
            return f"{kind} images cannot be read here; convert it to PNG or JPEG"
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if b"<svg" in text and text.startswith((b"<?xml", b"<!doctype", b"<!--", b"<svg")):
        return "an SVG drawing, not a raster image; export it to PNG first"
    if head.startswith(b"\x1f\x8b"):
        return "a gzip-compressed file (an .svgz drawing?), not an image"
    return unsupported_document(head)


def unsupported_document(head: bytes) -> str | None:
    """What to say about a file starting with `head` that is a document, not a picture (a PDF), None
    where it is not one: FFmpeg's MJPEG probe finds a PDF's embedded photos, which `video` and
    `live` played as its frames (its text lost) where `image` refused it. Its header may come
    after blank lines or a byte-order mark, which readers skip (and FFmpeg played)."""
    if head.removeprefix(b"\xef\xbb\xbf").lstrip().startswith(b"%PDF"):
        return "a PDF document, not an image; export the page to PNG first"
    return None


def unsupported_sequence(head: bytes) -> str | None:
    """What to say about a numbered sequence whose first picture starts with `head`, of a format
    read alone but not in a sequence (None: not one): an AVIF or HEIC, which FFmpeg reads alone as
    an MP4-like file but its sequence reader (image2) has no decoder for ("a codec it does not know")."""
    avif = head[4:8] == b"ftyp" and head[8:12] in (b"avif", b"avis")
    if kind := "AVIF" if avif else heif_kind(head):
        return (f"{kind} picture sequences cannot be read here (a single {kind} picture can); "
                "convert the pictures to PNG or JPEG")
    return None
