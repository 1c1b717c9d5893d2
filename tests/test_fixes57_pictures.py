"""Still pictures read right or refused in one plain line (session 57, h8's findings): TIFF layouts
(`tiff_layouts`: planar, white-is-zero, extra samples, CMYK with spots or associated alpha,
compressions FFmpeg lacks, WebP in a TIFF), a BMP of 4-bit channels and a Radiance XYZE picture."""

from __future__ import annotations

import io
import struct

import numpy as np
import pytest

from realtime_adain.errors import UserError
from realtime_adain.imageio import decode_image
from test_fixes56_image_formats import tiff
from tiff_samples import tiff_fields

W, H = 64, 48
RGB = np.zeros((H, W, 3), np.uint8)
RGB[..., 0] = np.linspace(0, 255, W).round()[None]
RGB[..., 1] = np.linspace(0, 255, H).round()[:, None]
RGB[..., 2] = 60
ALPHA = np.full((H, W), 255, np.uint8)
ALPHA[:H // 2, :W // 4] = 0  # (clear)
ALPHA[H // 2:, W // 2:] = 128  # (half)
GREY = RGB[..., 0]


def over_white(colour: np.ndarray) -> np.ndarray:
    colour = colour if colour.ndim == 3 else np.repeat(colour[..., None], 3, 2)
    alpha = ALPHA[..., None] / 255
    return (colour * alpha + 255 * (1 - alpha)).round().astype(np.uint8)


def tiff_of(samples: np.ndarray, photometric: int, extra: tuple[int, ...] = (), planar: bool = False,
            compression: int = 1, strip: bytes | None = None) -> bytes:
    """A little-endian TIFF of (H, W, S) unsigned `samples` in one strip (a strip a plane where
    planar); `strip`, its strip's bytes where not the samples as they are (compressed with
    `compression`; not planar)."""
    return tiff_fields(samples, photometric, extra=extra, planar=planar, compression=compression, strip=strip)


def refusal(data: bytes, name: str) -> str:
    with pytest.raises(UserError) as refused:
        decode_image(data, name)
    return str(refused.value)


def test_an_uncompressed_planar_16_bit_rgba_tiff_reads_over_white_through_ffmpeg():
    """Pillow's own decoder misread its green (mean difference 84); LZW ones, through libtiff, were right."""
    straight = np.dstack([RGB, ALPHA]).astype(np.uint16) * 257
    got = decode_image(tiff_of(straight, 2, (2,), planar=True), "planar.tif")
    assert np.abs(got.astype(int) - over_white(RGB)).max() <= 1
    premultiplied = np.dstack([(RGB * (ALPHA[..., None] / 255)).round(), ALPHA]).astype(np.uint16) * 257
    got = decode_image(tiff_of(premultiplied, 2, (1,), planar=True), "associated.tif")
    assert np.abs(got.astype(int) - over_white(RGB)).max() <= 1


def test_an_uncompressed_planar_16_bit_cmyk_tiff_is_refused():
    """Pillow misread it, FFmpeg took its inks for RGBA, OpenCV refuses it."""
    inks = np.zeros((H, W, 4), np.uint16)
    assert refusal(tiff_of(inks, 5, planar=True), "p.tif") == (
        "p.tif: an uncompressed TIFF of 16-bit CMYK in separate planes cannot be read here; "
        "save it with its samples interleaved, or compressed with LZW or Deflate")


@pytest.mark.parametrize("compression", [1, 5])
def test_a_planar_8_bit_grey_and_alpha_tiff_is_refused(compression):
    """Uncompressed, its alpha was dropped (clear read black); LZW, Pillow read it all white."""
    data = tiff_of(np.dstack([GREY, ALPHA]), 1, (2,), planar=True, compression=compression,
                   strip=None if compression == 1 else b"\x80" * 64)
    assert refusal(data, "p.tif") == ("p.tif: a TIFF of grey and alpha cannot be read here unless 0 is black and its "
                                      "samples are interleaved; save it so, or as RGBA")


def test_a_16_bit_white_is_zero_tiff_reads_as_the_8_bit_one_does():
    """OpenCV read its samples as stored, a negative (FFmpeg reads it right)."""
    eight = decode_image(tiff(255 - GREY, 0), "w8.tif")
    assert np.array_equal(eight, np.repeat(GREY[..., None], 3, 2))
    assert np.array_equal(decode_image(tiff((255 - GREY).astype(np.uint16) * 257, 0), "w16.tif"), eight)


@pytest.mark.parametrize("samples, photometric, extra, words", [
    (np.dstack([255 - GREY, ALPHA]), 0, (2,), "grey and alpha cannot be read here unless 0 is black"),
    (np.dstack([GREY, ALPHA, GREY]), 1, (2, 0), "grey, alpha and 1 other sample cannot be read here; save it as grey "
                                                "and alpha alone, or as RGBA"),
    (np.dstack([GREY, ALPHA, GREY]).astype(np.uint16) * 257, 1, (2, 0), "grey, alpha and 1 other sample cannot")])
def test_white_is_zero_grey_and_alpha_and_grey_alpha_and_more_are_refused(samples, photometric, extra, words):
    """Their alpha was dropped: clear read black (no decoder here reads them right)."""
    assert refusal(tiff_of(samples, photometric, extra), "g.tif").startswith(f"g.tif: a TIFF of {words}")


def cmyk() -> np.ndarray:
    from PIL import Image

    return np.array(Image.fromarray(RGB).convert("CMYK"))


def test_a_cmyk_tiff_with_a_spot_channel_reads_as_pillow_reads_it():
    """Refused as "CMYK and alpha", which it is not (its fifth sample is unspecified)."""
    expected = decode_image(tiff(cmyk(), 5), "cmyk.tif")
    assert np.array_equal(decode_image(tiff_of(np.dstack([cmyk(), GREY]), 5, (0,)), "spot.tif"), expected)


@pytest.mark.parametrize("samples, extra, expected", [
    (lambda: np.dstack([cmyk(), ALPHA, GREY]), (2, 0),
     "a TIFF of CMYK, alpha and 1 other sample cannot be read here; save it as 8-bit CMYK and alpha alone, or as RGBA"),
    (lambda: np.dstack([cmyk(), GREY]).astype(np.uint16) * 257, (0,),
     "a 16-bit TIFF of CMYK and 1 other sample cannot be read here; save it without its other samples, or at 8 bits"),
    (lambda: np.dstack([cmyk(), ALPHA]), (1,),
     "a TIFF of CMYK and associated (premultiplied) alpha cannot be read here; save it with unassociated alpha, "
     "or as RGBA")])
def test_cmyk_tiffs_no_decoder_reads_right_are_refused_as_what_they_are(samples, extra, expected):
    """CMYK, alpha and a spot was told to be saved as the 8-bit interleaved file it was; 16-bit CMYK and
    a spot was refused in OpenCV's words; associated alpha read too bright where partly clear (FFmpeg
    converts the premultiplied inks, and white was added again)."""
    assert refusal(tiff_of(samples(), 5, extra), "c.tif") == f"c.tif: {expected}"


@pytest.mark.parametrize("samples, extra, contents", [
    (np.dstack([RGB, ALPHA, GREY]), (2, 0), "RGB, alpha and 1 other sample"),
    (np.dstack([RGB, GREY, GREY]), (0, 0), "RGB and 2 other samples")])
def test_16_bit_tiffs_of_more_than_4_samples_are_refused_in_plain_words(samples, extra, contents):
    """Refused as "can't read header: in function 'int cv::TiffDecoder::normalizeChannelsNumber(int) const'"."""
    eight = decode_image(tiff_of(samples, 2, extra), "8.tif")  # (8-bit ones read: libtiff's RGBA reading)
    assert np.abs(eight.astype(int) - (over_white(RGB) if extra[0] else RGB)).max() <= 1
    assert refusal(tiff_of(samples.astype(np.uint16) * 257, 2, extra), "16.tif") == (
        f"16.tif: a 16-bit TIFF of {contents} cannot be read here; save it without its other samples, or at 8 bits")


@pytest.mark.parametrize("samples, photometric, kind", [
    (np.dstack([GREY, ALPHA]).astype(np.uint16) * 257, 1, "16-bit grey and alpha"),
    (np.dstack([np.zeros((H, W, 4), np.uint8), ALPHA]), 5, "CMYK and alpha")])
@pytest.mark.parametrize("compression, method", [(50000, "Zstd"), (34925, "LZMA"), (50001, "WebP")])
def test_ffmpegs_tiff_kinds_compressed_as_ffmpeg_cannot_are_refused_naming_the_compression(samples, photometric, kind,
                                                                                            compression, method):
    """Said as "a damaged or unsupported ... TIFF image (Invalid data found when processing input)"."""
    data = tiff_of(samples, photometric, (2,), compression=compression, strip=b"\0" * 64)
    assert refusal(data, "z.tif") == (f"z.tif: a {kind} TIFF compressed with {method} cannot be read here; "
                                      f"save it with LZW, Deflate or no compression")


def test_a_webp_compressed_rgba_tiff_keeps_its_alpha():
    """Pillow cannot decode it, and OpenCV's picture was taken without its alpha: clear read black."""
    from PIL import Image

    webp = io.BytesIO()
    Image.fromarray(np.dstack([RGB, ALPHA])).save(webp, "WEBP", lossless=True, quality=100)
    data = tiff_of(np.dstack([RGB, ALPHA]), 2, (2,), compression=50001, strip=webp.getvalue())
    assert np.abs(decode_image(data, "webp.tif").astype(int) - over_white(RGB)).max() <= 1


@pytest.mark.parametrize("header, expected", [
    (b"#?RADIANCE\nFORMAT=32-bit_rle_xyze\n\n", "a Radiance picture of XYZE colour (FORMAT=32-bit_rle_xyze)"),
    (b"#?RGBE\nFORMAT=\n\n", "a Radiance header whose FORMAT= is empty")])
def test_a_radiance_picture_other_than_rgbe_is_refused_as_what_it_is(header, expected):
    """Said to lack the size line it has."""
    data = header + f"-Y {H} +X {W}\n".encode() + bytes([128]) * (W * H * 4)
    assert refusal(data, "x.hdr") == f"x.hdr: {expected} cannot be read here; save it as RGBE (FORMAT=32-bit_rle_rgbe)"


def bmp_16(words: np.ndarray, masks: tuple[int, int, int, int]) -> bytes:
    """A bottom-up 16-bit bitfields BMP (a 56-byte header, its four masks in it) of (H, W) `words`."""
    data = b"".join(row.astype("<u2").tobytes() for row in words[::-1])
    info = struct.pack("<IiiHHIIiiII4I", 56, W, H, 1, 16, 3, len(data), 2835, 2835, 0, 0, *masks)
    return b"BM" + struct.pack("<IHHI", 14 + len(info) + len(data), 0, 0, 14 + len(info)) + info + data


def test_a_16_bit_bmp_of_4_bit_channels_reads_through_ffmpeg():
    """X4R4G4B4 (GIMP writes it) was "not a readable image": Pillow and OpenCV refuse it. Its 4 bits
    are widened by repeating them (FFmpeg's conversion read white 240); one with alpha, which FFmpeg
    drops, is refused naming its bitfields."""
    nibbles = (RGB >> 4).astype(np.uint16)
    words = nibbles[..., 0] << 8 | nibbles[..., 1] << 4 | nibbles[..., 2]
    assert np.array_equal(decode_image(bmp_16(words, (0xF00, 0xF0, 0xF, 0)), "x.bmp"), (nibbles * 17).astype(np.uint8))
    assert refusal(bmp_16(words | 0xF000, (0xF00, 0xF0, 0xF, 0xF000)), "a.bmp") == (
        "a.bmp: a 16-bit BMP of bitfields R 0xf00, G 0xf0, B 0xf, A 0xf000 cannot be read here; "
        "save it as a 24- or 32-bit BMP, or as a PNG")
