"""Real-world image files beyond the common ones, as `image` contents and styles: CMYK with its
colour profile, Lab TIFF, formats only Pillow reads (TGA, ICO, PSD, 16-bit BMP), formats nothing
here reads (JPEG XL, SVG; HEIC without pillow-heif), decompression bombs, animations, thin strips."""

from __future__ import annotations

import gzip
import io
import itertools
import resource
import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image, ImageCms

from realtime_adain import sheet
from realtime_adain.errors import UserError
from realtime_adain.imageio import is_image_path, read_image
from realtime_adain.pillow_stills import frame_count
from realtime_adain.rgb8 import to_rgb8
from test_image_cli import assert_one_line_error, matrix_profile

SMALL = ("--size", "32", "--style-size", "64")
ADOBE_RGB = ((0.9642, 1.0, 0.8249), (0.6097, 0.3111, 0.0195), (0.2053, 0.6257, 0.0609), (0.1492, 0.0632, 0.7446))


def cmyk_profile() -> bytes:
    """A small ICC v2 CMYK printer profile: a lut16 (mft2) A2B0 table from ink to Lab, with inks
    duller than the naive 255 - ink (as real press profiles are)."""
    clut = b""
    for c, m, y, k in itertools.product((0, 1), repeat=4):
        r, g, b = (1 - c) * (1 - k), (1 - m) * (1 - k), (1 - y) * (1 - k)
        lightness, a, b_ = 92 * (0.3 * r + 0.59 * g + 0.11 * b), 60 * (r - g) + 3, 60 * (g - b) + 12
        clut += struct.pack(">HHH", round(lightness / 100 * 0xFF00), round((a + 128) * 256), round((b_ + 128) * 256))
    identity = b"".join(struct.pack(">i", v) for v in (65536, 0, 0, 0, 65536, 0, 0, 0, 65536))
    a2b = (b"mft2\0\0\0\0" + bytes([4, 3, 2, 0]) + identity + struct.pack(">HH", 2, 2)
           + struct.pack(">HH", 0, 65535) * 4 + clut + struct.pack(">HH", 0, 65535) * 3)
    desc = b"desc\0\0\0\0" + struct.pack(">I", 5) + b"test\0" + b"\0" * 79
    white = b"XYZ \0\0\0\0" + b"".join(struct.pack(">i", round(v * 65536)) for v in ADOBE_RGB[0])
    tags = [(b"desc", desc), (b"wtpt", white), (b"A2B0", a2b)]
    offset, table, body = 128 + 4 + 12 * len(tags), b"", b""
    for signature, data in tags:
        data += b"\0" * (-len(data) % 4)
        table += signature + struct.pack(">II", offset + len(body), len(data))
        body += data
    header = (struct.pack(">I", offset + len(body)) + b"none" + bytes([2, 0x10, 0, 0]) + b"prtrCMYKLab " + bytes(12)
              + b"acsp" + bytes(24) + struct.pack(">I", 0) + white[8:] + bytes(48))
    return header + struct.pack(">I", len(tags)) + table + body


def ink_patches() -> Image.Image:
    """Four 8x8 patches: cyan, magenta, yellow and grey (black ink)."""
    cmyk = np.zeros((8, 32, 4), np.uint8)
    cmyk[:, :8, 0], cmyk[:, 8:16, 1], cmyk[:, 16:24, 2], cmyk[:, 24:, 3] = 200, 180, 220, 100
    return Image.fromarray(cmyk, "CMYK")


def managed(path: Path) -> np.ndarray:
    """What a colour-managed viewer (a browser) shows: the embedded CMYK profile to sRGB."""
    with Image.open(path) as image:
        source = ImageCms.ImageCmsProfile(io.BytesIO(image.info["icc_profile"]))
        transform = ImageCms.buildTransform(source, ImageCms.createProfile("sRGB"), "CMYK", "RGB")
        return np.asarray(ImageCms.applyTransform(image, transform))


