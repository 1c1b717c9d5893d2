"""Round 50: an RLE SGI cut short by a byte or two was read with wrong pixels (FFmpeg reads the
missing bytes as zeros), cut more it was a bare "not a readable image", and one FFmpeg refuses was
left to Pillow, which misread it; export's suggestion for `-o a.onnx//` was a.onnx//adain.onnx."""

from __future__ import annotations

import struct

import av
import numpy as np
import pytest

from realtime_adain.errors import UserError
from realtime_adain.imageio import decode_image

CUT_SHORT = r"SGI picture whose file is shorter than its header says its data is: cut short\?\)$"


def picture(height: int = 48, width: int = 64) -> np.ndarray:
    """Colour ramps: runs of repeated and of differing samples in each row."""
    rows, columns = np.mgrid[0:height, 0:width]
    rgb = np.stack([columns * 255 // (width - 1), rows * 255 // (height - 1), (rows + columns) // 8 * 8 % 256], -1)
    return rgb.astype(np.uint8)


def ffmpeg_sgi(pix_fmt: str, rgb: np.ndarray) -> bytes:
    """`rgb` as FFmpeg's SGI encoder writes it (RLE) in `pix_fmt`."""
    encoder = av.CodecContext.create("sgi", "w")
    encoder.width, encoder.height, encoder.pix_fmt = rgb.shape[1], rgb.shape[0], pix_fmt
    frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format=pix_fmt)
    return b"".join(bytes(packet) for packet in [*encoder.encode(frame), *encoder.encode(None)])


def one_row_sgi(values: np.ndarray, rle: bool, sample: int) -> bytes:
    """A grey SGI of one row (dimension 1), verbatim or RLE (one literal run, then a zero count),
    of `sample` bytes a value (8-bit `values`, widened to 16 bits by repeating each byte)."""
    samples = (values.astype(np.uint16) * 257).astype(">u2") if sample == 2 else values
    header = struct.pack(">hBBHHHHii4s80si", 474, int(rle), sample, 1, values.size, 1, 1, 0,
                         255 if sample == 1 else 65535, b"", b"row", 0)
    header += bytes(512 - len(header))
    if not rle:
        return header + samples.tobytes()
    row = np.array([0x80 | values.size, *samples, 0], samples.dtype).tobytes()
    return header + struct.pack(">II", 520, len(row)) + row


@pytest.mark.parametrize("cut", [1, 2, 10, 100])
@pytest.mark.parametrize("pix_fmt", ["rgb24", "rgba64be"])
def test_an_rle_sgi_cut_short_is_said_cut_short(pix_fmt, cut):
    """Cut by 1 (8-bit) or 2 bytes (16-bit) it read with wrong pixels, exit 0; cut more, "not a
    readable image" without a reason."""
    data = ffmpeg_sgi(pix_fmt, picture())
    assert decode_image(data, "whole.sgi").shape == (48, 64, 3)
    with pytest.raises(UserError, match=r"^cut\.sgi: not a readable image \(a 64x48 " + CUT_SHORT):
        decode_image(data[:-cut], "cut.sgi")


def test_an_rle_sgi_ffmpeg_refuses_is_said_damaged_not_misread_by_pillow():
    """Pillow read this one (its rows' lengths zero, which FFmpeg does not use; its first row ends
    before its first pixel), its pixels wrong, exit 0."""
    data = bytearray(ffmpeg_sgi("rgb24", picture()))
    rows = 48 * 3
    first_row = struct.unpack(">I", data[512:516])[0]
    data[512 + 4 * rows:512 + 8 * rows] = bytes(4 * rows)
    data[first_row] = 0
    with pytest.raises(UserError, match=r"^bad\.sgi: a damaged or unsupported SGI image \(Invalid data found"):
        decode_image(bytes(data), "bad.sgi")


def test_an_rle_sgi_whose_stated_lengths_run_past_its_end_reads_as_ffmpeg_reads_it():
    """Only a row's own runs say it is cut short: FFmpeg does not use the lengths, and a writer's may
    be too long."""
    data = bytearray(ffmpeg_sgi("rgb24", picture()))
    rows = 48 * 3
    lengths = np.frombuffer(bytes(data[512 + 4 * rows:512 + 8 * rows]), ">u4") + 5
    data[512 + 4 * rows:512 + 8 * rows] = lengths.astype(">u4").tobytes()
    np.testing.assert_array_equal(decode_image(bytes(data), "long.sgi"), picture())


@pytest.mark.parametrize("sample", [1, 2])
@pytest.mark.parametrize("rle", [False, True])
def test_a_one_row_sgi_is_read_right(rle, sample):
    """FFmpeg refuses dimension 1 (one row), laid out as dimension 2: it is read so, as Pillow read it."""
    values = np.arange(0, 250, 10, dtype=np.uint8)
    rgb = decode_image(one_row_sgi(values, rle, sample), "row.sgi")
    np.testing.assert_array_equal(rgb, np.repeat(values[None, :, None], 3, axis=2))


def test_a_one_row_rle_sgi_cut_short_is_said_cut_short():
    """Pillow refused it: "not a readable image" without a reason."""
    data = one_row_sgi(np.arange(0, 250, 10, dtype=np.uint8), True, 1)
    assert (decode_image(data[:-1], "row.sgi")[0, :, 0] == np.arange(0, 250, 10)).all()  # (only its final zero count)
    with pytest.raises(UserError, match=r"^row\.sgi: not a readable image \(a 25x1 " + CUT_SHORT):
        decode_image(data[:-3], "row.sgi")


def test_a_damaged_one_row_rle_sgi_is_said_damaged_not_misread_by_pillow():
    """Its row ends (a zero count) before its first pixel: Pillow read it black, exit 0."""
    data = bytearray(one_row_sgi(np.arange(0, 250, 10, dtype=np.uint8), True, 1))
    data[520] = 0
    with pytest.raises(UserError, match=r"^row\.sgi: a damaged or unsupported SGI image \(Invalid data found"):
        decode_image(bytes(data), "row.sgi")


@pytest.mark.parametrize("typed, folder", [("a.onnx//", "a.onnx"), ("a.onnx/./", "a.onnx"), ("dir//.", "dir"),
                                           ("out/./.", "out"), ("out/..", "out/..")])
def test_an_onnx_output_naming_a_folder_suggests_a_file_in_that_folder(tmp_path, capsys, typed, folder):
    """`-o a.onnx//` suggested a.onnx//adain.onnx, `dir//.` dir//adain.onnx, and `out/..` (the folder
    above out) out/adain.onnx."""
    from realtime_adain.cli import main

    assert main(["export", "--format", "onnx", "-o", f"{tmp_path}/{typed}"]) == 2
    assert capsys.readouterr().err == (f"error: {tmp_path}/{typed}: names a folder; the output of --format onnx "
                                       f"is a file, e.g. {tmp_path}/{folder}/adain.onnx\n")
    assert list(tmp_path.iterdir()) == []
