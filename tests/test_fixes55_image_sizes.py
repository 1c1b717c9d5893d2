"""Session 55: the picture sizes BMP and Photoshop headers state, held to a caller's budget before
anything is decoded (a 6.8 MB RLE PSD of 12000x12000 was decoded whole, 3.1 GB, to be refused), and
serve's upload check reading a WebP's stated size where Pillow's own bomb check hid it."""

from __future__ import annotations

import io
import struct

import numpy as np
import pytest
from PIL import Image

from realtime_adain.errors import UserError
from realtime_adain.settings import DEFAULT_MAX_PIXELS


def bmp(header: bytes) -> np.ndarray:
    """A BMP file header (its pixels' offset past `header`) and `header`, a few bytes of data after."""
    offset = 14 + len(header)
    return np.frombuffer(b"BM" + struct.pack("<IHHI", offset + 16, 0, 0, offset) + header + bytes(16), np.uint8)


def info_header(width: int, height: int, bits: int = 1) -> bytes:
    return struct.pack("<IiiHHIIiiII", 40, width, height, 1, bits, 0, 0, 2835, 2835, 0, 0)


def photoshop(version: int, width: int, height: int, depth: int = 8) -> np.ndarray:
    """A Photoshop file's header (RGB, raw) stating width x height, then empty sections and 100 bytes."""
    head = b"8BPS" + struct.pack(">H6xHIIHH", version, 3, height, width, depth, 3)
    return np.frombuffer(head + bytes(12) + b"\0\0" + bytes(100), np.uint8)


def webp_stating(width: int, height: int) -> bytes:
    """A 64x64 lossless WebP whose VP8L header is patched to state width x height (44 bytes)."""
    encoded = io.BytesIO()
    Image.new("RGB", (64, 64), (10, 200, 30)).save(encoded, "WEBP", lossless=True)
    data = encoded.getvalue()
    bits = int.from_bytes(data[21:25], "little") & ~0xFFFFFFF | (width - 1) | (height - 1) << 14
    return data[:21] + bits.to_bytes(4, "little") + data[25:]


def test_a_bmp_header_states_its_size_top_down_and_os2_ones_too():
    """BMP had no stated size: a 32 MB 1-bit file of 16000x16000 was decoded (1.6 GB) to be refused."""
    from realtime_adain.still_headers import stated_size

    assert stated_size(bmp(info_header(16000, 16000)), "a.bmp") == (16000, 16000)
    assert stated_size(bmp(info_header(4000, -60000)), "top_down.bmp") == (4000, 60000)
    assert stated_size(bmp(struct.pack("<IHHHH", 12, 300, 20, 1, 24)), "os2.bmp") == (300, 20)
    assert stated_size(bmp(info_header(0, 20)), "none.bmp") is None
    for length in (36, 44, 200):  # (OpenCV takes any header from 36 bytes: a 200-byte one skipped the check)
        longer = struct.pack("<I", length) + info_header(16000, 16000)[4:] + bytes(length - 40 if length > 40 else 0)
        assert stated_size(bmp(longer[:max(length, 26)]), "long.bmp") == (16000, 16000)
    assert stated_size(np.frombuffer(b"BM, a text file that starts as a BMP would" + bytes(8), np.uint8), "t.bmp") is None


def test_a_psd_or_psb_header_states_its_size_at_every_depth():
    """Pillow's PSDs (1- and 8-bit) and PSBs stated none; 16-bit ones (FFmpeg's) did already."""
    from realtime_adain.still_headers import stated_size

    for version, depth in ((1, 8), (1, 1), (2, 8), (1, 16)):
        assert stated_size(photoshop(version, 12000, 9000, depth), "a.psd") == (12000, 9000)
    assert stated_size(photoshop(3, 12000, 9000), "not.psd") is None


@pytest.mark.parametrize("name, data", [("big.bmp", bmp(info_header(16000, 16000))),
                                        ("big.psd", photoshop(1, 12000, 12000))])
def test_a_bmp_or_psd_over_the_budget_is_refused_from_its_header(tmp_path, name, data):
    """Refused before its decode, in the words the refusal after it used."""
    from realtime_adain.imageio import check_stated_budget

    side = "16000" if name.endswith(".bmp") else "12000"
    with pytest.raises(UserError, match=rf"{name}: {side}x{side} \(full size\), over the budget of 16777216 pixels"):
        check_stated_budget(data, tmp_path / name, 0, DEFAULT_MAX_PIXELS, "--size")
    check_stated_budget(data, tmp_path / name, 512, DEFAULT_MAX_PIXELS, "--size")


def test_an_upload_of_a_webp_stating_a_huge_picture_is_answered_413_with_its_size():
    """Pillow's WebP header refused it as a decompression bomb (no size), so the upload was decoded:
    0.8 GB, then 400 "not a readable image". Its header's size is now read as the reader reads it."""
    from realtime_adain.serve.uploads import UploadRefused, decode, header_size

    data = webp_stating(16000, 16000)
    assert header_size(data) == (16000, 16000)
    with pytest.raises(UploadRefused, match=r"^the image is 16000x16000, more than the 16777216 pixels allowed$") as refused:
        decode(data, 64 << 20, 4096 * 4096)
    assert refused.value.status == 413
    assert header_size(bmp(info_header(5000, -4000)).tobytes()) == (5000, 4000)


def test_a_webp_stating_more_than_its_bytes_decode_to_says_so(tmp_path):
    """A 44-byte lossless WebP whose header states 2000x2000 (a 64x64 one's size bits changed) was
    refused "not a readable image", without a reason."""
    from realtime_adain.imageio import read_image

    written = io.BytesIO()
    Image.new("RGB", (64, 64), (10, 200, 30)).save(written, "WEBP", lossless=True)
    data = bytearray(written.getvalue())
    bits = int.from_bytes(data[21:25], "little") & ~((1 << 28) - 1) | 1999 | 1999 << 14
    data[21:25] = bits.to_bytes(4, "little")
    path = tmp_path / "states_more.webp"
    path.write_bytes(bytes(data))
    with pytest.raises(UserError, match=rf"^{path}: not a readable image \(a 2000x2000 WebP whose {len(data)} bytes "
                                        r"do not decode to it\)$"):
        read_image(path)