@pytest.mark.parametrize("suffix", [".jpg", ".tif"])
def test_cmyk_with_its_profile_reads_as_browsers_show_it(tmp_path, suffix):
    """A print-ready CMYK file carries its press profile; converted naively (as OpenCV does) its
    inks came out far too bright and saturated."""
    path = tmp_path / f"print{suffix}"
    ink_patches().save(path, icc_profile=cmyk_profile(), **({"quality": 95} if suffix == ".jpg" else {}))
    expected = managed(path)
    image = read_image(path)
    assert image.shape == expected.shape
    assert np.abs(image.reshape(-1, 3).mean(0) - expected.reshape(-1, 3).mean(0)).max() <= 2
    assert np.abs(image.astype(int) - expected)[:, [4, 12, 20, 28]].max() <= 8
    naive = np.asarray(Image.open(path).convert("RGB"))
    assert np.abs(naive.astype(int) - expected)[:, [4, 12, 20, 28]].max() > 40  # what ignoring the profile gave


def test_cmyk_profile_and_exif_orientation_together(tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    ink_patches().save(tmp_path / "phone.jpg", quality=95, icc_profile=cmyk_profile(), exif=exif.tobytes())
    image = read_image(tmp_path / "phone.jpg")
    expected = np.rot90(managed(tmp_path / "phone.jpg"), -1)
    assert image.shape == (32, 8, 3)
    assert np.abs(image.astype(int) - expected)[[4, 12, 20, 28]].max() <= 8


def test_a_profile_of_another_colour_space_is_ignored(tmp_path):
    """An RGB (Adobe RGB) profile on CMYK pixels describes other numbers: browsers ignore it, and so
    do we; it was applied to the naive RGB and shifted every colour."""
    adobe = matrix_profile(*ADOBE_RGB, 563 / 256)
    ink_patches().save(tmp_path / "odd.jpg", quality=95, icc_profile=adobe)
    ink_patches().save(tmp_path / "plain.jpg", quality=95)
    assert np.abs(read_image(tmp_path / "odd.jpg").astype(int) - read_image(tmp_path / "plain.jpg")).max() == 0


def test_lab_tiff_reads_as_its_srgb_picture(tmp_path):
    """A Lab TIFF (Photoshop's, D50) reads as the sRGB picture it came from; OpenCV's conversion
    gave it a colour cast (10 levels too red, 15 too little blue on a photo)."""
    srgb = np.zeros((8, 32, 3), np.uint8)
    srgb[:, :8], srgb[:, 8:16], srgb[:, 16:24], srgb[:, 24:] = (200, 60, 40), (60, 170, 80), (50, 90, 190), (128, 128, 128)
    to_lab = ImageCms.buildTransform(ImageCms.createProfile("sRGB"), ImageCms.createProfile("LAB"), "RGB", "LAB")
    ImageCms.applyTransform(Image.fromarray(srgb), to_lab).save(tmp_path / "lab.tif")
    assert np.abs(read_image(tmp_path / "lab.tif").astype(int) - srgb).max() <= 3


def _psd(rgb: np.ndarray) -> bytes:
    """An uncompressed 8-bit RGB Photoshop file (its merged image only)."""
    h, w = rgb.shape[:2]
    return (b"8BPS" + struct.pack(">H", 1) + bytes(6) + struct.pack(">HIIHH", 3, h, w, 8, 3)
            + struct.pack(">III", 0, 0, 0) + struct.pack(">H", 0) + rgb.transpose(2, 0, 1).tobytes())


def _bmp565(rgb: np.ndarray) -> bytes:
    """A 16-bit RGB565 BMP (BI_BITFIELDS, a BITMAPV5HEADER), as ImageMagick and GIMP write it."""
    h, w = rgb.shape[:2]
    value = ((rgb[..., 0].astype(np.uint16) >> 3) << 11) | ((rgb[..., 1].astype(np.uint16) >> 2) << 5) | (rgb[..., 2] >> 3)
    rows = b"".join(row.astype("<u2").tobytes() + b"\0" * (-(w * 2) % 4) for row in value[::-1])
    info = (struct.pack("<IiiHHIIiiII", 124, w, h, 1, 16, 3, len(rows), 2835, 2835, 0, 0)
            + struct.pack("<IIII", 0xF800, 0x07E0, 0x001F, 0) + b"BGRs" + bytes(48) + struct.pack("<4I", 4, 0, 0, 0))
    return b"BM" + struct.pack("<IHHI", 14 + len(info) + len(rows), 0, 0, 14 + len(info)) + info + rows


@pytest.fixture
def picture() -> np.ndarray:
    rgb = np.zeros((12, 16, 3), np.uint8)
    rgb[:, :8], rgb[:, 8:] = (248, 32, 0), (0, 96, 248)  # exact in RGB565 too
    return rgb


@pytest.mark.parametrize("kind", ["tga", "tga_rle", "tga_alpha", "ico", "psd", "bmp565"])
def test_formats_opencv_lacks_are_read(tmp_path, picture, kind):
    """TGA, ICO, PSD and 16-bit BMP files (which ffmpeg and every viewer open) were 'not a readable image'."""
    path = tmp_path / f"in.{kind.split('_')[0].replace('bmp565', 'bmp')}"
    expected = picture
    if kind == "psd":
        path.write_bytes(_psd(picture))
    elif kind == "bmp565":
        path.write_bytes(_bmp565(picture))
    elif kind in ("tga_alpha", "ico"):
        rgba = np.dstack([picture, np.full(picture.shape[:2], 255, np.uint8)])
        rgba[:6, :, 3] = 0  # the top half transparent: white, as viewers show it
        Image.fromarray(rgba, "RGBA").save(path, **({"sizes": [(16, 12)]} if kind == "ico" else {}))
        expected = picture.copy()
        expected[:6] = 255
    else:
        Image.fromarray(picture).save(path, **({"compression": "tga_rle"} if kind == "tga_rle" else {}))
    image = read_image(path)
    assert image.shape == expected.shape and image.flags.writeable
    np.testing.assert_allclose(image, expected, atol=8 if kind == "bmp565" else 0)  # 5 bits: 248 shows as 255
    assert is_image_path(path.with_suffix(path.suffix.upper()))  # a folder of them is taken


@pytest.mark.parametrize("kind", ["rgba.tif", "rgba_rotated.tif", "la.tif", "bilevel.png", "grey.png"])
def test_transparency_opencv_mishandles_reads_as_viewers_show_it(tmp_path, kind):
    """OpenCV premultiplies a TIFF's colours by its alpha (composited again: twice as dark), and drops
    the alpha of grey TIFFs and the transparent entry (tRNS) of 1-bit and grey PNGs."""
    left_black = np.zeros((8, 12), np.uint8)
    left_black[:, 6:] = 255  # left half black, right half white
    half = np.full((8, 12), 128, np.uint8)
    path = tmp_path / kind
    if kind.startswith("rgba"):
        colour = np.zeros((8, 12, 3), np.uint8)
        colour[:] = (200, 40, 0)
        exif = Image.Exif()
        exif[0x0112] = 6 if kind == "rgba_rotated.tif" else 1
        Image.fromarray(np.dstack([colour, half])).save(path, exif=exif.tobytes())
        expected = np.broadcast_to(np.round(np.array([200, 40, 0]) * 128 / 255 + 255 * 127 / 255), (8, 12, 3))
        expected = np.rot90(expected, -1) if kind == "rgba_rotated.tif" else expected
    elif kind == "la.tif":
        Image.merge("LA", [Image.fromarray(left_black), Image.fromarray(half)]).save(path)
        expected = np.repeat(np.round(left_black.astype(float) * 128 / 255 + 255 * 127 / 255)[..., None], 3, axis=2)
    else:  # black is the transparent entry: the picture reads all white
        Image.fromarray(left_black).convert("1" if kind == "bilevel.png" else "L").save(path, transparency=0)
        expected = np.full((8, 12, 3), 255)
    np.testing.assert_allclose(read_image(path), expected, atol=1)


UNREADABLE = {
    "photo.heic": (b"\0\0\0\x18ftypheic\0\0\0\0mif1heic" + bytes(64),  # pillow-heif (the heif extra) reads it
                   r"a damaged or unsupported HEIC image \(.+\)|HEIC images need pillow-heif: pip install"),
    "photo.jxl": (b"\xff\x0a" + bytes(64), "JPEG XL images cannot be read here"),
    "boxed.jxl": (b"\0\0\0\x0cJXL \r\n\x87\n" + bytes(64), "JPEG XL images cannot be read here"),
    "logo.svg": (b'\xef\xbb\xbf<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="9" height="9"/>',
                 "an SVG drawing, not a raster image"),
    "logo.svgz": (gzip.compress(b"<svg/>"), "a gzip-compressed file"),
    "page.pdf": (b"%PDF-1.7\n" + bytes(64), "a PDF document, not an image"),
}


@pytest.mark.parametrize("name", list(UNREADABLE))
def test_unreadable_formats_are_named(tmp_path, name):
    """What is not decodable here says which format it is, in one line, not 'not a readable image'."""
    data, expected = UNREADABLE[name]
    (tmp_path / name).write_bytes(data)
    with pytest.raises(UserError, match=expected) as caught:
        read_image(tmp_path / name)
    assert "\n" not in str(caught.value)


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _png_header(width: int, height: int, color_type: int = 2) -> bytes:
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, color_type, 0, 0, 0))


