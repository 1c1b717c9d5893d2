"""Colours of RGB-coded and linear-light video input (session 41): TIFF, QuickTime Animation, raw
RGB and grey pictures give the BT.709 output a PNG sequence gives; an EXR sequence reaches the
network sRGB-encoded, as `image` reads an EXR, and its output is not tagged linear."""

from __future__ import annotations

import subprocess
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from realtime_adain.video.encoder_settings import EncodeSettings
from realtime_adain.video.frames import Frame
from realtime_adain.video.reader import VideoReader
from realtime_adain.video.writer import VideoFormatOut, VideoWriter
from video_corpus import FFMPEG
from video_samples import rgb_frames

TEST_PATTERN = ("-f", "lavfi", "-i", "testsrc2=size=96x64:rate=24", "-frames:v", "3")
BT709, LIMITED, LINEAR = 1, 1, 8  # FFmpeg's AVCOL_SPC_BT709, AVCOL_RANGE_MPEG, AVCOL_TRC_LINEAR


def ffmpeg(*args: str | Path) -> None:
    subprocess.run([FFMPEG, "-nostdin", "-v", "error", "-y", *map(str, args)], check=True, capture_output=True)


def restyled_as_video(source: Path, out: Path) -> None:
    """`source` read and written as `video` does (`job.py`: the reader's output colour), losslessly
    (libx264 at crf 0, 4:4:4), without the network."""
    with VideoReader(source) as reader:
        spec = VideoFormatOut(reader.width, reader.height, reader.time_base, reader.frame_rate, reader.output_colour)
        writer = VideoWriter(out, EncodeSettings("libx264", crf=0, pix_fmt="yuv444p"), spec, passthrough=[])
        for item in reader.items():
            if isinstance(item, Frame):
                writer.write_frame(item.image, item.pts, item.duration)
        writer.close()


def tags_and_pictures(path: Path) -> tuple[tuple[int, int, int], list[np.ndarray]]:
    """The output's (matrix, range, transfer) and its pictures read as BT.709 at limited range."""
    with av.open(str(path)) as container:
        frames = list(container.decode(video=0))
    pictures = [frame.to_ndarray(format="rgb24", src_colorspace=BT709, src_color_range=LIMITED).astype(int)
                for frame in frames]
    return (frames[0].colorspace, frames[0].color_range, frames[0].color_trc), pictures


@pytest.mark.parametrize("name, encoding, reference", [
    ("t_%03d.tif", ("-pix_fmt", "rgb24"), ("-pix_fmt", "rgb24")),
    ("anim.mov", ("-c:v", "qtrle"), ("-pix_fmt", "rgb24")),
    ("raw.avi", ("-c:v", "rawvideo", "-pix_fmt", "bgr24"), ("-pix_fmt", "rgb24")),
    ("ut.avi", ("-c:v", "utvideo", "-pix_fmt", "gbrp"), ("-pix_fmt", "rgb24")),
    ("d_%03d.dpx", ("-pix_fmt", "rgb48le"), ("-pix_fmt", "rgb24")),  # (tagged linear by its decoder)
    ("g_%03d.tif", ("-pix_fmt", "gray"), ("-pix_fmt", "gray")),
], ids=["tiff", "qtrle", "rawvideo-bgr24", "utvideo-gbrp", "dpx", "grey-tiff"])
def test_rgb_coded_input_gives_what_a_png_sequence_of_its_frames_gives(tmp_path, name, encoding, reference):
    """These decoders leave the matrix unspecified (PNG's says RGB): the output was converted with
    BT.601 and left untagged, 3 levels off (10 at most) read as the PNG sequence's BT.709. A DPX,
    which FFmpeg's encoder tags "linear" over display-referred values, keeps its values and is not
    tagged linear; grey is taken as RGB-coded (it has no matrix)."""
    ffmpeg(*TEST_PATTERN, *reference, tmp_path / "p_%03d.png")
    ffmpeg("-framerate", "24", "-i", tmp_path / "p_%03d.png", *encoding, tmp_path / name)  # (the same pictures)
    restyled_as_video(tmp_path / name, tmp_path / "out.mkv")
    restyled_as_video(tmp_path / "p_%03d.png", tmp_path / "png.mkv")
    (matrix, range_, transfer), pictures = tags_and_pictures(tmp_path / "out.mkv")
    png_tags, png_pictures = tags_and_pictures(tmp_path / "png.mkv")
    assert (matrix, range_) == png_tags[:2] == (BT709, LIMITED)
    assert transfer != LINEAR
    assert len(pictures) == len(png_pictures) == 3
    for picture, png_picture in zip(pictures, png_pictures):
        assert np.abs(picture - png_picture).max() <= 1


def test_an_exr_sequence_is_read_as_image_reads_an_exr_and_not_tagged_linear(run_cli, weights_env, data_dir,
                                                                            tmp_path):
    """An EXR's linear light went to the network raw (9.5 levels darker on average than its
    sRGB-encoded picture, which `image` stylizes), and the output was tagged transfer=linear."""
    x = np.linspace(0, 1, 96, dtype=np.float32)[None, :, None] * np.ones((64, 96, 3), np.float32)
    x[..., 1] *= np.linspace(0.2, 1, 64, dtype=np.float32)[:, None]
    (tmp_path / "raw").mkdir()
    for number in (1, 2):  # (one picture is refused as an image); the EXRs' linear light is code / 255
        cv2.imwrite(str(tmp_path / "raw" / f"r_{number:03d}.png"), (x * 255).round().astype(np.uint8))
    ffmpeg("-i", tmp_path / "raw" / "r_%03d.png", "-pix_fmt", "gbrpf32le", tmp_path / "e_%03d.exr")
    common = ("-s", data_dir / "style" / "antimonocromatismo.jpg", "--style-size", "64", "--size", "64")
    code, _, err = run_cli("video", tmp_path / "e_%03d.exr", *common, "--stabilize", "off", "--frames", "1",
                           "--codec", "libx264", "--crf", "0", "--pix-fmt", "yuv444p", "-o", tmp_path / "o.mkv")
    assert code == 0, err
    code, _, err = run_cli("image", tmp_path / "e_001.exr", *common, "-o", tmp_path / "image.png")
    assert code == 0, err
    tags, (video,) = tags_and_pictures(tmp_path / "o.mkv")
    assert tags == (BT709, LIMITED, BT709)  # transfer BT.709, not linear
    image = rgb_frames(tmp_path / "image.png")[0].astype(int)
    assert video.shape == image.shape and np.abs(video - image).mean() <= 1 and np.abs(video - image).max() <= 3
