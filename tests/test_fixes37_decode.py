"""Reading pictures OpenCV misreads at their own depth, round 37: a 16-bit TIFF stored as separate
colour planes read as garbage, an OS/2 BMP read as grey, a 16-bit BMP's white read as 248, a
half-float TIFF refused in OpenCV's words, and libtiff's line on a damaged TIFF printed raw."""

from __future__ import annotations

import struct

import numpy as np
import pytest
from PIL import Image

from realtime_adain.errors import UserError
from realtime_adain.imageio import read_image


def gradient(height: int = 40, width: int = 56) -> np.ndarray:
    """A small RGB picture whose channels differ everywhere (uint8)."""
    y, x = np.mgrid[0:height, 0:width]
    return np.dstack([x * 4, y * 6, 255 - x * 4]).astype(np.uint8)


def tiff_bytes(samples: np.ndarray, planar: bool, sample_format: int = 1) -> bytes:
    """An uncompressed little-endian RGB TIFF of (H, W, 3) `samples`, interleaved or one strip a
    colour plane (PlanarConfiguration 2), written by hand: no writer here makes planar ones."""
    height, width, _ = samples.shape
    bits = samples.dtype.itemsize * 8
    strips = ([np.ascontiguousarray(samples[..., c]).astype("<" + samples.dtype.str[1:]).tobytes() for c in range(3)]
              if planar else [samples.astype("<" + samples.dtype.str[1:]).tobytes()])
    count = len(strips)
    entries = 11
    extra = 8 + 2 + 12 * entries + 4  # where the out-of-line values start
    bits_at, formats_at, offsets_at = extra, extra + 6, extra + 12
    counts_at = offsets_at + 4 * count
    data_at = counts_at + 4 * count
    offsets = [data_at + sum(len(s) for s in strips[:i]) for i in range(count)]

    def entry(tag, kind, n, value):
        return struct.pack("<HHI", tag, kind, n) + value.ljust(4, b"\0")

    def longs(values, at):
        return struct.pack("<I", values[0]) if len(values) == 1 else struct.pack("<I", at)

    ifd = b"".join([entry(256, 4, 1, struct.pack("<I", width)), entry(257, 4, 1, struct.pack("<I", height)),
                    entry(258, 3, 3, struct.pack("<I", bits_at)), entry(259, 3, 1, struct.pack("<H", 1)),
                    entry(262, 3, 1, struct.pack("<H", 2)), entry(273, 4, count, longs(offsets, offsets_at)),
                    entry(277, 3, 1, struct.pack("<H", 3)), entry(278, 4, 1, struct.pack("<I", height)),
                    entry(279, 4, count, longs([len(s) for s in strips], counts_at)),
                    entry(284, 3, 1, struct.pack("<H", 2 if planar else 1)),
                    entry(339, 3, 3, struct.pack("<I", formats_at))])
    out = (b"II*\0" + struct.pack("<I", 8) + struct.pack("<H", entries) + ifd + b"\0\0\0\0"
           + struct.pack("<3H", bits, bits, bits) + struct.pack("<3H", sample_format, sample_format, sample_format))
    if count > 1:
        out += struct.pack(f"<{count}I", *offsets) + struct.pack(f"<{count}I", *[len(s) for s in strips])
    else:
        out += b"\0" * 8
    assert len(out) == data_at
    return out + b"".join(strips)


def test_a_16_bit_tiff_in_separate_colour_planes_reads_as_its_interleaved_twin(tmp_path):
    """Read at its own depth, the picture came out three times side by side in its top third,
    the rest black, silently; it now reads as the same samples stored interleaved do."""
    rgb16 = gradient().astype(np.uint16) * 257
    (tmp_path / "planar.tif").write_bytes(tiff_bytes(rgb16, planar=True))
    (tmp_path / "interleaved.tif").write_bytes(tiff_bytes(rgb16, planar=False))
    interleaved = read_image(tmp_path / "interleaved.tif")
    np.testing.assert_array_equal(interleaved, gradient())
    assert np.abs(read_image(tmp_path / "planar.tif").astype(int) - interleaved).max() <= 1


