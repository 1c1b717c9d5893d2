"""A photo as `live`'s source reads as `image` reads it (its ICC profile, EXIF mirror, ...), and a
PNG's `cHRM` primaries are applied by `image` as FFmpeg and browsers apply them."""

from __future__ import annotations

import io
import struct
import zlib

import av
import numpy as np
from PIL import Image, ImageCms

from realtime_adain.imageio import read_image
from realtime_adain.live.source_opening import open_source
from realtime_adain.picture_sizes import resize
from test_image_cli import matrix_profile

ADOBE_RGB = ((0.9642, 1.0, 0.8249), (0.6097, 0.3111, 0.0195), (0.2053, 0.6257, 0.0609), (0.1492, 0.0632, 0.7446),
             563 / 256)


def picture() -> np.ndarray:
    """A smooth picture with a pure red block (a wide-gamut profile moves it most) at its top left."""
    ys, xs = np.mgrid[0:48, 0:64]
    rgb = np.stack([xs * 4, ys * 5, 255 - xs * 3], axis=-1).astype(np.uint8)
    rgb[4:16, 4:20] = (255, 0, 0)
    return rgb


def first_frame(path, **options) -> np.ndarray:
    source = open_source(str(path), loop=False, **options)
    try:
        return next(iter(source.frames()))
    finally:
        source.close()


def test_an_adobe_rgb_photo_reads_in_live_as_image_reads_it(tmp_path):
    """Decoded by FFmpeg, its profile was ignored: pure red read 219, the picture 6 levels off on average."""
    profile = matrix_profile(*ADOBE_RGB, "Adobe RGB (1998)")
    to_adobe = ImageCms.buildTransform(ImageCms.createProfile("sRGB"), ImageCms.ImageCmsProfile(io.BytesIO(profile)),
                                       "RGB", "RGB")
    path = tmp_path / "adobe.jpg"
    ImageCms.applyTransform(Image.fromarray(picture()), to_adobe).save(path, icc_profile=profile, quality=95)
    expected = read_image(path)
    assert expected[10, 12, 0] >= 250
    np.testing.assert_array_equal(first_frame(path), expected)
    np.testing.assert_array_equal(first_frame(path, resolution=(32, 24)), resize(expected, (32, 24)))


def test_a_mirrored_exif_photo_reads_in_live_as_image_reads_it(tmp_path):
    """EXIF orientation 2 (mirrored): FFmpeg's rotation alone turned it upside down."""
    exif = Image.Exif()
    exif[0x0112] = 2
    path = tmp_path / "mirrored.jpg"
    Image.fromarray(picture()).save(path, quality=95, exif=exif)
    live = first_frame(path)
    np.testing.assert_array_equal(live, read_image(path))
    assert np.abs(live.astype(int) - picture()[:, ::-1]).mean() < 4  # (upside down: 60)


def test_an_avif_photo_is_a_photo_read_as_image_reads_it(tmp_path):
    """Its still item played as a clip at the rate it states (1 fps; a HEIC's 0.04), decoded by FFmpeg."""
    path = tmp_path / "photo.avif"
    Image.fromarray(picture()).save(path, quality=90)
    source = open_source(str(path))
    try:
        frames = source.frames()
        shown = [next(frames) for _ in range(3)]
    finally:
        source.close()
    assert source.still and source.fps == 25
    np.testing.assert_array_equal(shown[0], read_image(path))


