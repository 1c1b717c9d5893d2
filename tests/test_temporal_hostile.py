"""The temporal stabiliser used as a hostile caller would: frames of the wrong kind, options of the
wrong type, arrays the caller reuses or draws on, a stabiliser kept after a refused frame."""

from __future__ import annotations

import numpy as np
import pytest

import realtime_adain as ra
from realtime_adain.temporal import Stabilizer
from realtime_adain.temporal.two_pass import TwoPassStabilizer
from test_temporal import H, W, camera_clip, flickering, texture

# A stylizer written with torch hands back floats in [0, 1]; a 16-bit or bool frame, a grey one,
# RGBA, an empty one: each named, none reaching OpenCV.
NOT_RGB8 = [
    (lambda f: f.astype(np.float32) / 255, TypeError, "uint8"),
    (lambda f: f.astype(np.uint16) * 257, TypeError, "uint8"),
    (lambda f: f > 127, TypeError, "uint8"),
    (lambda f: f[..., 0], ValueError, r"\(H, W, 3\)"),
    (lambda f: np.dstack([f, f[..., :1]]), ValueError, r"\(H, W, 3\)"),
    (lambda f: f[:0], ValueError, r"\(H, W, 3\)"),
    (lambda f: f.tolist(), TypeError, "array"),
]


def frames(count: int = 4) -> tuple[list[np.ndarray], list[np.ndarray]]:
    clip = camera_clip()[:count]
    return clip, flickering(clip)


@pytest.mark.parametrize("spoil, error, words", NOT_RGB8)
def test_two_pass_refuses_stylized_frames_that_are_not_rgb8(spoil, error, words):
    """Before: a float stylized frame in [0, 1] was taken as 0-255 and came out black (the other
    kinds failed inside OpenCV, with the previous luma already replaced)."""
    clip, stylized = frames()
    reference = TwoPassStabilizer(0.5, flow_width=80)
    expected = [out for c, s in zip(clip, stylized) for out in reference.push(c, s)] + reference.flush()
    stabilizer = TwoPassStabilizer(0.5, flow_width=80)
    got = stabilizer.push(clip[0], stylized[0]) + stabilizer.push(clip[1], stylized[1])
    with pytest.raises(error, match=f"stylized.*{words}|{words}.*stylized"):
        stabilizer.push(clip[2], spoil(stylized[2]))
    with pytest.raises(error, match=words):
        stabilizer.push_motion(None, spoil(stylized[2]))
    with pytest.raises(error, match=words):
        stabilizer.push_forwarded(None, spoil(stylized[2]))
    # Nothing changed: the same frames come out as when the refused ones were never offered.
    got += [out for c, s in zip(clip[2:], stylized[2:]) for out in stabilizer.push(c, s)] + stabilizer.flush()
    assert len(got) == len(expected)
    assert all(np.array_equal(a, b) for a, b in zip(got, expected))


def test_two_pass_refuses_content_that_is_not_rgb8():
    clip, stylized = frames(1)
    with pytest.raises(TypeError, match="content must be uint8"):
        TwoPassStabilizer(0.5).push(clip[0].astype(np.float32), stylized[0])


@pytest.mark.parametrize("window_bytes, error", [(0, ValueError), (-5, ValueError), ("512", TypeError), (1.5, TypeError),
                                                 (True, TypeError), (None, TypeError)])
def test_two_pass_window_must_be_a_whole_number_of_bytes(window_bytes, error):
    """Before: 0 and -5 were taken (a window of 2 frames), "512" failed later in an unrelated division."""
    with pytest.raises(error, match="window_bytes"):
        TwoPassStabilizer(0.5, window_bytes=window_bytes)


@pytest.mark.parametrize("stabilize", [np.array(["flow", "off"]), np.array("flow"), b"flow", 1])
def test_api_stabilize_must_be_a_mode_name(stabilize):
    """Before: an array of names failed with numpy's "truth value of an array ... is ambiguous",
    which names no argument (and a 0-d array passed as a mode)."""
    with pytest.raises(TypeError, match="stabilize must be a str, one of"):
        ra.stylize_video("in.mp4", "out.mp4", "style.jpg", stabilize=stabilize)


@pytest.mark.parametrize("precise", [False, True])
@pytest.mark.parametrize("spoil, error, words", NOT_RGB8)
def test_stabilizer_refuses_frames_that_are_not_rgb8_and_carries_on(spoil, error, words, precise):
    """Before: a float frame failed inside OpenCV's DIS or cvtColor (cv2.error, naming nothing) or,
    with `precise`, a float stylized frame in [0, 1] came out black; and the refused frame stayed
    the stabiliser's state, so every later, good frame failed too."""
    clip, stylized = frames()
    reference = Stabilizer(0.7, flow_width=80, precise=precise)
    expected = [reference(c, s) for c, s in zip(clip, stylized)]
    stabilizer = Stabilizer(0.7, flow_width=80, precise=precise)
    got = [stabilizer(clip[0], stylized[0]), stabilizer(clip[1], stylized[1])]
    with pytest.raises(error, match=words):
        stabilizer(clip[2], spoil(stylized[2]))
    with pytest.raises(error, match=words):
        stabilizer(spoil(clip[2]), stylized[2])
    with pytest.raises(error, match=words):
        stabilizer.apply(None, spoil(stylized[2]))
    got += [stabilizer(c, s) for c, s in zip(clip[2:], stylized[2:])]
    assert all(np.array_equal(a, b) for a, b in zip(got, expected))


