"""Session 50: three option and message defects. `live -o rec.mp4/` (and `/.`) recorded to a file
rec.mp4 (Path drops the trailing '/' and '/.'); a frame rate just above 1/2002 fps was taken by the
first check and rounded onto 1/2002, which the next check refused; the note on pictures stored in
pairs said "every picture" where only the file's first pictures were."""

from __future__ import annotations

from fractions import Fraction

import av
import cv2
import numpy as np
import pytest

from cli_support import one_error_line
from realtime_adain import api
from realtime_adain.commands import argtypes
from realtime_adain.video.sequence import MIN_FRAMERATE, check_framerate
from test_fixes49_video_clocks import in_pairs, pictures_at, stored_at


@pytest.mark.parametrize("ending", ["/", "/.", "/.."])
def test_live_refuses_an_output_that_names_a_folder(run_cli, weights_env, data_dir, tmp_path, ending):
    """`-o rec.mp4/` and `-o rec.mp4/.` recorded the session to rec.mp4 and exited 0."""
    given = f"{tmp_path}/rec.mp4{ending}"
    code, _, err = run_cli("live", "--source", data_dir / "videos" / "cutBunny.mp4", "--styles",
                           data_dir / "style" / "trial.jpg", "--no-window", "-o", given, "--max-frames", "1",
                           "--size", "16")
    assert one_error_line(err, code) == (f"error: -o {given}: ends with {ending}, a folder; -o records the session "
                                         "to one file: give its name (.mp4, .m4v or .mov)")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("rate", [Fraction(1001, 2004001), Fraction(1, 2002) + 1e-12, 0.0004995005])
def test_a_rate_just_above_the_bound_stays_above_it(rate):
    """Rates in about (1/2002, 1/2001.5) fps were rounded to 1/2002, itself refused: taken by the
    option's check, refused by the settings' and the reader's. Each check takes what the one
    before it gave, and FFmpeg's terms hold it (1000999 <= 1001000)."""
    taken = check_framerate(rate)
    assert taken > MIN_FRAMERATE and 1 / taken == Fraction(1000999, 500)  # (2001.998 s a frame)
    assert check_framerate(taken) == taken and check_framerate(float(taken)) == taken  # (live --fps: a float)


@pytest.fixture
def three_pictures(tmp_path):
    for number in range(1, 4):
        cv2.imwrite(str(tmp_path / f"p_{number:03d}.png"), np.full((16, 16, 3), number * 60, np.uint8))
    return tmp_path / "p_%03d.png"


@pytest.mark.slow  # (a whole `video` run; the checks above and the API's below run in the default run)
def test_video_of_a_sequence_at_a_rate_just_above_the_bound(run_cli, weights_env, data_dir, three_pictures):
    """`video 'p_%03d.png' --framerate 1001/2004001` was "--framerate 1/2002: give more than
    1/2002 frames per second", exit 1: the output now runs at the nearest rate FFmpeg keeps."""
    out = three_pictures.parent / "out.mp4"
    code, _, err = run_cli("video", three_pictures, "--framerate", "1001/2004001", "-s", data_dir / "style" / "trial.jpg",
                           "-o", out, "--size", "16", "--style-size", "32", "--stabilize", "off")
    assert code == 0, err
    assert argtypes.framerate("1001/2004001") == Fraction(500, 1000999)
    with av.open(str(out)) as written:
        assert written.streams.video[0].average_rate == Fraction(500, 1000999)
        assert written.streams.video[0].frames == 3


def test_stylize_video_takes_a_rate_just_above_the_bound(stylizer, data_dir, three_pictures):
    """`framerate=Fraction(1, 2002) + 1e-12` was a ValueError "framerate 1/2002: give more than 1/2002"."""
    out = three_pictures.parent / "out"
    api.stylize_video(three_pictures, out / "f_%04d.png", stylizer.style(data_dir / "style" / "trial.jpg", 32),
                      size=16, stylizer=stylizer, stabilize="off", framerate=Fraction(1, 2002) + 1e-12)
    assert sorted(path.name for path in out.iterdir()) == ["f_0001.png", "f_0002.png", "f_0003.png"]


PAIRS_THEN_SINGLE = in_pairs(8) + [332 + round(n * 1000 / 24) for n in range(24)]


@pytest.mark.parametrize("times, placed", [
    (PAIRS_THEN_SINGLE, [(n // 2) * 83 + (n % 2) * 41 for n in range(8)] + PAIRS_THEN_SINGLE[8:]),
    (in_pairs(24), [(n // 2) * 83 + (n % 2) * 41 for n in range(22)] + [913, 955]),
], ids=["pairs-then-single", "all-pairs"])
def test_the_note_on_pictures_stored_in_pairs_claims_no_more_than_it_saw(tmp_path, capsys, times, placed):
    """Four pairs at one time each, then 24 pictures one at a time: the note said "every picture
    is stored twice". It is said at the first pair, so it speaks of the file's first pictures, true
    of both files. The pictures after the pairs keep their own times."""
    name = f"pairs_{len(times)}.mkv"  # (a note said once a process: one name each)
    assert pictures_at(stored_at(tmp_path / name, times)) == placed
    err = capsys.readouterr().err
    assert "every picture" not in err
    assert f"{name}: the file's first pictures are each stored twice, at one timestamp (a muxer's repeats): each " \
           "pair is spread evenly over the time up to the next picture, at most a frame apart at 24 fps" in err
