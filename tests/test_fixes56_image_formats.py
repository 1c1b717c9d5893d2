"""Pictures read wrong or refused in OpenCV's words, round 56: a 16-bit grey and alpha TIFF read
black (its alpha dropped), a 16-bit Lab TIFF with a colour cast, a CMYK and alpha TIFF and float
RGBA or grey and alpha TIFFs refused in OpenCV's internal text, 12-bit lossless colour JPEGs read
nearly black and 16-bit ones garbled, a bottom-up Radiance picture refused, JPEG XL, SVG and
extensionless files left out of a folder without a word, and an unsigned 32-bit TIFF refused."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from realtime_adain.errors import UserError
from realtime_adain.imageio import decode_image, read_mask
from realtime_adain.input_paths import expand_images
from realtime_adain.notes import collected

OVER_WHITE = "its transparent areas are read as over white"


def tiff(samples: np.ndarray, photometric: int, extra: tuple[int, ...] = (), orientation: int | None = None) -> bytes:
    """An uncompressed little-endian TIFF of (H, W) or (H, W, S) `samples` (their dtype's depth and
    sample format) in one strip, written by hand: `extra`, its ExtraSamples (1 associated alpha, 2
    unassociated); `orientation`, its Orientation tag."""
    samples = samples if samples.ndim == 3 else samples[..., None]
    height, width, count = samples.shape
    pixels = samples.astype(samples.dtype.newbyteorder("<")).tobytes()
    fields = [(256, 4, [width]), (257, 4, [height]), (258, 3, [samples.dtype.itemsize * 8] * count), (259, 3, [1]),
              (262, 3, [photometric]), (273, 4, [0]), (277, 3, [count]), (278, 4, [height]), (279, 4, [len(pixels)]),
              (339, 3, [{"u": 1, "i": 2, "f": 3}[samples.dtype.kind]] * count)]
    fields += [(274, 3, [orientation])] if orientation else []
    fields += [(338, 3, list(extra))] if extra else []
    fields.sort()
    values_at = 8 + 2 + 12 * len(fields) + 4

    def directory(strip_at: int) -> tuple[bytes, bytes]:
        entries, values = b"", b""
        for tag, kind, numbers in fields:
            numbers = [strip_at] if tag == 273 else numbers
            raw = struct.pack(f"<{len(numbers)}{'H' if kind == 3 else 'I'}", *numbers)
            if len(raw) <= 4:
                entries += struct.pack("<HHI", tag, kind, len(numbers)) + raw.ljust(4, b"\0")
            else:
                entries += struct.pack("<HHII", tag, kind, len(numbers), values_at + len(values))
                values += raw
        return entries, values

    entries, values = directory(values_at + len(directory(0)[1]))
    return b"II*\0" + struct.pack("<IH", 8, len(fields)) + entries + b"\0\0\0\0" + values + pixels


def lossless_jpeg(samples: np.ndarray, bits: int) -> bytes:
    """A lossless JPEG (SOF3) of (H, W) or (H, W, 3) `samples` at `bits` a sample, as libjpeg-turbo
    writes one (colour: components R, G, B, Adobe's transform 0), written by hand (no writer here
    makes one above 8 bits): predictor 1 (the sample to the left; above, at a row's start), one
    Huffman table coding each category used in 5 bits."""
    samples = samples if samples.ndim == 3 else samples[..., None]
    height, width, count = samples.shape
    ids = b"RGB" if count == 3 else b"\x01"
    stream, used = [], set()
    for y in range(height):
        for x in range(width):
            for c in range(count):
                before = samples[y, x - 1, c] if x else samples[y - 1, x, c] if y else 1 << (bits - 1)
                difference = (int(samples[y, x, c]) - int(before)) & 0xFFFF
                difference -= 0x10000 if difference >= 0x8000 else 0
                category = 16 if difference == -0x8000 else abs(difference).bit_length()
                used.add(category)
                stream.append((category, format(difference if difference > 0 else difference + (1 << category) - 1,
                                                 f"0{category}b") if 0 < category < 16 else ""))
    symbols = sorted(used)  # (the table codes those used, as libjpeg-turbo's optimal tables do)
    coded = "".join(format(symbols.index(category), "05b") + bits_after for category, bits_after in stream)
    coded += "1" * (-len(coded) % 8)
    data = int(coded, 2).to_bytes(len(coded) // 8, "big").replace(b"\xff", b"\xff\x00") if coded else b""
    adobe = b"\xff\xee" + struct.pack(">H", 14) + b"Adobe" + struct.pack(">HHHB", 100, 0, 0, 0) if count == 3 else b""
    frame = struct.pack(">BHHB", bits, height, width, count) + b"".join(bytes([i, 0x11, 0]) for i in ids)
    table = b"\x00" + bytes([0, 0, 0, 0, len(symbols)] + [0] * 11) + bytes(symbols)
    scan = bytes([count]) + b"".join(bytes([i, 0]) for i in ids) + bytes([1, 0, 0])
    segment = lambda marker, body: b"\xff" + bytes([marker]) + struct.pack(">H", len(body) + 2) + body  # noqa: E731
    return (b"\xff\xd8" + adobe + segment(0xC3, frame) + segment(0xC4, table) + segment(0xDA, scan) + data
            + b"\xff\xd9")


def read(data: bytes, name: str) -> tuple[np.ndarray, list[str]]:
    with collected() as notes:
        return decode_image(data, name), notes


def test_a_16_bit_grey_and_alpha_tiff_reads_over_white_as_the_8_bit_one_does(tmp_path):
    """Pillow opens none, and OpenCV dropped its alpha: a clear picture read black, without a word,
    where the same at 8 bits read white with a note. A mask of it selected the second style."""
    clear = np.zeros((6, 8, 2), np.uint16)
    for extra in (1, 2):
        rgb, notes = read(tiff(clear, 1, (extra,)), "clear16.tif")
        assert (rgb == 255).all() and any(OVER_WHITE in line for line in notes), notes
    rgb8, notes8 = read(tiff(clear.astype(np.uint8), 1, (2,)), "clear8.tif")
    assert (rgb8 == 255).all() and any(OVER_WHITE in line for line in notes8)
    (tmp_path / "mask.tif").write_bytes(tiff(clear, 1, (2,)))
    assert read_mask(tmp_path / "mask.tif").all()  # (white: the first style)
    grey = np.dstack([np.full((6, 8), 20000, np.uint16), np.full((6, 8), 40000, np.uint16)])
    alpha = 40000 / 65535
    straight, _ = read(tiff(grey, 1, (2,)), "straight.tif")
    assert np.abs(straight.astype(float) - (20000 / 257 * alpha + 255 * (1 - alpha))).max() <= 1
    premultiplied, _ = read(tiff(grey, 1, (1,)), "premultiplied.tif")  # (its grey stored times its alpha)
    assert np.abs(premultiplied.astype(float) - (20000 / 257 + 255 * (1 - alpha))).max() <= 1


def test_a_tiff_only_ffmpeg_reads_is_turned_as_its_orientation_says():
    """FFmpeg leaves a TIFF's orientation to its caller (OpenCV applies it)."""
    grey = np.zeros((2, 3, 2), np.uint16)
    grey[..., 1] = 65535
    grey[0, 0, 0] = 65535  # (one white pixel, top left)
    grey[1, 2, 1] = 0  # (one clear pixel, bottom right)
    turned, _ = read(tiff(grey, 1, (2,), orientation=6), "turned.tif")  # (a quarter turn clockwise)
    assert turned.shape == (3, 2, 3) and turned[0, 1].tolist() == turned[2, 0].tolist() == [255] * 3
    assert turned.sum() == 2 * 3 * 255


def test_a_16_bit_lab_tiff_is_refused_rather_than_read_with_a_colour_cast():
    """White (L 65535, a = b = 0) read [255 252 222], mid grey [133 122 107] (libtiff's conversion)."""
    lab = np.zeros((4, 4, 3), np.uint16)
    lab[..., 0] = 65535
    with pytest.raises(UserError, match=r"^lab.tif: a TIFF of 16-bit Lab samples cannot be read here .*save it as "
                                        r"8-bit Lab or as RGB$"):
        decode_image(tiff(lab, 8), "lab.tif")


def test_a_cmyk_and_alpha_tiff_reads_over_white():
    """Refused with "can't read header: in function 'int cv::TiffDecoder::normalizeChannelsNumber...'"."""
    inks = np.zeros((2, 4, 5), np.uint8)
    inks[..., 4] = 255
    inks[0, 1, 0] = 255  # cyan
    inks[0, 2, 3] = 255  # black
    inks[1, :, 4] = 0  # (a clear row)
    rgb, notes = read(tiff(inks, 5, (2,)), "cmyka.tif")
    expected = np.array([[[255] * 3, [0, 255, 255], [0] * 3, [255] * 3], [[255] * 3] * 4])
    assert np.abs(rgb.astype(int) - expected).max() <= 1  # (FFmpeg's conversion: white is 254)
    assert any(OVER_WHITE in line for line in notes)
    with pytest.raises(UserError, match=r"^deep.tif: a TIFF of CMYK and alpha cannot be read here unless its samples "
                                        r"are 8-bit and interleaved"):
        decode_image(tiff(inks.astype(np.uint16) * 257, 5, (2,)), "deep.tif")


def test_float_rgba_reads_and_float_grey_and_alpha_is_refused_in_plain_words():
    """Both were refused in OpenCV's words ("ncn == img.channels() in function 'readData'",
    "virtual bool cv::TiffDecoder::readHeader()")."""
    rgba = np.zeros((2, 3, 4), np.float32)
    rgba[..., 0] = 1.0  # red
    rgba[..., 3] = 1.0
    rgba[1, :, 3] = 0.0  # (a clear row)
    rgb, notes = read(tiff(rgba, 2, (2,)), "rgba.tif")
    assert rgb[0].tolist() == [[255, 0, 0]] * 3 and (rgb[1] == 255).all() and any(OVER_WHITE in n for n in notes)
    half = rgba.copy()
    half[..., 3] = 0.5
    half[..., :3] *= 0.5  # (associated: red stored times its alpha)
    premultiplied, _ = read(tiff(half, 2, (1,)), "premultiplied.tif")
    assert np.abs(premultiplied.astype(int) - [255, 128, 128]).max() <= 1
    with pytest.raises(UserError, match=r"^greya.tif: a TIFF of float grey and alpha samples cannot be read here; "):
        decode_image(tiff(np.ones((2, 3, 2), np.float32), 1, (2,)), "greya.tif")


@pytest.mark.parametrize("bits", [4, 12])
def test_a_lossless_jpeg_of_other_than_8_or_16_bits_is_scaled_by_its_bits(bits):
    """FFmpeg leaves colour samples at their bits (12-bit red read [16 0 0]) and shifts grey ones
    up to 8 or 16 bits (4-bit white read 240)."""
    top = (1 << bits) - 1
    red = np.zeros((3, 4, 3), np.uint16)
    red[..., 0] = top
    red[1, 1] = [top // 3, top, 0]
    rgb, _ = read(lossless_jpeg(red, bits), "red.jpg")
    np.testing.assert_array_equal(rgb, np.round(red * 255.0 / top))
    grey = np.array([[0, top, top // 2], [1, 2, 3]], np.uint16)
    rgb, _ = read(lossless_jpeg(grey, bits), "grey.jpg")
    np.testing.assert_array_equal(rgb[..., 0], np.round(grey * 255.0 / top))


def test_a_16_bit_lossless_jpeg_ffmpeg_misreads_is_refused():
    """A difference of 32768 is coded as category 16 without bits after it; FFmpeg reads 16 bits
    there, the rest garbage: pure red read [255 124 128]. One without such a difference reads."""
    smooth = np.array([[[1000, 1000, 65535], [500, 1000, 60000]]], np.uint16)
    rgb, _ = read(lossless_jpeg(smooth, 16), "smooth.jpg")
    np.testing.assert_array_equal(rgb, np.round(smooth / 257))
    red = np.zeros((2, 2, 3), np.uint16)
    red[..., 0] = 65535
    with pytest.raises(UserError, match=r"^red.jpg: a 16-bit lossless JPEG whose Huffman table allows a difference "
                                        r"of 32768 cannot be read here"):
        decode_image(lossless_jpeg(red, 16), "red.jpg")


def radiance(size_line: bytes, scanlines: list[np.ndarray]) -> bytes:
    """A flat (not run-length coded) Radiance picture of RGBE pixels, its scanlines as given."""
    return (b"#?RADIANCE\nFORMAT=32-bit_rle_rgbe\n\n" + size_line + b"\n"
            + b"".join(bytes([*pixel, 129]) for line in scanlines for pixel in line))


def test_a_bottom_up_or_column_order_radiance_picture_reads_upright():
    """OpenCV reads only "-Y N +X M": "+Y 8 +X 8" was refused with "RGBE bad file format: missing
    image size specifier in function 'rgbe_error'"."""
    picture = np.random.default_rng(5).integers(1, 200, (3, 5, 3)).astype(np.uint8)
    upright, _ = read(radiance(b"-Y 3 +X 5", list(picture)), "top.hdr")
    bottom_up, _ = read(radiance(b"+Y 3 +X 5", list(picture[::-1])), "bottom.hdr")
    columns, _ = read(radiance(b"+X 5 +Y 3", list(picture[::-1].swapaxes(0, 1))), "columns.hdr")
    np.testing.assert_array_equal(bottom_up, upright)
    np.testing.assert_array_equal(columns, upright)


def test_a_folder_names_the_jpeg_xl_svg_and_extensionless_files_it_leaves_out(tmp_path):
    """They were skipped without a word (the README: refused by name), as a name ending in a
    space was not; a text file is still left out silently."""
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.png").write_bytes(tiff(np.zeros((2, 2), np.uint8), 1))  # (only its name counts here)
    for name in ("c.jxl", "d.svg", "e", "notes.txt"):
        (folder / name).write_bytes(b"x")
    with collected() as notes:
        assert expand_images([folder], "content") == [folder / "a.png"]
    assert sorted(notes) == [f"{folder / 'c.jxl'}: left out, a JPEG XL image, which is not read here (convert it to "
                             f"PNG or JPEG to include it)",
                             f"{folder / 'd.svg'}: left out, an SVG drawing, not a raster image (export it to PNG to "
                             f"include it)",
                             f"{folder / 'e'}: left out, its name has no extension (rename it to include it)"]


def test_an_unsigned_32_bit_tiff_reads_as_a_signed_one_does():
    """Refused ("unsupported sample type uint32") where an int32 one read through Pillow; Pillow's
    mode "I" is signed, so its levels are read from OpenCV's samples (3e9: white, not black)."""
    levels = np.array([[0, 100, 200]], np.uint32)
    unsigned, notes = read(tiff(levels, 1), "u32.tif")
    signed, _ = read(tiff(levels.astype(np.int32), 1), "i32.tif")
    np.testing.assert_array_equal(unsigned, signed)
    assert unsigned[0, :, 0].tolist() == [0, 100, 200] and any("read as 8-bit levels" in n for n in notes)
    wide, _ = read(tiff(np.array([[0, 65535, 3_000_000_000]], np.uint32), 1), "wide.tif")
    assert wide[0, :, 0].tolist() == [0, 255, 255]
