"""Fixes of hostile round 29 (images): Radiance bombs that left copies in /tmp, 16-bit grey PNG
transparency, and JPEG-LS / lossless JPEG pictures.

Found: OpenCV decodes a Radiance .hdr from a copy it writes to /tmp/__opencv_temp.* (or
$OPENCV_TEMP_PATH, not $TMPDIR) and left the copy there when the header's size was over its limit:
every refused file, from the CLI or a server's upload, stayed in /tmp. A 16-bit grey PNG's tRNS key
read black, not white; JPEG-LS and FFmpeg's lossless JPEGs were "not a readable image".
"""

from __future__ import annotations

import struct
import subprocess
import tempfile
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from realtime_adain.api_images import as_rgb
from realtime_adain.errors import UserError
from realtime_adain.imageio import decode_image, read_image
from realtime_adain.serve.uploads import UploadRefused, decode
from realtime_adain.opencv_headers import radiance_sample_bytes
from test_images_hdr17 import photo
from video_corpus import FFMPEG

BOMB = b"#?RADIANCE\nFORMAT=32-bit_rle_rgbe\n\n-Y 100000 +X 100000\n" + bytes(400)


@pytest.fixture
def temp_dirs(monkeypatch, tmp_path) -> list[Path]:
    """OpenCV's temporary folder (it reads OPENCV_TEMP_PATH at each decode) and Python's, both empty."""
    folders = [tmp_path / "opencv", tmp_path / "tmp"]
    for folder in folders:
        folder.mkdir()
    monkeypatch.setenv("OPENCV_TEMP_PATH", str(folders[0]))
    monkeypatch.setenv("TMPDIR", str(folders[1]))
    monkeypatch.setattr(tempfile, "tempdir", str(folders[1]))
    return folders


def copies_in_tmp(data: bytes) -> set[Path]:
    """OpenCV's temporary files in /tmp holding `data` (other processes' files are not counted)."""
    found = set()
    for path in Path("/tmp").glob("__opencv_temp*"):
        try:
            if path.stat().st_size == len(data) and path.read_bytes() == data:
                found.add(path)
        except OSError:  # (another process removed it)
            continue
    return found


def assert_nothing_left(temp_dirs: list[Path], data: bytes) -> None:
    for folder in temp_dirs:
        assert not list(folder.iterdir()), folder
    assert not copies_in_tmp(data)


def test_a_radiance_bomb_is_refused_from_its_header_leaving_no_copy(temp_dirs, tmp_path, run_cli, weights_env,
                                                                    data_dir):
    bomb = tmp_path / "bomb.hdr"
    bomb.write_bytes(BOMB)
    for args in (["image", bomb, "-s", data_dir / "style" / "trial.jpg"],
                 ["image", data_dir / "style" / "trial.jpg", "-s", bomb]):
        code, _, err = run_cli(*args, "--size", "32", "-o", tmp_path / "out.png")
        assert code == 2 and err.strip().splitlines() == [
            f"error: {bomb}: 100000x100000 is larger than the 268435456 pixels an image may have "
            f"(OPENCV_IO_MAX_IMAGE_PIXELS)"]
        assert_nothing_left(temp_dirs, BOMB)


def test_an_uploaded_radiance_bomb_is_413_and_leaves_no_copy(temp_dirs):
    upload = BOMB + bytes(4 << 20)
    with pytest.raises(UploadRefused) as refused:
        decode(upload, 8 << 20, 4096 * 4096)
    assert refused.value.status == 413 and "100000x100000" in str(refused.value)
    assert_nothing_left(temp_dirs, upload)


@pytest.mark.parametrize("line", [b"-Y 100000 +X 100000", b"+Y 100000 -X 100000", b"+X 100000 -Y 100000",
                                  b"-Y100000+X100000", b"-Y 100000 +X 100000 extra"])
def test_each_orientation_of_a_radiance_bomb_is_refused_without_opencv(temp_dirs, line):
    data = b"#?RADIANCE\n# made by hand\nFORMAT=32-bit_rle_rgbe\nEXPOSURE=1\n\n" + line + b"\n" + bytes(64)
    with pytest.raises(UserError, match="100000x100000 is larger than"):
        decode_image(data, "bomb.hdr")
    assert_nothing_left(temp_dirs, data)


def test_radiance_resolution_lines():
    def header(line: bytes) -> bytes:
        return b"#?RGBE\nFORMAT=32-bit_rle_rgbe\n\n" + line + b"\n"

    assert radiance_sample_bytes(np.frombuffer(header(b"-Y 480 +X 640"), np.uint8)) == (640, 480, 12)
    assert radiance_sample_bytes(np.frombuffer(header(b"+X 640 -Y 480"), np.uint8)) == (640, 480, 12)
    for line in (b"-Y 480 +Y 640", b"-Y 0 +X 640", b"480 640", b""):
        assert radiance_sample_bytes(np.frombuffer(header(line), np.uint8)) is None
    assert radiance_sample_bytes(np.frombuffer(b"\x89PNG\r\n\x1a\n" + bytes(30), np.uint8)) is None


def test_a_radiance_picture_over_the_sample_budget_is_refused(temp_dirs):
    """16000x16000 is under the pixel limit, but OpenCV decodes 3 floats a pixel: 3 GiB, from a few bytes."""
    data = b"#?RADIANCE\nFORMAT=32-bit_rle_rgbe\n\n-Y 16000 +X 16000\n" + bytes(100)
    with pytest.raises(UserError, match="16000x16000 at 12 bytes a pixel is more than the 1 GiB"):
        decode_image(data, "big.hdr")
    assert_nothing_left(temp_dirs, data)


