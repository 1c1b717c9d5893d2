"""Pixels a hair off square (a scaled export's 15468:15473) are shown at their stored size: the
stretched side was rounded up to even, so 137x77 came out 137x78, 1.3 % off its shape where the
sample aspect ratio corrected 0.03 %. Anamorphic video is still stretched."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import pytest

from realtime_adain.video.picture_shape import square_pixel_size
from test_video_more_containers import ffmpeg


def stylized_size(run_cli, data_dir: Path, tmp_path: Path, scale: str, *filters: str) -> tuple[int, int]:
    """The picture size `video` writes for 3 frames of testsrc2 scaled to `scale` (then `filters`)."""
    source, out = tmp_path / "in.mov", tmp_path / "out.mov"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=s=1366x768:r=10", "-frames:v", "3", "-vf", ",".join([f"scale={scale}", *filters]),
           "-c:v", "libx264", "-pix_fmt", "yuv444p", source, needs=("libx264",))
    code, _, err = run_cli("video", source, "-s", data_dir / "style" / "mondrian.jpg", "--size", "32", "--style-size",
                           "64", "--threads", "1", "--stabilize", "off", "-o", out)
    assert code == 0, err
    with av.open(str(out)) as container:
        stream = container.streams.video[0]
        assert not stream.sample_aspect_ratio or stream.sample_aspect_ratio == 1
        return stream.codec_context.width, stream.codec_context.height


def test_a_hair_off_square_video_keeps_its_size(run_cli, weights_env, data_dir, tmp_path):
    """The tester's file: 137x77 at 15468:15473 (display 683:384; this FFmpeg's scale says 52591:52608),
    136.96 wide or 77.02 high with square pixels. It was written 137x78."""
    source = tmp_path / "in.mov"
    assert stylized_size(run_cli, data_dir, tmp_path, "137:77") == (137, 77)
    with av.open(str(source)) as container:  # (the case the tester met)
        assert Fraction(999, 1000) < container.streams.video[0].sample_aspect_ratio < 1


def test_an_anamorphic_video_is_still_stretched(run_cli, weights_env, data_dir, tmp_path):
    """720x480 at 32:27 (16:9 NTSC DVD), small: 48x32 at 32:27 is 56.9 wide, written 56x32."""
    assert stylized_size(run_cli, data_dir, tmp_path, "48:32", "setsar=32/27") == (56, 32)


@pytest.mark.parametrize("width, height, aspect, shown", [
    (137, 77, Fraction(15468, 15473), (137, 77)),  # 77.02 high: was 78
    (138, 77, Fraction(15473, 15468), (138, 77)),  # 138.04 wide: kept, not 140
    (720, 481, Fraction(32, 27), (853, 481)),  # 853.3: the odd height makes it 4:4:4 whatever the width
    (720, 480, Fraction(32, 27), (854, 480)),  # 853.3: even, for 4:2:0 (853 was written yuv444p)
    (721, 480, Fraction(1, 1), (721, 480)),
    (64, 47, Fraction(8, 9), (64, 52)),  # 52.9: even beside an even width, for 4:2:0
    (63, 47, Fraction(8, 9), (63, 53)),  # 52.9 beside an odd width: the nearest
])
def test_the_stretched_side_is_rounded_to_the_nearest_pixel(width, height, aspect, shown):
    assert square_pixel_size(width, height, aspect) == shown


def test_the_shape_is_never_further_off_than_the_stored_size():
    """Over sides 2..200 and aspects around 1 (a hair off) to 2: the size shown is no further from
    the true shape than the stored size is, never shorter than stored, and a side the aspect moves
    less than half a pixel is kept."""
    aspects = [Fraction(n, 1000) for n in range(500, 2001, 23)] + [Fraction(15468, 15473), Fraction(15473, 15468)]
    for aspect in aspects:
        for width in range(2, 201, 5):
            for height in (47, 48, 77, 120):
                shown = square_pixel_size(width, height, aspect)
                true = width * aspect / height
                assert abs(Fraction(*shown) - true) <= abs(Fraction(width, height) - true), (width, height, aspect)
                assert shown[0] >= width and shown[1] >= height
                if abs(width * aspect - width) < Fraction(1, 2) and aspect >= 1 or \
                        abs(height / aspect - height) < Fraction(1, 2) and aspect < 1:
                    assert shown == (width, height)
