"""Colour tags kept (session 46): WebM with alpha_mode 1 (every Chromium canvas recording, even an
opaque one) is read with libvpx's decoders, which took none of the container's primaries or
transfer (nor VP8's matrix): the output was tagged unknown, and an HDR clip was not tone-mapped.
Full range into .mp4 with a codec whose bitstream states no range (MPEG-4 Part 2) was written
untagged where the input's primaries, transfer and matrix were not all known: read as limited."""

from __future__ import annotations

import subprocess
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from realtime_adain.video.encoding import FULL_RANGE
from realtime_adain.video.encoder_settings import EncodeSettings
from realtime_adain.video.hdr import BT709, UNSPECIFIED
from realtime_adain.video.pictures import Colour
from realtime_adain.video.reader import VideoReader
from realtime_adain.video.writer import VideoFormatOut, VideoWriter
from test_fixes45_video_range import BAND, LEVELS, band_levels
from test_video_realworld_inputs import stylize
from video_corpus import FFMPEG

W, H = 64, 48
BT709_TAGS = ("-color_primaries", "bt709", "-color_trc", "bt709", "-colorspace", "bt709")
PQ_TAGS = ("-color_primaries", "bt2020", "-color_trc", "smpte2084", "-colorspace", "bt2020nc")


def webm_with_alpha(path: Path, encoder: str, tags: tuple[str, ...]) -> Path:
    """3 frames of yuva420p (alpha_mode 1), tagged with `tags`, as the FFmpeg CLI writes them."""
    subprocess.run([FFMPEG, "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i", f"testsrc2=s={W}x{H}:r=12",
                    "-frames:v", "3", "-c:v", encoder, "-auto-alt-ref", "0", "-pix_fmt", "yuva420p", *tags,
                    str(path)], check=True, capture_output=True)
    return path


@pytest.mark.parametrize("encoder, tags, hdr", [
    ("libvpx-vp9", BT709_TAGS, False), ("libvpx", BT709_TAGS, False), ("libvpx-vp9", PQ_TAGS, True)])
def test_webm_with_alpha_keeps_the_colour_ffmpegs_own_decoder_reads(tmp_path, capsys, encoder, tags, hdr):
    """Was primaries and transfer unspecified (VP8: the matrix too); a PQ clip was not tone-mapped."""
    source = webm_with_alpha(tmp_path / "alpha.webm", encoder, tags)
    with av.open(str(source)) as container:
        own = Colour.of(next(container.decode(video=0)))  # (FFmpeg's vp8/vp9: no alpha, the tags right)
    with VideoReader(source) as reader:
        assert reader.decoder.name == encoder  # (libvpx's, for the alpha)
        assert reader.colour == own
        output = reader.output_colour
    assert own.color_primaries != UNSPECIFIED and own.colorspace != UNSPECIFIED
    assert ("HDR video" in capsys.readouterr().err) == hdr
    assert output.color_trc == BT709 if hdr else output == own


@pytest.mark.slow
def test_a_stylized_webm_with_alpha_is_tagged_as_its_input(run_cli, weights_env, data_dir, tmp_path):
    source = webm_with_alpha(tmp_path / "alpha.webm", "libvpx-vp9", BT709_TAGS)
    stylize(run_cli, source, data_dir / "style" / "brushstrokes.jpg", tmp_path / "out.mkv")
    with av.open(str(tmp_path / "out.mkv")) as container:
        frame = next(container.decode(video=0))
    assert (frame.color_primaries, frame.color_trc, frame.colorspace) == (BT709, BT709, BT709)


@pytest.mark.parametrize("tags", [{}, {"com.apple.quicktime.make": "Apple"}])
def test_full_range_of_unknown_primaries_stays_full_range_in_mp4(tmp_path, tags):
    """MP4's muxer wrote no colr box: the range was unstated (read as limited, stretched); with
    the QuickTime keys' `movflags` too."""
    picture = np.repeat(np.repeat(np.array(LEVELS, np.uint8), BAND)[None, :, None], 32, axis=0).repeat(3, axis=2)
    range_only = Colour(UNSPECIFIED, FULL_RANGE, UNSPECIFIED, UNSPECIFIED)
    spec = VideoFormatOut(picture.shape[1], picture.shape[0], Fraction(1, 24), Fraction(24), range_only, tags=tags)
    writer = VideoWriter(tmp_path / "out.mp4", EncodeSettings("mpeg4"), spec, passthrough=[])
    for pts in range(3):
        writer.write_frame(picture, pts, 1)
    writer.close()
    with av.open(str(tmp_path / "out.mp4")) as container:
        assert container.metadata.get("com.apple.quicktime.make") == tags.get("com.apple.quicktime.make")
        frame = next(container.decode(video=0))
    assert frame.color_range == FULL_RANGE
    assert max(abs(got - level) for got, level in zip(band_levels(frame), LEVELS)) <= 1
