"""Still pictures read right or refused in one plain line (session 58, h3's findings): white-is-zero
grey at 10 to 16 bits or LZMA/Zstd compressed, TIFFs compressed as no decoder here decodes (JPEG 2000,
JPEG XL, LERC...), signed samples with alpha, alpha after another extra sample, Radiance headers
without a FORMAT line or with white space in it, and a BMP of alpha bitfields."""

from __future__ import annotations

import lzma
import struct
import zlib

import numpy as np
import pytest

from realtime_adain.imageio import decode_image
from test_fixes57_pictures import ALPHA, GREY, RGB, H, W, refusal, tiff_of
from tiff_samples import packed, tiff_fields

SAVE_AS = "save it with LZW, Deflate or no compression"


EXPECTED_GREY = np.repeat(GREY[..., None], 3, 2)


@pytest.mark.parametrize("bits", [10, 12, 14])
def test_white_is_zero_grey_of_10_12_or_14_bits_is_not_read_as_a_negative(bits):
    """OpenCV read its samples as stored (only 16 bits were inverted)."""
    top = (1 << bits) - 1
    stored = (top - np.round(GREY.astype(np.float64) / 255 * top)).astype(np.uint16)[..., None]
    got = decode_image(tiff_fields(stored, 0, bits=bits), f"w{bits}.tif")
    assert np.abs(got.astype(int) - EXPECTED_GREY).max() <= 1


def _zstd(raw: bytes) -> bytes:
    """A Zstandard frame of `raw` in one raw (stored) block, written by hand: single segment, its
    content size in 2 bytes (256 to 65791)."""
    return (struct.pack("<IBH", 0xFD2FB528, 0x60, len(raw) - 256)
            + (1 | len(raw) << 3).to_bytes(3, "little") + raw)


@pytest.mark.parametrize("compression, compress", [(34925, lzma.compress), (50000, _zstd)], ids=["LZMA", "Zstd"])
def test_16_bit_white_is_zero_grey_compressed_as_only_pillow_decodes_is_not_read_as_a_negative(compression, compress):
    """Pillow keeps 16-bit white-is-zero samples as stored, and nothing inverted them."""
    stored = ((255 - GREY).astype(np.uint16) * 257)[..., None]
    data = tiff_fields(stored, 0, compression=compression, strip=compress(packed(stored, 16)))
    assert np.array_equal(decode_image(data, "w.tif"), EXPECTED_GREY)
    assert np.array_equal(decode_image(tiff_fields(stored, 0, compression=8, strip=zlib.compress(packed(stored, 16))),
                                       "deflate.tif"), EXPECTED_GREY)  # (OpenCV's: right before)


@pytest.mark.parametrize("compression, method", [(34712, "JPEG 2000"), (50002, "JPEG XL"), (34933, "PNG"),
                                                 (34934, "JPEG XR"), (33333, "method 33333")])
@pytest.mark.parametrize("samples, photometric, extra", [
    (RGB, 2, ()), (np.dstack([RGB, ALPHA]), 2, (2,)), (GREY[..., None], 1, ()),
    (GREY[..., None].astype(np.uint16) * 257, 1, ())], ids=["rgb", "rgba", "grey", "grey16"])
def test_a_tiff_compressed_as_no_decoder_here_decodes_is_refused_naming_its_compression(samples, photometric, extra,
                                                                                      compression, method):
    """OpenCV's libtiff said "Compression scheme 50002 strip decoding is not implemented" and OpenCV
    returned an all-black picture, stylized without a word (16-bit ones refused in libtiff's words)."""
    data = tiff_fields(samples, photometric, extra=extra, compression=compression, strip=b"\0" * 64)
    assert refusal(data, "c.tif") == f"c.tif: a TIFF compressed with {method} cannot be read here; {SAVE_AS}"


def test_a_lerc_compressed_tiff_is_refused_naming_its_compression():
    """Refused in libtiff's words of another tag ("Unknown field with tag 50674 (0xc5f2) encountered")."""
    data = tiff_fields(RGB, 2, compression=34887, strip=b"\0" * 64, more=((50674, 4, [4, 0]),))
    assert refusal(data, "l.tif") == f"l.tif: a TIFF compressed with LERC cannot be read here; {SAVE_AS}"


SIGNED_RGB = np.zeros((H, W, 3), np.int16)
SIGNED_RGB[..., 0], SIGNED_RGB[..., 2] = 30000, 15000


