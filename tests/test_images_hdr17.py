"""HDR still pictures (AVIF, HEIF tagged PQ or HLG in their `nclx` box) read as the SDR photo.

`image` decoded them to 8 bits as SDR pictures are: their HDR code values came back washed out,
as HDR video did. Now they are decoded at full depth and tone-mapped as HDR video is
(`realtime_adain.hdr_stills`, `video.hdr.ToneMap`), with one note.
"""

from __future__ import annotations

import struct
import zlib
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pillow_heif  # the heif extra, in dev: never skipped
import pytest

from realtime_adain import hdr_stills
from realtime_adain.imageio import read_image
from realtime_adain.video import hdr
from test_video_hdr17 import display_light, hlg_rgb16
from video_corpus import FFMPEG

def photo(data_dir: Path, tmp_path: Path) -> tuple[Path, np.ndarray]:
    small = tmp_path / "photo.png"
    subprocess.run([FFMPEG, "-nostdin", "-v", "error", "-y", "-i", str(data_dir / "content" / "golden_gate.jpg"),
                    "-vf", "scale=128:72,setsar=1", str(small)], check=True, capture_output=True)
    return small, cv2.cvtColor(cv2.imread(str(small)), cv2.COLOR_BGR2RGB)


def pq_rgb16(original: np.ndarray) -> np.ndarray:
    """`original` (SDR BT.709) as 16-bit PQ BT.2020 RGB: display light with white at 203 cd/m2."""
    return np.round(hdr.nits_to_pq(display_light(original)) * 65535).astype(np.uint16)


def heif(path: Path, rgb16: np.ndarray, transfer: int) -> Path:
    """A 10-bit 4:4:4 HEIF (pillow-heif's x265) of 16-bit RGB, tagged BT.2020 and `transfer`."""
    height, width = rgb16.shape[:2]
    picture = pillow_heif.from_bytes(mode="RGB;16", size=(width, height), data=rgb16.tobytes())
    picture.info["nclx_profile"] = {"color_primaries": 9, "transfer_characteristics": transfer,
                                    "matrix_coefficients": 9, "full_range_flag": 0}
    picture.save(str(path), quality=-1, chroma=444, save_nclx_profile=True)
    return path


def below_knee_error(read: np.ndarray, original: np.ndarray) -> tuple[float, float, float]:
    """Mean error, and saturation read and original, over pixels below the tone curve's knee."""
    kept = original.max(axis=2) < 170

    def saturation(image):
        return float((image.max(axis=2).astype(float) - image.min(axis=2))[kept].mean())
    return float(np.abs(read.astype(float) - original)[kept].mean()), saturation(read), saturation(original)


def test_an_hdr_avif_is_read_as_its_photo(data_dir, tmp_path, capsys):
    """A PQ AVIF (FFmpeg's libaom, 10-bit 4:4:4): within 2.5 levels of the photo below the knee, at
    its saturation (read at 8 bits before: 12 levels off, under half the saturation); one note."""
    small, original = photo(data_dir, tmp_path)
    avif = tmp_path / "hdr.avif"
    subprocess.run([FFMPEG, "-nostdin", "-v", "error", "-y", "-i", str(small), "-vf",
                    "format=gbrpf32le,zscale=tin=709:t=linear,zscale=pin=709:p=2020:t=smpte2084:m=2020_ncl:r=tv:"
                    "npl=203,format=yuv444p10le", "-c:v", "libaom-av1", "-still-picture", "1", "-crf", "4",
                    "-cpu-used", "8", "-color_primaries", "bt2020", "-color_trc", "smpte2084", "-colorspace",
                    "bt2020nc", "-frames:v", "1", str(avif)], check=True, capture_output=True)
    read = read_image(avif)
    error, saturation, expected = below_knee_error(read, original)
    assert error < 2.5 and saturation == pytest.approx(expected, rel=0.08), (error, saturation, expected)
    assert capsys.readouterr().err.count("an HDR picture (PQ over BT.2020, peak 1000 cd/m2): tone-mapped") == 1


@pytest.mark.parametrize("transfer", [hdr.PQ, hdr.HLG])
def test_an_hdr_heif_is_read_as_its_photo(transfer, data_dir, tmp_path):
    """A camera's HDR HEIF (PQ: Canon's .HIF; HLG: Sony's), made by pillow-heif: as the photo."""
    _, original = photo(data_dir, tmp_path)
    if transfer == hdr.PQ:
        rgb16 = pq_rgb16(original)
    else:  # BT.2100's HLG
        rgb16 = hlg_rgb16(original)
    read = read_image(heif(tmp_path / "IMG_0001.HIF", rgb16, transfer))
    error, saturation, expected = below_knee_error(read, original)
    assert error < 2.5 and saturation == pytest.approx(expected, rel=0.08), (error, saturation, expected)


def test_the_cli_stylizes_an_hdr_heif_with_one_note(run_cli, weights_env, data_dir, tmp_path):
    _, original = photo(data_dir, tmp_path)
    source = heif(tmp_path / "IMG_0002.HIF", pq_rgb16(original), hdr.PQ)
    code, _, err = run_cli("image", source, "-s", data_dir / "style" / "mondrian.jpg", "--size", "32", "--style-size",
                           "32", "-o", tmp_path / "out.png")
    assert code == 0, err
    assert err.count("IMG_0002.HIF: an HDR picture") == 1 and (tmp_path / "out.png").is_file()


def box(kind: bytes, content: bytes) -> bytes:
    return struct.pack(">I", 8 + len(content)) + kind + content


