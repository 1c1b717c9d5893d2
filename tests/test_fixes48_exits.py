"""How runs end: one line for a signal that kept a partial file, a line for a reader gone mid-run,
a trailing slash on the API's video output, the frame-rate limit as given."""

from __future__ import annotations

import os
import signal
import sys
from fractions import Fraction

import numpy as np
import pytest
from PIL import Image

import realtime_adain as ra
from realtime_adain import interrupts
from realtime_adain.cli import run_reporting_errors
from realtime_adain.errors import UserError
from realtime_adain.video.partial_outputs import keep_partial
from realtime_adain.video.picture_output import PictureOutput
from realtime_adain.video.sequence import check_framerate


@pytest.mark.parametrize("stop, code, word", [(KeyboardInterrupt(), 130, "interrupted"),
                                              (interrupts.Terminated(), 143, "terminated"),
                                              (interrupts.Terminated(signal.SIGHUP), 129, "terminated")])
def test_a_signal_that_kept_frames_is_said_in_one_line(tmp_path, capsys, stop, code, word):
    """`interrupted: 1 frame kept in ...` was followed by a second `interrupted` for the same stop."""
    pictures = PictureOutput(tmp_path / "f_%04d.png", 1, Fraction(24))
    pictures.write_frame(np.zeros((16, 16, 3), np.uint8), None, 1)
    capsys.readouterr()

    def stopped_run() -> None:
        keep_partial(pictures, pictures, stop)
        raise stop

    assert run_reporting_errors(stopped_run) == code
    err = capsys.readouterr().err
    assert err.splitlines() == [f"{word}: 1 frame kept in {tmp_path}/f_%04d.partial.png"], err


def test_a_signal_that_kept_nothing_still_says_its_word(capsys):
    def stopped_run() -> None:
        raise interrupts.Terminated()

    assert run_reporting_errors(stopped_run) == 143 and capsys.readouterr().err == "terminated\n"


def test_a_reader_gone_mid_run_is_said_with_what_was_written(run_cli, weights_env, tmp_path, monkeypatch, one_thread):
    """`image cdir -s st.png -o out --json | head -c1` stopped with exit status 141 and nothing on
    stderr: the results not written went unsaid."""
    contents = tmp_path / "cdir"
    contents.mkdir()
    rng = np.random.default_rng(0)
    for name in ("a", "b", "c"):
        Image.fromarray(rng.integers(0, 255, (24, 32, 3), np.uint8)).save(contents / f"{name}.png")
    style = tmp_path / "st.png"
    Image.fromarray(rng.integers(0, 255, (24, 24, 3), np.uint8)).save(style)
    read_end, write_end = os.pipe()
    os.close(read_end)  # (the reader gone before the first report)
    monkeypatch.setattr(sys, "stdout", open(write_end, "w"))
    code, _, err = run_cli("image", contents, "-s", style, "--device", "cpu", "--size", "24", "--style-size", "24",
                           "-o", tmp_path / "out", "--json")
    sys.stdout.close()
    assert code == 141
    assert err.splitlines()[-1] == "stopped: standard output was closed; 1 of 3 results written, 2 not tried", err
    assert len(list((tmp_path / "out").iterdir())) == 1


def test_the_api_refuses_a_video_output_ending_in_a_slash(tmp_path):
    """`ra.stylize_video(v, 'o.mp4/', ...)` wrote the file o.mp4, as `write_image` no longer does."""
    with pytest.raises(ValueError, match="ends in a slash"):
        ra.stylize_video(tmp_path / "in.mp4", f"{tmp_path}/o.mp4/", np.zeros((8, 8, 3), np.uint8))
    assert not (tmp_path / "o.mp4").exists()


@pytest.mark.parametrize("rate", [1000.0000000001, Fraction("1000.0000000001"), Fraction(1000001, 1000)])
def test_a_frame_rate_above_the_limit_by_a_hair_is_refused(rate):
    """Rounded to a rate as FFmpeg keeps one first, 1000.0000000001 was taken as 1000."""
    with pytest.raises(UserError, match="at most 1000"):
        check_framerate(rate)
    assert check_framerate(1000) == 1000 and check_framerate(29.97) == Fraction(30000, 1001)


def test_video_framerate_above_the_limit_by_a_hair_is_refused(run_cli):
    code, _, err = run_cli("video", "f/%04d.png", "--framerate", "1000.0000000001", "-s", "s.jpg")
    assert code == 2 and ("argument --framerate: '1000.0000000001': give more than 1/2002 frames per second "
                          "(a frame every 2002 s), at most 1000") in err
