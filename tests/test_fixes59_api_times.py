"""Times given as floats (`stylize_video(start=1.3, duration=1.5)`, `VideoSettings(start=1.3)`,
numpy's floats) read as the decimal written, as the text "1.3" and `--start 1.3` are: the float's
binary value (1.3000000000000000444...) cut a different segment (session 59, h3)."""

from __future__ import annotations

import subprocess
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

import realtime_adain as ra
from realtime_adain.times import as_fraction, check_time
from realtime_adain.video.frames import Frame
from realtime_adain.video.reader import VideoReader
from realtime_adain.video.sequence import check_framerate

FLOATS = (float, np.float64, np.float32, np.float16, np.longdouble)


def five_fps_clip(path: Path) -> Path:
    """4 s of 32x18 pictures at 5 fps (one every 0.2 s) with sound, as the report's."""
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=s=32x18:r=5:d=4",
                    "-f", "lavfi", "-i", "sine=r=48000:d=4", "-c:v", "libx264", "-pix_fmt", "yuv420p",
                    "-c:a", "pcm_s24le", str(path)], check=True)
    return path


@pytest.mark.parametrize("kind", FLOATS, ids=lambda kind: kind.__name__)
def test_a_float_time_is_the_decimal_written(kind):
    for text in ("1.3", "1.5", "0.1", "2.8", "0.35", "0.00001"):
        given = kind(text) if kind is not float else float(text)
        assert check_time(given, "--start") == check_time(text, "--start") == Fraction(text)
        assert check_time(given, "--duration", positive=True) == Fraction(text)
        assert as_fraction(given) == Fraction(text)


def test_rationals_and_whole_numbers_stay_exact():
    assert as_fraction(Fraction(1, 3)) == Fraction(1, 3)
    assert as_fraction(np.int64(7)) == 7 and as_fraction(10**30) == 10**30
    assert check_time(2.0, "--start") == 2 and check_time(1e9, "--start") == 10**9
    assert check_framerate(29.97) == check_framerate(Fraction("29.97")) == Fraction(30000, 1001)
    assert check_framerate(np.float32(12.5)) == Fraction(25, 2)


def test_video_settings_floats_cut_the_segment_text_cuts(tmp_path):
    """`VideoSettings(start=1.3, duration=1.5)` reaches the reader as floats: the same pictures as
    the exact 13/10 and 3/2 (the frame at 1.2 s, shown at 1.3, first; none at exactly 2.8 s)."""
    source = five_fps_clip(tmp_path / "cut.mov")

    def times(start, duration) -> list[Fraction]:
        with VideoReader(source, start=start, duration=duration) as reader:
            frames = [item for item in reader.items() if isinstance(item, Frame)]
            return [frame.pts * reader.time_base for frame in frames]

    wanted = times(Fraction("1.3"), Fraction("1.5"))
    assert len(wanted) == 8
    assert times(1.3, 1.5) == wanted
    assert times(np.float32(1.3), np.float64(1.5)) == wanted


def test_stylize_video_floats_cut_the_segment_text_cuts(stylizer, data_dir, tmp_path, one_thread):
    source = five_fps_clip(tmp_path / "cut.mov")
    style = data_dir / "style" / "mondrian.jpg"
    shown = {}
    for name, start, duration in (("text", "1.3", "1.5"), ("float", 1.3, 1.5), ("numpy", np.float64(1.3), np.float32(1.5))):
        out = ra.stylize_video(source, tmp_path / f"{name}.mkv", style, style_size=64, stabilize="off",
                               stylizer=stylizer, start=start, duration=duration)
        with av.open(str(out)) as container:
            shown[name] = ([round(float(frame.time), 3) for frame in container.decode(video=0)], container.duration)
    assert shown["text"][0] == [0.02, 0.12, 0.32, 0.52, 0.72, 0.92, 1.12, 1.32]
    assert shown["float"] == shown["numpy"] == shown["text"]


@pytest.mark.parametrize("value, shown", [(np.float32(-1.3), "-1.3"), (np.float32(3e38), "3e+38"),
                                          (np.float16(-0.1), "-0.1"), (np.float64(-1.3), "-1.3"), (-1.3, "-1.3")])
def test_a_numpy_float_time_is_said_as_it_is_read(value, shown):
    """A refused numpy float is said by the digits it is read as (h8, session 59: float32 -1.3 was
    said as -1.2999999523162842)."""
    from realtime_adain.times import shown_seconds

    assert shown_seconds(value) == shown
