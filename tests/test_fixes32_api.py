"""Session 32's fixes to the Python API, each found by a hostile caller: a Stabilizer that showed a
frame from before it was turned off, statistics past float32's range taken, `stats` smoothing that
depended on the engine cache, settings and stabiliser fields failing deep inside, folders left by
`write_image` on a full disk, a Stabilizer that could not be copied, and torch's device errors."""

from __future__ import annotations

import copy
import os
import pickle

import numpy as np
import pytest
import torch

import realtime_adain as ra
from realtime_adain.imageio import read_image
from realtime_adain.stylizer import Stylizer
from realtime_adain.temporal import Stabilizer
from test_api21 import style  # noqa: F401  (a fixture)
from test_full_disk import FILLER, disk, fill  # noqa: F401
from video_samples import gradient_frames, write_video

CONTENT = np.random.default_rng(32).integers(0, 256, (90, 160, 3), np.uint8)
BLACK, WHITE = np.zeros_like(CONTENT), np.full_like(CONTENT, 255)


@pytest.mark.parametrize("field, off, on", [("mode", "off", "flow"), ("mode", "stats", "both"), ("strength", 0.0, 0.7)])
@pytest.mark.parametrize("steps", ["one call", "motion and apply"])
def test_a_stabilizer_turned_off_keeps_no_frame_to_show_again(field, off, on, steps):
    """Turned off (mode off, strength 0) it kept its last frame, and blended it into the first
    frame after it was turned on again: a white scene came out black, or 77 with strength 0.7."""
    stabilizer = Stabilizer(strength=1.0)

    def run(stylized):
        if steps == "one call":
            return stabilizer(CONTENT, stylized)
        return stabilizer.apply(stabilizer.motion(None, stabilizer.luma(CONTENT), CONTENT.shape[:2]), stylized)

    stabilizer(CONTENT, BLACK)  # (the state a scene before)
    setattr(stabilizer, field, off)
    for _ in range(3):
        assert run(WHITE).mean() == 255
    setattr(stabilizer, field, on)
    assert stabilizer(CONTENT, WHITE).mean() == 255


def test_statistics_too_large_for_float32_are_refused(stylizer, style):  # noqa: F811
    """float64 statistics finite there but past float32's range (std * 1e300) were taken, and the
    network made an all-black picture of them; through `StyleStats.mix` too."""
    huge = ra.StyleStats(style.mean.double(), style.std.double() * 1e300)
    with pytest.raises(ValueError, match=r"style\.std holds .* values too large for float32"):
        stylizer.stylize(CONTENT, huge)
    with pytest.raises(ValueError, match=r"styles\[1\]\.std holds .* values too large for float32"):
        ra.StyleStats.mix([style, huge], [1, 1])
    fine = ra.StyleStats(style.mean.double(), style.std.double())  # float64 within range: taken
    assert np.array_equal(stylizer.stylize(CONTENT, fine), stylizer.stylize(CONTENT, style))


@pytest.mark.slow  # (an ONNX export (6-13 s))
def test_stats_smoothing_with_an_auto_stylizer_does_not_depend_on_the_engine_cache(
        published_weights, stylizer, style, tmp_path, monkeypatch, one_thread):  # noqa: F811
    """`stylize_video(stylizer=Stylizer.load(), stabilize="stats")` ran on a fresh engine cache and
    was a ValueError once an ONNX export was cached ('auto' then took onnx on the CPU); without
    `stylizer=` it loads eager itself. An engine named by the caller is still refused. (One ONNX
    export: about 15 s.)"""
    monkeypatch.setenv("REALTIME_ADAIN_ENGINES", str(tmp_path / "engines"))
    explicit = Stylizer.load(*published_weights, device="cpu", engine="onnx")
    explicit.engine  # (exports the network: 'auto' takes onnx from now on)
    auto = Stylizer.load(*published_weights, device="cpu")
    assert auto.engine_name == "onnx"
    clip = write_video(tmp_path / "in.mp4", gradient_frames(3, 32, 32))
    for mode in ("stats", "both"):
        ra.stylize_video(clip, tmp_path / mode / "auto" / "%04d.png", style, stylizer=auto, stabilize=mode)
        ra.stylize_video(clip, tmp_path / mode / "eager" / "%04d.png", style, stylizer=stylizer, stabilize=mode)
        names = sorted(os.listdir(tmp_path / mode / "eager"))
        assert len(names) == 3 and sorted(os.listdir(tmp_path / mode / "auto")) == names
        for name in names:  # the same frames as the eager stylizer's
            auto_frame, eager_frame = (read_image(tmp_path / mode / kind / name) for kind in ("auto", "eager"))
            assert np.array_equal(auto_frame, eager_frame)
        with pytest.raises(ValueError, match="this stylizer runs onnx \\(load it with engine='eager'\\)"):
            ra.stylize_video(clip, tmp_path / "explicit.mp4", style, stylizer=explicit, stabilize=mode)
    assert auto._engine is None  # (its onnx engine was never built: eager ran on its network)


