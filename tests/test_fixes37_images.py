"""Reading pictures against a hostile tester, round 37: a 0..1 float picture with HDR highlights
read nearly black, a PNG whose image data stops early read with black rows, a large file of zero
bytes (or of no format) read whole before it was refused, and a mask's transparency noted as a
result's."""

from __future__ import annotations

import binascii
import struct
import tracemalloc
import zlib

import cv2
import numpy as np
import pytest

from realtime_adain.errors import UserError
from realtime_adain.imageio import read_image, read_mask
from realtime_adain.notes import collected


def photo(data_dir, height: int, width: int) -> np.ndarray:
    """A real photo, small, as uint8 RGB."""
    return cv2.resize(read_image(data_dir / "content" / "cornell.jpg"), (width, height), interpolation=cv2.INTER_AREA)


def test_a_float_picture_with_bright_highlights_is_read_as_0_to_1(data_dir, tmp_path):
    """A 0..1 float TIFF whose sky (7 % of it) was stored at 20 was read as 0..255: the sky grey,
    the photo nearly black, silently. A 0..255 one still reads right, and says how it was read."""
    rgb = photo(data_dir, 112, 160)
    unit = rgb.astype(np.float32) / 255
    unit[:8] = 20.0
    cv2.imwrite(str(tmp_path / "sky.tif"), np.ascontiguousarray(unit[..., ::-1]))
    cv2.imwrite(str(tmp_path / "bytes.tif"), np.ascontiguousarray(rgb[..., ::-1].astype(np.float32)))
    with collected() as notes:
        sky = read_image(tmp_path / "sky.tif")
        assert not notes
        assert (sky[:8] == 255).all()
        assert np.abs(sky[8:].astype(int) - rgb[8:]).max() <= 1
        np.testing.assert_array_equal(read_image(tmp_path / "bytes.tif"), rgb)
    assert notes == [f"{tmp_path / 'bytes.tif'}: its float samples are read as 0..255, not 0..1 (most of its lit samples are above 1)"]


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", binascii.crc32(kind + payload))


def test_a_png_whose_image_data_stops_early_is_refused(data_dir, tmp_path):
    """A PNG whose IDAT data holds 20 of its 160 rows, yet ends with IEND: libpng refuses it,
    Pillow read it with rows 20 on black, silently. Refused as a cut-short PNG is; the same file
    with all its rows reads."""
    rgb = photo(data_dir, 160, 160)
    header = png_chunk(b"IHDR", struct.pack(">IIBBBBB", 160, 160, 8, 2, 0, 0, 0))
    for rows, name in ((20, "short.png"), (160, "whole.png")):
        scanlines = b"".join(b"\0" + rgb[row].tobytes() for row in range(rows))
        (tmp_path / name).write_bytes(b"\x89PNG\r\n\x1a\n" + header + png_chunk(b"IDAT", zlib.compress(scanlines))
                                      + png_chunk(b"IEND", b""))
    with pytest.raises(UserError) as refused:
        read_image(tmp_path / "short.png")
    assert str(refused.value) == (f"{tmp_path / 'short.png'}: not a readable image "
                                  "(the PNG's image data ends before its picture does: cut short?)")
    np.testing.assert_array_equal(read_image(tmp_path / "whole.png"), rgb)


def test_a_large_file_not_an_image_is_not_read_whole(tmp_path):
    """A 3 GB file of zero bytes was read whole (32 s, 6.8 GB) before it was called unreadable:
    refused from its start now. One of no known format is read (TGA has no signature), once: a
    copy for Pillow took as much memory again."""
    zeros, noise = tmp_path / "hole.jpg", tmp_path / "noise.jpg"
    with open(zeros, "wb") as file:
        file.truncate(256 << 20)  # (sparse: nothing is written)
    noise.write_bytes(np.random.default_rng(0).integers(1, 256, 8 << 20, dtype=np.uint8).tobytes())
    (tmp_path / "small.jpg").write_bytes(noise.read_bytes()[:1024])
    with pytest.raises(UserError):  # (the decoders' modules imported before memory is counted)
        read_image(tmp_path / "small.jpg")
    for path, most in ((zeros, 1 << 20), (noise, (8 << 20) * 5 // 4)):
        tracemalloc.start()
        try:
            with pytest.raises(UserError) as refused:
                read_image(path)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert peak < most, (path.name, peak)
        assert str(refused.value).startswith(f"{path}: not a readable image")
    assert str(refused.value) == f"{noise}: not a readable image"
    with pytest.raises(UserError, match=r"hole\.jpg: not a readable image \(its first 65536 bytes are all zero"):
        read_image(zeros)


def test_a_mask_with_transparency_says_what_its_transparent_areas_select(tmp_path):
    """An RGBA mask, black with its shape in its alpha, was noted as "results have no
    transparency", which says nothing of a mask: its transparent areas read as white, the first
    style."""
    mask = np.zeros((32, 48, 4), np.uint8)
    mask[:, 24:, 3] = 255  # left half transparent black, right half opaque black
    cv2.imwrite(str(tmp_path / "mask.png"), mask)
    with collected() as notes:
        selected = read_mask(tmp_path / "mask.png")
        read_image(tmp_path / "mask.png")  # (the same file as a picture: a result's words)
    assert selected[:, :24].all() and not selected[:, 24:].any()
    assert notes == [f"{tmp_path / 'mask.png'}: its transparent areas are read as over white (so they select the "
                     "first style: a mask is read by its grey, not its transparency)",
                     f"{tmp_path / 'mask.png'}: its transparent areas are read as over white (results have no "
                     "transparency)"]


def test_a_dark_0_to_255_float_picture_with_white_stars_is_read_as_0_to_255(tmp_path):
    """By "most lit samples above 1" alone a dark 0..255 picture (a sky of 0.1-0.9 with 3 % white
    stars at 255) was read as 0..1: its sky mid-grey. Its brightest samples, exactly 255, tell it."""
    rng = np.random.default_rng(0)
    sky = rng.uniform(0.1, 0.9, (64, 64, 3)).astype(np.float32)
    stars = rng.random((64, 64)) < 0.03
    sky[stars] = 255.0
    cv2.imwrite(str(tmp_path / "astro.tiff"), sky)
    picture = read_image(tmp_path / "astro.tiff")
    assert picture[~stars].mean() < 1.0 and picture[stars].min() == 255
