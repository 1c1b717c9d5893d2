"""Picture sizes checked from the header before decoding, round 54: a 16384x16384 PNG over the
pixel budget was decoded whole (46 s, 2.1 GB) before it was refused, and an arithmetic-coded JPEG
(SOF9), whose coded data has no lower bound to check (a whole flat 16000x16000 colour picture takes
7 bytes of it), had no size read from its header at all: a 207-byte one cut short decoded to
16000x16000 in 30 s and 1.5 GB."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from realtime_adain.errors import UserError
from realtime_adain.settings import DEFAULT_MAX_PIXELS

# libjpeg's encoder (arith_code=TRUE, quality 90) of a black 16000x16000 colour picture, cut 4 bytes
# into its scan's data (the whole file ends with 3 more bytes and its end marker).
ARITHMETIC_CUT = bytes.fromhex(
    "ffd8ffe000104a46494600010100000100010000ffdb0043000302020302020303030304030304050805050404050a07"
    "0706080c0a0c0c0b0a0b0b0d0e12100d0e110e0b0b1016101113141515150c0f171816141812141514ffdb0043010304"
    "0405040509050509140d0b0d141414141414141414141414141414141414141414141414141414141414141414141414"
    "1414141414141414141414141414ffc90011083e803e8003012200021101031101ffcc000a0010100501101105ffda00"
    "0c03010002110311003f00ff00eedd")


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_stating(width: int, height: int) -> bytes:
    """A PNG whose IHDR states width x height (8-bit RGB), its IDAT a few rows' worth only."""
    rows = zlib.compress(bytes(4 * (1 + 3 * width)))
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + png_chunk(b"IDAT", rows) + png_chunk(b"IEND", b""))


def test_an_arithmetic_jpeg_states_its_size_and_is_held_to_the_budget_before_decoding(tmp_path):
    """Its frame header (SOF9) was read for nothing: the budget was checked on the decoded
    picture only. Now its size is read, and a caller's budget refuses it before the decode."""
    from realtime_adain.imageio import check_stated_budget
    from realtime_adain.jpeg_headers import jpeg_size
    from realtime_adain.still_headers import stated_size

    data = np.frombuffer(ARITHMETIC_CUT, np.uint8)
    assert jpeg_size(data, "cut.jpg") == stated_size(data, "cut.jpg") == (16000, 16000)
    path = tmp_path / "cut.jpg"
    with pytest.raises(UserError, match=r"^.*cut\.jpg: 16000x16000 \(full size\), over the budget of 16777216 pixels"):
        check_stated_budget(data, path, 0, DEFAULT_MAX_PIXELS, "--size")
    check_stated_budget(data, path, 512, DEFAULT_MAX_PIXELS, "--size")  # (512x512 at --size 512: within it)


def test_a_style_over_the_budget_is_refused_from_its_header_not_after_decoding_it(tmp_path):
    """A 16384x16384 PNG was decoded before the budget refused it; here its data is a few rows, so
    a decode says "cut short" instead: the header's size is what refuses it now."""
    from realtime_adain.imageio import read_style

    path = tmp_path / "big.png"
    path.write_bytes(png_stating(16384, 16384))
    with pytest.raises(UserError, match=r"big\.png: 16384x16384 \(full size\), over the budget of 16777216 pixels "
                                        r"\(give --style-size 4096 or less\)$"):
        read_style(path, None)


def test_the_stated_size_is_the_shown_one_turned_by_exif_and_none_where_no_header_states_one():
    """A portrait phone JPEG (stored landscape, EXIF orientation 6) states the size OpenCV's decode
    has, so a refusal names the sides as the picture is seen; a format read by Pillow alone: None."""
    from realtime_adain.still_headers import stated_size

    exif = Image.Exif()
    exif[0x0112] = 6
    encoded = io.BytesIO()
    Image.new("RGB", (48, 16)).save(encoded, "JPEG", exif=exif.tobytes())
    assert stated_size(np.frombuffer(encoded.getvalue(), np.uint8), "phone.jpg") == (16, 48)
    encoded = io.BytesIO()
    Image.new("RGB", (48, 16)).save(encoded, "TGA")
    assert stated_size(np.frombuffer(encoded.getvalue(), np.uint8), "a.tga") is None
    assert stated_size(np.frombuffer(png_stating(300, 20), np.uint8), "a.png") == (300, 20)


def test_an_image_content_over_the_budget_is_refused_from_its_header(tmp_path, run_cli, weights_env):
    """`image`'s content went through the decode first (image_job.read_checked) as the style did."""
    content = tmp_path / "big.png"
    content.write_bytes(png_stating(16384, 16384))
    style = tmp_path / "style.png"
    Image.new("RGB", (16, 16), (200, 40, 40)).save(style)
    code, _, err = run_cli("image", content, "-s", style, "-o", tmp_path / "out.png", "--size", "0")
    assert code == 2
    assert "big.png: 16384x16384 (full size), over the budget of 16777216 pixels" in err
    assert not (tmp_path / "out.png").exists()
