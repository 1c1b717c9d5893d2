"""HEIC/HEIF (iPhones' photo format) read through pillow-heif, the `heif` extra: files written by
pillow-heif itself from a real photo, with the orientation, profile, depth and alpha phones use,
and damaged ones and a size bomb that must be one error line."""

from __future__ import annotations

import io
import re
import struct
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pillow_heif  # the heif extra, in dev: never skipped
import pytest
from PIL import Image, ImageCms

from realtime_adain.errors import UserError
from realtime_adain.imageio import is_image_path, read_image

from test_image_cli import SMALL, assert_one_line_error, matrix_profile

ADOBE = matrix_profile((0.9642, 1.0, 0.8249), (0.6097, 0.3111, 0.0195), (0.2053, 0.6257, 0.0609),
                       (0.1492, 0.0632, 0.7446), 563 / 256)


@pytest.fixture(scope="module")
def photo(data_dir) -> np.ndarray:
    """A real photo, small (the codec is slow): 96x64, even sides so no crop box is written."""
    return np.array(Image.open(data_dir / "content" / "cornell.jpg").convert("RGB").resize((96, 64)))


def save_heic(path: Path, rgb: np.ndarray, **options) -> Path:
    pillow_heif.from_pillow(Image.fromarray(rgb)).save(path, quality=95, **options)
    return path


def close(a: np.ndarray, b: np.ndarray, mean: float = 4.0) -> bool:
    """Equal but for the lossy codec's error (HEVC at quality 95, 4:2:0 chroma)."""
    return a.shape == b.shape and float(np.abs(a.astype(int) - b).mean()) < mean


def test_heic_reads_as_its_photo(tmp_path, photo):
    assert is_image_path(Path("IMG_0001.HEIC")) and is_image_path(Path("x.heif"))  # a folder of them is taken
    assert close(read_image(save_heic(tmp_path / "IMG_0001.HEIC", photo)), photo)


def test_exif_orientation_6_is_applied_once(tmp_path, photo):
    """Portrait photos are stored landscape with orientation 6: they read upright, not rotated twice."""
    exif = Image.Exif()
    exif[0x0112] = 6
    read = read_image(save_heic(tmp_path / "portrait.heic", photo, exif=exif.tobytes()))
    assert close(read, np.rot90(photo, -1))


def test_an_embedded_profile_is_honoured(tmp_path):
    """Phones embed Display P3; here Adobe RGB: the picture reads as the sRGB it was made from."""
    srgb = np.zeros((64, 96, 3), np.uint8)
    srgb[:, :32], srgb[:, 32:64], srgb[:, 64:] = (200, 60, 40), (60, 170, 80), (50, 90, 190)
    to_adobe = ImageCms.buildTransform(ImageCms.createProfile("sRGB"), ImageCms.ImageCmsProfile(io.BytesIO(ADOBE)),
                                       "RGB", "RGB")
    stored = np.array(ImageCms.applyTransform(Image.fromarray(srgb), to_adobe))
    read = read_image(save_heic(tmp_path / "adobe.heic", stored, icc_profile=ADOBE))
    untagged = read_image(save_heic(tmp_path / "untagged.heic", stored))
    inner = np.s_[8:-8, [4, 28, 36, 60, 68, 92]]  # away from the patches' edges (chroma subsampling)
    assert np.abs(read[inner].astype(int) - srgb[inner]).max() <= 6
    assert np.abs(untagged[inner].astype(int) - srgb[inner]).max() > 15  # what ignoring it gives


def test_ten_bit_reads_as_eight_bit(tmp_path, photo):
    wide = photo.astype(np.uint16) * 257
    pillow_heif.from_bytes(mode="RGB;16", size=(96, 64), data=wide.tobytes()).save(tmp_path / "hdr.heic", quality=95)
    assert pillow_heif.open_heif(tmp_path / "hdr.heic").info["bit_depth"] == 10
    read = read_image(tmp_path / "hdr.heic")
    assert read.dtype == np.uint8 and close(read, photo)


def test_alpha_is_composited_over_white(tmp_path, photo):
    alpha = np.zeros((64, 96), np.uint8)
    alpha[:, :48] = 255  # left half opaque, right half fully transparent
    read = read_image(save_heic(tmp_path / "cutout.heic", np.dstack([photo, alpha])))
    assert close(read[:, :40], photo[:, :40]) and read[:, 56:].min() >= 250


def test_trailing_bytes_after_the_image_are_harmless(tmp_path, photo):
    path = save_heic(tmp_path / "padded.heic", photo)
    clean = read_image(path)
    path.write_bytes(path.read_bytes() + bytes(range(256)) * 8)
    np.testing.assert_array_equal(read_image(path), clean)


