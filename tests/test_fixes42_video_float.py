"""Float pictures in `video` (session 42): a float TIFF was read as linear light (a 0..1 one's
0.5 read 188, not 128; one stored 0..255 read white), where `image` reads it display-referred;
and the 1 GiB bound on a picture took every pixel as 8 bytes, so a 1.8 MB float TIFF of
16384x8192 (12 bytes a pixel decoded, and copies) ran 3 minutes at 6.2 GB."""

from __future__ import annotations

import struct
import sys
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest

from cli_support import one_error_line
from live_support import cli_env
from realtime_adain.imageio import read_image
from realtime_adain.video.reader import VideoReader
from test_fixes41_video_bounds import run_watched


@pytest.mark.parametrize("scale", [1.0, 255.0], ids=["0..1", "0..255"])
def test_a_float_tiff_sequence_reads_as_image_reads_its_picture(tmp_path, scale):
    """Each picture as `image` reads it: 0..1 display-referred, or 0..255 where its values say so."""
    rng = np.random.default_rng(42)
    for number in (1, 2):
        cv2.imwrite(str(tmp_path / f"f{number:04d}.tif"), (rng.random((24, 32, 3)) * scale).astype(np.float32))
    with VideoReader(tmp_path / "f%04d.tif") as reader:
        shown = reader.first_frame.image
    expected = read_image(tmp_path / "f0001.tif")
    assert np.abs(shown.astype(int) - expected).max() <= 1


def float_tiff_stating(path: Path, width: int, height: int) -> Path:
    """A deflated float RGB TIFF of `width`x`height` black pixels (8192x8192: 805 MB of samples,
    0.8 MB stored), its rows compressed one at a time."""
    packer, row = zlib.compressobj(9), bytes(width * 12)
    strip = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    extras_at = 8 + 2 + 11 * 12 + 4
    entries = [(256, 4, 1, width), (257, 4, 1, height), (258, 3, 3, extras_at), (259, 3, 1, 8), (262, 3, 1, 2),
               (273, 4, 1, extras_at + 12), (277, 3, 1, 3), (278, 4, 1, height), (279, 4, 1, len(strip)),
               (284, 3, 1, 1), (339, 3, 3, extras_at + 6)]
    ifd = struct.pack("<H", len(entries)) + b"".join(
        struct.pack("<HHII" if kind == 4 or count > 1 else "<HHIHxx", tag, kind, count, value)
        for tag, kind, count, value in entries) + struct.pack("<I", 0)
    path.write_bytes(b"II*\0" + struct.pack("<I", 8) + ifd + struct.pack("<6H", 32, 32, 32, 3, 3, 3) + strip)
    return path


@pytest.mark.slow  # (default run's time: writes a huge TIFF)
def test_a_float_tiff_over_the_bound_for_its_bytes_is_refused_before_it_is_decoded(tmp_path, data_dir,
                                                                                  published_weights):
    """8192x8192 is within the 16384x8192 of 8-byte pixels, but at 24 bytes a float RGB pixel
    (12 decoded, and its planes converted) it is over the 1 GiB: refused in one line at the
    memory any refusal takes, where it was decoded and converted (past 2 GB)."""
    first = float_tiff_stating(tmp_path / "f0001.tif", 8192, 8192)
    (tmp_path / "f0002.tif").write_bytes(first.read_bytes())
    code, err, peak_mb, seconds = run_watched(
        [sys.executable, "-m", "realtime_adain", "video", tmp_path / "f%04d.tif", "-s",
         data_dir / "style" / "antimonocromatismo.jpg", "-o", tmp_path / "out.mp4", "--size", "64"],
        cli_env(published_weights, tmp_path / "home"))
    assert peak_mb < 1500, f"{peak_mb:.0f} MB peak, {seconds:.0f} s: {err}"
    assert one_error_line(err, code) == (
        f"error: {tmp_path / 'f%04d.tif'}: its video states 8192x8192 pictures: at 24 bytes a pixel, more than the "
        "1 GiB of samples a picture may decode to (44739242 pixels, 9458x4729)")
    assert not (tmp_path / "out.mp4").exists()