@pytest.mark.parametrize("extra", [2, 1])
@pytest.mark.parametrize("planar", [True, False])
def test_signed_rgb_and_alpha_is_refused_as_signed_grey_and_alpha_is(planar, extra):
    """Planar 16-bit was read at half brightness, clear parts black (its alpha premultiplied), without
    a word; interleaved it was "unsupported sample type int16"."""
    alpha = np.where(ALPHA > 0, 32767, 0).astype(np.int16)
    data = tiff_fields(np.dstack([SIGNED_RGB, alpha]), 2, sample_format=2, planar=planar, extra=(extra,))
    assert refusal(data, "s.tif") == ("s.tif: a TIFF of signed RGB and alpha samples cannot be read here; "
                                      "save it as unsigned 8- or 16-bit")


def test_signed_planar_rgb_without_alpha_still_reads_as_ffmpeg_reads_it():
    got = decode_image(tiff_fields(SIGNED_RGB, 2, sample_format=2, planar=True), "s.tif")
    assert got[0, 0].tolist() == [117, 0, 58]


@pytest.mark.parametrize("colour, photometric, contents", [
    (GREY[..., None], 1, "grey"), (RGB, 2, "RGB"),
    (np.dstack([RGB, GREY]), 5, "CMYK")])
@pytest.mark.parametrize("extra", [(0, 2), (0, 1)])
def test_alpha_after_another_extra_sample_is_refused_in_plain_words(colour, photometric, contents, extra):
    """Grey's alpha was dropped without a word (clear read its colour); RGB and CMYK were refused as
    "can't read header: in function 'int cv::TiffDecoder::normalizeChannelsNumber(int) const'"."""
    data = tiff_of(np.dstack([colour, GREY, ALPHA]), photometric, extra)
    assert refusal(data, "x.tif") == (f"x.tif: a TIFF of {contents}, 1 other sample and alpha cannot be read here; "
                                      f"save it without its other samples, or as RGBA")


def radiance(header: bytes, size: bytes = b"-Y %d +X %d" % (H, W)) -> bytes:
    """A flat RGBE Radiance picture (uncompressed scanlines) after `header`'s lines."""
    return b"#?RADIANCE\n" + header + b"\n" + size + b"\n" + bytes([128, 64, 32, 128]) * (W * H)


@pytest.mark.parametrize("header", [b"", b"FORMAT= 32-bit_rle_rgbe\n", b"FORMAT=\t32-bit_rle_rgbe  \n",
                                    b"SOFTWARE=x\nFORMAT= 32-bit_rle_rgbe\nEXPOSURE=1\n"],
                         ids=["no FORMAT line", "a space", "tab and trailing spaces", "among other lines"])
def test_a_radiance_header_without_a_format_line_or_with_white_space_in_it_reads_as_rgbe(header):
    """Refused ("without a FORMAT line"; "without the size line OpenCV reads", which it had): Radiance's
    readers take no FORMAT line as RGBE and skip white space around its value, and FFmpeg decodes them."""
    expected = decode_image(radiance(b"FORMAT=32-bit_rle_rgbe\n"), "base.hdr")
    assert np.array_equal(decode_image(radiance(header), "x.hdr"), expected)
    flipped = decode_image(radiance(header, b"+Y %d +X %d" % (H, W)), "up.hdr")  # (its size line rewritten too)
    assert np.array_equal(flipped, expected)


@pytest.mark.parametrize("header, kind", [
    (b"FORMAT=\n", "a Radiance header whose FORMAT= is empty"),
    (b"FORMAT=32-bit_\xe9\n", "a Radiance picture of FORMAT=32-bit_?")])
def test_a_radiance_header_of_an_empty_or_non_ascii_format_is_refused_as_what_it_holds(header, kind):
    """An empty one was said to have no FORMAT line; a non-ASCII byte was shown as U+FFFD."""
    assert refusal(radiance(header), "x.hdr") == (f"x.hdr: {kind} cannot be read here; "
                                                  f"save it as RGBE (FORMAT=32-bit_rle_rgbe)")


@pytest.mark.parametrize("bits, masks, pixel", [(16, (0xF00, 0xF0, 0xF, 0), b"\xff\x0f"),
                                                (32, (0xFF0000, 0xFF00, 0xFF, 0xFF000000), b"\xff\x0f\x00\xff")])
def test_a_bmp_of_alpha_bitfields_is_refused_in_plain_words(bits, masks, pixel):
    """Refused in OpenCV's words ("can't read header: m_rle_code_ >= 0 && m_rle_code_ <= BMP_BITFIELDS");
    FFmpeg and Pillow refuse it too."""
    pixels = pixel * 8
    info = struct.pack("<IiiHHIIiiII4I", 40, 4, 2, 1, bits, 6, len(pixels), 2835, 2835, 0, 0, *masks)
    data = b"BM" + struct.pack("<IHHI", 14 + len(info) + len(pixels), 0, 0, 14 + len(info)) + info + pixels
    assert refusal(data, "a.bmp") == (f"a.bmp: a {bits}-bit BMP of compression 6 (alpha bitfields) cannot be read "
                                      f"here; save it as a 24- or 32-bit BMP, or as a PNG")