def test_the_8bit_state_is_the_stabilizers_own():
    """A stylizer that writes each frame into one output buffer, and a caller that draws on the
    frames it gets back (a timestamp, a logo): before, the 8-bit state was that very array, so the
    next frame was blended with itself or with the drawing (up to 143 grey levels off)."""
    clip, stylized = frames(6)
    reference = Stabilizer(0.8, flow_width=80)
    expected = [reference(c, s).copy() for c, s in zip(clip, stylized)]
    reused, drawn_on = Stabilizer(0.8, flow_width=80), Stabilizer(0.8, flow_width=80)
    buffer = np.empty_like(stylized[0])
    for content, frame, want in zip(clip, stylized, expected):
        buffer[...] = frame
        assert np.array_equal(reused(content, buffer), want)
        out = drawn_on(content, frame.copy())
        assert np.array_equal(out, want)
        out[:20, :40] = 255  # the caller's overlay


@pytest.mark.parametrize("kwargs, error, name", [
    ({"strength": "0.5"}, TypeError, "strength"), ({"strength": None}, TypeError, "strength"),
    ({"strength": True}, TypeError, "strength"), ({"cut_fraction": True}, TypeError, "cut_fraction"),
    ({"photometric": float("nan")}, ValueError, "photometric"),  # before: no pixel trusted, every frame a cut
    ({"soft_edge": float("nan")}, TypeError, "soft_edge"),  # before: precise frames 128 grey levels off
    ({"soft_edge": 300}, ValueError, "soft_edge"),  # before: the weight never reached the strength
    ({"soft_edge": 2.5}, TypeError, "soft_edge"),  # before: "'float' object cannot be interpreted as an integer", first frame
    ({"flow_width": 40.5}, TypeError, "width"),  # before: cv2.error in resize at the first frame
    ({"flow_width": float("nan")}, TypeError, "width"), ({"flow_width": "320"}, TypeError, "width"),
    ({"preset": ["fast"]}, TypeError, "preset"),  # before: "unhashable type: 'list'"
    ({"mode": np.array(["flow", "off"])}, TypeError, "mode"),
])
def test_bad_options_name_the_argument(kwargs, error, name):
    with pytest.raises(error, match=name):
        Stabilizer(**kwargs)
    if "mode" not in kwargs:  # the two-pass stabiliser takes the same options through `Stabilizer`
        with pytest.raises(error, match=name):
            TwoPassStabilizer(**kwargs)


def test_precise_and_the_motion_size_are_checked():
    """`precise="no"` turned the float state on (`bool("no")`); a list as `motion`'s size failed as
    "can only concatenate list (not tuple) to list", and (0, 0) or (-40, -48) were taken."""
    with pytest.raises(TypeError, match="precise must be True or False, got str"):
        Stabilizer(precise="no")
    assert Stabilizer(precise=np.bool_(True)).precise is True
    stabilizer = Stabilizer()
    luma = stabilizer.luma(texture(H, W, 0))
    for size, error, words in (([H, W], TypeError, r"size must be a \(height, width\) tuple"),
                               ("40x48", TypeError, "size must be"), ((0, 0), ValueError, r"size\[0\] \(height\)"),
                               ((H, -W), ValueError, r"size\[1\] \(width\) must be at least 1"),
                               ((H, 40.5), TypeError, "whole number")):
        with pytest.raises(error, match=words):
            stabilizer.motion(luma, luma, size)
    assert stabilizer.motion(luma, luma, (H, W)) is not None


def test_odd_but_valid_options_and_frames_still_work():
    """What is refused above has valid neighbours that keep working: numpy numbers, strength 0 and
    1 exactly, infinite photometric (no photometric check), non-contiguous and read-only frames."""
    clip, stylized = frames(3)
    for kwargs in ({"strength": np.float32(0.5)}, {"strength": 0}, {"strength": 1}, {"flow_width": np.int64(64)},
                   {"photometric": float("inf")}, {"soft_edge": 255}, {"flow_width": None}):
        stabilizer = Stabilizer(**kwargs)
        outs = [stabilizer(c, s) for c, s in zip(clip, stylized)]
        assert [o.shape for o in outs] == [(H, W, 3)] * 3
    views = {"flipped": lambda f: f[:, ::-1], "transposed": lambda f: f.transpose(1, 0, 2),
             "read-only": lambda f: np.lib.stride_tricks.as_strided(f, writeable=False)}
    for name, view in views.items():
        stabilizer = Stabilizer(0.7, flow_width=80)
        outs = [stabilizer(view(c), view(s)) for c, s in zip(clip, stylized)]
        assert stabilizer.cuts == 0 and not np.array_equal(outs[2], view(stylized[2])), name
