"""Still pictures that read wrong or dark: JPEG 2000 in YCbCr or 10/12 bits, OpenEXR, wide-gamut
SDR tagged only by `nclx`/`cICP`, a PNG cICP's range and matrix fields, and other odd stills.

Found: FFmpeg's libopenjpeg writes YCbCr JPEG 2000 (sYCC), which OpenCV read as RGB (4:4:4, 5 dB
against FFmpeg's own decode), refused when subsampled (Pillow's fallback then took its narrow
range for full: 27 dB), and read 12-bit grey as 16-bit (nearly black); OpenEXR was refused; a
Display P3 or BT.2020 PNG/AVIF/HEIF stating its colour by code points only read washed out; a
narrow-range cICP PNG read with grey blacks and an invalid cICP (matrix 1) was obeyed.
"""

from __future__ import annotations

import struct
import subprocess
import zlib
from pathlib import Path

import cv2
import numpy as np
import pillow_heif  # the heif extra, in dev: never skipped
import pytest

from realtime_adain import hdr_stills
from realtime_adain.errors import UserError
from realtime_adain.imageio import is_image_path, read_image
from realtime_adain.video import hdr
from test_images_hdr17 import photo
from video_corpus import FFMPEG


def ffmpeg(*args: str | Path, data: bytes | None = None) -> None:
    subprocess.run([FFMPEG, "-nostdin", "-v", "error", "-y", *map(str, args)], input=data, check=True,
                   capture_output=True)


def psnr(read: np.ndarray, reference: np.ndarray) -> float:
    return float(10 * np.log10(255 ** 2 / max(np.mean((read.astype(float) - reference) ** 2), 1e-9)))


def rgb(path: Path) -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)


# --- JPEG 2000 ---------------------------------------------------------------------------------


@pytest.mark.parametrize("pix_fmt", ["yuv420p12le", "yuv444p12le", "yuv422p10le", "gray12le", "yuv420p"])
def test_a_libopenjpeg_jpeg2000_reads_as_ffmpeg_shows_it(pix_fmt, data_dir, tmp_path):
    """`ffmpeg -c:v libopenjpeg -pix_fmt ...`: as FFmpeg's own conversion to RGB (above 35 dB;
    before: 5 dB for 4:4:4 and 12-bit grey, 27 dB subsampled)."""
    small, _ = photo(data_dir, tmp_path)
    picture, reference = tmp_path / "x.jp2", tmp_path / "ref.png"
    ffmpeg("-i", small, "-c:v", "libopenjpeg", "-pix_fmt", pix_fmt, picture)
    ffmpeg("-i", picture, "-pix_fmt", "rgb24", reference)
    assert psnr(read_image(picture), rgb(reference)) > 35


def test_a_bare_codestream_and_alpha_are_read(data_dir, tmp_path):
    """A .j2k codestream (FFmpeg's own encoder), and an RGBA .jp2 over white."""
    small, original = photo(data_dir, tmp_path)
    ffmpeg("-i", small, "-c:v", "jpeg2000", tmp_path / "x.j2k")
    assert is_image_path(tmp_path / "x.j2k") and psnr(read_image(tmp_path / "x.j2k"), original) > 35
    ffmpeg("-i", small, "-vf", "format=rgba,geq=r='r(X,Y)':g='g(X,Y)':b='b(X,Y)':a='2*X'", "-c:v", "libopenjpeg",
           tmp_path / "a.jp2")
    ffmpeg("-i", tmp_path / "a.jp2", "-pix_fmt", "rgba", tmp_path / "a.png")
    rgba = cv2.imread(str(tmp_path / "a.png"), cv2.IMREAD_UNCHANGED).astype(float)
    weight = rgba[..., 3:] / 255
    np.testing.assert_allclose(read_image(tmp_path / "a.jp2"), rgba[..., 2::-1] * weight + 255 * (1 - weight), atol=1)