def test_a_damaged_radiance_picture_is_one_line_leaving_no_copy(temp_dirs, tmp_path):
    linear = np.random.default_rng(0).random((24, 32, 3), np.float32)
    cv2.imwrite(str(tmp_path / "scene.hdr"), linear)
    whole = (tmp_path / "scene.hdr").read_bytes()
    assert read_image(tmp_path / "scene.hdr").shape == (24, 32, 3)
    assert_nothing_left(temp_dirs, whole)
    size_line = whole.index(b"+X 32\n") + 6
    for damaged in (whole[:len(whole) // 2], whole[:size_line] + bytes(range(256)) * 3):
        with pytest.raises(UserError) as error:
            decode_image(damaged, "scene.hdr")
        assert str(error.value).startswith("scene.hdr: not a readable image") and "\n" not in str(error.value)
        assert "/tmp" not in str(error.value) and str(temp_dirs[1]) not in str(error.value)  # (no temp file's name)
        assert_nothing_left(temp_dirs, damaged)


def test_a_16_bit_grey_png_transparency_key_reads_white(tmp_path, capsys):
    grey = np.full((4, 6), 40000, np.uint16)
    grey[0, :3] = 0
    Image.fromarray(grey).save(tmp_path / "grey16.png", transparency=0)
    Image.fromarray((grey >> 8).astype(np.uint8)).save(tmp_path / "grey8.png", transparency=0)
    with Image.open(tmp_path / "grey16.png") as image:
        assert image.mode == "I;16" and image.info["transparency"] == 0  # (the case found)
        given = as_rgb(image)
    for path in ("grey16.png", "grey8.png"):
        read = read_image(tmp_path / path)
        assert read[0, :3].tolist() == [[255, 255, 255]] * 3 and read[1, 0].tolist() == [156, 156, 156]
        assert "its transparent areas are read as over white" in capsys.readouterr().err
    assert (given == read_image(tmp_path / "grey16.png")).all()


def ffmpeg(*args: str | Path) -> None:
    subprocess.run([FFMPEG, "-nostdin", "-v", "error", "-y", *map(str, args)], check=True, capture_output=True)


@pytest.mark.parametrize("codec", [["-pix_fmt", "bgr24", "-c:v", "jpegls"], ["-c:v", "ljpeg", "-strict", "-1"],
                                   ["-pix_fmt", "yuv420p", "-c:v", "ljpeg", "-strict", "-1"]])
def test_jpeg_ls_and_lossless_jpeg_are_read_by_ffmpeg(codec, data_dir, tmp_path):
    source, original = photo(data_dir, tmp_path)
    coded = tmp_path / "lossless.jpg"
    ffmpeg("-i", source, *codec, "-f", "image2", coded)
    read = read_image(coded)
    difference = np.abs(read.astype(int) - original)
    if "yuv420p" in codec:  # (its colour subsampled: as FFmpeg shows it, near the original, not 62 levels off)
        ffmpeg("-i", coded, tmp_path / "shown.png")
        shown = cv2.cvtColor(cv2.imread(str(tmp_path / "shown.png")), cv2.COLOR_BGR2RGB)
        assert np.abs(read.astype(int) - shown).mean() < 1 and difference.mean() < 4
    else:
        assert difference.max() == 0


def test_a_lossless_jpeg_bomb_is_refused_from_its_frame_header(data_dir, tmp_path):
    source, _ = photo(data_dir, tmp_path)
    coded = tmp_path / "lossless.jpg"
    ffmpeg("-i", source, "-pix_fmt", "bgr24", "-c:v", "jpegls", "-f", "image2", coded)
    data = bytearray(coded.read_bytes())
    frame = data.index(b"\xff\xf7")
    data[frame + 5:frame + 9] = struct.pack(">HH", 60000, 60000)
    with pytest.raises(UserError, match="60000x60000 is larger than"):
        decode_image(bytes(data), "bomb.jpg")
    with pytest.raises(UploadRefused) as refused:
        decode(bytes(data), 8 << 20, 4096 * 4096)
    assert refused.value.status == 413


@pytest.mark.parametrize("comment", [126, 127, 253, 254, 5000 * 22])
def test_the_size_checked_is_the_one_opencv_reads(monkeypatch, comment):
    """A header line of 127 bytes (OpenCV reads 127 at a time: its newline then ends the header)
    or a header over 64 KiB gave a size here other than OpenCV's, and so a bypass of the budget."""
    from realtime_adain import imageio, still_decoders

    monkeypatch.setattr(still_decoders, "MAX_DECODE_BYTES", 100 * 100 * 12 - 1)
    data = (b"#?RADIANCE\nFORMAT=32-bit_rle_rgbe\n#" + b"A" * (comment - 1) + b"\n-Y 100 +X 100\n\n-Y 1 +X 1\n"
            + b"\x80\x80\x80\x80" * 10000)
    try:
        picture = imageio.decode_image(data, "x.hdr")
    except UserError as error:
        assert "100x100" in str(error) or "without the size line" in str(error), str(error)
    else:
        assert picture.shape[:2] == (1, 1)
