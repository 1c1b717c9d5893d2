"""The stabiliser against the hostile tester of session 36 (task h6): a two-pass stabiliser switched
off while it held frames gave them after later ones; `precise` changed mid-stream failed in OpenCV
and took values the constructor refuses."""

from __future__ import annotations

import numpy as np
import pytest

import realtime_adain as ra
from realtime_adain.temporal.two_pass import TwoPassStabilizer


def frame(value: int) -> np.ndarray:
    return np.full((90, 160, 3), value, np.uint8)


@pytest.mark.parametrize("switch_off", [lambda s: setattr(s.forward, "strength", 0.0),
                                        lambda s: setattr(s.forward, "mode", "off")])
def test_switched_off_with_frames_held_they_come_first(switch_off):
    stabilizer, order = TwoPassStabilizer(), []
    for index in range(6):
        if index == 3:
            switch_off(stabilizer)
        out = stabilizer.push(frame(100), frame(10 * index))
        order += [index] * len(out) if index >= 3 else []
        if index >= 3:
            assert int(out[-1][0, 0, 0]) == 10 * index  # (the frame pushed, last: after the held ones)
    assert stabilizer.flush() == [] and not stabilizer._held
    stabilizer = TwoPassStabilizer()
    outputs = [len(stabilizer.push(frame(100), frame(10 * index))) for index in range(3)]
    switch_off(stabilizer)
    assert outputs == [0, 0, 0] and len(stabilizer.push(frame(100), frame(30))) == 4


def test_precise_changed_mid_stream_starts_afresh_and_is_checked():
    stabilizer = ra.Stabilizer()
    for precise in (False, True, False):
        stabilizer.precise = precise
        for _ in range(2):
            assert stabilizer(frame(100), frame(50)).shape == (90, 160, 3)
    with pytest.raises(TypeError, match="^precise must be True or False, got str$"):
        stabilizer.precise = "no"
    assert stabilizer.precise is False