def test_tiffs_that_cannot_be_read_right_are_refused_in_plain_words(tmp_path):
    """Float samples in separate planes read as garbage, and half floats were refused with
    "can't read header: in function 'virtual bool cv::TiffDecoder::readHeader()'"."""
    unit = gradient().astype(np.float32) / 255
    (tmp_path / "planes.tif").write_bytes(tiff_bytes(unit, planar=True, sample_format=3))
    (tmp_path / "half.tif").write_bytes(tiff_bytes(unit.astype(np.float16), planar=False, sample_format=3))
    (tmp_path / "float.tif").write_bytes(tiff_bytes(unit, planar=False, sample_format=3))
    np.testing.assert_array_equal(read_image(tmp_path / "float.tif"), gradient())  # (interleaved: read as before)
    with pytest.raises(UserError, match=r"planes.tif: a TIFF of float samples stored as separate colour planes"):
        read_image(tmp_path / "planes.tif")
    with pytest.raises(UserError, match=r"half.tif: a TIFF of 16-bit \(half\) float samples cannot be read"):
        read_image(tmp_path / "half.tif")


def test_an_os2_bmp_keeps_its_colours(tmp_path):
    """A BMP with a 12-byte (OS/2, BITMAPCOREHEADER) header was read as grey, R = G = B."""
    rgb = gradient()
    height, width, _ = rgb.shape
    row = (width * 3 + 3) & ~3
    pixels = b"".join(rgb[y, :, ::-1].tobytes().ljust(row, b"\0") for y in range(height - 1, -1, -1))
    (tmp_path / "os2.bmp").write_bytes(b"BM" + struct.pack("<IHHI", 26 + len(pixels), 0, 0, 26)
                                       + struct.pack("<IHHHH", 12, width, height, 1, 24) + pixels)
    np.testing.assert_array_equal(read_image(tmp_path / "os2.bmp"), rgb)


def test_a_16_bit_bmp_widens_its_channels_to_full_scale(tmp_path):
    """Its 5-bit channels were shifted up: white (0x7FFF) read 248, up to 7 levels off where
    Pillow and FFmpeg give 255 (each channel's bits repeated)."""
    width, height = 8, 2
    pixels = struct.pack("<8H", *([0x7FFF] * 4 + [0x4210] * 4)) * height  # white, then 16/31 of each channel
    (tmp_path / "555.bmp").write_bytes(b"BM" + struct.pack("<IHHI", 54 + len(pixels), 0, 0, 54)
                                       + struct.pack("<IiiHHIIiiII", 40, width, height, 1, 16, 0, len(pixels),
                                                     2835, 2835, 0, 0) + pixels)
    rgb = read_image(tmp_path / "555.bmp")
    assert (rgb[:, :4] == 255).all()
    assert (np.abs(rgb[:, 4:] - 16 * 255 / 31) < 1).all()


def test_a_damaged_tiff_is_one_line_without_libtiffs_own(tmp_path, capfd):
    """Pillow, tried after OpenCV, let libtiff print "TIFFFillStrip: Read error on strip 0; got
    18446744073609570370 bytes ..." straight to stderr before the one-line error."""
    Image.fromarray(gradient()).save(tmp_path / "lzw.tif", compression="tiff_lzw")
    data = bytearray((tmp_path / "lzw.tif").read_bytes())
    ifd = struct.unpack_from("<I", data, 4)[0]
    for at in range(ifd + 2, ifd + 2 + 12 * struct.unpack_from("<H", data, ifd)[0], 12):
        if struct.unpack_from("<H", data, at)[0] == 273:  # StripOffsets (one strip): far past the end
            struct.pack_into("<I", data, at + 8, 10 ** 8)
    (tmp_path / "bad.tif").write_bytes(bytes(data))
    capfd.readouterr()
    with pytest.raises(UserError, match=r"bad.tif: not a readable image"):
        read_image(tmp_path / "bad.tif")
    assert capfd.readouterr().err == ""

