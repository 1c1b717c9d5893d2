"""The stabilisers' lower-level steps called as a hostile caller would (motions, lumas and states of
the wrong kind, a bad frame handed to the motion workers), and frames at the edges of what they
take (1x1, thin strips, constant and pure-noise pictures), each with the answer it must give."""

from __future__ import annotations

import numpy as np
import pytest

from realtime_adain.temporal import MotionAhead, Stabilizer
from realtime_adain.temporal.flow import FlowEstimator
from realtime_adain.temporal.two_pass import TwoPassStabilizer
from realtime_adain.temporal.warping import to_float_rgba
from test_temporal import camera_clip, flickering

NOT_A_MOTION = ["motion", {"size": (120, 160)}, 3, np.zeros((2, 2))]


def two_pass(stabilizer: TwoPassStabilizer, clip, stylized) -> list[np.ndarray]:
    return [out for c, s in zip(clip, stylized) for out in stabilizer.push(c, s)] + stabilizer.flush()


@pytest.mark.parametrize("motion", NOT_A_MOTION, ids=lambda m: type(m).__name__)
def test_a_motion_of_the_wrong_kind_is_refused_before_the_state_changes(motion):
    """Before: an AttributeError from inside the blend ("'str' object has no attribute 'size'"),
    and with `precise` the refused frame had already become the state."""
    clip = camera_clip()[:4]
    stylized = flickering(clip)
    for precise in (False, True):
        reference = Stabilizer(0.7, flow_width=80, precise=precise)
        expected = [reference(c, s) for c, s in zip(clip, stylized)]
        stabilizer = Stabilizer(0.7, flow_width=80, precise=precise)
        got = [stabilizer(c, s) for c, s in zip(clip[:2], stylized[:2])]
        with pytest.raises(TypeError, match="motion must be a Motion"):
            stabilizer.apply(motion, stylized[2])
        with pytest.raises(TypeError, match="motion must be a Motion"):
            stabilizer.apply_float(motion, to_float_rgba(stylized[2]))
        got += [stabilizer(c, s) for c, s in zip(clip[2:], stylized[2:])]
        assert all(np.array_equal(a, b) for a, b in zip(got, expected)), precise


@pytest.mark.parametrize("motion", NOT_A_MOTION + ["one way"], ids=lambda m: m if isinstance(m, str) else type(m).__name__)
def test_two_pass_refuses_a_motion_of_the_wrong_kind_and_carries_on(motion):
    """Before: push_motion/push_forwarded failed with an AttributeError; and a motion without its
    reverse was refused only after the forward pass had blended the frame into its state, so every
    later frame came out different from a run without the refused one."""
    clip = camera_clip()[:5]
    stylized = flickering(clip)
    expected = two_pass(TwoPassStabilizer(0.5, flow_width=80), clip, stylized)
    stabilizer = TwoPassStabilizer(0.5, flow_width=80)
    got = [out for c, s in zip(clip[:2], stylized[:2]) for out in stabilizer.push(c, s)]
    if isinstance(motion, str) and motion == "one way":
        forward = stabilizer.forward
        motion = forward.motion(forward.luma(clip[1]), forward.luma(clip[2]), clip[2].shape[:2])
        error, words = ValueError, "reverse=True"
    else:
        error, words = TypeError, "motion must be a Motion"
    with pytest.raises(error, match=words):
        stabilizer.push_motion(motion, stylized[2])
    with pytest.raises(error, match=words):
        stabilizer.push_forwarded(motion, stylized[2])
    got += two_pass(stabilizer, clip[2:], stylized[2:])
    assert len(got) == len(expected)
    assert all(np.array_equal(a, b) for a, b in zip(got, expected))


@pytest.mark.parametrize("spoil, error, words", [
    (lambda l: l.astype(np.float32), TypeError, "uint8 luma"),  # before: cv2.error from inside DIS
    (lambda l: l.tolist(), TypeError, "uint8 luma"),  # before: AttributeError 'list' has no 'shape'
    (lambda l: np.dstack([l] * 40), ValueError, "uint8 luma"),  # before: cv2.error (channels)
])
def test_flow_and_motion_refuse_lumas_that_are_not_gray8(spoil, error, words):
    clip = camera_clip()[:2]
    stabilizer = Stabilizer(0.7, flow_width=80)
    first, second = (stabilizer.luma(frame) for frame in clip)
    with pytest.raises(error, match=words):
        FlowEstimator("fast", 80)(spoil(first), spoil(second))
    with pytest.raises(error, match=words):
        stabilizer.motion(spoil(first), spoil(second), clip[0].shape[:2])


@pytest.mark.parametrize("spoil, error", [
    (lambda f: f, TypeError),  # an 8-bit frame where the float state belongs: before, cv2.error in the blend
    (lambda f: to_float_rgba(f).astype(np.float64), TypeError),
    (lambda f: to_float_rgba(f)[..., :3], ValueError),
    (lambda f: to_float_rgba(f).tolist(), TypeError),
])
def test_apply_float_refuses_what_is_not_a_float_rgba_state(spoil, error):
    clip = camera_clip()[:3]
    stylized = flickering(clip)
    stabilizer = Stabilizer(0.7, flow_width=80, precise=True)
    luma = [stabilizer.luma(c) for c in clip]
    stabilizer.apply_float(None, to_float_rgba(stylized[0]))
    motion = stabilizer.motion(luma[0], luma[1], clip[1].shape[:2])
    with pytest.raises(error, match=r"\(H, W, 4\)"):
        stabilizer.apply_float(motion, spoil(stylized[1]))
    assert stabilizer.apply_float(motion, to_float_rgba(stylized[1])).shape == clip[1].shape[:2] + (4,)


