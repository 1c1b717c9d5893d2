"""The temporal stabiliser's public API refuses what it cannot use in one line naming the argument
(docs/temporal.md): a TypeError for a wrong type, a ValueError for a bad value, long values cut short."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

import realtime_adain as ra
from realtime_adain.temporal import ContentStatsSmoother, Stabilizer
from realtime_adain.temporal.flow import Motion
from realtime_adain.temporal.two_pass import TwoPassStabilizer
from realtime_adain.temporal.warping import to_float_rgba


def frames(count: int = 3) -> list[np.ndarray]:
    """A smooth random picture moving one pixel a frame: a clip the flow follows."""
    rng = np.random.default_rng(0)
    base = np.repeat(np.repeat(rng.integers(0, 256, (12, 16, 3), dtype=np.uint8), 4, axis=0), 4, axis=1)
    return [np.ascontiguousarray(np.roll(base, i, axis=1)) for i in range(count)]


@pytest.mark.parametrize("kwargs, words", [
    ({"mode": 10**5000}, "mode must be a str, one of off, flow, stats, both, got int"),  # before: "Exceeds the limit (4300 digits)"
    ({"preset": 10**5000}, "preset must be a str, one of ultrafast, fast, medium, got int"),
    ({"mode": None}, "mode must be a str, one of off, flow, stats, both, got NoneType"),  # before: a ValueError
    ({"mode": 0}, "mode must be a str"), ({"preset": [1]}, "preset must be a str"),
])
def test_a_mode_or_preset_that_is_no_str_is_a_type_error_naming_it(kwargs, words):
    with pytest.raises(TypeError) as caught:
        Stabilizer(**kwargs)
    assert words in str(caught.value)


@pytest.mark.parametrize("name", ["mode", "preset"])
def test_a_long_mode_or_preset_is_quoted_short(name):
    """Before: all 100,000 characters were quoted."""
    with pytest.raises(ValueError, match=f"{name} must be one of .*\\(100000 characters\\)") as caught:
        Stabilizer(**{name: "x" * 100_000})
    assert len(str(caught.value)) < 200


@pytest.mark.parametrize("name, value", [("flow_width", 160), ("preset", "medium")])
def test_flow_width_and_preset_are_set_when_the_stabilizer_is_made(name, value):
    """Before: `s.flow_width = 160` made an attribute of its own and the flow stayed at 320 px."""
    stabilizer = Stabilizer()
    with pytest.raises(AttributeError, match=f"{name} is set when the Stabilizer is made"):
        setattr(stabilizer, name, value)
    assert (stabilizer.flow_width, stabilizer.preset) == (320, "fast")


def test_apply_float_on_an_8_bit_stabilizer_is_refused_and_the_state_kept():
    """Before: taken, and the next frame blended the float state with an 8-bit one (a cv2.error
    in blendLinear, or a frame passed through unchanged)."""
    clip = frames(3)
    reference = Stabilizer()
    expected = [reference(frame, frame) for frame in clip]
    stabilizer = Stabilizer()
    got = [stabilizer(clip[0], clip[0])]
    with pytest.raises(ValueError, match=r"apply_float needs a Stabilizer\(precise=True\)"):
        stabilizer.apply_float(None, to_float_rgba(clip[1]))
    got += [stabilizer(frame, frame) for frame in clip[1:]]
    assert all(np.array_equal(a, b) for a, b in zip(got, expected))


GRID = (12, 16)
POSITIONS = np.zeros(GRID + (2,), np.float32)
WEIGHT = np.full(GRID, 0.5, np.float32)


@pytest.mark.parametrize("fields, error, words", [
    ((POSITIONS.tolist(), WEIGHT), TypeError, "motion.positions must be an (h, w, 2) float32"),
    ((POSITIONS.astype(np.float64), WEIGHT), TypeError, "motion.positions must be an (h, w, 2) float32"),
    ((POSITIONS, None), ValueError, "motion.positions and motion.weight must both be arrays, or both None"),
    ((POSITIONS, np.zeros(GRID + (3,), np.float32)), ValueError, "motion.weight must be an (h, w) float32"),
    ((POSITIONS, WEIGHT.astype(np.float16)), TypeError, "motion.weight must be an (h, w) float32"),
    ((POSITIONS, WEIGHT[:6]), ValueError, "motion.weight (6, 16) must be on the grid of motion.positions"),
    ((POSITIONS, np.full(GRID, 5, np.float32)), ValueError, "motion.weight must be in [0, 1]"),  # before: taken
    ((POSITIONS, np.full(GRID, np.nan, np.float32)), ValueError, "motion.weight must be in [0, 1]"),
])
@pytest.mark.parametrize("precise", [False, True])
def test_a_hand_built_motion_is_refused_naming_the_field(fields, error, words, precise):
    """Before: a cv2.error from inside remap or blendLinear, or an AttributeError, naming nothing."""
    clip = frames(2)
    stabilizer = Stabilizer(precise=precise)
    stabilizer(clip[0], clip[0])
    with pytest.raises(error) as caught:
        stabilizer.apply(Motion(clip[0].shape[:2], 1.0, *fields), clip[1])
    assert str(caught.value).startswith(words), caught.value


def test_a_motion_for_a_size_that_is_no_tuple_is_refused():
    """Before: a list never equalled the frame's size, and the frame silently started afresh."""
    clip = frames(2)
    stabilizer = Stabilizer()
    stabilizer(clip[0], clip[0])
    with pytest.raises(TypeError, match=r"motion.size must be a \(height, width\) tuple"):
        stabilizer.apply(Motion(list(clip[0].shape[:2]), 1.0, POSITIONS, WEIGHT), clip[1])


