"""Stills FFmpeg decodes, round 49: a lossless JPEG, a JPEG-LS and a WebP libwebp refuses read
sideways, their EXIF orientation ignored (only OpenCV's decode applied it); a 1,100-byte RLE8 BMP
stating 16000x16000 was decoded whole (85 s, 2.2 GB); DPX, XWD, SGI (FFmpeg's RLE files) and PHM
were "not a readable image" though FFmpeg decodes them."""

from __future__ import annotations

import io
import re
import struct

import av
import cv2
import numpy as np
import pytest
from PIL import Image

from realtime_adain.errors import UserError
from realtime_adain.imageio import decode_image
from realtime_adain.picture_sizes import too_many_pixels
from realtime_adain.still_headers import ffmpeg_still_size


def picture(height: int = 48, width: int = 64) -> np.ndarray:
    """An RGB picture no turn or mirror leaves as it is: colour ramps and a red corner."""
    rows, columns = np.mgrid[0:height, 0:width]
    rgb = np.stack([columns * 255 // (width - 1), rows * 255 // (height - 1), (rows + columns) % 256], -1)
    rgb[:6, :6] = (255, 0, 0)
    return rgb.astype(np.uint8)


def encoded(codec: str, pix_fmt: str, rgb: np.ndarray, **options: str) -> bytes:
    """`rgb` encoded by FFmpeg's `codec` (PyAV) in `pix_fmt`: one still's bytes."""
    encoder = av.CodecContext.create(codec, "w")
    encoder.width, encoder.height, encoder.pix_fmt = rgb.shape[1], rgb.shape[0], pix_fmt
    encoder.options = options
    frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format=pix_fmt)
    return b"".join(bytes(packet) for packet in [*encoder.encode(frame), *encoder.encode(None)])


def exif(orientation: int) -> bytes:
    """An EXIF block ("Exif\\0\\0" and its TIFF structure) stating `orientation`."""
    tags = Image.Exif()
    tags[0x0112] = orientation
    block = tags.tobytes()
    return block if block.startswith(b"Exif\0\0") else b"Exif\0\0" + block


def with_app1(jpeg: bytes, orientation: int) -> bytes:
    """A JPEG (or JPEG-LS) with an APP1 Exif segment stating `orientation` after its SOI."""
    block = exif(orientation)
    return jpeg[:2] + b"\xff\xe1" + struct.pack(">H", len(block) + 2) + block + jpeg[2:]


@pytest.mark.parametrize("codec, pix_fmt", [("ljpeg", "bgr24"), ("jpegls", "rgb24")])
def test_a_lossless_jpeg_or_jpeg_ls_is_turned_as_its_exif_says(codec, pix_fmt):
    """FFmpeg decodes these (OpenCV's libjpeg does not); their orientation 6 was ignored, so a
    phone-style portrait read sideways while the same picture as a baseline JPEG was upright."""
    plain = encoded(codec, pix_fmt, picture())
    upright = decode_image(plain, f"plain.{codec}")
    np.testing.assert_array_equal(upright, picture())  # (lossless)
    np.testing.assert_array_equal(decode_image(with_app1(plain, 6), f"turned.{codec}"), np.rot90(picture(), -1))
    np.testing.assert_array_equal(decode_image(with_app1(plain, 3), f"half.{codec}"), picture()[::-1, ::-1])


def test_a_webp_libwebp_refuses_is_turned_as_its_exif_says():
    """A WebP whose VP8X canvas is smaller than its frame: libwebp (OpenCV, Pillow) refuses it,
    FFmpeg plays it; its EXIF chunk's orientation 6 was ignored."""
    written = io.BytesIO()
    Image.fromarray(picture()).save(written, "WEBP", lossless=True, exif=exif(6))
    data = bytearray(written.getvalue())
    assert data[12:16] == b"VP8X" and b"EXIF" in data
    data[24:30] = (31).to_bytes(3, "little") + (23).to_bytes(3, "little")  # (a 32x24 canvas)
    assert cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR) is None
    np.testing.assert_array_equal(decode_image(bytes(data), "canvas.webp"), np.rot90(picture(), -1))


def rle8_rows(indices: np.ndarray) -> bytes:
    """Indices coded as RLE8 BMP encoders code them: runs of up to 255, each row ending in its
    end-of-line code, the picture in end-of-bitmap; rows bottom first."""
    coded = bytearray()
    for row in indices[::-1]:
        at = 0
        while at < len(row):
            run = 1
            while at + run < len(row) and run < 255 and row[at + run] == row[at]:
                run += 1
            coded += bytes([run, row[at]])
            at += run
        coded += b"\0\0"
    return bytes(coded[:-2] + b"\0\1")


def rle_bmp(width: int, height: int, coded: bytes, bits: int = 8) -> bytes:
    """A BMP of `coded` RLE8 (or RLE4) data stating `width` x `height`, a palette of grey levels."""
    palette = b"".join(bytes([level, level, level, 0]) for level in range(256))[:4 << bits]
    offset = 54 + len(palette)
    return (struct.pack("<2sIHHI", b"BM", offset + len(coded), 0, 0, offset)
            + struct.pack("<IiiHHIIiiII", 40, width, height, 1, bits, 1 if bits == 8 else 2, len(coded), 2835, 2835,
                          1 << bits, 0) + palette + coded)


