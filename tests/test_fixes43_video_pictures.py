"""Pictures read by `video` (an image sequence, and `live`'s clips) as `image` reads them (session
43): a PNG's ICC profile, mirrored EXIF orientations, a palette's transparency, Display P3 on the
sRGB curve, a 32-bit BMP's fourth byte."""

from __future__ import annotations

import struct
import subprocess
import sys
import zlib
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
from PIL import Image, ImageCms

from realtime_adain.imageio import read_image
from realtime_adain.still_orientation import ORIENT
from realtime_adain.video.hdr import BT709, SRGB
from realtime_adain.video.picture_orientation import exif_orientation, upright
from realtime_adain.video.reader import VideoReader
from video_corpus import FFMPEG


def photo(data_dir: Path) -> Image.Image:
    """A small photo with a red block at its top left and a blue one at its bottom right (each
    turn and mirror of it differs)."""
    pixels = np.array(Image.open(data_dir / "content" / "flowers.jpg").convert("RGB").resize((96, 64)))
    pixels[2:12, 2:20] = (255, 0, 0)
    pixels[50:62, 80:94] = (0, 0, 255)
    return Image.fromarray(pixels)


def sequence(folder: Path, save: Callable[[Path], None], suffix: str, count: int = 2) -> Path:
    """`count` copies of a picture (`save` writes one) as the image sequence f1, f2, ...; its pattern."""
    folder.mkdir(parents=True, exist_ok=True)
    for number in range(1, count + 1):
        save(folder / f"f{number}{suffix}")
    return folder / f"f%d{suffix}"


def first_frame(pattern: Path) -> np.ndarray:
    with VideoReader(pattern) as reader:
        return reader.first_frame.image


def first_picture(pattern: Path) -> Path:
    return pattern.with_name(pattern.name.replace("%d", "1"))


READ_AND_COLLECT = """
import gc, sys
from realtime_adain.video.reader import VideoReader
for name in sys.argv[1:]:
    with VideoReader(name) as reader:
        frames = sum(1 for item in reader.items() if hasattr(item, "image"))
    gc.collect()
    print(name, frames)
"""


def test_pngs_with_an_icc_profile_are_read_without_a_crash(data_dir, tmp_path):
    """FFmpeg 8's PNG decoder names an iCCP profile in a dictionary on the frame's side data, which
    PyAV 18 frees a second time once the frame's side data was read and collected: `video` and
    `live` died of a segfault (no message) on any such PNG sequence, APNG or PNG in MOV."""
    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    picture = photo(data_dir)
    pattern = sequence(tmp_path / "seq", lambda path: picture.save(path, icc_profile=profile), ".png", 3)
    animated = tmp_path / "anim.png"
    picture.save(animated, save_all=True, append_images=[picture.rotate(180)], icc_profile=profile, duration=40)
    result = subprocess.run([sys.executable, "-c", READ_AND_COLLECT, str(pattern), str(animated)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == [str(pattern), "3", str(animated), "2"]


def test_every_exif_orientation_turns_as_ffmpeg_and_image_turn_it():
    """FFmpeg's matrix of each EXIF orientation (av_exif_orientation_to_matrix), turned by `upright`,
    is the turn `image` applies (OpenCV's)."""
    stored = np.arange(4 * 6 * 3).reshape(4, 6, 3)
    assert exif_orientation(1) is None and exif_orientation(9) is None
    for number in range(2, 9):
        np.testing.assert_array_equal(upright(stored, *exif_orientation(number)), ORIENT[number](stored))


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".webp"])
def test_mirrored_exif_orientations_are_shown_as_image_shows_them(data_dir, tmp_path, suffix):
    """FFmpeg 8 turns EXIF into a display matrix beside side data PyAV cannot read, so only its
    rotation was applied: 2 came out upside down, 4 as stored, 5 and 7 turned the wrong way."""
    picture = photo(data_dir)
    for number in range(1, 9):
        exif = Image.Exif()
        exif[0x0112] = number
        pattern = sequence(tmp_path / str(number), lambda path: picture.save(path, exif=exif, quality=95), suffix)
        shown, expected = first_frame(pattern), read_image(first_picture(pattern))
        assert shown.shape == expected.shape, number
        # (lossless PNG: the same; JPEG and WebP: chroma upsampled otherwise, 4 levels on average; turned wrong: 60)
        assert np.abs(shown.astype(int) - expected).mean() <= (0 if suffix == ".png" else 8), number