def _bomb(kind: str) -> bytes:
    """A file of a few hundred bytes whose header claims billions of pixels."""
    small = io.BytesIO()
    if kind == "png":
        return _png_header(100_000, 100_000) + _png_chunk(b"IDAT", zlib.compress(bytes(301))) + _png_chunk(b"IEND", b"")
    if kind == "jpg":
        Image.new("RGB", (16, 16), (200, 100, 50)).save(small, "JPEG")
        data = bytearray(small.getvalue())
        at = data.find(b"\xff\xc0")
        data[at + 5:at + 9] = struct.pack(">HH", 65000, 65000)
        return bytes(data)
    if kind == "tif":
        strip = zlib.compress(bytes(64))
        entries = [(256, 4, 100_000), (257, 4, 100_000), (258, 3, 8), (259, 3, 8), (262, 3, 2), (273, 4, 8),
                   (277, 3, 3), (278, 4, 100_000), (279, 4, len(strip))]
        ifd = struct.pack("<H", len(entries)) + b"".join(
            struct.pack("<HHI", tag, kind_, 1) + (struct.pack("<I", v) if kind_ == 4 else struct.pack("<HH", v, 0))
            for tag, kind_, v in entries) + bytes(4)
        return b"II*\0" + struct.pack("<I", 8 + len(strip) + len(strip) % 2) + strip + bytes(len(strip) % 2) + ifd
    if kind == "webp":
        Image.new("RGB", (16, 16), (200, 100, 50)).save(small, "WEBP", lossless=True)
        side = (2 ** 24 - 1).to_bytes(3, "little")
        body = b"WEBP" + b"VP8X" + struct.pack("<I", 10) + bytes(4) + side + side + small.getvalue()[12:]
        return b"RIFF" + struct.pack("<I", len(body)) + body
    if kind == "gif":
        return (b"GIF89a" + struct.pack("<HH", 65535, 65535) + b"\x80\0\0" + b"\0\0\0\xff\xff\xff" + b","
                + struct.pack("<HHHH", 0, 0, 65535, 65535) + b"\0" + b"\x02\x02\x44\x01\0" + b";")
    assert kind == "tga"  # a format only Pillow decodes: our own check, before Pillow decodes
    return struct.pack("<BBBHHBHHHHBB", 0, 0, 10, 0, 0, 0, 0, 0, 65535, 65535, 24, 0x20) + b"\xff\0\0\0" * 4