@pytest.mark.parametrize("mean, error, words", [
    (torch.rand(4), ValueError, r"mean must be \(N, C, 1, 1\) with at least one frame, got shape \(4,\)"),
    (torch.rand(1, 4, 2, 1), ValueError, r"mean must be \(N, C, 1, 1\)"),
    (torch.ones(1, 4, 1, 1, dtype=torch.int64), TypeError, "mean must be a floating-point tensor, got torch.int64"),
])
def test_the_smoother_takes_float_n_c_1_1_statistics_only(mean, error, words):
    """Before: all three were taken (the docs ask for (N, C, 1, 1))."""
    with pytest.raises(error, match=words):
        ContentStatsSmoother()(mean, mean.clone())


def test_two_pass_strength_says_how_to_change_it():
    """Before: "property 'strength' of 'TwoPassStabilizer' object has no setter"."""
    stabilizer = TwoPassStabilizer(0.5)
    with pytest.raises(AttributeError, match=r"strength is set when the TwoPassStabilizer is made .*"
                                             r"new TwoPassStabilizer\(strength=\.\.\.\)"):
        stabilizer.strength = 0.2
    assert stabilizer.strength == 0.5


def test_bench_temporal_asks_for_a_video_when_given_a_picture(run_cli, tmp_path):
    """Before: "this is an image, not a video (use `realtime-adain image`)": no bench stylizes one."""
    picture = tmp_path / "style.png"
    Image.fromarray(frames(1)[0]).save(picture)
    code, _, err = run_cli("bench", "temporal", "--video", str(picture))
    assert (code, err.strip()) == (2, f"error: {picture}: this is an image, not a video (give a video file)")


def test_a_whole_number_past_python_s_digit_limit_is_named():
    """`Stabilizer(flow_width=10**5000)` failed as Python's "Exceeds the limit (4300 digits)",
    naming nothing (check_whole wrote the number to count its digits)."""
    with pytest.raises(ValueError, match=r"^flow_width .*far too large \(a number of more than \d+ digits\)$"):
        Stabilizer(flow_width=10**5000)


def test_stylize_video_stabilize_that_is_no_str_is_a_type_error():
    with pytest.raises(TypeError, match="stabilize must be a str, one of"):
        ra.stylize_video("in.mp4", "out.mp4", "style.jpg", stabilize=True)
