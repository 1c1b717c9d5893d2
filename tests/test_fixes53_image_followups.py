"""Follow-ups to session 53's fixes to reading pictures: an icon's or cursor's BMP whose alpha is
zero everywhere is opaque (as a BMP's), and an HDR APNG's hidden default image is not read."""

from __future__ import annotations

import io
import struct
import zlib

import av
import numpy as np
from PIL import Image

from realtime_adain.imageio import read_image

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def picture(height: int = 16, width: int = 16) -> np.ndarray:
    """An RGB picture with no two halves alike: dark to light left to right, coloured top to bottom."""
    rows, columns = np.mgrid[0:height, 0:width]
    return np.dstack([columns * 255 // (width - 1), rows * 255 // (height - 1), 255 - columns * 200 // width]
                     ).astype(np.uint8)


def icon_of_bmp(rgb: np.ndarray, alpha: np.ndarray, cursor: bool = False) -> bytes:
    """An ICO (or CUR) holding one 32-bit BMP: its alpha the fourth byte, its AND mask 0 (opaque)."""
    height, width = alpha.shape
    pixels = np.dstack([rgb[..., ::-1], alpha])[::-1].tobytes()
    mask = bytes((width + 31) // 32 * 4 * height)
    bitmap = struct.pack("<IiiHHIIiiII", 40, width, 2 * height, 1, 32, 0, len(pixels) + len(mask), 0, 0, 0, 0)
    bitmap += pixels + mask
    entry = struct.pack("<BBBBHHII", width, height, 0, 0, 0 if cursor else 1, 0 if cursor else 32, len(bitmap), 22)
    return struct.pack("<HHH", 0, 2 if cursor else 1, 1) + entry + bitmap


def ffmpeg_rgba(path) -> np.ndarray:
    with av.open(str(path)) as container:
        return next(container.decode(video=0)).to_ndarray(format="rgba")


def test_an_icon_or_cursor_whose_alpha_is_zero_everywhere_is_read_opaque(tmp_path, capfd):
    """Pillow names these formats ICO and CUR, not BMP: such an icon was read blank white, with a
    note that its transparent areas are read over white, while FFmpeg shows it opaque."""
    rgb = picture()
    for name, cursor in (("alpha0.ico", False), ("alpha0.cur", True)):
        path = tmp_path / name
        path.write_bytes(icon_of_bmp(rgb, np.zeros(rgb.shape[:2], np.uint8), cursor))
        assert np.array_equal(read_image(path), rgb)
    assert np.array_equal(ffmpeg_rgba(tmp_path / "alpha0.ico")[..., :3], rgb)
    assert "transparent" not in capfd.readouterr().err


def test_an_icon_with_real_alpha_is_still_read_over_white(tmp_path, capfd):
    """A BMP-in-ICO and a PNG-in-ICO of half transparency: their alpha is kept."""
    rgb = picture()
    alpha = np.zeros(rgb.shape[:2], np.uint8)
    alpha[:, : rgb.shape[1] // 2] = 255
    bmp_icon, png_icon = tmp_path / "half_bmp.ico", tmp_path / "half_png.ico"
    bmp_icon.write_bytes(icon_of_bmp(rgb, alpha))
    Image.fromarray(np.dstack([rgb, alpha])).save(png_icon, sizes=[rgb.shape[:2]])
    assert png_icon.read_bytes()[22:30] == PNG_SIGNATURE
    for path in (bmp_icon, png_icon):
        read = read_image(path)
        assert np.array_equal(read[:, : rgb.shape[1] // 2], rgb[:, : rgb.shape[1] // 2])
        assert (read[:, rgb.shape[1] // 2:] == 255).all()
    assert "its transparent areas are read as over white" in capfd.readouterr().err


def chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png16(rgb: np.ndarray, hidden: np.ndarray | None = None) -> bytes:
    """A 16-bit RGB PNG tagged PQ over BT.2020 (cICP) of `rgb`; with `hidden`, an APNG whose
    default image (`hidden`) is not part of its one-frame animation (`rgb`)."""
    height, width = rgb.shape[:2]

    def data(samples: np.ndarray) -> bytes:
        return zlib.compress(b"".join(b"\0" + row.astype(">u2").tobytes() for row in samples))

    head = PNG_SIGNATURE + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 16, 2, 0, 0, 0))
    head += chunk(b"cICP", bytes([9, 16, 0, 1]))
    end = chunk(b"IEND", b"")
    if hidden is None:
        return head + chunk(b"IDAT", data(rgb)) + end
    control = chunk(b"fcTL", struct.pack(">IIIIIHHBB", 0, width, height, 0, 0, 1, 10, 0, 0))
    return (head + chunk(b"acTL", struct.pack(">II", 1, 0)) + chunk(b"IDAT", data(hidden)) + control
            + chunk(b"fdAT", struct.pack(">I", 1) + data(rgb)) + end)


def test_an_hdr_apngs_hidden_default_image_is_not_read(tmp_path):
    """A 16-bit PQ APNG whose default image is hidden: the HDR path read that fallback picture
    (OpenCV decodes it), not the animation's first frame that browsers and FFmpeg show. It is
    read (at 8 bits, by Pillow) as the same frame in a plain PQ PNG is, within a level or two."""
    shown = picture().astype(np.uint16) * 257
    hidden, plain = tmp_path / "hidden.png", tmp_path / "plain.png"
    hidden.write_bytes(png16(shown, hidden=65535 - shown))
    plain.write_bytes(png16(shown))
    read, expected = read_image(hidden).astype(int), read_image(plain).astype(int)
    assert np.abs(read - expected).max() <= 2
