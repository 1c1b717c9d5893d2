"""Numbered pictures from an image sequence cut at a fast rate keep their input pictures' numbers,
and slow `--framerate`/`--fps` rates run as given (session 49, f2)."""

from __future__ import annotations

import argparse
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import pytest

from realtime_adain import api
from realtime_adain.commands import argtypes
from realtime_adain.video.reader import VideoReader

COUNT = 6


def numbered_pictures(folder: Path) -> Path:
    """p_0001.png ... p_0010.png, each a different colour and pattern (told apart once stylized)."""
    folder.mkdir()
    for number in range(1, COUNT + 1):
        image = np.full((48, 64, 3), (number * 25, 255 - number * 20, (number * 70) % 256), np.uint8)
        image[:, : number * 6] = 255 - image[:, : number * 6]
        cv2.imwrite(str(folder / f"p_{number:04d}.png"), image)
    return folder / "p_%04d.png"


def made(folder: Path) -> dict[int, np.ndarray]:
    """The pictures written, by number."""
    return {int(path.stem[2:]): cv2.imread(str(path)) for path in sorted(folder.glob("f_*.png"))}


@pytest.fixture(scope="module")
def sequence(tmp_path_factory) -> Path:
    return numbered_pictures(tmp_path_factory.mktemp("f2") / "seq")


@pytest.fixture(scope="module")
def style(stylizer, data_dir):
    return stylizer.style(data_dir / "style" / "mondrian.jpg", 64)


@pytest.fixture(scope="module")
def whole(sequence, stylizer, style) -> dict[int, np.ndarray]:
    """Every picture stylized, no cut: what each number's picture is."""
    out = sequence.parent / "whole"
    api.stylize_video(sequence, out / "f_%04d.png", style, size=16, stylizer=stylizer, stabilize="off", framerate=10)
    pictures = made(out)
    assert len({picture.tobytes() for picture in pictures.values()}) == COUNT  # (each told apart)
    return pictures


@pytest.mark.parametrize("rate, start, first", [
    (1000, "0.00245", 4),  # picture 3 shows 0.55 ms after the cut: under SLIVER, skipped (was named 3, then a gap)
    (600, "0.0041", 4),  # 0.9 ms of picture 3: skipped
    (1000, "0.0000001", 2),  # 0.9999 ms of picture 1
    (10, "0.25", 3),  # half of picture 3 left: kept (the half-frame rule below 500 fps, as before)
    (10, "0.26", 4),
])
def test_a_cut_sequence_keeps_each_pictures_number(sequence, whole, stylizer, style, tmp_path, capsys, one_thread,
                                                    rate, start, first):
    out = tmp_path / "out"
    api.stylize_video(sequence, out / "f_%04d.png", style, size=16, stylizer=stylizer, stabilize="off",
                      framerate=rate, start=start)
    pictures = made(out)
    assert sorted(pictures) == list(range(first, COUNT + 1))
    for number, picture in pictures.items():
        assert np.array_equal(picture, whole[number]), f"f_{number:04d}.png is not picture {number}"
    assert "did not decode" not in capsys.readouterr().err


@pytest.mark.parametrize("text, rate", [
    ("0.0005", Fraction(1, 2000)), ("1/2001", Fraction(1, 2001)), ("0.0015", Fraction(3, 2000)),
    ("0.00049951", Fraction(499, 998979)), ("0.3333", Fraction(1, 3)), ("0.0123", Fraction(123, 10000)),
    ("29.97", Fraction(30000, 1001)), ("12.5", Fraction(25, 2)),
])
def test_slow_rates_run_as_given(sequence, text, rate):
    """Under 1 fps a rate stands for its period: 0.0005 and 1/2001 fps were 1/1001, twice the rate
    asked. FFmpeg opens the sequence at the very rate taken (its terms fit av_parse_video_rate's)."""
    assert argtypes.framerate(text) == rate
    assert argtypes.frames_per_second(text) == float(rate)
    with VideoReader(sequence, framerate=rate) as reader:
        assert reader.frame_rate == rate


@pytest.mark.parametrize("text", ["1/2002", "1/2003", "0.0004995", "1e-9"])
def test_rates_at_or_under_the_bound_are_refused_in_its_words(text):
    says = r"give more than 1/2002 frames per second \(a frame every 2002 s\)"
    with pytest.raises(argparse.ArgumentTypeError, match=says):
        argtypes.framerate(text)
