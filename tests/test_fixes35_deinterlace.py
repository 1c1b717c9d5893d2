"""`--deinterlace film` off pulldown's rates and into numbered pictures (task h3 of session 35):
at 25 fps (fieldmatch alone) the last frame lasted its duration in the input's ticks as that many
frames (a 1 s PAL MPEG-2 clip came out 145 s long, its sound 1 s); numbered pictures of the film
frames were said to play at the input's 29.97 fps (48 film frames of 2 s then last 1.6 s)."""

from __future__ import annotations

from fractions import Fraction

import pytest

from test_video_deinterlace import ffmpeg
from test_video_realworld_inputs import stylize, style  # noqa: F401  (a fixture)
from test_video_telecine16 import MPEG2_TFF, dvd, film, read  # noqa: F401  (fixtures)
from video_samples import probe


def test_pal_film_frames_each_last_one_frame(tmp_path):
    path = tmp_path / "pal.mpg"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=160x120:rate=25:duration=1", "-vf", "setfield=tff", *MPEG2_TFF, path)
    frames, _, time_base = read(path, "film")
    step = frames[1].pts - frames[0].pts
    assert len(frames) == 25 and step * time_base == Fraction(1, 25)
    assert [f.duration for f in frames] == [step] * 25


@pytest.mark.slow  # (default run's time: 2 s)
def test_pal_film_output_is_as_long_as_the_input(run_cli, weights_env, style, tmp_path):
    source, out = tmp_path / "pal.mpg", tmp_path / "pal.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=160x120:rate=25:duration=1", "-vf", "setfield=tff", *MPEG2_TFF, source)
    stylize(run_cli, source, style, out, "--deinterlace", "film")
    result = probe(out)
    assert len(result.pts) == 25 and abs(result.span_s - 1.0) < 0.01, result


@pytest.mark.slow
def test_numbered_film_frames_are_said_to_play_at_the_film_s_rate(run_cli, weights_env, style, dvd, tmp_path):
    source = tmp_path / "VTS_04_1.VOB"  # (a name of its own: notes are said once)
    source.write_bytes(dvd.read_bytes())
    err = stylize(run_cli, source, style, tmp_path / "p" / "o_%04d.png", "--deinterlace", "film")
    assert "numbered pictures keep no timing: the video ran at 23.976 fps" in err, err
    assert len(list((tmp_path / "p").iterdir())) == 48