@pytest.mark.parametrize("kind", ["png", "jpg", "tif", "webp", "gif", "tga"])
def test_decompression_bombs_are_refused_before_decoding(tmp_path, kind):
    (tmp_path / f"bomb.{kind}").write_bytes(_bomb(kind))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(UserError, match="larger than the 268435456 pixels" if kind != "webp" else "bomb.webp: ") as caught:
        read_image(tmp_path / f"bomb.{kind}")
    assert "\n" not in str(caught.value)
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 256 * 1024  # KiB: nothing decoded


def test_a_large_picture_keeps_its_alpha_and_profile():
    """Pillow refuses to open a picture over 179 MP (its own bomb check), so one between that and
    our limit (a 15000 x 15000 scan) lost its transparency and colour profile."""
    from realtime_adain.pillow_stills import pillow_header

    profile = _png_chunk(b"iCCP", b"p\0\0" + zlib.compress(matrix_profile(*ADOBE_RGB, 2.2)))
    data = _png_header(15000, 15000, color_type=6) + profile
    data += _png_chunk(b"IDAT", zlib.compress(bytes(64))) + _png_chunk(b"IEND", b"")  # the rest of it missing
    header = pillow_header(np.frombuffer(data, np.uint8))
    assert header.has_alpha and header.profile and header.mode == "RGBA"