def test_motion_ahead_refuses_a_bad_frame_at_once_and_the_next_one_still_works():
    """Before: the float frame was queued: its future failed, and so did the next, good frame's
    (its motion waited on the refused frame's luma)."""
    clip = camera_clip()[:3]
    reference = Stabilizer(0.7, flow_width=80)
    expected = [reference.motion(reference.luma(a), reference.luma(b), b.shape[:2]) for a, b in zip(clip, clip[1:])]
    ahead = MotionAhead(Stabilizer(0.7, flow_width=80), workers=2)
    try:
        first = ahead.submit(clip[0])
        with pytest.raises(TypeError, match="content must be uint8"):
            ahead.submit(clip[1].astype(np.float32))
        motions = [ahead.submit(frame).result() for frame in clip[1:]]
    finally:
        ahead.close()
    assert first.result() is None
    for got, want in zip(motions, expected):
        assert np.array_equal(got.positions, want.positions) and np.array_equal(got.weight, want.weight)


@pytest.mark.parametrize("frames, error", [("25", TypeError), (float("nan"), TypeError), (2.5, TypeError),
                                           (-1, ValueError)])
def test_hold_at_most_takes_a_whole_number(frames, error):
    """Before: "25" failed in a comparison ("'<' not supported"), nan and -1 were taken as 2."""
    stabilizer = TwoPassStabilizer(0.5)
    with pytest.raises(error, match="frames"):
        stabilizer.hold_at_most(frames)
    stabilizer.hold_at_most(3)
    assert stabilizer.most_held == 3


@pytest.mark.parametrize("shape", [(1, 1), (2, 2), (1, 9), (9, 1), (3, 1000), (1000, 3), (37, 67), (2, 40000)])
@pytest.mark.parametrize("content", ["black", "white", "noise"])
def test_tiny_thin_and_constant_frames_give_the_exact_smoothing(shape, content):
    """A constant picture has no texture for the flow (zero variance everywhere): its flow is zero
    and every pixel trusted, so the outputs are exactly the two exponential filters of flickering
    flat frames; pure noise is a scene cut every frame, so frames pass unchanged. Every shape,
    from 1x1 to a strip too long to remap (passed through)."""
    rng = np.random.default_rng(0)
    levels = [200, 100, 200, 100, 200]
    flat = {"black": 0, "white": 255}
    contents = [np.full(shape + (3,), flat[content], np.uint8) if content in flat
                else rng.integers(0, 256, shape + (3,), dtype=np.uint8) for _ in levels]
    stylized = [np.full(shape + (3,), level, np.uint8) for level in levels]
    one = Stabilizer(0.5, precise=True)
    forward = [one(c, s) for c, s in zip(contents, stylized)]
    both = two_pass(TwoPassStabilizer(0.5), contents, stylized)
    assert [f.shape for f in forward] == [f.shape for f in both] == [s.shape for s in stylized]
    if content == "noise" and shape == (1, 1):
        return  # one random pixel may match the last one by chance: no cut then
    if content == "noise" or max(shape) > 32766:
        assert [int(f.max()) for f in forward + both] == [int(f.min()) for f in forward + both] == levels * 2
        return
    assert [int(f.min()) for f in forward] == [int(f.max()) for f in forward] == [200, 150, 175, 137, 169]
    assert [int(f.min()) for f in both] == [int(f.max()) for f in both] == [179, 157, 164, 153, 169]


def test_a_float_blend_holds_at_most_two_more_frames_at_once():
    """Two passes at 4K hold 15 frames in 8 bits (the 768 MiB window) and work in float32 RGBA
    beside them, 133 MB a frame: before, a forward step allocated the warped frame and then the
    blend's output while the old state lived on (about 2.5 float frames at once more than before
    the call; 4K two passes peaked at 1276 MB of arrays, now 1150). Now the blend writes over the
    warped frame and the old state goes first."""
    import tracemalloc

    clip = camera_clip()[:2]
    frames = [np.ascontiguousarray(np.tile(frame, (4, 4, 1))) for frame in clip]  # 480x640
    stabilizer = Stabilizer(0.7, flow_width=80, precise=True)
    luma = [stabilizer.luma(frame) for frame in frames]
    stabilizer.apply_float(None, to_float_rgba(frames[0]))
    motion = stabilizer.motion(luma[0], luma[1], frames[1].shape[:2])
    current = to_float_rgba(frames[1])
    float_frame = current.nbytes
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        state = stabilizer.apply_float(motion, current)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert state.shape == current.shape and not motion.cut
    assert peak - before < 2.0 * float_frame, (peak - before) / float_frame