def ftyp(*properties: bytes, brand: bytes = b"avif") -> bytes:
    """A file whose item properties (`meta`, a full box; `iprp`; `ipco`) are `properties`."""
    meta = box(b"meta", bytes(4) + box(b"iprp", box(b"ipco", b"".join(properties))))
    return box(b"ftyp", brand + b"\0\0\0\0" + brand) + meta


def nclx(primaries: int, transfer: int) -> bytes:
    return box(b"colr", b"nclx" + struct.pack(">3HB", primaries, transfer, 9, 0))


def test_the_stills_transfer_numbers_are_videos():
    """`hdr_stills` keeps its own PQ/HLG numbers (reading an image does not load PyAV): the same."""
    assert (hdr_stills.PQ, hdr_stills.HLG) == (hdr.PQ, hdr.HLG)


def test_the_tags_are_read_from_the_container():
    """PQ's peak from `clli` (MaxCLL), else `mdcv` (0.0001 cd/m2 units), zero meaning unstated;
    the depth from `pixi`, else `av1C`; SDR, no `nclx`, tag-like bytes inside coded data, or not
    an ISOBMFF file: None (more in tests/test_images_hdr_hostile17.py)."""
    clli = box(b"clli", struct.pack(">2H", 1500, 400))
    mdcv = box(b"mdcv", bytes(16) + struct.pack(">2I", 40_000_000, 50))
    pixi = box(b"pixi", b"\0\0\0\0" + bytes([3, 12, 12, 12]))
    av1c = box(b"av1C", bytes([0x81, 0x08, 0x40, 0]))
    assert hdr_stills.colour_tags(ftyp(nclx(9, 16), clli, mdcv, pixi)) == hdr_stills.HdrTags(16, 9, 1500.0, 12)
    assert hdr_stills.colour_tags(ftyp(nclx(12, 16), box(b"clli", bytes(4)), mdcv, av1c)) == hdr_stills.HdrTags(
        16, 12, 4000.0, 10)
    assert hdr_stills.colour_tags(ftyp(nclx(9, 18))) == hdr_stills.HdrTags(18, 9, None, None)
    assert hdr_stills.colour_tags(ftyp(nclx(9, 14))) == hdr_stills.HdrTags(14, 9, None, None)  # (wide-gamut SDR)
    for sdr in (ftyp(nclx(1, 1)), ftyp(), ftyp() + box(b"mdat", nclx(9, 16)),
                b"\x89PNG\r\n\x1a\n" + bytes(64), b""):
        assert hdr_stills.colour_tags(sdr) is None


@pytest.mark.parametrize("depth", [8, 10, 12])
def test_samples_are_scaled_to_16_bits_end_to_end(depth):
    top = (1 << depth) - 1
    samples = np.array([0, 1, top // 2, top], np.uint16)
    scaled = hdr_stills.full_scale(samples.copy(), depth)
    assert scaled[0] == 0 and scaled[-1] == 65535
    np.testing.assert_allclose(scaled / 65535, samples / top, atol=1 / 65535 * 2)


def test_an_sdr_avif_is_read_as_before(data_dir, tmp_path, capsys):
    """BT.709 SDR AVIF: no note, the 8-bit path (within compression of the photo)."""
    small, original = photo(data_dir, tmp_path)
    avif = tmp_path / "sdr.avif"
    subprocess.run([FFMPEG, "-nostdin", "-v", "error", "-y", "-i", str(small), "-pix_fmt", "yuv444p", "-c:v",
                    "libaom-av1", "-still-picture", "1", "-crf", "4", "-cpu-used", "8", "-colorspace", "bt709",
                    "-color_primaries", "bt709", "-color_trc", "bt709", "-frames:v", "1", str(avif)],
                   check=True, capture_output=True)
    read = read_image(avif)
    assert np.abs(read.astype(float) - original).mean() < 3
    assert "HDR" not in capsys.readouterr().err


def png_with_cicp(path: Path, rgb16: np.ndarray, transfer: int) -> Path:
    """A 16-bit PNG with a `cICP` chunk (BT.2020, `transfer`, RGB, full range) after its header."""
    cv2.imwrite(str(path), cv2.cvtColor(rgb16, cv2.COLOR_RGB2BGR))
    data = path.read_bytes()
    chunk = b"cICP" + bytes([9, transfer, 0, 1])
    at = 8 + 25  # the signature, then IHDR (13 bytes of data)
    path.write_bytes(data[:at] + struct.pack(">I", 4) + chunk + struct.pack(">I", zlib.crc32(chunk)) + data[at:])
    return path


def test_a_pq_png_with_cicp_is_read_as_its_photo(data_dir, tmp_path, capsys):
    """PNG's third edition tags HDR in a `cICP` chunk (what FFmpeg and browsers read): a 16-bit PQ
    PNG came back as its code values; now as the photo (lossless: within 2 levels, the 12-bit
    lookup's step in the shadows), one note."""
    _, original = photo(data_dir, tmp_path)
    read = read_image(png_with_cicp(tmp_path / "pq.png", pq_rgb16(original), hdr.PQ))
    error = np.abs(read.astype(float) - original)[original.max(axis=2) < 170]
    assert error.max() <= 2 and error.mean() < 0.1
    assert capsys.readouterr().err.count("an HDR picture (PQ over BT.2020") == 1
    assert hdr_stills.colour_tags(png_with_cicp(tmp_path / "sdr.png", pq_rgb16(original), 13).read_bytes()).transfer == 13