def test_16_bit_samples_round_to_nearest():
    """16-bit samples are scaled to 8 bits without a float copy of the picture (GiBs near the pixel
    limit), rounded as before."""
    values = np.arange(65536, dtype=np.uint16).reshape(256, 256)
    expected = np.floor(values / 65535.0 * 255.0 + 0.5).astype(np.uint8)
    np.testing.assert_array_equal(to_rgb8(values)[..., 0], expected)


def test_profile_conversions_give_writable_arrays(tmp_path):
    """torch warned on every photo with an Adobe RGB or CMYK profile (a read-only array)."""
    adobe = matrix_profile(*ADOBE_RGB, 2.2)
    Image.fromarray(np.full((4, 4, 3), 90, np.uint8)).save(tmp_path / "adobe.png", icc_profile=adobe)
    ink_patches().save(tmp_path / "print.jpg", icc_profile=cmyk_profile())
    assert read_image(tmp_path / "adobe.png").flags.writeable
    assert read_image(tmp_path / "print.jpg").flags.writeable


def _animations(folder: Path) -> dict[str, Path]:
    frames = [Image.fromarray(np.full((24, 32, 3), v, np.uint8)) for v in (40, 140, 240)]
    paths = {}
    for name, extra in (("anim.gif", {}), ("anim.png", {}), ("anim.webp", {"lossless": True}), ("pages.tif", {})):
        frames[0].save(folder / name, save_all=True, append_images=frames[1:], **extra)
        paths[name] = folder / name
    frames[0].save(folder / "still.gif")
    paths["still.gif"] = folder / "still.gif"
    return paths


def test_frame_counts(tmp_path):
    counts = {name: frame_count(path) for name, path in _animations(tmp_path).items()}
    assert counts == {"anim.gif": 3, "anim.png": 3, "anim.webp": 3, "pages.tif": 3, "still.gif": 1}
    (tmp_path / "bomb.gif").write_bytes(_bomb("gif"))
    assert frame_count(tmp_path / "bomb.gif") == 1  # not walked (Pillow allocates a frame to count them)


def test_animations_say_only_the_first_frame_is_used(weights_env, run_cli, tmp_path):
    """An animated GIF content or a multi-page TIFF style gave its first picture without a word."""
    paths = _animations(tmp_path)
    code, _, err = run_cli("image", paths["anim.gif"], paths["still.gif"], "-s", paths["pages.tif"],
                           "-o", tmp_path / "out", *SMALL)
    assert code == 0, err
    notes = [line for line in err.splitlines() if line.startswith("note:")]
    assert notes == [f"note: {paths['pages.tif']} has 3 pages; only the first is used",
                     f"note: {paths['anim.gif']} has 3 frames; only the first is used"]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["anim_stylized_pages.png",
                                                                    "still_stylized_pages.png"]


def test_an_animated_style_for_a_video_says_only_its_first_frame_is_used(weights_env, run_cli, tmp_path):
    """`video` reads its styles once too: an animated GIF style is its first frame, said once."""
    import subprocess

    paths = _animations(tmp_path)
    clip = tmp_path / "clip.mp4"
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-f", "lavfi", "-i", "testsrc=size=64x48:rate=10:duration=0.3",
                    str(clip)], check=True)
    code, _, err = run_cli("video", clip, "-s", paths["anim.gif"], "-o", tmp_path / "out.mp4", *SMALL)
    assert code == 0, err
    assert [line for line in err.splitlines() if line.startswith("note:")] == [
        f"note: {paths['anim.gif']} has 3 frames; only the first is used"]


