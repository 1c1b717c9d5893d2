"""Picture geometry read from a video: one-pixel-wide HDR pictures, an H.264 left crop, and
anamorphic pixels stretched to an even size; and the levels the HDR tone curve gives."""

from __future__ import annotations

import subprocess
from fractions import Fraction

import numpy as np
import pytest

from realtime_adain.imageio import read_image
from realtime_adain.video import hdr
from realtime_adain.video.picture_shape import square_pixel_size
from realtime_adain.video.reader import VideoReader
from test_images_hdr17 import png_with_cicp
from video_corpus import FFMPEG
from video_samples import rgb_frames

PQ_GREY = 30000  # a 16-bit PQ code value (about 100 cd/m2)


def ffmpeg(*args: str) -> None:
    subprocess.run([FFMPEG, "-nostdin", "-v", "error", "-y", *args], check=True, capture_output=True)


@pytest.mark.parametrize("transfer", [hdr.PQ, hdr.HLG])
@pytest.mark.parametrize("height", [1, 3])
def test_a_one_pixel_wide_hdr_picture_is_tone_mapped(transfer, height):
    """OpenCV took a 1x1 plane for a Scalar and gave a 4x1 result: a 1x1 HDR picture (or a
    strip of one pixel) stopped with a traceback. Now it comes out as a wider picture's pixels."""
    tone_map = hdr.ToneMap(transfer=transfer, primaries=hdr.BT2020)
    wide = tone_map(np.full((2, 2, 3), PQ_GREY, np.uint16))
    assert np.array_equal(tone_map(np.full((height, 1, 3), PQ_GREY, np.uint16)),
                          np.broadcast_to(wide[:1, :1], (height, 1, 3)))


def test_a_one_pixel_hdr_video_and_png_are_read(tmp_path):
    """The `video` and `image` paths of a 1x1 PQ picture (a traceback before)."""
    video = tmp_path / "pq1x1.mkv"
    ffmpeg("-f", "lavfi", "-i", "color=c=0x808080:s=1x1,format=yuv444p10le", "-frames:v", "1", "-colorspace",
           "bt2020nc", "-color_primaries", "bt2020", "-color_trc", "smpte2084", "-c:v", "ffv1", str(video))
    with VideoReader(video) as reader:
        assert reader.first_frame.image.shape == (1, 1, 3)
    png = png_with_cicp(tmp_path / "pq1x1.png", np.full((1, 1, 3), PQ_GREY, np.uint16), hdr.PQ)
    assert read_image(png).shape == (1, 1, 3)


def test_an_h264_left_crop_is_applied_whole(tmp_path):
    """An SPS's left crop (h264_metadata's, to cut black bars losslessly): FFmpeg keeps planes
    aligned unless told otherwise, and 16 cropped-away columns were shown (64 wide came out 80).
    Its right crop is applied either way: the picture is the last 64 columns of a plain decode."""
    path = tmp_path / "crop.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=s=96x32", "-frames:v", "1", "-pix_fmt", "yuv420p", "-c:v", "libx264",
           "-crf", "10", "-bsf:v", "h264_metadata=crop_left=16:crop_right=16", str(path))
    with VideoReader(path) as reader:
        image = reader.first_frame.image
    assert image.shape == (32, 64, 3)
    assert np.abs(image.astype(int) - rgb_frames(path)[0][:, -64:]).mean() < 1


@pytest.mark.parametrize("width, height, aspect, shown", [
    (720, 480, Fraction(32, 27), (854, 480)),  # NTSC DVD 16:9 (853.3: it was 853, written yuv444p)
    (720, 576, Fraction(16, 11), (1048, 576)),  # PAL DVD 16:9 (1047.3)
    (720, 576, Fraction(12, 11), (786, 576)),  # PAL 4:3 (785.5)
    (720, 480, Fraction(40, 33), (872, 480)),  # NTSC 4:3 (872.7)
    (1440, 1080, Fraction(4, 3), (1920, 1080)),
    (720, 480, Fraction(8, 9), (720, 540)),
    (720, 481, Fraction(32, 27), (853, 481)),  # beside an odd height (4:4:4 anyway): the nearest pixel (853.3)
    (16384, 8193, Fraction(1), (16384, 8193)),  # square pixels: as stored (8193 became 8192)
    (8193, 100, Fraction(16387, 16386), (8194, 100)),  # 8193.5 rounds to 8192 (half to even): never below
])
def test_the_stretched_side_is_even(width, height, aspect, shown):
    assert square_pixel_size(width, height, aspect) == shown


def test_an_anamorphic_video_is_read_at_an_even_width(tmp_path):
    path = tmp_path / "dvd.mkv"  # 36x32 at 32:27: 42.7 wide with square pixels
    ffmpeg("-f", "lavfi", "-i", "testsrc2=s=36x32", "-frames:v", "1", "-vf", "setsar=32/27", "-c:v", "ffv1", str(path))
    with VideoReader(path) as reader:
        assert reader.first_frame.image.shape == (32, 42, 3)


@pytest.mark.parametrize("peak, white_level", [(203, 255), (400, 244), (1000, 230), (4000, 210)])
def test_the_peak_becomes_sdr_white_and_reference_white_lands_below_it(peak, white_level):
    """What docs/video.md and video/hdr.py say of the curve: the stream's peak comes out at 255,
    HDR reference white (203 cd/m2) at 230 at the default 1000 cd/m2 peak."""
    tone_map = hdr.ToneMap(transfer=hdr.PQ, primaries=hdr.BT709, peak=peak)

    def level(nits: float) -> int:
        code = round(float(hdr.nits_to_pq(np.float64(nits))) * 65535)
        return int(tone_map(np.full((2, 2, 3), code, np.uint16))[0, 0, 0])
    assert (level(hdr.REFERENCE_WHITE), level(peak)) == (white_level, 255)
