"""A PNG's `cHRM` primaries and `gAMA` read in `video` and `live` as `image` reads them, and a `gAMA`
out of libpng's range ignored (session 43)."""

from __future__ import annotations

import io
import struct

import numpy as np
import pytest
from PIL import Image

from realtime_adain.hdr_stills import colour_tags
from realtime_adain.imageio import read_image
from realtime_adain.video.hdr import BT709, SRGB
from realtime_adain.video.reader import VideoReader
from test_fixes43_live_photos import BT2020_CHRM, GAMMA_22, P3_CHRM, first_frame as live_first_frame, with_chunks

GAMMA_10 = struct.pack(">I", 100000)


def colour_grid() -> np.ndarray:
    """Every 17th code of each channel together: 4096 colours, 64x64."""
    codes = np.arange(0, 256, 17)
    return np.array(np.meshgrid(codes, codes, codes, indexing="ij")).reshape(3, 64, 64).transpose(1, 2, 0).astype(
        np.uint8)


def png(*chunks: tuple[bytes, bytes]) -> bytes:
    plain = io.BytesIO()
    Image.fromarray(colour_grid()).save(plain, "PNG")
    return with_chunks(plain.getvalue(), *chunks)


@pytest.mark.parametrize("chrm", [P3_CHRM, BT2020_CHRM], ids=["p3", "bt2020"])
@pytest.mark.parametrize("gamma", [None, GAMMA_22, GAMMA_10], ids=["srgb_curve", "gamma_2.2", "gamma_1.0"])
def test_a_png_sequence_with_chrm_reads_in_video_and_live_as_in_image(tmp_path, chrm, gamma):
    """FFmpeg names the cHRM primaries but not `image`'s curve (sRGB's without gAMA: unspecified;
    gAMA 1.0: linear), all taken as a 2.4 power: up to 157 levels off `image` (mean 47)."""
    data = png(*([(b"gAMA", gamma)] if gamma else []), (b"cHRM", chrm))
    for number in (1, 2):
        (tmp_path / f"{number}.png").write_bytes(data)
    expected = read_image(tmp_path / "1.png")
    with VideoReader(tmp_path / "%d.png") as reader:
        np.testing.assert_array_equal(reader.first_frame.image, expected)
        colour = reader.output_colour  # (its values on the sRGB curve, as `image` writes them)
        assert (colour.color_primaries, colour.color_trc) == (BT709, SRGB)
    np.testing.assert_array_equal(live_first_frame(tmp_path / "%d.png"), expected)


def test_an_apng_with_chrm_reads_in_video_as_in_image(tmp_path):
    grid = Image.fromarray(colour_grid())
    plain = io.BytesIO()
    grid.save(plain, "PNG", save_all=True, append_images=[grid.rotate(90)], duration=40)
    path = tmp_path / "anim.png"
    path.write_bytes(with_chunks(plain.getvalue(), (b"gAMA", GAMMA_22), (b"cHRM", P3_CHRM)))
    with VideoReader(path) as reader:
        np.testing.assert_array_equal(reader.first_frame.image, read_image(path))
    from realtime_adain.live.sources import open_source

    source = open_source(str(path), loop=False)  # (live plays it as an animation)
    try:
        np.testing.assert_array_equal(next(iter(source.frames())), read_image(path))
    finally:
        source.close()


def test_a_gama_out_of_libpngs_range_is_ignored(tmp_path):
    """`image` took any gAMA: 1 made a P3 picture black, 0xFFFFFFFF white. libpng and browsers
    ignore one out of range (16..625000000): the picture is on the sRGB curve, as without one."""
    (tmp_path / "none.png").write_bytes(png((b"cHRM", P3_CHRM)))
    without = read_image(tmp_path / "none.png")
    for stated in (1, 15, 625000001, 0xFFFFFFFF):
        path = tmp_path / f"gamma_{stated}.png"
        path.write_bytes(png((b"gAMA", struct.pack(">I", stated)), (b"cHRM", P3_CHRM)))
        np.testing.assert_array_equal(read_image(path), without)
    for stated in (16, 625000000):  # (the range's ends: taken)
        assert colour_tags(png((b"gAMA", struct.pack(">I", stated)), (b"cHRM", P3_CHRM))).gamma == 100000 / stated