def test_thin_strips_and_upper_case_names(weights_env, run_cli, tmp_path):
    """A 3-pixel-high strip as content and a 1-pixel one as style, at their own size, in files
    named in upper case (as cameras and Windows tools name them)."""
    folder = tmp_path / "in"
    folder.mkdir()
    strip = np.tile(np.linspace(0, 255, 2000, dtype=np.uint8), (3, 1))
    cv2.imwrite(str(folder / "STRIP.PNG"), strip)
    cv2.imwrite(str(folder / "PHOTO.JPG"), np.full((40, 60, 3), 120, np.uint8))
    Image.fromarray(np.dstack([strip] * 3)).save(folder / "TAPE.Tga")
    style = tmp_path / "LINE.TIF"
    cv2.imwrite(str(style), np.tile(np.arange(1000, dtype=np.uint16).reshape(1, -1) * 60, (1, 1)))
    code, _, err = run_cli("image", folder, "-s", style, "-o", tmp_path / "out", "--size", "0", "--style-size", "0")
    assert code == 0, err
    names = {p.name: read_image(p).shape for p in (tmp_path / "out").iterdir()}
    assert names == {"STRIP_stylized_LINE.PNG": (3, 2000, 3), "PHOTO_stylized_LINE.JPG": (40, 60, 3),
                     "TAPE_stylized_LINE.png": (3, 2000, 3)}


def test_a_sheet_of_a_strip_says_which_way_to_fit():
    """A wide strip's sheet needs fewer columns: the refusal said 'even with 32-pixel tiles' (for
    1-pixel tiles) and advised more columns."""
    with pytest.raises(UserError, match="even with 1-pixel tiles; use fewer --sheet-columns"):
        sheet.fit_tile_side((1, 10000), 1, 2, None, 1 << 24)
    assert sheet.fit_tile_side((1, 10000), 1, 2, 1, 1 << 24) == 1
    with pytest.raises(UserError, match="use more --sheet-columns"):
        sheet.fit_tile_side((10000, 1), 1, 4, 1, 1 << 24)


def test_svg_content_is_one_line_from_the_cli(weights_env, run_cli, data_dir, tmp_path):
    (tmp_path / "logo.svg").write_bytes(UNREADABLE["logo.svg"][0])
    code, _, err = run_cli("image", tmp_path / "logo.svg", "-s", data_dir / "style" / "trial.jpg",
                           "-o", tmp_path / "o.png", *SMALL)
    assert_one_line_error(code, err, "logo.svg: an SVG drawing, not a raster image; export it to PNG first")


def test_a_file_larger_than_any_image_is_refused_unread(tmp_path):
    """`read_image` reads a file whole before its header is looked at: a 5 GiB file (a video
    renamed .jpg) is refused by its size first (a sparse file here: nothing is written)."""
    from realtime_adain.errors import UserError
    from realtime_adain.imageio import read_image

    big = tmp_path / "movie.jpg"
    with open(big, "wb") as handle:
        handle.truncate(5 << 30)
    with pytest.raises(UserError, match=r"movie.jpg: 5.0 GiB is larger than any image read here \(4 GiB at most\)"):
        read_image(big)


def test_a_video_given_as_an_image_is_said_to_be_one(weights_env, run_cli, data_dir, tmp_path):
    """A video as the content of `image` or as a style said only "not a readable image"; an AVIF
    picture (the same box as MP4) is still read."""
    video = data_dir / "videos" / "cutBunny.mp4"
    for args in ((video, "-s", data_dir / "style" / "trial.jpg"), (data_dir / "content" / "cornell.jpg", "-s", video)):
        code, _, err = run_cli("image", *args, "-o", tmp_path / "o.png", *SMALL)
        assert_one_line_error(code, err, f"{video}: a video or sound file, not an image (`realtime-adain video` stylizes videos)")
    avif = tmp_path / "still.avif"
    Image.fromarray(np.full((24, 32, 3), 90, np.uint8)).save(avif)
    assert read_image(avif).shape == (24, 32, 3)
