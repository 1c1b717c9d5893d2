"""A PNG's `cHRM` primaries and `gAMA` read in `video` and `live` as `image` reads them, and a `gAMA`
out of libpng's range ignored; `cHRM` taken only with `gAMA`, as Chromium takes it, the first of
each chunk, within FFmpeg's tolerance (session 43)."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image, ImageCms

from realtime_adain.hdr_stills import colour_tags
from realtime_adain.imageio import read_image
from realtime_adain.video.hdr import BT709, SRGB
from realtime_adain.video.picture_file_facts import picture_facts
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
@pytest.mark.parametrize("gamma", [GAMMA_22, GAMMA_10], ids=["gamma_2.2", "gamma_1.0"])
def test_a_png_sequence_with_chrm_reads_in_video_and_live_as_in_image(tmp_path, chrm, gamma):
    """FFmpeg names the cHRM primaries but not `image`'s curve (gAMA 1.0: linear), all taken as a
    2.4 power: up to 157 levels off `image` (mean 47)."""
    data = png((b"gAMA", gamma), (b"cHRM", chrm))
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
    from realtime_adain.live.source_opening import open_source

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


def read_everywhere(tmp_path, data: bytes) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """`data` as `image` reads it, and as `video` and `live` read a sequence of it; the output's primaries."""
    for number in (1, 2):
        (tmp_path / f"{number}.png").write_bytes(data)
    with VideoReader(tmp_path / "%d.png") as reader:
        video, primaries = reader.first_frame.image, reader.output_colour.color_primaries
    return read_image(tmp_path / "1.png"), video, live_first_frame(tmp_path / "%d.png"), primaries


def srgb_profile() -> bytes:
    """An `iCCP` chunk's content: Pillow's sRGB profile, which `image` applies as no change."""
    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    return b"sRGB\0\0" + zlib.compress(profile)


@pytest.mark.parametrize("chunks", [[(b"cHRM", P3_CHRM)], [(b"cHRM", BT2020_CHRM)],
                                    [(b"iCCP", srgb_profile()), (b"gAMA", GAMMA_22), (b"cHRM", P3_CHRM)],
                                    [(b"gAMA", GAMMA_22), (b"cHRM", P3_CHRM), (b"sRGB", b"\0")]],
                         ids=["p3_no_gama", "bt2020_no_gama", "iccp", "srgb"])
def test_a_chrm_browsers_do_not_take_leaves_the_picture_srgb_everywhere(tmp_path, chunks):
    """Chromium takes `cHRM` only with `gAMA` (`image` took it on the sRGB curve) and under no
    `iCCP` or `sRGB` chunk; FFmpeg names its primaries regardless: `video` and `live` converted
    (125 levels off `image` under an `iCCP`)."""
    image, video, live, primaries = read_everywhere(tmp_path, png(*chunks))
    if chunks[0][0] != b"iCCP":  # (its profile applied by `image` alone: `video` reads no ICC profile)
        np.testing.assert_array_equal(image, colour_grid())
    np.testing.assert_array_equal(video, image)
    np.testing.assert_array_equal(live, image)
    assert primaries not in (9, 12)


def nudged(chrm: bytes, *offsets: int) -> bytes:
    return struct.pack(">8I", *(value + offset for value, offset in zip(struct.unpack(">8I", chrm), offsets)))


@pytest.mark.parametrize(("offsets", "taken"), [((12,) * 8, True), ((13,) * 8, False), ((99,), True),
                                                 ((100,), False), ((0, 0, 0, 0, 0, 0, 0, -99), True)])
def test_chrm_primaries_are_taken_within_ffmpegs_tolerance_of_their_sum(offsets, taken):
    """FFmpeg names primaries whose 8 values' differences add up to under 0.001 (100 here);
    `image` allowed 100 on each: 13 on all 8 was P3 there, not in `video`."""
    tags = colour_tags(png((b"gAMA", GAMMA_22), (b"cHRM", nudged(P3_CHRM, *offsets, *(0,) * 8))))
    assert (tags is not None and tags.primaries == 12) is taken


def test_chrm_near_p3_out_of_tolerance_reads_alike_everywhere(tmp_path):
    image, video, live, _ = read_everywhere(tmp_path, png((b"gAMA", GAMMA_22), (b"cHRM", nudged(P3_CHRM, *(13,) * 8))))
    np.testing.assert_array_equal(image, colour_grid())
    np.testing.assert_array_equal(video, image)
    np.testing.assert_array_equal(live, image)


def test_the_first_gama_and_chrm_count_as_in_libpng(tmp_path):
    """libpng and Chromium keep the first of each chunk; `image` kept the last `gAMA`. `video`
    reads the picture as `image` does, whichever `cHRM` FFmpeg names."""
    tags = colour_tags(png((b"gAMA", GAMMA_22), (b"gAMA", GAMMA_10), (b"cHRM", P3_CHRM)))
    assert tags.gamma == 100000 / 45455
    data = png((b"gAMA", GAMMA_22), (b"cHRM", P3_CHRM), (b"cHRM", BT2020_CHRM))
    assert colour_tags(data).primaries == 12
    image, video, live, primaries = read_everywhere(tmp_path, data)
    assert np.abs(image.astype(int) - colour_grid()).max() > 50  # (converted from P3)
    np.testing.assert_array_equal(video, image)
    np.testing.assert_array_equal(live, image)


def test_a_corrupt_exif_prints_no_python_warning(tmp_path, recwarn):
    """Pillow's "UserWarning: Corrupt EXIF data" reached stderr from `picture_facts`."""
    path = tmp_path / "bad_exif.png"
    path.write_bytes(png((b"eXIf", b"MM\0*" + struct.pack(">I", 0xFFFFFFF0) + b"\0\1")))
    assert picture_facts(path).turned is None
    assert not [str(warning.message) for warning in recwarn]