def test_a_palettes_transparent_entries_are_shown_over_white(data_dir, tmp_path):
    """A palette PNG's tRNS gives palette entries alpha: their hidden colour was shown."""
    paletted = photo(data_dir).convert("P", palette=Image.ADAPTIVE, colors=64)
    indices = np.array(paletted)
    indices[:, :30] = 0
    clear = Image.fromarray(indices, "P")
    clear.putpalette(paletted.getpalette())
    pattern = sequence(tmp_path, lambda path: clear.save(path, transparency=0), ".png")
    shown = first_frame(pattern)
    assert (shown[:, :30] == 255).all()
    np.testing.assert_array_equal(shown, read_image(first_picture(pattern)))


def with_cicp(path: Path, primaries: int, transfer: int) -> None:
    """Give the PNG at `path` a cICP chunk (RGB, full range) after its header."""
    data = path.read_bytes()
    chunk = b"cICP" + bytes([primaries, transfer, 0, 1])
    at = 8 + 25  # (the signature, then IHDR)
    path.write_bytes(data[:at] + struct.pack(">I", 4) + chunk + struct.pack(">I", zlib.crc32(chunk)) + data[at:])


def test_display_p3_on_the_srgb_curve_converts_as_image_converts_it(data_dir, tmp_path):
    """Display P3 pictures are on the sRGB curve: converted over a 2.4 power, their colours were
    up to 39 levels off `image`'s exact conversion (an 8-bit RGB picture's 16 bits also: 1 to 2)."""
    picture = photo(data_dir)

    def save(path: Path) -> None:
        picture.save(path)
        with_cicp(path, 12, SRGB)

    pattern = sequence(tmp_path / "png", save, ".png")
    expected = read_image(first_picture(pattern))
    np.testing.assert_array_equal(first_frame(pattern), expected)
    clip = tmp_path / "p3.mkv"
    subprocess.run([FFMPEG, "-nostdin", "-v", "error", "-i", str(first_picture(pattern)), "-c:v", "ffv1",
                    "-pix_fmt", "gbrp", "-color_primaries", "smpte432", "-color_trc", "iec61966-2-1", str(clip)],
                   check=True)
    with VideoReader(clip) as reader:
        np.testing.assert_array_equal(reader.first_frame.image, expected)
        colour = reader.output_colour  # (its values on the sRGB curve, tagged so, as an sRGB clip's)
        assert (colour.color_primaries, colour.color_trc) == (BT709, SRGB)


def bmp32(pixels: np.ndarray, fourth: np.ndarray, alpha_mask: bool = False) -> bytes:
    """A bottom-up 32-bit BMP of RGB `pixels` with `fourth` as each pixel's fourth byte: BI_RGB
    (as Pillow writes RGBA), or with `alpha_mask` BI_BITFIELDS in a V4 header that names it alpha."""
    height, width = pixels.shape[:2]
    rows = np.concatenate([pixels[..., ::-1], fourth[..., None]], axis=2)[::-1].tobytes()
    size, compression = (108, 3) if alpha_mask else (40, 0)
    header = struct.pack("<IiiHHIIiiII", size, width, height, 1, 32, compression, len(rows), 2835, 2835, 0, 0)
    if alpha_mask:  # (its masks, then sRGB as its colour space, no end points or gamma)
        header += struct.pack("<4I4s", 0xFF0000, 0xFF00, 0xFF, 0xFF000000, b"BGRs") + bytes(48)
    return struct.pack("<2sIHHI", b"BM", 14 + size + len(rows), 0, 0, 14 + size) + header + rows


def test_a_32_bit_bmps_fourth_byte_is_not_alpha(data_dir, tmp_path):
    """BI_RGB's fourth byte is padding (Pillow, OpenCV and browsers show such a BMP opaque);
    FFmpeg takes it for alpha where one is not zero. A BMP whose header names an alpha mask keeps
    its alpha, shown over white."""
    pixels = np.array(photo(data_dir))
    fourth = np.full(pixels.shape[:2], 7, np.uint8)
    fourth[:, 40:] = 255
    pattern = sequence(tmp_path / "rgb", lambda path: path.write_bytes(bmp32(pixels, fourth)), ".bmp")
    np.testing.assert_array_equal(first_frame(pattern), pixels)
    np.testing.assert_array_equal(read_image(first_picture(pattern)), pixels)
    fourth[:, :40] = 0
    pattern = sequence(tmp_path / "alpha", lambda path: path.write_bytes(bmp32(pixels, fourth, True)), ".bmp")
    shown = first_frame(pattern)
    assert (shown[:, :40] == 255).all()
    np.testing.assert_array_equal(shown, read_image(first_picture(pattern)))