def damaged(tmp_path: Path, photo: np.ndarray, kind: str) -> Path:
    data = save_heic(tmp_path / "whole.heic", photo).read_bytes()
    if kind == "truncated.heic":  # a copy that stopped halfway
        data = data[:len(data) // 2]
    else:  # the boxes after the 'ftyp' header overwritten with garbage
        data = data[:32] + bytes((i * 37 + 11) % 256 for i in range(len(data) - 32))
    (tmp_path / kind).write_bytes(data)
    return tmp_path / kind


@pytest.mark.parametrize("kind", ["truncated.heic", "garbage.heic"])
def test_damaged_heic_is_one_error_line(tmp_path, photo, kind):
    with pytest.raises(UserError, match=r"a damaged or unsupported HEIC image \(.+\)") as caught:
        read_image(damaged(tmp_path, photo, kind))
    assert "\n" not in str(caught.value) and str(caught.value).startswith(str(tmp_path / kind))


def heic_bomb(tmp_path: Path, side: int) -> Path:
    """A few-KB HEIC whose 'ispe' (image size) box claims side x side pixels."""
    data = bytearray(save_heic(tmp_path / "small.heic", np.full((64, 64, 3), 90, np.uint8)).read_bytes())
    for box in re.finditer(b"ispe", bytes(data)):
        data[box.start() + 8:box.start() + 16] = struct.pack(">II", side, side)
    (tmp_path / "bomb.heic").write_bytes(data)
    return tmp_path / "bomb.heic"


def test_a_size_bomb_is_refused_from_its_header(tmp_path):
    """60000x60000 (10 GB as RGB) is refused before a pixel is decoded: at once, and by size."""
    path = heic_bomb(tmp_path, 60000)
    started = time.process_time()  # (CPU time, not a loaded machine's wait)
    with pytest.raises(UserError, match="60000x60000 is larger than the 268435456 pixels"):
        read_image(path)
    assert time.process_time() - started < 1.0


@pytest.mark.slow  # (default run's time: 2 s)
def test_the_cli_reads_heic_content_and_style(tmp_path, photo, data_dir, weights_env, run_cli):
    """`image IMG.HEIC -s STYLE.HEIC -o out.jpg` works; a folder of HEICs gives .png results (HEIC
    is not written: `-o out.heic` is refused in one line); a damaged one is one error line."""
    save_heic(tmp_path / "IMG_0001.HEIC", photo)
    style = np.array(Image.open(data_dir / "style" / "asheville.jpg").convert("RGB").resize((96, 64)))
    save_heic(tmp_path / "style.heic", style)
    code, _, err = run_cli("image", tmp_path / "IMG_0001.HEIC", "-s", tmp_path / "style.heic", "-o",
                           tmp_path / "out.jpg", *SMALL)
    assert code == 0, err
    assert Image.open(tmp_path / "out.jpg").size == (96, 64)  # written at the photo's size
    folder = tmp_path / "phone"
    folder.mkdir()
    save_heic(folder / "IMG_0002.HEIC", photo)
    code, _, err = run_cli("image", folder, "-s", data_dir / "style" / "asheville.jpg", "-o", tmp_path / "outs", *SMALL)
    assert code == 0, err
    assert [p.name for p in (tmp_path / "outs").iterdir()] == ["IMG_0002_stylized_asheville.png"]
    code, _, err = run_cli("image", tmp_path / "IMG_0001.HEIC", "-s", tmp_path / "style.heic", "-o",
                           tmp_path / "out.heic", *SMALL)
    assert_one_line_error(code, err, "unknown image format '.heic' (written: .jpg")
    code, _, err = run_cli("image", damaged(tmp_path, photo, "truncated.heic"), "-s", tmp_path / "style.heic",
                           "-o", tmp_path / "bad.jpg", *SMALL)
    assert_one_line_error(code, err, "a damaged or unsupported HEIC image")


def test_serve_uploads_and_training_read_heic(tmp_path, photo):
    from realtime_adain.serve.uploads import UploadRefused, decode
    from realtime_adain.training.training_images import read_training_image

    data = save_heic(tmp_path / "upload.heic", photo).read_bytes()
    assert close(decode(data, 1 << 20, 1 << 20)[0], photo)
    with pytest.raises(UploadRefused, match="60000x60000, more than"):  # from the header, as other formats
        decode(heic_bomb(tmp_path, 60000).read_bytes(), 1 << 20, 1 << 20)
    image, why = read_training_image(tmp_path / "upload.heic")
    assert why == "" and close(image, photo)


def test_pillow_heif_is_imported_only_for_heic_and_its_absence_says_what_to_install(tmp_path, photo):
    """Reading a JPEG does not import pillow-heif (startup costs nothing); without it installed,
    a HEIC names the extra to install."""
    save_heic(tmp_path / "IMG.heic", photo)
    Image.fromarray(photo).save(tmp_path / "photo.jpg")
    script = f"""
import sys
from realtime_adain.imageio import read_image
read_image({str(tmp_path / "photo.jpg")!r})
assert "pillow_heif" not in sys.modules
read_image({str(tmp_path / "IMG.heic")!r})
assert "pillow_heif" in sys.modules
"""
    subprocess.run([sys.executable, "-c", script], check=True, timeout=60)
    missing = "import sys; sys.modules['pillow_heif'] = None\n" + script.split("assert")[0]  # as if not installed
    result = subprocess.run([sys.executable, "-c", missing.replace("photo.jpg", "IMG.heic")], capture_output=True,
                            text=True, timeout=60)
    assert 'HEIC images need pillow-heif: pip install "realtime-adain[heif]"' in result.stderr.splitlines()[-1]
