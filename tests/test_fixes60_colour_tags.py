"""Colour matrix kept where the output cannot tag it (session 60): RGB input is encoded as BT.709
YUV, but FFV1 or MPEG-4 into .mp4 wrote no colr box (the muxer writes it only where primaries,
transfer and matrix are all known) and AVI, MPEG-TS and VP8 state no matrix at all: read as BT.601,
the colours shifted (mean 3.5, max 17 levels). A JPEG XL picture or sequence given to `video` is
named as `image` names it, not "a codec it does not know"."""

from __future__ import annotations

import subprocess
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from realtime_adain.video.encoder_settings import EncodeSettings
from realtime_adain.video.encoding import RGB_MATRIX, LIMITED_RANGE
from realtime_adain.video.hdr import UNSPECIFIED
from realtime_adain.video.pictures import Colour
from realtime_adain.video.writer import VideoFormatOut, VideoWriter
from video_corpus import FFMPEG, FFPROBE

# Flat patches of saturated colours, where BT.601 and BT.709 differ most (up to 17 levels).
PATCHES = ((230, 20, 30), (20, 200, 40), (30, 40, 220), (240, 220, 30), (200, 30, 210), (128, 128, 128))
PATCH = 16
FRAMES = 8  # (a .ts of fewer such frames is too short for FFmpeg to probe)
RGB_INPUT = Colour(RGB_MATRIX, UNSPECIFIED, UNSPECIFIED, UNSPECIFIED)  # (a PNG's, QuickTime Animation's: primaries unknown)


def patches() -> np.ndarray:
    row = np.repeat(np.array(PATCHES, np.uint8)[None], PATCH, axis=1)
    return np.ascontiguousarray(np.repeat(row, 2 * PATCH, axis=0))


def written(path: Path, codec: str, colour: Colour = RGB_INPUT) -> np.ndarray:
    """`patches` written by `codec` to `path` (in-process, as `video` writes them for an input of
    `colour`), read back by the FFmpeg CLI as RGB, as a player reads them: by the tags it finds."""
    picture = patches()
    spec = VideoFormatOut(picture.shape[1], picture.shape[0], Fraction(1, 24), Fraction(24), colour)
    writer = VideoWriter(path, EncodeSettings(codec), spec, passthrough=[])
    for pts in range(FRAMES):
        writer.write_frame(picture, pts, 1)
    writer.close()
    raw = subprocess.run([FFMPEG, "-nostdin", "-v", "error", "-i", str(path), "-frames:v", "1", "-f", "rawvideo",
                          "-pix_fmt", "rgb24", "-"], check=True, capture_output=True).stdout
    return np.frombuffer(raw, np.uint8).reshape(picture.shape)


def patch_error(decoded: np.ndarray) -> int:
    """The largest difference of a patch's middle from its colour (edges: chroma subsampling's)."""
    picture = patches()
    inner = (slice(PATCH // 2, -PATCH // 2),)
    return max(int(np.abs(decoded[inner[0], i * PATCH + 4:(i + 1) * PATCH - 4].astype(int)
                          - picture[inner[0], i * PATCH + 4:(i + 1) * PATCH - 4]).max()) for i in range(len(PATCHES)))


@pytest.mark.parametrize("codec, name", [
    ("ffv1", "out.mp4"), ("mpeg4", "out.mp4"), ("mpeg4", "out.mov"), ("mpeg1video", "out.mov"),
    ("ffv1", "out.avi"), ("rawvideo", "out.avi"), ("huffyuv", "out.avi"), ("mpeg4", "out.ts"),
    ("mpeg1video", "out.ts"), ("libvpx", "out.webm"), ("libvpx", "out.mkv"),
    ("ffv1", "out.mkv"), ("libx264", "out.avi"), ("mpeg2video", "out.ts")])
def test_rgb_input_decodes_to_its_colours_in_every_container(tmp_path, codec, name):
    """Was encoded as BT.709 and read as BT.601 where nothing said BT.709 (.mp4 and .mov without
    their colr box, .avi, .ts, VP8): red (230, 20, 30) read about 15 levels off."""
    assert patch_error(written(tmp_path / name, codec)) <= 4


@pytest.mark.parametrize("codec, name", [("ffv1", "out.mp4"), ("mpeg4", "out.mp4"), ("mpeg4", "out.mov")])
def test_mp4_and_mov_state_the_matrix_of_any_codec(tmp_path, codec, name):
    """The colr box is written whatever the tags: FFV1's and MPEG-4's .mp4 said "unknown"."""
    written(tmp_path / name, codec)
    probed = subprocess.run([FFPROBE, "-v", "error", "-select_streams", "v", "-show_entries", "stream=color_space",
                             "-of", "csv=p=0", str(tmp_path / name)], check=True, capture_output=True, text=True)
    assert probed.stdout.strip() == "bt709"


def test_bt709_yuv_input_into_avi_is_encoded_as_bt601(tmp_path):
    """A BT.709 input's own matrix, where the output cannot state it, is the one decoders assume."""
    bt709 = Colour(1, LIMITED_RANGE, 1, 1)
    assert patch_error(written(tmp_path / "out.avi", "ffv1", bt709)) <= 4
    assert patch_error(written(tmp_path / "out.mkv", "ffv1", bt709)) <= 4


def jxl_sequence(folder: Path) -> Path:
    folder.mkdir()
    for number in (1, 2):  # (a JPEG XL codestream's signature: what is read to name the format, no encoder needed)
        (folder / f"f{number:03d}.jxl").write_bytes(b"\xff\x0a" + bytes(64))
    return folder / "f%03d.jxl"


@pytest.mark.parametrize("which", ["pattern", "first", "no extension"])
def test_video_of_jpeg_xl_names_the_format(run_cli, weights_env, data_dir, tmp_path, which):
    """Was "no video stream FFmpeg can decode (a codec it does not know, or a damaged header)"."""
    pattern = jxl_sequence(tmp_path / "jxl")
    source = {"pattern": pattern, "first": pattern.with_name("f001.jxl"), "no extension": tmp_path / "picture"}[which]
    if which == "no extension":
        source.write_bytes(pattern.with_name("f001.jxl").read_bytes())
    code, _, err = run_cli("video", source, "-s", data_dir / "style" / "brushstrokes.jpg", "--size", "32",
                           "-o", tmp_path / "out.mp4")
    assert code != 0
    assert err == f"error: {source}: JPEG XL images cannot be read here; convert it to PNG or JPEG\n"
    assert not (tmp_path / "out.mp4").exists()
