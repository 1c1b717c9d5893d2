"""Full-range input (a phone's H.264, an MJPEG webcam, a screen recording) written where the output
cannot state full range (session 45): it is converted to limited range, so its levels decode as
they were; where the output states it, it stays full range."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from realtime_adain.video.encoding import BT709_MATRIX, FULL_RANGE
from realtime_adain.video.encoder_settings import EncodeSettings
from realtime_adain.video.pictures import Colour
from realtime_adain.video.writer import VideoFormatOut, VideoWriter

LEVELS = (6, 64, 128, 192, 249)
BAND = 16  # pixels wide, one a level
FRAMES = 8  # (FFmpeg opens no .ts of 3 such frames: 10 packets, too few to probe; nor one `ffmpeg` wrote)
FULL_RANGE_BT709 = Colour(colorspace=BT709_MATRIX, color_range=FULL_RANGE, color_primaries=1, color_trc=1)


def band_levels(frame: av.VideoFrame) -> list[float]:
    """Each grey band's level in `frame`, from its luma as its range says (untagged: limited, as
    players take it); read straight from the plane, as FFmpeg's RGB conversion is itself a level
    or two off."""
    plane, depth = frame.planes[0], frame.format.components[0].bits
    wide = np.uint16 if depth > 8 else np.uint8
    luma = np.frombuffer(plane, wide).reshape(plane.height, -1)[:, :plane.width].astype(float)
    if frame.color_range == FULL_RANGE:
        luma = luma * 255 / (2 ** depth - 1)
    else:
        luma = (luma / 2 ** (depth - 8) - 16) * 255 / 219
    return [float(np.median(luma[:, i * BAND + 4:(i + 1) * BAND - 4])) for i in range(len(LEVELS))]


def written_and_decoded(path: Path, codec: str) -> tuple[int, list[float]]:
    """Grey bands at `LEVELS` written as full-range input by `codec` to `path` (in-process, as
    `video` writes): the range the decoder says and each band's level read back."""
    picture = np.repeat(np.repeat(np.array(LEVELS, np.uint8), BAND)[None, :, None], 32, axis=0)
    picture = np.repeat(picture, 3, axis=2)
    spec = VideoFormatOut(picture.shape[1], picture.shape[0], Fraction(1, 24), Fraction(24), FULL_RANGE_BT709)
    writer = VideoWriter(path, EncodeSettings(codec), spec, passthrough=[])
    for pts in range(FRAMES):
        writer.write_frame(picture, pts, 1)
    writer.close()
    with av.open(str(path)) as container:
        frame = list(container.decode(video=0))[-1]
    return frame.color_range, band_levels(frame)


@pytest.mark.parametrize("codec, name", [
    ("mpeg2video", "out.ts"), ("mpeg2video", "out.mkv"), ("prores_ks", "out.mov"), ("libvpx", "out.webm"),
    ("mpeg4", "out.avi"), ("ffv1", "out.avi"),
])
def test_full_range_input_keeps_its_levels_where_the_output_cannot_state_full_range(tmp_path, codec, name):
    """Was written full range and read as limited: stretched, 6 read 0 and 249 read 255 (12 levels
    off). MPEG-2's, VP8's and ProRes's decoders read limited range whatever a container says; AVI
    and MPEG-TS say none."""
    decoded_range, levels = written_and_decoded(tmp_path / name, codec)
    assert decoded_range != FULL_RANGE
    assert max(abs(got - level) for got, level in zip(levels, LEVELS)) <= 2, levels


@pytest.mark.parametrize("codec, name", [("libx264", "out.ts"), ("mpeg4", "out.mp4"), ("ffv1", "out.mkv")])
def test_full_range_input_stays_full_range_where_the_output_states_it(tmp_path, codec, name):
    """H.264's bitstream states the range; MP4 and Matroska state it for the others."""
    decoded_range, levels = written_and_decoded(tmp_path / name, codec)
    assert decoded_range == FULL_RANGE
    assert max(abs(got - level) for got, level in zip(levels, LEVELS)) <= 1, levels