@pytest.mark.parametrize("bits", [8, 4])
def test_an_rle_bmp_stating_more_pixels_than_its_data_can_set_is_refused_before_decoding(bits):
    """22 bytes of RLE data (ten runs of 255 and the end) set at most 2,805 pixels: stating
    16000x16000, the file was decoded whole, 256 Mpx, 85 s and 2.2 GB, and read as a picture."""
    data = rle_bmp(16000, 16000, bytes([255, 0]) * 10 + b"\0\1", bits)
    with pytest.raises(UserError) as refused:
        decode_image(data, "bomb.bmp")
    assert str(refused.value) == (f"bomb.bmp: not a readable image (a 16000x16000 RLE{bits} BMP whose 22 bytes of "
                                  "picture data can set at most 2805 of its 256000000 pixels: cut short, or a "
                                  "sparse picture too large to decode from so little)")


@pytest.mark.parametrize("name, width, height, coded", [
    ("delta", 320, 240, bytes([100, 1, 0, 0, 0, 2, 50, 100, 100, 1, 0, 1])),  # a run, end of line, a delta, a run, the end
    ("blank", 160, 120, bytes([0, 1])),  # the end code alone: a blank picture
])
def test_a_small_rle_bmp_whose_escapes_skip_pixels_still_reads(name, width, height, coded):
    """(Review h11) bmpsuite's rle8-delta and rle8-blank kinds, read by FFmpeg and OpenCV, were
    refused "cut short?": the bound holds above 4096x4096 only."""
    assert decode_image(rle_bmp(width, height, coded), f"{name}.bmp").shape == (height, width, 3)


def test_an_rle8_bmp_as_encoders_write_it_still_reads():
    """Encoders code every pixel: a flat picture, the least data a picture can take (a run of 255
    a 2 bytes and each row's end-of-line), and a detailed one read as their pixels."""
    flat = np.full((40, 1000), 7, np.uint8)
    np.testing.assert_array_equal(decode_image(rle_bmp(1000, 40, rle8_rows(flat)), "flat.bmp"),
                                  np.repeat(flat[..., None], 3, 2))
    grey = picture()[..., 0]
    np.testing.assert_array_equal(decode_image(rle_bmp(64, 48, rle8_rows(grey)), "grey.bmp"),
                                  np.repeat(grey[..., None], 3, 2))


@pytest.mark.parametrize("codec, pix_fmt, options", [
    ("dpx", "rgb24", {}), ("dpx", "rgb48be", {}), ("dpx", "gbrp10le", {}), ("xwd", "rgb24", {}),
    ("sgi", "rgb24", {}), ("sgi", "rgb24", {"rle": "0"}), ("sgi", "rgba64be", {})])
def test_dpx_xwd_and_sgi_read_through_ffmpeg(codec, pix_fmt, options):
    """Each was refused "not a readable image" (Pillow's SGI reader refused FFmpeg's RLE files)."""
    data = encoded(codec, pix_fmt, picture(), **options)
    assert ffmpeg_still_size(np.frombuffer(data, np.uint8), "x")[1] == (64, 48)  # (serve's and training's check too)
    decoded = decode_image(data, f"picture.{codec}")
    assert np.abs(decoded.astype(int) - picture()).max() <= 1  # (10 and 16 bits: rounded)


def test_a_16_bit_xwd_reads_in_its_colours():
    """An XWD of 5-6-5 pixels (an X server at 16-bit depth) is big-endian RGB565: FFmpeg 8's
    conversion to 8-bit RGB swapped its bytes, red read as blue."""
    decoded = decode_image(encoded("xwd", "rgb565be", picture()), "screen.xwd")
    assert np.abs(decoded.astype(int) - picture()).mean() < 4  # (5 and 6 bits a channel)


def test_a_phm_reads_as_the_same_samples_in_a_pfm():
    """A PHM (FFmpeg's half-float PFM) is linear light, as a PFM: the same samples read alike
    (FFmpeg stores a PHM's rows top first, OpenCV reads a PFM's bottom first)."""
    codes = picture().astype(np.float32) / 255
    light = np.where(codes <= 0.04045, codes / 12.92, ((codes + 0.055) / 1.055) ** 2.4)  # (the sRGB curve undone)
    phm = b"PH\n64 48\n-1.0\n" + light.astype("<f2").tobytes()
    pfm = b"PF\n64 48\n-1.0\n" + light.astype("<f2").astype("<f4")[::-1].tobytes()
    read = decode_image(phm, "light.phm")
    np.testing.assert_array_equal(read, decode_image(pfm, "light.pfm"))
    assert np.abs(read.astype(int) - picture()).max() <= 1  # (the sRGB curve applied; half floats rounded)


def test_ffmpeg_stills_stating_too_much_are_refused_before_decoding():
    """The bounds of the other stills: pixels, 1 GiB of float samples (a PHM decodes to 12 bytes a
    pixel, as an EXR), and an SGI's data (FFmpeg allocated the picture first: a 7.9 KB RLE file
    stating 16000x16000 took 0.8 GB, a 1 KB 16-bit RGBA one 2 GB)."""
    xwd = bytearray(encoded("xwd", "rgb24", picture()))
    xwd[16:24] = struct.pack(">II", 20000, 20000)
    with pytest.raises(UserError, match=re.escape(f"huge.xwd: 20000x20000 is {too_many_pixels()}")):
        decode_image(bytes(xwd), "huge.xwd")
    with pytest.raises(UserError, match="^huge.phm: 16000x16000 at 12 bytes a pixel is more than the 1 GiB"):
        decode_image(b"PH\n16000 16000\n-1.0\n" + bytes(1000), "huge.phm")
    for options, cut in (({}, None), ({"rle": "0"}, 1024)):
        sgi = bytearray(encoded("sgi", "rgb24", picture(), **options))
        sgi[6:10] = struct.pack(">HH", 16000, 16000)
        with pytest.raises(UserError, match=r"^huge.sgi: not a readable image \(a 16000x16000 SGI picture whose file "
                                            r"is shorter than its header says its data is: cut short\?\)$"):
            decode_image(bytes(sgi[:cut]), "huge.sgi")
