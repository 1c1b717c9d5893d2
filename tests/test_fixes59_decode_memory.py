"""Decode bounds (session 59): the 1 GiB of samples an image may decode to let decoding take 3-6
times that (an 8-bit PSD read by Pillow, pictures with transparency decoded twice and put over
white in float: 16000x16000 RGBA PNG, 995 KB, 325 s at 4.4 GB); a y4m stating 50000x50000 was
"not a readable video (Device or resource busy)"; the bytes limit named no way round it."""

from __future__ import annotations

import struct
import subprocess
import sys
import textwrap
import zlib
from pathlib import Path

import numpy as np
import pytest

from cli_support import one_error_line
from realtime_adain.errors import UserError
from realtime_adain.video.reader import VideoReader

SIDE = 3000  # (RGBA: 34 MB of samples, well above the allocator's noise)


def psd_of_zeros(path: Path, width: int, height: int, channels: int = 3) -> Path:
    """An 8-bit RGB PSD of zeros, its rows RLE-packed (tiny; OpenCV has no decoder: Pillow's)."""
    out = bytearray(b"8BPS" + struct.pack(">H6sHIIHH", 1, b"\0" * 6, channels, height, width, 8, 3))
    out += struct.pack(">I", 0) * 3 + struct.pack(">H", 1)
    row, left = bytearray(), width
    while left > 0:
        run = min(128, left)
        row += bytes([(257 - run) & 0xFF, 0])
        left -= run
    out += struct.pack(">H", len(row)) * (height * channels) + bytes(row) * (height * channels)
    path.write_bytes(out)
    return path


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def rgba_png(path: Path, width: int, height: int, depth: int = 8) -> Path:
    """An RGBA PNG of zeros (all transparent), `depth` bits a sample."""
    packer, row = zlib.compressobj(9), b"\0" * (1 + 4 * width * depth // 8)
    data = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, depth, 6, 0, 0, 0))
                     + _chunk(b"IDAT", data) + _chunk(b"IEND", b""))
    return path


def rgba_tiff(path: Path, width: int, height: int) -> Path:
    import cv2

    pixels = np.zeros((height, width, 4), np.uint8)
    pixels[..., 3] = (np.arange(width) % 256).astype(np.uint8)[None, :]
    assert cv2.imwrite(str(path), pixels, [cv2.IMWRITE_TIFF_COMPRESSION, 8])
    return path


def decode_peak_mb(path: Path) -> float:
    """The peak RSS `read_image` adds, in MB, in a fresh process (after a small decode of the same
    kind, so imports and the decoders' own start are not counted)."""
    script = textwrap.dedent("""
        import sys
        from realtime_adain.imageio import read_image
        def peak_kb():  # (VmHWM, not ru_maxrss: that starts from the forking parent's, pytest's)
            status = open("/proc/self/status").read()
            return int(status.split("VmHWM:")[1].split()[0])
        read_image(sys.argv[2])
        before = peak_kb()
        rgb = read_image(sys.argv[1])
        assert rgb.shape[2] == 3 and rgb.dtype.name == "uint8"
        print((peak_kb() - before) / 1024)
    """)
    small = path.with_name("small" + path.suffix)
    {".psd": psd_of_zeros, ".png": rgba_png, ".tif": rgba_tiff}[path.suffix](small, 64, 64)
    done = subprocess.run([sys.executable, "-c", script, str(path), str(small)], capture_output=True, text=True,
                          timeout=120, check=True)
    return float(done.stdout.split()[-1])


@pytest.mark.parametrize("kind, samples_per_pixel, most", [
    ("psd", 3, 2.7),  # Pillow's picture (4 bytes a pixel) and the result: 6 times before
    ("png", 4, 2.5),  # one decode, its alpha in 8 bits: 3.8 times before
    ("tif", 4, 2.5),  # Pillow's decode only (OpenCV's no longer held beside it): 6.2 times before
])
def test_decode_peak_within_about_twice_the_samples(tmp_path, kind, samples_per_pixel, most):
    make = {"psd": psd_of_zeros, "png": rgba_png, "tif": rgba_tiff}[kind]
    path = make(tmp_path / f"big.{kind}", SIDE, SIDE)
    samples_mb = SIDE * SIDE * samples_per_pixel / 2**20
    peak = decode_peak_mb(path)
    assert peak <= most * samples_mb, f"{peak:.0f} MB peak for {samples_mb:.0f} MB of samples"


