"""Session 53's fixes to reading pictures: a BMP whose alpha is zero everywhere is opaque, an APNG's
hidden default image is not its first frame, an animated PNG's or WebP's EXIF orientation is
applied, and an ICC profile whose header states another length than its own is ignored."""

from __future__ import annotations

import struct

import av
import numpy as np
from PIL import Image

from realtime_adain.icc import transform_to_srgb
from realtime_adain.imageio import read_image, read_mask
from realtime_adain.pillow_stills import frame_count, pillow_image_rgb

from test_image_cli import matrix_profile

ADOBE = matrix_profile((0.9642, 1.0, 0.8249), (0.6097, 0.3111, 0.0195), (0.2053, 0.6257, 0.0609),
                       (0.1492, 0.0632, 0.7446), 563 / 256)


def picture(height: int = 24, width: int = 36) -> np.ndarray:
    """An RGB picture with no two halves alike: dark to light left to right, coloured top to bottom."""
    rows, columns = np.mgrid[0:height, 0:width]
    return np.dstack([columns * 255 // (width - 1), rows * 255 // (height - 1), 255 - columns * 200 // width]
                     ).astype(np.uint8)


def bmp_with_alpha(rgb: np.ndarray, alpha: np.ndarray) -> bytes:
    """A 32-bit BMP with a BITMAPV5 header and an alpha mask (0xff000000), rows bottom first."""
    height, width = alpha.shape
    pixels = np.dstack([rgb[..., ::-1], alpha])[::-1].tobytes()
    info = (struct.pack("<IiiHHIIiiII", 124, width, height, 1, 32, 3, len(pixels), 2835, 2835, 0, 0)
            + struct.pack("<4I", 0xFF0000, 0xFF00, 0xFF, 0xFF000000) + b"sRGB" + bytes(64))
    return b"BM" + struct.pack("<IHHI", 14 + len(info) + len(pixels), 0, 0, 14 + len(info)) + info + pixels


def ffmpeg_first_frame(path) -> np.ndarray:
    with av.open(str(path)) as container:
        return next(container.decode(video=0)).to_ndarray(format="rgb24")


def test_a_bmp_whose_alpha_is_zero_everywhere_is_read_opaque(tmp_path, capfd):
    """Many BMP writers leave the fourth byte of 32-bit pixels 0: FFmpeg and browsers show such a
    BMP opaque. It was read as all transparent, a blank white picture (with a note), and as a mask
    all white; Pillow's image of it too."""
    rgb = picture()
    path = tmp_path / "alpha0.bmp"
    path.write_bytes(bmp_with_alpha(rgb, np.zeros(rgb.shape[:2], np.uint8)))
    assert np.array_equal(read_image(path), rgb)
    assert np.array_equal(read_image(path), ffmpeg_first_frame(path))
    assert np.array_equal(pillow_image_rgb(Image.open(path)), rgb)
    assert np.array_equal(read_mask(path), rgb.astype(np.uint16).sum(axis=2) >= 3 * 128)
    assert "transparent" not in capfd.readouterr().err


def test_a_bmp_of_partial_transparency_is_still_read_over_white(tmp_path, capfd):
    rgb = picture()
    alpha = np.zeros(rgb.shape[:2], np.uint8)
    alpha[:, : rgb.shape[1] // 2] = 255
    path = tmp_path / "half.bmp"
    path.write_bytes(bmp_with_alpha(rgb, alpha))
    read = read_image(path)
    assert np.array_equal(read[:, : rgb.shape[1] // 2], rgb[:, : rgb.shape[1] // 2])
    assert (read[:, rgb.shape[1] // 2:] == 255).all()
    assert "its transparent areas are read as over white" in capfd.readouterr().err


def test_an_apngs_hidden_default_image_is_not_read_as_its_first_frame(tmp_path):
    """An APNG whose default image (IDAT, no fcTL before it) is not part of its animation: browsers
    and FFmpeg show the animation's first frame, and acTL counts the frames. The hidden fallback
    picture was read, and called one of 2 frames."""
    shown = picture()
    path = tmp_path / "hidden.png"
    Image.fromarray(255 - shown).save(path, save_all=True, append_images=[Image.fromarray(shown)], default_image=True)
    assert np.array_equal(read_image(path), shown)
    assert np.array_equal(read_image(path), ffmpeg_first_frame(path))
    assert frame_count(path) == 1
    two = tmp_path / "hidden_two.png"
    Image.fromarray(255 - shown).save(two, save_all=True, default_image=True,
                                      append_images=[Image.fromarray(shown), Image.fromarray(shown[::-1].copy())])
    assert np.array_equal(read_image(two), shown)
    assert frame_count(two) == 2


def test_an_animated_png_or_webp_is_turned_by_its_exif_orientation(tmp_path):
    """An animation with EXIF orientation 6 (an eXIf chunk, a WebP's EXIF chunk) was read as
    stored, sideways, while the same picture as a still was turned (Pillow turns both)."""
    upright = picture()
    stored = Image.fromarray(np.ascontiguousarray(np.rot90(upright, 1)))  # (orientation 6 turns it back)
    exif = Image.Exif()
    exif[0x0112] = 6
    for suffix, options in ((".png", {}), (".webp", {"lossless": True})):
        still, animated = tmp_path / f"still{suffix}", tmp_path / f"animated{suffix}"
        stored.save(still, exif=exif, **options)
        stored.save(animated, save_all=True, append_images=[stored.transpose(Image.Transpose.FLIP_LEFT_RIGHT)],
                    exif=exif, **options)
        assert np.array_equal(read_image(still), upright), suffix
        assert np.array_equal(read_image(animated), upright), suffix


def test_an_animated_png_with_alpha_is_turned_with_its_alpha(tmp_path):
    upright = np.dstack([picture(), np.full((24, 36), 255, np.uint8)])
    upright[:, 30:, 3] = 0  # (its right edge transparent: white when read)
    stored = Image.fromarray(np.ascontiguousarray(np.rot90(upright, 1)))
    exif = Image.Exif()
    exif[0x0112] = 6
    path = tmp_path / "animated_alpha.png"
    stored.save(path, save_all=True, append_images=[stored.transpose(Image.Transpose.FLIP_LEFT_RIGHT)], exif=exif)
    read = read_image(path)
    assert np.array_equal(read[:, :30], upright[:, :30, :3])
    assert (read[:, 30:] == 255).all()


def with_size_field(profile: bytes, size: int) -> bytes:
    return struct.pack(">I", size) + profile[4:]


def test_an_icc_profile_stating_another_length_than_its_own_is_ignored(tmp_path):
    """libpng (serve's PNG uploads keep only a profile it accepts) requires a profile's header to
    state its length; LittleCMS applied one stating more bytes than it has, so `read_image` and
    serve read the same file in different colours. Neither applies one stating more or fewer."""
    from realtime_adain.serve import uploads

    stored = picture()
    plain = tmp_path / "plain.png"
    Image.fromarray(stored).save(plain)
    adobe = tmp_path / "adobe.png"
    Image.fromarray(stored).save(adobe, icc_profile=ADOBE)
    assert not np.array_equal(read_image(adobe), read_image(plain))  # (the sound profile is applied)
    assert transform_to_srgb(ADOBE) is not None
    for size in (len(ADOBE) + 1000, len(ADOBE) - 4):
        profile = with_size_field(ADOBE, size)
        assert transform_to_srgb(profile) is None, size
        path = tmp_path / f"size{size}.png"
        Image.fromarray(stored).save(path, icc_profile=profile)
        assert np.array_equal(read_image(path), stored), size
        upload, _ = uploads.decode(path.read_bytes(), 1 << 20, 1 << 20)
        assert np.array_equal(upload, read_image(path)), size
