"""Sizes a file can inflate, bounded: a small file that declares a large picture must not cost
memory or time out of proportion to what the command makes of it."""

from __future__ import annotations

import struct
import subprocess
import sys
import tracemalloc
import zlib

import cv2
import numpy as np
import pytest

from realtime_adain.imageio import read_image, read_mask


@pytest.fixture
def large_mask(tmp_path):
    """A 6000x6000 grey mask PNG, its left half white: a few hundred KB on disk, 36 MP decoded."""
    mask = np.zeros((6000, 6000), np.uint8)
    mask[:, :3000] = 255
    path = tmp_path / "mask.png"
    cv2.imwrite(str(path), mask, [cv2.IMWRITE_PNG_COMPRESSION, 1])
    return path


def test_a_large_mask_is_read_without_a_float_copy_of_it(large_mask):
    """`image --mask` of a 16000x16000 PNG (277 KB) took 3.3 GB and 24 s for a 64-pixel result:
    the mask's mean was one float64 array, 8 bytes a pixel on top of the decoded RGB. Read in
    strips, the mask costs its decoded picture and one byte a pixel."""
    tracemalloc.start()
    try:
        mask = read_mask(large_mask)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    pixels = 6000 * 6000
    assert mask.shape == (6000, 6000) and mask.dtype == bool
    assert mask[:, :3000].all() and not mask[:, 3000:].any()
    assert peak < 5.5 * pixels, f"{peak / pixels:.1f} bytes a pixel"  # RGB (3) + mask (1) + strips; was 12


def test_a_mask_is_white_where_its_channels_average_128_or_more(tmp_path):
    """The strips keep the mask's rule: white (the first style) where the mean of R, G and B is at
    least 128, whatever the mix of channels."""
    colours = np.array([[[128, 128, 128], [127, 128, 128], [255, 129, 0], [255, 128, 0], [0, 0, 0], [255, 255, 255]]],
                       np.uint8)
    path = tmp_path / "mask.png"
    cv2.imwrite(str(path), cv2.cvtColor(colours, cv2.COLOR_RGB2BGR))
    assert read_mask(path).tolist() == [[True, False, True, False, False, True]]


_READ_WITHIN_2_GIB = (
    "import resource, sys\n"
    "resource.setrlimit(resource.RLIMIT_AS, (2 << 30, resource.getrlimit(resource.RLIMIT_AS)[1]))\n"
    "from realtime_adain.errors import UserError\n"
    "from realtime_adain.imageio import read_image\n"
    "try:\n    read_image(sys.argv[1])\nexcept UserError as exc:\n    print(exc)\n")


def read_within_2_gib(path) -> str:
    """`read_image(path)`'s error line, read in a process held to 2 GiB of address space: a
    picture decoded whole must fail there, not take the machine's memory."""
    done = subprocess.run([sys.executable, "-c", _READ_WITHIN_2_GIB, str(path)], capture_output=True, text=True,
                          timeout=60)
    return done.stdout + done.stderr


def write_float_tiff(path, width, height, rows=64):
    """A deflated float RGB TIFF whose strips all point at one strip of zeros: a few KB for any size."""
    strip = zlib.compress(bytes(width * 12 * rows), 9)
    strips = -(-height // rows)
    bits_at = 8 + len(strip)
    offsets_at = bits_at + 6
    counts_at = offsets_at + 4 * strips
    ifd_at = counts_at + 4 * strips
    tags = [(256, 4, 1, width), (257, 4, 1, height), (258, 3, 3, bits_at), (259, 3, 1, 8), (262, 3, 1, 2),
            (273, 4, strips, offsets_at), (277, 3, 1, 3), (278, 4, 1, rows), (279, 4, strips, counts_at),
            (284, 3, 1, 1), (339, 3, 1, 3)]
    with open(path, "wb") as out:
        out.write(b"II*\0" + struct.pack("<I", ifd_at) + strip + struct.pack("<3H", 32, 32, 32))
        out.write(struct.pack("<I", 8) * strips + struct.pack("<I", len(strip)) * strips)
        out.write(struct.pack("<H", len(tags)))
        for tag, kind, count, value in tags:
            out.write(struct.pack("<HHIHH" if kind == 3 and count == 1 else "<HHII", tag, kind, count, value,
                                  *([0] if kind == 3 and count == 1 else [])))
        out.write(struct.pack("<I", 0))


@pytest.fixture
def float_tiff_bomb(tmp_path):
    """A float RGB TIFF of 16000x16000 (within the pixel limit), under 100 KB."""
    path = tmp_path / "bomb.tif"
    write_float_tiff(path, 16000, 16000)
    return path


@pytest.fixture
def exr_bomb(tmp_path):
    """A 441-byte OpenEXR: 2x2 pixels in a 16000x16000 display window."""
    from test_attack18 import exr_file

    return exr_file(tmp_path, np.full((2, 2, 3), 1.0, np.float32), display=(16000, 16000))


def test_a_float_tiff_decoding_to_gigabytes_is_refused_from_its_header(float_tiff_bomb):
    """A 14 KB float TIFF declaring 16000x16000 (within the pixel limit) was decoded whole, 12
    bytes a pixel: `image` took 6.7 GB and 33 s for a 64-pixel result. Its header says what it
    decodes to, and that is refused in one line before OpenCV allocates anything."""
    assert float_tiff_bomb.stat().st_size < 100_000
    message = read_within_2_gib(float_tiff_bomb)
    assert "16000x16000 at 12 bytes a pixel is more than the 1 GiB" in message, message


def test_a_small_float_tiff_still_reads(tmp_path):
    """The header check reads the same fields of an ordinary float TIFF and lets it through."""
    path = tmp_path / "small.tif"
    write_float_tiff(path, 200, 100)
    image = read_image(path)
    assert image.shape == (100, 200, 3) and not image.any()


def test_an_exr_decoding_to_gigabytes_is_refused_from_its_header(exr_bomb):
    """A 441-byte OpenEXR stating a 16000x16000 display window: FFmpeg filled 3 GiB of float
    planes, `image` took 4.4 GB and 26 s for a 64-pixel result. Refused from its header."""
    message = read_within_2_gib(exr_bomb)
    assert "16000x16000 at 12 bytes a pixel is more than the 1 GiB" in message, message


def png_header_only(path, width: int, height: int, depth: int, colour: int) -> None:
    """A PNG of a signature, an IHDR stating this size, depth and colour type, and an IEND."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b""))


def test_a_16_bit_png_decoding_to_gigabytes_is_refused_from_its_header(tmp_path):
    """A 16-bit RGB PNG of 16000x16000 (1.5 MB compressed: within the pixel limit) was decoded
    whole, 6 bytes a pixel: 3.65 GB and 16 s for a 64-pixel result. Refused from its IHDR; an
    8-bit RGBA one of that size (1 GiB) is not refused for its bytes."""
    big = tmp_path / "big16.png"
    png_header_only(big, 16000, 16000, 16, 2)
    message = read_within_2_gib(big)
    assert "16000x16000 at 6 bytes a pixel is more than the 1 GiB" in message, message
    rgba = tmp_path / "rgba8.png"
    png_header_only(rgba, 16000, 16000, 8, 6)
    assert "bytes a pixel" not in read_within_2_gib(rgba)
