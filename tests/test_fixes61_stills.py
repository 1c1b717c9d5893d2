"""Round 61: stills cut short or padded. A TIFF cut short was refused in libtiff's words, a warning
of its recovery ("Bogus StripByteCounts field, ignoring ...") or "Seek error accessing TIFF
directory", not as cut short; a GIF cut short "can't read header" (its header whole), a BMP "can't
read data"; a JPEG after zero bytes (which FFmpeg reads) was "not a readable image" with no reason."""

from __future__ import annotations

import io
import struct

import numpy as np
import pytest
from PIL import Image

from realtime_adain.errors import UserError
from realtime_adain.imageio import decode_image, read_image, read_image_bytes, read_mask


def picture() -> Image.Image:
    """A 96x64 photo."""
    rows, columns = np.mgrid[0:64, 0:96]
    rgb = np.stack([columns * 255 // 95, rows * 255 // 63, (rows + columns) * 3 % 256], -1).astype(np.uint8)
    return Image.fromarray(rgb)


def encoded(image: Image.Image, form: str, **options) -> bytes:
    out = io.BytesIO()
    image.save(out, form, **options)
    return out.getvalue()


def refusal(data: bytes, name: str) -> str:
    with pytest.raises(UserError) as caught:
        decode_image(data, name)
    return str(caught.value)


@pytest.mark.parametrize("options, kept", [({}, 2 / 3), ({"compression": "tiff_lzw"}, 1 / 2),
                                           ({"compression": "tiff_adobe_deflate"}, 1 / 2)])
def test_a_tiff_cut_short_is_said_to_be(options, kept):
    """Pillow's TIFF places its directory after the strips: cut at a half, the directory is gone;
    at two thirds, uncompressed, the strip runs past the end."""
    data = encoded(picture(), "TIFF", **options)
    said = refusal(data[:int(len(data) * kept)], "cut.tif")
    assert said == "cut.tif: not a readable image (the TIFF ends before its picture data: cut short?)"


def test_a_tiff_whose_strips_run_past_its_end_is_said_cut_short():
    """Its directory first (a writer that puts it there), its strips cut: the strips' offsets and
    byte counts run past the file's end."""
    from realtime_adain.opencv_headers import tiff_cut_short

    whole = np.frombuffer(encoded(picture(), "TIFF", compression="tiff_lzw"), np.uint8)
    assert not tiff_cut_short(whole)
    # a directory at the start (offset 8), one strip placed after it, the strip cut
    width, height = 4, 2
    entries = [(256, 3, 1, width), (257, 3, 1, height), (258, 3, 1, 8), (259, 3, 1, 1), (262, 3, 1, 1),
               (273, 4, 1, 8 + 2 + 12 * 7 + 4), (279, 4, 1, width * height)]
    ifd = struct.pack("<H", len(entries)) + b"".join(
        struct.pack("<HHII", tag, kind, count, value) if kind == 4 else struct.pack("<HHIHH", tag, kind, count, value, 0)
        for tag, kind, count, value in entries) + bytes(4)
    tiff = b"II*\0" + struct.pack("<I", 8) + ifd + bytes(range(width * height))
    assert not tiff_cut_short(np.frombuffer(tiff, np.uint8))
    assert decode_image(tiff, "whole.tif").shape == (height, width, 3)
    assert tiff_cut_short(np.frombuffer(tiff[:-3], np.uint8))
    # (libtiff reads this one, the missing row black: a note, not a refusal, is libtiff's to give)


def test_a_whole_tiff_damaged_otherwise_is_not_said_cut_short():
    from realtime_adain.opencv_headers import looks_cut_short

    assert looks_cut_short(np.frombuffer(encoded(picture(), "TIFF", compression="tiff_lzw"), np.uint8)) is None
    assert looks_cut_short(np.frombuffer(b"II*\0" + bytes(4), np.uint8)) is None  # (its directory at 0: damaged)


def test_a_gif_cut_short_is_said_to_be():
    """It was "can't read header: Unexpected end of input stream", its header whole."""
    data = encoded(picture(), "GIF")
    assert refusal(data[:len(data) * 2 // 3], "cut.gif") == "cut.gif: not a readable image (the GIF has no end marker: cut short?)"
    assert decode_image(data, "whole.gif").shape == (64, 96, 3)


def test_a_bmp_cut_short_is_said_to_be():
    """It was "can't read data: Unexpected end of input stream"."""
    data = encoded(picture(), "BMP")
    said = refusal(data[:len(data) * 2 // 3], "cut.bmp")
    assert said == "cut.bmp: not a readable image (the BMP ends before its picture's rows do: cut short?)"


def test_a_jpeg_after_zero_bytes_is_read_as_ffmpeg_reads_it(tmp_path):
    """Padded with zeros before its start marker: FFmpeg decodes it; OpenCV and Pillow refused it,
    "not a readable image" with no reason (as --mask too)."""
    data = encoded(picture(), "JPEG", quality=90)
    (tmp_path / "base.jpg").write_bytes(data)
    (tmp_path / "lead.jpg").write_bytes(bytes(16) + data)
    expected = read_image(tmp_path / "base.jpg")
    assert np.array_equal(read_image(tmp_path / "lead.jpg"), expected)
    assert bytes(read_image_bytes(tmp_path / "lead.jpg")) == data
    assert np.array_equal(read_mask(tmp_path / "lead.jpg"), read_mask(tmp_path / "base.jpg"))


def test_a_jpeg_after_other_bytes_is_refused_saying_where_it_starts():
    """Other bytes before it (a thumbnail in another file may be one) are not skipped: the refusal says why."""
    data = encoded(picture(), "JPEG", quality=90)
    said = refusal(b"HTTP/1.1 200 OK\r\n\r\n" + data, "http.jpg")
    assert said == "http.jpg: not a readable image (19 bytes come before its JPEG's start marker)"


def test_a_jpeg_after_zero_bytes_on_the_command_line(weights_env, run_cli, tmp_path, data_dir):
    """As the tester ran it: `image` with the padded JPEG as content and as --mask."""
    data = encoded(picture(), "JPEG", quality=90)
    (tmp_path / "lead.jpg").write_bytes(bytes(16) + data)
    style = data_dir / "style" / "trial.jpg"
    code, _, err = run_cli("image", tmp_path / "lead.jpg", "-s", style, "-o", tmp_path / "o.png",
                           "--size", "32", "--style-size", "64")
    assert code == 0, err
    code, _, err = run_cli("image", tmp_path / "lead.jpg", "-s", style, "-s", style, "--mask", tmp_path / "lead.jpg",
                           "-o", tmp_path / "m.png", "--size", "32", "--style-size", "64")
    assert code == 0, err