def test_a_photo_image_cannot_read_is_one_line(run_cli, tmp_path, data_dir):
    """A PNG cut short in its pixel data: FFmpeg played its top rows and grey below; `image` refuses it."""
    whole = io.BytesIO()
    Image.fromarray(np.random.default_rng(3).integers(0, 256, (64, 64, 3), np.uint8)).save(whole, "PNG")
    path = tmp_path / "cut.png"
    path.write_bytes(whole.getvalue()[:len(whole.getvalue()) // 2])
    code, _, err = run_cli("live", "--source", path, "-s", data_dir / "style" / "trial.jpg", "--no-window",
                           "-o", tmp_path / "out.mp4", "--max-frames", "2", "--size", "64", "--style-size", "64")
    assert code == 2 and err.count("\n") == 1, err
    assert err.startswith(f"error: {path}: cannot read (not a readable image (") and "cut short" in err, err
    assert not (tmp_path / "out.mp4").exists()


def test_a_photo_in_a_format_only_ffmpeg_reads_still_plays(tmp_path):
    """A DPX (which `image` does not read) is decoded by FFmpeg, as before."""
    encoder = av.CodecContext.create("dpx", "w")
    encoder.width, encoder.height, encoder.pix_fmt = 64, 48, "rgb24"
    frame = av.VideoFrame.from_ndarray(picture(), format="rgb24")
    path = tmp_path / "scan.dpx"
    path.write_bytes(b"".join(bytes(packet) for packet in [*encoder.encode(frame), *encoder.encode(None)]))
    np.testing.assert_array_equal(first_frame(path), picture())


def with_chunks(png: bytes, *chunks: tuple[bytes, bytes]) -> bytes:
    """`png` with `chunks` (type, content) after its IHDR."""
    def chunk(kind: bytes, content: bytes) -> bytes:
        return struct.pack(">I", len(content)) + kind + content + struct.pack(">I", zlib.crc32(kind + content))

    return png[:33] + b"".join(chunk(*pair) for pair in chunks) + png[33:]


P3_CHRM = struct.pack(">8I", 31270, 32900, 68000, 32000, 26500, 69000, 15000, 6000)
BT2020_CHRM = struct.pack(">8I", 31270, 32900, 70800, 29200, 17000, 79700, 13100, 4600)
GAMMA_22 = struct.pack(">I", 45455)


def rgb_to_xyz(white, red, green, blue) -> np.ndarray:
    """The RGB to XYZ matrix of primaries and white point given as x, y."""
    columns = np.array([[x / y, 1.0, (1 - x - y) / y] for x, y in (red, green, blue)]).T
    w = np.array([white[0] / white[1], 1.0, (1 - white[0] - white[1]) / white[1]])
    return columns * np.linalg.solve(columns, w)


def exact(rgb: np.ndarray, chrm: bytes, gamma: float | None) -> tuple[np.ndarray, np.ndarray]:
    """`rgb` on a `gamma` power (None: the sRGB curve) over the `chrm` primaries, converted to
    sRGB exactly (clipped), and where that fits in sRGB's gamut below its white (elsewhere the
    conversion holds hue, as for wide-gamut video, where a browser clips each channel)."""
    values = np.array(struct.unpack(">8I", chrm)) / 100000
    white, red, green, blue = values.reshape(4, 2)
    srgb = rgb_to_xyz(white, (0.64, 0.33), (0.30, 0.60), (0.15, 0.06))
    codes = rgb / 255.0
    decoded = np.where(codes <= 0.04045, codes / 12.92, ((codes + 0.055) / 1.055) ** 2.4) if gamma is None else codes ** gamma
    light = decoded @ (np.linalg.inv(srgb) @ rgb_to_xyz(white, red, green, blue)).T
    inside = light.max(axis=-1) <= 1
    light = np.clip(light, 0, 1)
    encoded = np.where(light <= 0.0031308, 12.92 * light, 1.055 * light ** (1 / 2.4) - 0.055)
    return np.round(encoded * 255).astype(np.uint8), inside


def assert_converted(read: np.ndarray, rgb: np.ndarray, chrm: bytes, gamma: float | None) -> None:
    expected, inside = exact(rgb, chrm, gamma)
    difference = np.abs(read.astype(int) - expected)
    assert difference[inside].max() <= 1 and difference.mean() < 1 and inside.mean() > 0.7


def test_png_chrm_primaries_are_applied_as_ffmpeg_and_browsers_do(tmp_path):
    """A PNG with gAMA and cHRM (Display P3, BT.2020) and no iCCP, sRGB or cICP chunk was read as
    sRGB: 9 to 14 levels off Chromium's rendering on average, up to 120."""
    rgb = picture()
    plain = io.BytesIO()
    Image.fromarray(rgb).save(plain, "PNG")
    for name, chrm in (("p3", P3_CHRM), ("bt2020", BT2020_CHRM)):
        path = tmp_path / f"{name}.png"
        path.write_bytes(with_chunks(plain.getvalue(), (b"gAMA", GAMMA_22), (b"cHRM", chrm)))
        read = read_image(path)
        assert_converted(read, rgb, chrm, 2.2)
        assert np.abs(read.astype(int) - rgb).mean() > 5, name
        np.testing.assert_array_equal(first_frame(path), read)  # (live as image)
    path = tmp_path / "no_gamma.png"  # (cHRM without gAMA: sRGB, as Chromium shows it)
    path.write_bytes(with_chunks(plain.getvalue(), (b"cHRM", P3_CHRM)))
    np.testing.assert_array_equal(read_image(path), rgb)


def test_png_chrm_outranked_or_of_srgb_primaries_changes_nothing(tmp_path):
    """An sRGB chunk outranks cHRM; BT.709's primaries need no conversion."""
    rgb = picture()
    plain = io.BytesIO()
    Image.fromarray(rgb).save(plain, "PNG")
    srgb_chrm = struct.pack(">8I", 31270, 32900, 64000, 33000, 30000, 60000, 15000, 6000)
    for name, chunks in (("srgb", [(b"sRGB", b"\0"), (b"gAMA", GAMMA_22), (b"cHRM", P3_CHRM)]),
                         ("bt709", [(b"gAMA", GAMMA_22), (b"cHRM", srgb_chrm)])):
        path = tmp_path / f"{name}.png"
        path.write_bytes(with_chunks(plain.getvalue(), *chunks))
        np.testing.assert_array_equal(read_image(path), rgb)


def test_a_live_image_sequence_of_mirrored_pictures_reads_as_video_reads_it(tmp_path):
    """Pictures played one after another went through FFmpeg's rotation alone: EXIF 2 upside down."""
    from realtime_adain.video.reader import VideoReader

    exif = Image.Exif()
    exif[0x0112] = 2
    for number in (1, 2):
        Image.fromarray(picture()).save(tmp_path / f"f{number}.png", exif=exif)
    pattern = tmp_path / "f%d.png"
    live = first_frame(pattern)
    with VideoReader(pattern) as reader:
        np.testing.assert_array_equal(live, reader.first_frame.image)
    np.testing.assert_array_equal(live, picture()[:, ::-1])