def test_sixteen_bit_rgba_png_within_about_twice_the_samples(tmp_path):
    path = rgba_png(tmp_path / "big.png", SIDE, SIDE, depth=16)
    samples_mb = SIDE * SIDE * 8 / 2**20
    peak = decode_peak_mb(path)
    assert peak <= 2.4 * samples_mb, f"{peak:.0f} MB peak for {samples_mb:.0f} MB of samples"


@pytest.mark.parametrize("depth", [8, 16])
def test_transparent_png_still_read_over_white(tmp_path, depth):
    """One decode for colour and alpha gives what two did: half-transparent red over white."""
    import cv2

    from realtime_adain.imageio import read_image

    top = 65535 if depth == 16 else 255
    pixels = np.zeros((6, 8, 4), np.uint16 if depth == 16 else np.uint8)
    pixels[..., 2] = top  # (BGRA: red)
    pixels[:, :4, 3] = top // 2 + 1  # (half transparent)
    pixels[:, 4:, 3] = top
    path = tmp_path / "half.png"
    assert cv2.imwrite(str(path), pixels)
    rgb = read_image(path)
    assert np.abs(rgb[:, :4].astype(int) - [255, 128, 128]).max() <= 1
    assert (rgb[:, 4:] == [255, 0, 0]).all()


def test_over_white_composites_in_place_with_uint8_alpha():
    from realtime_adain.rgb8 import over_white

    rgb = np.full((3, 700, 3), 100, np.uint8)
    alpha = np.zeros((3, 700), np.uint8)
    alpha[:, ::2] = 255
    out = over_white(rgb, alpha)
    assert out is rgb  # (no second whole picture)
    assert (out[:, ::2] == 100).all() and (out[:, 1::2] == 255).all()


def y4m_stating(path: Path, width: int, height: int) -> Path:
    path.write_bytes(f"YUV4MPEG2 W{width} H{height} F25:1 Ip A1:1 C420jpeg\nFRAME\n".encode() + bytes(1000))
    return path


@pytest.mark.parametrize("side", [50000, 30000, 16000])
def test_y4m_stating_a_huge_picture_names_its_size(tmp_path, side):
    """FFmpeg refuses 30000x30000 and up itself ("Picture size ... is invalid"), which was said as
    "Device or resource busy"; the header's size is named as 16000x16000's is."""
    path = y4m_stating(tmp_path / "y.y4m", side, side)
    with pytest.raises(UserError) as caught:
        VideoReader(path)
    assert str(caught.value) == (
        f"{path}: its video states {side}x{side} pictures: at 8 bytes a pixel, more than the 1 GiB of samples "
        "a picture may decode to (134217728 pixels, 16384x8192)")


def test_y4m_refusal_from_the_command_line(tmp_path, data_dir, run_cli, weights_env):
    path = y4m_stating(tmp_path / "y.y4m", 50000, 50000)
    code, _, err = run_cli("video", path, "-s", data_dir / "style" / "mondrian.jpg", "--size", "64",
                           "-o", tmp_path / "o.mp4")
    assert one_error_line(err, code).startswith(f"error: {path}: its video states 50000x50000 pictures: at 8 bytes")
    assert not (tmp_path / "o.mp4").exists()


def test_sample_bytes_refusal_says_what_to_do(tmp_path, data_dir, run_cli):
    bomb = tmp_path / "bomb.gif"
    bomb.write_bytes(b"GIF89a" + struct.pack("<HHBBB", 16000, 16000, 0, 0, 0) + b","
                     + struct.pack("<HHHHB", 0, 0, 16000, 16000, 0) + b"\x08\x02\x4c\x01\x00;")
    code, _, err = run_cli("image", bomb, "-s", data_dir / "style" / "mondrian.jpg", "--size", "64",
                           "-o", tmp_path / "out.png")
    assert one_error_line(err, code) == (f"error: {bomb}: 16000x16000 at 8 bytes a pixel is more than the 1 GiB of "
                                         "samples an image may decode to; save it smaller")


def test_one_wording_for_the_sample_bytes_limit():
    from realtime_adain.picture_sizes import over_decode_bytes

    assert over_decode_bytes("9x9 at 16 bits a channel") == (
        "9x9 at 16 bits a channel is more than the 1 GiB of samples an image may decode to; save it smaller")
