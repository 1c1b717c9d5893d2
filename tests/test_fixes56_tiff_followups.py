"""Follow-ups on the TIFF layouts read by FFmpeg or OpenCV unchanged (`tiff_layouts`, session 56)."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from realtime_adain.errors import UserError
from realtime_adain.imageio import decode_image
from realtime_adain.pillow_stills import first_frame_only_note
from test_fixes56_image_formats import lossless_jpeg, tiff


@pytest.mark.parametrize("orientation", range(1, 9))
def test_a_float_rgba_tiff_is_turned_once_as_the_8_bit_one_is(orientation):
    """OpenCV's TIFF decoder applies the orientation under IMREAD_UNCHANGED too: it was turned twice."""
    rgb = np.zeros((4, 6, 3), np.uint8)
    rgb[0, 0], rgb[0, 5], rgb[3, 0] = (255, 0, 0), (0, 255, 0), (0, 0, 255)
    floats = np.concatenate([rgb.astype(np.float32) / 255, np.ones((4, 6, 1), np.float32)], 2)
    expected = decode_image(tiff(rgb, 2, orientation=orientation), "rgb.tif")
    assert np.array_equal(decode_image(tiff(floats, 2, (2,), orientation=orientation), "rgba.tif"), expected)


def read_error(data: bytes, name: str) -> str:
    with pytest.raises(UserError) as refused:
        decode_image(data, name)
    return str(refused.value)


def with_field(data: bytes, tag: int, value: int, new_tag: int | None = None) -> bytes:
    """A `tiff()` file with its one-number LONG field `tag` set to `value` (renamed `new_tag`)."""
    at = data.index(struct.pack("<HHI", tag, 4, 1), 10)
    return data[:at] + struct.pack("<HHII", new_tag or tag, 4, 1, value) + data[at + 12:]


def as_bigtiff(data: bytes) -> bytes:
    """A `tiff()` file rewritten as a BigTIFF (8-byte offsets and counts, 20-byte entries)."""
    count = struct.unpack_from("<H", data, 8)[0]
    entries = [struct.unpack_from("<HHI4s", data, 10 + 12 * at) for at in range(count)]
    values_at = 16 + 8 + 20 * count + 8
    values, strip, out = b"", None, b""
    for tag, kind, number, raw in entries:
        size = number * (2 if kind == 3 else 4)
        stored = raw[:size] if size <= 4 else data[struct.unpack("<I", raw)[0]:][:size]
        if tag == 273:
            strip = struct.unpack("<I", raw)[0]
        if size <= 8:
            out += struct.pack("<HHQ", tag, kind, number) + stored.ljust(8, b"\0")
        else:
            out += struct.pack("<HHQQ", tag, kind, number, values_at + len(values))
            values += stored
    pixels = data[strip:]
    strip_at = values_at + len(values)
    at = out.index(struct.pack("<HHQ", 273, 4, 1))
    out = out[:at] + struct.pack("<HHQQ", 273, 16, 1, strip_at) + out[at + 20:]
    return b"II+\0" + struct.pack("<HHQQ", 8, 0, 16, count) + out + b"\0" * 8 + values + pixels


GREY_ALPHA = np.full((4, 6, 2), 65535, np.uint16)
CMYK_ALPHA = np.concatenate([np.zeros((4, 6, 4), np.uint8), np.full((4, 6, 1), 255, np.uint8)], 2)


@pytest.mark.parametrize("samples, photometric, kind", [(GREY_ALPHA, 1, "16-bit grey and alpha"),
                                                          (CMYK_ALPHA, 5, "CMYK and alpha")])
def test_a_tiled_tiff_of_ffmpegs_kinds_is_refused_in_plain_words(samples, photometric, kind):
    """FFmpeg decoded tiled ones to zeros (read white) or garbage; strips are read."""
    strips = tiff(samples, photometric, (2,))
    assert decode_image(strips, "strips.tif").shape == (4, 6, 3)
    tiled = with_field(strips, 278, 16, new_tag=322)
    assert read_error(tiled, "tiled.tif") == f"tiled.tif: a tiled {kind} TIFF cannot be read here; save it in strips, or as RGBA"


@pytest.mark.parametrize("samples, photometric, kind", [(GREY_ALPHA, 1, "16-bit grey and alpha"),
                                                          (CMYK_ALPHA, 5, "CMYK and alpha")])
