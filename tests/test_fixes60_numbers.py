"""Numbers as tester h1 found them (session 60): an $OMP_NUM_THREADS of 2^63 or more passed our
check and got libgomp's "Invalid value" lines (it reads a signed long); a numpy float in a
message was said by its binary value (--framerate 1000.0999755859375 for float32 1000.1, alpha
1.100000023841858), and np.longdouble('1e4000'), finite, was "inf" (math.isfinite reads a float)."""

from __future__ import annotations

import os
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import pytest

import realtime_adain as ra
from realtime_adain.checks import check_number, check_positive
from realtime_adain.cli import check_library_settings
from realtime_adain.errors import UserError
from realtime_adain.settings import StyleSettings, VideoSettings, weight_values
from realtime_adain.times import check_time
from realtime_adain.video.sequence import check_framerate

OMP_NOTE = "is not a thread count (a whole number from 1, or a list of them: 4,2); it is ignored\n"


@pytest.mark.parametrize("value", ["9223372036854775808", "9999999999999999999", "18446744073709551615",
                                   "18446744073709551616", "4,9223372036854775808", "9223372036854775808,4",
                                   " 009223372036854775808 ", "1" + "0" * 5000], ids=lambda value: value[:24])
def test_an_omp_num_threads_past_a_signed_long_is_unset_with_a_note(capsys, monkeypatch, value):
    """libgomp (checked by hand: python3 -c 'import torch') said "Invalid value" of each of these."""
    monkeypatch.setenv("OMP_NUM_THREADS", value)
    check_library_settings()
    err = capsys.readouterr().err
    assert (err, "OMP_NUM_THREADS" in os.environ) == (f"note: $OMP_NUM_THREADS={value[:80]!r} {OMP_NOTE}", False)


@pytest.mark.parametrize("value", ["9223372036854775807", "4,9223372036854775807", " +09223372036854775807 ",
                                   "0" * 5000 + "3"], ids=lambda value: value[:24])
def test_an_omp_num_threads_up_to_a_signed_long_is_kept(capsys, monkeypatch, value):
    monkeypatch.setenv("OMP_NUM_THREADS", value)
    check_library_settings()
    assert (capsys.readouterr().err, os.environ["OMP_NUM_THREADS"]) == ("", value)


def refusal(call) -> str:
    with pytest.raises((UserError, ValueError)) as caught:
        call()
    return str(caught.value)


BOUNDS = "give more than 1/2002 frames per second (a frame every 2002 s), at most 1000"


@pytest.mark.parametrize("rate, shown", [(np.float32(1000.1), "1000.1"), (np.float32(0.0004), "0.0004"),
                                         (np.longdouble("1e-4000"), "1e-4000"), (np.longdouble("1e4000"), "1e+4000"),
                                         (np.float64(-2.5), "-2.5"), (1000.1, "1000.1"), (np.float32("inf"), "inf"),
                                         (float("nan"), "nan")])
def test_a_framerate_is_said_as_it_is_read(rate, shown):
    assert refusal(lambda: check_framerate(rate)) == f"--framerate {shown}: {BOUNDS}"


def test_a_longdouble_framerate_in_range_is_taken():
    assert check_framerate(np.longdouble("12.5")) == Fraction(25, 2)


def frames(folder: Path) -> Path:
    """A one-picture image sequence, the source framerate= is for."""
    cv2.imwrite(str(folder / "0001.png"), np.zeros((16, 16, 3), np.uint8))
    return folder / "%04d.png"


def test_stylize_video_says_framerate_in_its_own_words(data_dir, tmp_path):
    """As its other messages name their arguments (start -1.3 must be ..., alpha must be ...)."""
    message = refusal(lambda: ra.stylize_video(frames(tmp_path), tmp_path / "o.mp4",
                                               data_dir / "style" / "mondrian.jpg", framerate=np.float32(1000.1)))
    assert message == f"framerate 1000.1: {BOUNDS}"


def test_a_longdouble_time_past_float_range_is_longer_than_any_video():
    assert refusal(lambda: check_time(np.longdouble("1e4000"), "start=")) == \
        "start= 1e+4000 is longer than any video (1000000000 s at most)"
    assert check_time(np.longdouble("1e-4000"), "start=") == Fraction("1e-4000")
    assert refusal(lambda: check_time(np.longdouble("inf"), "start=")) == "start= inf is not a finite time"
    assert refusal(lambda: check_time(np.float32("nan"), "start=")) == "start= nan is not a finite time"


@pytest.mark.parametrize("value, finite", [(1.0, True), (float("inf"), False), (float("nan"), False),
                                           (np.longdouble("1e4000"), True), (np.longdouble("-inf"), False),
                                           (10**400, True), (Fraction(10**400, 3), True), (np.float32(3e38), True)],
                         ids=lambda value: repr(value)[:24])
def test_is_finite_reads_the_number_not_a_float_of_it(value, finite):
    from realtime_adain.times import is_finite

    assert is_finite(value) is finite


@pytest.mark.parametrize("call, message", [
    (lambda: check_number(np.float32(1.1), "alpha"), "alpha must be in [0, 1], got 1.1"),
    (lambda: check_positive(np.float32(-0.1), "cut_distance"), "cut_distance must be positive (above 0), got -0.1"),
    (lambda: weight_values([1, np.float32(-0.2)]), "mix[1] must be a finite number, 0 or more, got -0.2"),
    (lambda: StyleSettings(alpha=np.float32(1.1)).check_for_command(), "--alpha 1.1 is outside [0, 1]"),
    (lambda: VideoSettings(stabilize="flow", stabilize_strength=np.float32(1.1)).check_for_command(),
     "--stabilize-strength 1.1 is outside [0, 1]"),
])
def test_a_numpy_float_is_said_as_it_is_read(call, message):
    assert refusal(call) == message


def test_stylize_video_says_a_numpy_alpha_as_it_is_read(data_dir, tmp_path):
    message = refusal(lambda: ra.stylize_video(frames(tmp_path), tmp_path / "o.mp4",
                                               data_dir / "style" / "mondrian.jpg", alpha=np.float32(1.1)))
    assert message == "alpha must be in [0, 1], got 1.1"


def test_a_longdouble_weight_past_float_range_is_too_large_not_infinite():
    from realtime_adain.settings import check_weights

    assert refusal(lambda: check_weights([1, np.longdouble("1e4000")])) == "mix[1] is too large for a float"


@pytest.mark.slow  # (a fresh process loading torch: 5-20 s)
def test_an_omp_num_threads_of_2_63_is_one_note_and_no_libgomp_lines(weights_env):
    """In a fresh process, as the tester ran it: libgomp reads the variable as torch loads."""
    done = subprocess.run([sys.executable, "-m", "realtime_adain", "weights", "info"], capture_output=True, text=True,
                          env={**os.environ, "OMP_NUM_THREADS": "4,9223372036854775808"}, timeout=120)
    assert (done.returncode, done.stderr) == (0, f"note: $OMP_NUM_THREADS='4,9223372036854775808' {OMP_NOTE}")
