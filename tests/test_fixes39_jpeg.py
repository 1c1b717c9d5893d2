"""JPEGs against a tester's corpus of valid and cut-short files, round 39: a progressive file cut
inside a marker segment between scans was refused, one cut at a scan boundary or with a zero-filled
tail read without the "cut short?" note, 12-bit files were refused, and a file holding only its
grey's DC scan was refused as "most of its picture is missing"."""

from __future__ import annotations

import io
import re
import struct

import cv2
import numpy as np
import pytest
from PIL import Image

from realtime_adain.errors import UserError
from realtime_adain.imageio import decode_image
from realtime_adain.still_headers import ffmpeg_still_size
from realtime_adain.notes import collected

CUT_NOTE = "the file ends before its picture does (cut short?)"


def photo_jpeg(data_dir, side: int, **options) -> bytes:
    """A real photo, `side` pixels square, saved by Pillow with `options` (progressive, quality...)."""
    bgr = cv2.resize(cv2.imread(str(data_dir / "content" / "lenna.jpg")), (side, side), interpolation=cv2.INTER_AREA)
    encoded = io.BytesIO()
    Image.fromarray(bgr[..., ::-1]).save(encoded, "JPEG", **options)
    return encoded.getvalue()


def markers(jpeg: bytes, code: int) -> list[int]:
    """Where each marker `code` starts (never inside entropy-coded data: 0xFF there is followed by 0 or RSTn)."""
    return [found.start() for found in re.finditer(re.escape(bytes([0xFF, code])), jpeg)]


def read_with_notes(data: bytes, name: str) -> tuple[np.ndarray, list[str]]:
    with collected() as notes:
        return decode_image(data, name), notes


@pytest.mark.parametrize("segment", [0xC4, 0xDA])
def test_a_progressive_jpeg_cut_inside_a_segment_between_scans_reads_with_its_note(data_dir, segment):
    """Cut 2 bytes into a Huffman table (DHT) or scan header (SOS) after its first scans, it was
    refused "the JPEG has no end marker: cut short?": the end marker appended was read as part of
    that segment. It is now appended where that segment starts."""
    whole = photo_jpeg(data_dir, 128, progressive=True, quality=85)
    after = markers(whole, 0xDA)[3]  # (past the first scans)
    at = next(at for at in markers(whole, segment) if at > after)
    picture, notes = read_with_notes(whole[:at + 2], "cut.jpg")
    assert picture.shape == (128, 128, 3)
    assert np.abs(picture.astype(int) - decode_image(whole, "whole.jpg")).mean() < 16  # (less detail, all there)
    assert notes == [f"cut.jpg: {CUT_NOTE}; the rest of the picture is missing"]


def test_a_progressive_jpeg_missing_scans_or_zero_filled_says_so_and_one_missing_its_end_marker_alone_not(data_dir):
    """Cut exactly where a scan starts, or its tail zero-filled, a progressive file (its picture
    blurred, or grey below) read without a note: libjpeg's "premature end" was its only source.
    Now a JPEG without its end marker has the note unless its scans code every coefficient of
    every component in full and it does not end in zero bytes."""
    whole = photo_jpeg(data_dir, 128, progressive=True, quality=85)
    for cut in (whole[:markers(whole, 0xDA)[2]], whole[:len(whole) // 10] + bytes(len(whole) - len(whole) // 10)):
        assert read_with_notes(cut, "cut.jpg")[1] == [f"cut.jpg: {CUT_NOTE}; the rest of the picture is missing"]
    picture, notes = read_with_notes(whole[:-2], "no_end.jpg")
    assert np.array_equal(picture, decode_image(whole, "whole.jpg")) and notes == []


def twelve_bit(jpeg: bytes, frame: int) -> bytes:
    """A quality-100 JPEG (every quantiser 1) made the 12-bit JPEG of the same picture: its frame
    header (at `frame`) states 12 bits, baseline's becomes extended (SOF1), and each quantiser is
    16 (every coefficient and the level shift 16 times an 8-bit one's)."""
    data = bytearray(jpeg)
    data[frame + 1] = max(data[frame + 1], 0xC1)
    data[frame + 4] = 12
    for at in markers(jpeg[:frame], 0xDB):
        for table in range(at + 4, at + 2 + struct.unpack(">H", jpeg[at + 2:at + 4])[0], 65):
            assert set(data[table + 1:table + 65]) == {1}
            data[table + 1:table + 65] = bytes([16]) * 64
    return bytes(data)


@pytest.mark.parametrize("progressive", [False, True])
def test_a_12_bit_jpeg_is_read_by_ffmpeg(data_dir, progressive):
    """A 12-bit JPEG (SOF1/SOF2 of 12-bit samples), which FFmpeg decodes, was refused "not a
    readable image" (OpenCV's libjpeg reads 8-bit ones alone). It reads as FFmpeg decodes it,
    its samples mapped to 8 bits, its size known from its header (as serve's upload check
    reads it); cut short, with the note."""
    eight = photo_jpeg(data_dir, 96, progressive=progressive, quality=100, subsampling=0)
    data = twelve_bit(eight, markers(eight, 0xC2 if progressive else 0xC0)[0])
    assert ffmpeg_still_size(np.frombuffer(data, np.uint8), "x") == ("12-bit JPEG", (96, 96))
    picture, notes = read_with_notes(data, "deep.jpg")
    difference = np.abs(picture.astype(int) - decode_image(eight, "eight.jpg"))
    assert difference.mean() < 1 and difference.max() <= 4 and notes == []
    picture, notes = read_with_notes(data[:len(data) * 2 // 3], "cut.jpg")
    assert picture.shape == (96, 96, 3) and notes == [f"cut.jpg: {CUT_NOTE}; the rest of the picture is missing"]


def segment(marker: int, payload: bytes) -> bytes:
    return bytes([0xFF, marker]) + struct.pack(">H", len(payload) + 2) + payload


def test_a_progressive_jpeg_of_its_grey_dc_scan_alone_reads(data_dir):
    """A 1024x1024 4:4:4 progressive JPEG whose one scan is its grey's DC (a placeholder, whole
    with its end marker) was refused "most of its picture is missing, cut short?": the blocks of
    its colour components, which no scan codes, were counted. Now only the components its scans
    code; the check still refuses a file holding too little of those."""
    components = b"".join(bytes([number, 0x11, 0]) for number in (1, 2, 3))
    header = (b"\xff\xd8" + segment(0xDB, bytes([0]) + bytes([1]) * 64)
              + segment(0xC2, struct.pack(">BHHB", 8, 1024, 1024, 3) + components)
              + segment(0xC4, bytes([0x00, 1]) + bytes(15) + bytes([0]))  # (a DC table of one 1-bit code: 0)
              + segment(0xDA, bytes([1, 1, 0x00, 0, 0, 0])))
    blocks = (1024 // 8) ** 2  # (each a 0 bit: no change of DC, grey 128)
    picture, notes = read_with_notes(header + bytes(blocks // 8) + b"\xff\xd9", "placeholder.jpg")
    assert picture.shape == (1024, 1024, 3) and (picture == 128).all() and notes == []
    with pytest.raises(UserError, match="most of its picture is missing, cut short"):
        decode_image(header + bytes(blocks // 20) + b"\xff\xd9", "thin.jpg")