def test_a_jpeg2000_claiming_billions_of_pixels_or_cut_short_is_one_line(data_dir, tmp_path):
    small, _ = photo(data_dir, tmp_path)
    ffmpeg("-i", small, "-c:v", "libopenjpeg", "-pix_fmt", "yuv420p", tmp_path / "x.jp2")
    data = bytearray((tmp_path / "x.jp2").read_bytes())
    siz = data.find(b"\xff\x4f\xff\x51") + 4
    data[siz + 4:siz + 12] = struct.pack(">2I", 100_000, 100_000)  # Xsiz, Ysiz
    (tmp_path / "bomb.jp2").write_bytes(bytes(data))
    with pytest.raises(UserError, match="bomb.jp2: 100000x100000 is larger than the 268435456 pixels"):
        read_image(tmp_path / "bomb.jp2")
    whole = (tmp_path / "x.jp2").read_bytes()
    (tmp_path / "cut.jp2").write_bytes(whole[:len(whole) // 3])  # (its `jp2c` box cut short: still sized)
    with pytest.raises(UserError, match=r"cut.jp2: not a readable image \(OpenJPEG2000: .*\)$"):
        read_image(tmp_path / "cut.jp2")


# --- OpenEXR -----------------------------------------------------------------------------------


def linear_photo(original: np.ndarray) -> np.ndarray:
    """The photo as linear light (the sRGB curve undone), its left columns 4x brighter (over 1)."""
    code = original / 255.0
    linear = np.where(code <= 0.04045, code / 12.92, ((code + 0.055) / 1.055) ** 2.4).astype(np.float32)
    linear[:, :16] *= 4
    return linear


def srgb_encoded(linear: np.ndarray) -> np.ndarray:
    """What an EXR should read as: linear light clipped to 1 and encoded with the sRGB curve."""
    light = np.clip(linear, 0, 1)
    return np.where(light <= 0.0031308, 12.92 * light, 1.055 * light ** (1 / 2.4) - 0.055) * 255


def exr(path: Path, linear: np.ndarray, alpha: np.ndarray | None = None, precision: str = "half") -> Path:
    """An OpenEXR written by FFmpeg's encoder from float RGB(A) (planes G, B, R, A)."""
    height, width = linear.shape[:2]
    planes = [linear[..., 1], linear[..., 2], linear[..., 0]] + ([alpha] if alpha is not None else [])
    ffmpeg("-f", "rawvideo", "-pix_fmt", "gbrapf32le" if alpha is not None else "gbrpf32le", "-s",
           f"{width}x{height}", "-i", "-", "-c:v", "exr", "-format", precision, path,
           data=np.stack(planes).astype("<f4").tobytes())
    return path


@pytest.mark.parametrize("precision", ["half", "float"])
def test_an_exr_reads_as_its_light_on_the_srgb_curve(precision, data_dir, tmp_path):
    """Linear light, sRGB-encoded, clipped above 1 (within half-float's step); was refused."""
    _, original = photo(data_dir, tmp_path)
    linear = linear_photo(original)
    read = read_image(exr(tmp_path / "x.exr", linear, precision=precision))
    assert is_image_path(tmp_path / "x.exr")
    np.testing.assert_allclose(read, srgb_encoded(linear), atol=1.5 if precision == "half" else 0.51)


def test_an_exr_with_alpha_is_its_premultiplied_colour_over_white(data_dir, tmp_path):
    _, original = photo(data_dir, tmp_path)
    linear = linear_photo(original)
    alpha = np.tile(np.linspace(0, 1, linear.shape[1], dtype=np.float32), (linear.shape[0], 1))[..., None]
    read = read_image(exr(tmp_path / "a.exr", linear * alpha, alpha[..., 0]))
    np.testing.assert_allclose(read, srgb_encoded(linear * alpha + 1 - alpha), atol=1.5)


def test_exr_headers_that_claim_too_much_or_nothing_are_one_line(data_dir, tmp_path):
    _, original = photo(data_dir, tmp_path)
    data = bytearray(exr(tmp_path / "x.exr", linear_photo(original)).read_bytes())
    for window in (b"dataWindow", b"displayWindow"):
        at = data.find(window + b"\0box2i\0") + len(window) + 11
        data[at + 8:at + 16] = struct.pack("<2i", 99_999, 99_999)  # xMax, yMax
    (tmp_path / "bomb.exr").write_bytes(bytes(data))
    with pytest.raises(UserError, match="bomb.exr: 100000x100000 is larger than the 268435456 pixels"):
        read_image(tmp_path / "bomb.exr")
    (tmp_path / "cut.exr").write_bytes(bytes(data[:60]))
    with pytest.raises(UserError, match=r"cut.exr: a damaged OpenEXR image \(its header states no size\)$"):
        read_image(tmp_path / "cut.exr")


# --- wide-gamut SDR stated by code points ------------------------------------------------------


def wide(original: np.ndarray, primaries: int) -> np.ndarray:
    """`original` (sRGB) over `primaries` (P3 or BT.2020), still on the sRGB curve, 16 bits."""
    code = original / 255.0
    linear = np.where(code <= 0.04045, code / 12.92, ((code + 0.055) / 1.055) ** 2.4)
    moved = np.clip(linear @ np.linalg.inv(hdr.PRIMARIES[primaries].to_bt709.astype(float)).T, 0, 1)
    encoded = np.where(moved <= 0.0031308, 12.92 * moved, 1.055 * moved ** (1 / 2.4) - 0.055)
    return np.round(encoded * 65535).astype(np.uint16)


def png_with_cicp(path: Path, rgb16: np.ndarray, cicp: bytes) -> Path:
    cv2.imwrite(str(path), cv2.cvtColor(rgb16, cv2.COLOR_RGB2BGR))
    data, chunk = path.read_bytes(), b"cICP" + cicp
    path.write_bytes(data[:33] + struct.pack(">I", 4) + chunk + struct.pack(">I", zlib.crc32(chunk)) + data[33:])
    return path


@pytest.mark.parametrize("primaries", [hdr.P3_D65, hdr.BT2020])
def test_a_wide_gamut_png_tagged_by_cicp_reads_as_its_photo(primaries, data_dir, tmp_path, capsys):
    """Display P3 / BT.2020 primaries, sRGB curve, in cICP only: within a level of the photo (read
    as its values before: 19-24 levels off, washed out); one note."""
    _, original = photo(data_dir, tmp_path)
    read = read_image(png_with_cicp(tmp_path / "p3.png", wide(original, primaries), bytes([primaries, 13, 0, 1])))
    error = np.abs(read.astype(float) - original)
    assert error.max() <= 1 and error.mean() < 0.1, (error.max(), error.mean())
    assert capsys.readouterr().err.count("a wide-gamut picture (SDR over") == 1


def test_a_wide_gamut_avif_and_heif_tagged_by_nclx_read_as_their_photo(data_dir, tmp_path):
    """Display P3 in an AVIF's `nclx` (FFmpeg's libaom, 10-bit 4:4:4) and a HEIF's (pillow-heif):
    within compression of the photo, at its saturation."""
    small, original = photo(data_dir, tmp_path)
    source = png_with_cicp(tmp_path / "p3.png", wide(original, hdr.P3_D65), bytes([12, 13, 0, 1]))
    avif = tmp_path / "p3.avif"
    ffmpeg("-i", source, "-vf", "scale=out_color_matrix=bt709:out_range=tv,format=yuv444p10le", "-c:v", "libaom-av1",
           "-still-picture", "1", "-crf", "4", "-cpu-used", "8", "-color_primaries", "smpte432", "-color_trc",
           "iec61966-2-1", "-colorspace", "bt709", "-frames:v", "1", avif)
    heif = pillow_heif.from_bytes(mode="RGB;16", size=original.shape[1::-1],
                                  data=wide(original, hdr.P3_D65).tobytes())
    heif.info["nclx_profile"] = {"color_primaries": 12, "transfer_characteristics": 13, "matrix_coefficients": 1,
                                 "full_range_flag": 1}
    heif.save(str(tmp_path / "p3.heic"), quality=-1, chroma=444, save_nclx_profile=True)

    def saturation(image):
        return float((image.max(axis=2).astype(float) - image.min(axis=2)).mean())
    for path in (avif, tmp_path / "p3.heic"):
        read = read_image(path)
        assert np.abs(read.astype(float) - original).mean() < 2.5, path
        assert saturation(read) == pytest.approx(saturation(original), rel=0.05), path


def test_the_stills_decision_is_videos():
    """`HdrTags.converted` says what `video.hdr.needs_mapping` says (hdr_stills does not load PyAV)."""
    assert hdr_stills.WIDE_GAMUT == hdr.WIDE_GAMUT
    for transfer in range(20):
        for primaries in range(14):
            assert hdr_stills.HdrTags(transfer, primaries, None, None).converted == hdr.needs_mapping(
                transfer, primaries)


def test_an_icc_profile_beside_nclx_states_an_avifs_colour():
    """MIAF: with a `prof` colour box, the profile (`in_srgb`) and not the `nclx` states an SDR colour."""
    from test_images_hdr17 import box, ftyp, nclx

    profile = box(b"colr", b"prof" + bytes(16))
    assert hdr_stills.colour_tags(ftyp(nclx(12, 13))) == hdr_stills.HdrTags(13, 12, None, None)
    assert hdr_stills.colour_tags(ftyp(nclx(12, 13), profile)) is None
    assert hdr_stills.colour_tags(ftyp(nclx(9, 16), profile)).transfer == hdr.PQ  # (HDR as before)


# --- a PNG cICP's range and matrix -------------------------------------------------------------


@pytest.mark.parametrize("depth", [8, 16])
def test_a_narrow_range_cicp_png_is_expanded(depth, data_dir, tmp_path):
    """PNG's third edition allows narrow range (flag 0) on RGB: 16..235 (8 bits) is black..white."""
    _, original = photo(data_dir, tmp_path)
    narrow = 16 + original.astype(float) * 219 / 255
    samples = np.round(narrow).astype(np.uint8) if depth == 8 else np.round(narrow * 256).astype(np.uint16)
    read = read_image(png_with_cicp(tmp_path / "narrow.png", samples, bytes([1, 13, 0, 0])))
    assert np.abs(read.astype(float) - original).max() <= 1


def test_an_invalid_cicp_is_ignored_with_a_note(data_dir, tmp_path, capsys):
    """Matrix 1 (not RGB) is an invalid cICP in PNG: ignored (as libpng and image-rs do), noted."""
    _, original = photo(data_dir, tmp_path)
    path = png_with_cicp(tmp_path / "bad.png", wide(original, hdr.P3_D65), bytes([12, 16, 1, 1]))
    np.testing.assert_allclose(read_image(path), np.round(wide(original, hdr.P3_D65) / 257), atol=1)
    assert "bad.png: its cICP chunk is invalid (matrix 1, range flag 1" in capsys.readouterr().err


# --- other odd stills --------------------------------------------------------------------------


@pytest.mark.parametrize("header, bits, ascii", [(b"P6\n# a 10-bit scan\n128 72\n1023\n", 10, False),
                                                 (b"P5 128 72 4095\n", 12, False), (b"P6\n128 72\n100\n", 0, False),
                                                 (b"P3\n128 72\n100\n", 0, True), (b"P2 128 72 1023\n", 10, True)])
def test_a_pnm_is_scaled_by_its_maxval(header, bits, ascii, data_dir, tmp_path):
    """Netpbm's maxval is the white sample (FFmpeg, Pillow and ImageMagick scale by it); OpenCV
    scales only an ASCII 8-bit PNM by it: a 10-bit PPM read nearly black, a binary one of maxval
    100 dark."""
    _, original = photo(data_dir, tmp_path)
    maxval = int(header.split()[-1])
    picture = original if header.startswith((b"P6", b"P3")) else original[..., 1]
    samples = np.round(picture.astype(float) * maxval / 255).astype(">u2" if maxval > 255 else "u1")
    body = " ".join(map(str, samples.ravel())).encode() + b"\n" if ascii else samples.tobytes()
    (tmp_path / "scan.pnm").write_bytes(header + body)
    expected = picture if picture.ndim == 3 else np.repeat(picture[..., None], 3, axis=2)
    assert np.abs(read_image(tmp_path / "scan.pnm").astype(float) - expected).max() <= (0 if bits else 1.5)


def test_an_animated_avif_says_only_its_first_frame_is_used(tmp_path):
    """Pillow counts an AVIF sequence's frames (its first is read), as it does a GIF's."""
    from realtime_adain.pillow_stills import first_frame_only_note

    ffmpeg("-f", "lavfi", "-i", "testsrc=s=64x48:r=5:d=1", "-c:v", "libaom-av1", "-cpu-used", "8", "-crf", "30",
           tmp_path / "anim.avif")
    assert read_image(tmp_path / "anim.avif").shape == (48, 64, 3)
    assert first_frame_only_note(tmp_path / "anim.avif") == f"{tmp_path / 'anim.avif'} has 5 frames; only the first " \
                                                             "is used"