@pytest.mark.parametrize("changes, words", [
    ({"model": {}}, "model must be ModelSettings, got dict"),
    ({"style": None}, "style must be StyleSettings, got NoneType"),
])
def test_video_settings_name_a_part_of_the_wrong_kind(changes, words):
    """`VideoSettings(model={}).check()` was an AttributeError ("'dict' object has no attribute 'check'")."""
    with pytest.raises(TypeError, match=words):
        ra.VideoSettings(**changes).check()


@pytest.mark.parametrize("mix, words", [("0.5,0.5", "got str"), (["a", "b"], "got a list holding str"),
                                        ((1.0, None), "got a tuple holding NoneType")])
def test_style_settings_name_mix_weights_that_are_not_numbers(mix, words):
    """A str (or a list of them) for mix was math.isfinite's "must be real number, not str"."""
    with pytest.raises(TypeError, match=f"mix must be a tuple of numbers .*{words}"):
        ra.StyleSettings(mix=mix).check()
    ra.StyleSettings(mix=(0.5, 1)).check()


@pytest.mark.parametrize("field, value, error", [
    ("cut_fraction", 5, ValueError), ("cut_fraction", float("nan"), ValueError), ("cut_fraction", -1, ValueError),
    ("cut_fraction", "0.5", TypeError), ("soft_edge", 0, ValueError), ("soft_edge", 256, ValueError),
    ("soft_edge", 1.5, TypeError),
])
def test_stabilizer_fields_set_later_are_checked(field, value, error):
    """Checked only when the stabiliser was made: `cut_fraction = 5` made every frame a cut, nan
    none, '0.5' failed mid-stream; `soft_edge = 0` divided by zero (black frames), 1.5 failed deep inside."""
    stabilizer = Stabilizer()
    before = getattr(stabilizer, field)
    with pytest.raises(error, match=field):
        setattr(stabilizer, field, value)
    assert getattr(stabilizer, field) == before
    stabilizer.cut_fraction, stabilizer.soft_edge = 0.5, 3
    assert (stabilizer.cut_fraction, stabilizer.soft_edge) == (0.5, 3)


def test_write_image_onto_a_full_disk_leaves_no_folder_it_made(disk):  # noqa: F811
    """`write_image('full/new/sub/a.png', ...)` said the disk was full and left `new/sub/` behind,
    where `stylize_video` and the CLI remove the folders they made; one that was there stays."""
    (disk / "kept").mkdir()
    fill(disk)
    for path in ("new/sub/a.png", "kept/a.png"):
        with pytest.raises(ra.UserError, match="No space left"):
            ra.write_image(disk / path, CONTENT)
    assert sorted(os.listdir(disk)) == sorted([FILLER, "kept"]) and os.listdir(disk / "kept") == []


def test_a_stabilizer_can_be_copied_and_pickled():
    """`copy.deepcopy(Stabilizer())` and `pickle.dumps` failed: "cannot pickle '_thread._local'
    object" (the flow's per-thread DIS instances). A copy goes on from the same previous frame."""
    stabilizer = Stabilizer(strength=0.8)
    stabilizer(CONTENT, BLACK)
    copies = [copy.deepcopy(stabilizer), pickle.loads(pickle.dumps(stabilizer))]
    shifted = np.roll(CONTENT, 2, axis=1)
    expected = stabilizer(shifted, WHITE)
    assert 0 < expected.mean() < 255  # (blended with the black frame)
    for twin in copies:
        assert np.array_equal(twin(shifted, WHITE), expected)


def test_style_stats_on_a_device_that_cannot_be_had_is_one_line(style):  # noqa: F811
    """`StyleStats.to('banana')` and `.to('cuda')` without a GPU passed torch's RuntimeError of
    several lines through; now as `Stylizer.load` says it."""
    cases = [("banana", "unknown device 'banana'")]
    if not torch.cuda.is_available():
        cases.append(("cuda", "device 'cuda' asked for, but no CUDA GPU is available"))
    for device, words in cases:
        with pytest.raises(ValueError, match=words) as caught:
            style.to(device)
        assert "\n" not in str(caught.value)
    assert style.to("cpu", torch.float64).mean.dtype == torch.float64
    assert style.to("auto").mean.device.type in ("cpu", "cuda", "mps")  # (the message offers it)
