"""WebPs that FFmpeg plays but libwebp (so OpenCV and Pillow) refuses are read through FFmpeg:
a RIFF size field smaller than the file, a VP8X canvas smaller than its frame, an ICCP chunk
before the frame without a VP8X header. Before, each was "not a readable image"."""

from __future__ import annotations

import io
import struct
import subprocess

import av
import cv2
import numpy as np
import pytest
from PIL import Image

from realtime_adain.errors import UserError
from realtime_adain.imageio import read_image


def _lenna(data_dir, width: int = 96, height: int = 64) -> np.ndarray:
    return cv2.resize(cv2.imread(str(data_dir / "content" / "lenna.jpg")), (width, height), interpolation=cv2.INTER_AREA)


def _riff(chunks: bytes, size: int | None = None) -> bytes:
    body = b"WEBP" + chunks
    return b"RIFF" + struct.pack("<I", len(body) if size is None else size) + body


def _chunk(kind: bytes, payload: bytes) -> bytes:
    return kind + struct.pack("<I", len(payload)) + payload + b"\0" * (len(payload) % 2)


def _vp8x(width: int, height: int) -> bytes:
    return _chunk(b"VP8X", bytes(4) + (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little"))


def _odd_webps(data_dir) -> dict[str, bytes]:
    ok, lossy = cv2.imencode(".webp", _lenna(data_dir), [cv2.IMWRITE_WEBP_QUALITY, 95])
    frame = lossy.tobytes()[12:]  # the VP8 chunk
    return {
        "riff size too small": _riff(frame, size=100),
        "canvas smaller than the frame": _riff(_vp8x(48, 32) + frame),
        "icc profile before the frame without vp8x": _riff(_chunk(b"ICCP", bytes(128)) + frame),
    }


def _ffmpeg_rgb(data: bytes) -> np.ndarray:
    decoder = av.CodecContext.create("webp", "r")
    (frame,) = [*decoder.decode(av.Packet(data)), *decoder.decode(None)]
    return frame.to_ndarray(format="rgb24")


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    return cv2.PSNR(np.ascontiguousarray(a), np.ascontiguousarray(b))


@pytest.mark.parametrize("case", ["riff size too small", "canvas smaller than the frame",
                                  "icc profile before the frame without vp8x"])
def test_a_webp_only_ffmpeg_plays_is_read(case, data_dir, tmp_path):
    path = tmp_path / "odd.webp"
    path.write_bytes(_odd_webps(data_dir)[case])
    assert cv2.imread(str(path)) is None  # libwebp refuses it
    with pytest.raises(Exception):
        Image.open(path).load()
    probe = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "stream=width,height", "-of", "csv=p=0", path],
                           capture_output=True, text=True, check=True)
    assert probe.stdout.strip() == "96,64"  # FFmpeg plays it
    image = read_image(path)
    assert image.shape == (64, 96, 3) and image.dtype == np.uint8
    assert np.array_equal(image, _ffmpeg_rgb(path.read_bytes()))  # FFmpeg's picture, colours as RGB
    assert _psnr(image, _lenna(data_dir)[..., ::-1]) > 28  # the picture, not noise


def test_a_lossless_webp_with_alpha_only_ffmpeg_plays_comes_over_white(tmp_path):
    rgba = np.zeros((30, 40, 4), np.uint8)
    rgba[..., 2] = 255  # red (BGRA)
    rgba[:, 20:, 3] = 255  # left half transparent
    ok, encoded = cv2.imencode(".webp", rgba, [cv2.IMWRITE_WEBP_QUALITY, 101])
    data = encoded.tobytes()
    assert data[12:16] == b"VP8L"
    path = tmp_path / "alpha.webp"
    path.write_bytes(data[:4] + struct.pack("<I", len(data) - 8 - 6) + data[8:])  # (six bytes short of the file)
    assert cv2.imread(str(path)) is None
    image = read_image(path)
    assert (image[:, :20] == 255).all()  # transparent: white
    assert (image[:, 20:] == (255, 0, 0)).all()  # opaque red


def test_damaged_and_animated_webps_are_still_refused(data_dir, tmp_path):
    good = _odd_webps(data_dir)["canvas smaller than the frame"]
    cut = tmp_path / "cut.webp"
    cut.write_bytes(good[: len(good) // 2])
    with pytest.raises(UserError, match="cut short"):
        read_image(cut)
    garbage = tmp_path / "garbage.webp"
    garbage.write_bytes(_riff(_chunk(b"VP8 ", b"\x01" * 64)))
    with pytest.raises(UserError, match="garbage.webp: not a readable image"):
        read_image(garbage)
    frames = [Image.fromarray(np.full((16, 16, 3), value, np.uint8)) for value in (0, 255)]
    buffer = io.BytesIO()
    frames[0].save(buffer, "WEBP", save_all=True, append_images=frames[1:], duration=100)
    animated = tmp_path / "animated.webp"
    animated.write_bytes(buffer.getvalue())
    assert read_image(animated).shape == (16, 16, 3)  # (Pillow reads its first frame, as before)


@pytest.mark.slow
def test_the_image_command_stylizes_one(run_cli, weights_env, data_dir, tmp_path):
    path = tmp_path / "odd.webp"
    path.write_bytes(_odd_webps(data_dir)["riff size too small"])
    out = tmp_path / "out.png"
    code, _, err = run_cli("image", path, "-s", data_dir / "style" / "mondrian.jpg", "--size", "64", "-o", out)
    assert code == 0, err
    assert read_image(out).shape == (64, 96, 3)