def test_a_bigtiff_of_ffmpegs_kinds_is_refused_in_plain_words(samples, photometric, kind):
    """FFmpeg opens no BigTIFF, and its fields were not read: OpenCV dropped the alpha or refused it
    in its own words."""
    big = as_bigtiff(tiff(samples, photometric, (2,)))
    assert read_error(big, "big.tif") == (f"big.tif: a {kind} TIFF in the BigTIFF format cannot be read here; "
                                          f"save it as a classic TIFF, or as RGBA")


def test_a_16_bit_lab_bigtiff_is_refused_as_the_classic_one_is():
    lab = tiff(np.zeros((4, 6, 3), np.uint16), 8)
    assert read_error(as_bigtiff(lab), "lab.tif") == read_error(lab, "lab.tif")


def test_a_bigtiff_of_what_opencv_reads_still_reads():
    rgb = np.arange(72, dtype=np.uint8).reshape(4, 6, 3)
    assert np.array_equal(decode_image(as_bigtiff(tiff(rgb, 2)), "big.tif"), rgb)


def test_an_uncompressed_tiff_of_ffmpegs_kinds_shorter_than_its_samples_is_refused_before_decoding():
    """A 1 KB file stating 14000x14000 CMYK and alpha decoded blank: 4 GB, a minute."""
    short = with_field(with_field(tiff(CMYK_ALPHA, 5, (2,)), 256, 6000), 257, 6000)  # (within the decode budget)
    assert read_error(short, "short.tif") == ("short.tif: not a readable image (an uncompressed 6000x6000 CMYK and "
                                              "alpha TIFF whose file is shorter than its samples need: cut short?)")


def test_the_decode_budget_of_ffmpegs_tiff_kinds_counts_the_decode_peak():
    """FFmpeg's decode and conversion peaked at ~25 bytes a pixel for CMYK and alpha (counted 5)."""
    big = with_field(with_field(tiff(CMYK_ALPHA, 5, (2,)), 256, 8000), 257, 8000)
    assert "at 27 bytes a pixel is more than" in read_error(big, "big.tif")


def test_a_signed_16_bit_grey_and_alpha_tiff_is_refused():
    """FFmpeg read it as unsigned: an opaque alpha of 32767 half transparent."""
    signed = tiff(np.full((4, 6, 2), 32767, np.int16), 1, (2,))
    assert read_error(signed, "s.tif") == ("s.tif: a TIFF of signed grey and alpha samples cannot be read here; "
                                           "save it as unsigned 8- or 16-bit")


@pytest.mark.parametrize("samples, photometric", [(np.full((4, 6, 2), 7, np.uint32), 1),
                                                  (np.full((4, 6, 2), 7, np.int32), 1),
                                                  (np.full((4, 6, 4), 7, np.uint32), 2)])
def test_32_bit_integer_tiffs_with_alpha_are_refused_for_their_bits(samples, photometric):
    """Grey and alpha was told to be saved as it was ("save it so"), RGBA refused in OpenCV's words."""
    assert read_error(tiff(samples, photometric, (2,)), "i.tif") == (
        "i.tif: a TIFF of 32-bit integer samples with alpha cannot be read here; save it at 8 or 16 bits, or as float RGBA")


def test_a_16_bit_lossless_jpeg_is_refused_for_what_its_table_allows_in_true_words():
    """The table is checked, not the scan: the words said the file codes differences of 32768,
    untrue of one whose table merely lists category 16."""
    red = np.zeros((2, 2, 3), np.uint16)
    red[..., 0] = 65535
    assert read_error(lossless_jpeg(red, 16), "red.jpg") == (
        "red.jpg: a 16-bit lossless JPEG whose Huffman table allows a difference of 32768 cannot be read here "
        "(FFmpeg's decoder misreads one where it occurs); save it as a 16-bit PNG or TIFF")


def test_a_multi_page_tiff_only_ffmpeg_reads_is_said_to_have_pages(tmp_path):
    """Pillow opens no 16-bit grey and alpha TIFF, so its pages were counted as one, unmentioned."""
    one = tiff(GREY_ALPHA, 1, (2,))
    second = len(one)
    two = bytearray(one + one)  # (the second copy's offsets are its own plus `second`: only its IFD is walked)
    count = struct.unpack_from("<H", one, 8)[0]
    struct.pack_into("<I", two, 10 + 12 * count, second + 8)
    path = tmp_path / "pages.tif"
    path.write_bytes(bytes(two))
    assert first_frame_only_note(path) == f"{path} has 2 pages; only the first is used"
    path.write_bytes(one)
    assert first_frame_only_note(path) is None
