"""The two-pass stabiliser (forward, then backward along the flow) and the float32 state: the
reverse motion on synthetic motion with known ground truth, the backward pass against a direct
computation, the window's cut-off, scene cuts, the video pipeline's held frames and packets."""

from __future__ import annotations

import numpy as np
import pytest

from realtime_adain.temporal import MotionAhead, Stabilizer
from realtime_adain.temporal.sampling import gray
from realtime_adain.temporal.two_pass import (FINAL_BYTES_PER_PIXEL, HELD_BYTES_PER_PIXEL, HELD_BYTES_PER_PIXEL_8BIT, HELD_BYTES_PER_PIXEL_FLOAT32,
                                              MAX_LOOKAHEAD, TwoPassStabilizer,
                                              lookahead_frames)
from realtime_adain.temporal.warping import remap_rgb, to_float_rgba, to_rgb8
from realtime_adain.video.pipeline import Pipeline
from realtime_adain.video.frames import Frame
from test_temporal import H, W, camera_clip, flickering, shifted_pair, texture


def held_at_most(frames: int, strength: float = 0.5) -> TwoPassStabilizer:
    stabilizer = TwoPassStabilizer(strength, flow_width=80)
    stabilizer.hold_at_most(frames)
    return stabilizer


def two_pass(clip, stylized, stabilizer: TwoPassStabilizer) -> list[np.ndarray]:
    out = [final for content, frame in zip(clip, stylized) for final in stabilizer.push(content, frame)]
    return out + stabilizer.flush()


def forward_then_backward(clip, stylized, strength: float, held=np.float32) -> list[np.ndarray]:
    """The definition: a float-state stabiliser over the frames, then another over its output
    (kept as `held`) from the last frame to the first, along the reversed clip's own flow."""
    forward = Stabilizer(strength, flow_width=80, precise=True)
    states, previous = [], None
    for content, frame in zip(clip, stylized):
        luma = forward.luma(content)
        motion = forward.motion(previous, luma, frame.shape[:2])
        states.append(forward.apply_float(motion, to_float_rgba(frame)).astype(held))
        previous = luma
    backward = Stabilizer(strength, flow_width=80, precise=True)
    out, following = [], None
    for content, state in zip(clip[::-1], states[::-1]):
        luma = backward.luma(content)
        motion = backward.motion(following, luma, state.shape[:2])
        out.append(to_rgb8(backward.apply_float(motion, state.astype(np.float32))))
        following = luma
    return out[::-1]


def test_reverse_motion_carries_the_previous_frame_into_the_next():
    """Content moved by (3, 2): the reverse motion, on the first frame's grid, samples the second
    frame at x + (3, 2); pixels that left the frame are not trusted."""
    first, second = shifted_pair(3, 2)
    stabilizer = Stabilizer(0.7, preset="medium", flow_width=None)
    motion = stabilizer.motion(gray(first), gray(second), (H, W), reverse=True)
    reverse = motion.reverse
    assert reverse is not None and not reverse.cut and reverse.size == (H, W)
    ys, xs = np.mgrid[0:H, 0:W]
    inner = (slice(8, H - 8), slice(8, W - 8))
    shift = (reverse.positions - np.dstack([xs, ys]))[inner].mean(axis=(0, 1))
    assert np.allclose(shift, (3, 2), atol=0.25), shift
    back_in_first = remap_rgb(second, reverse.positions)
    assert np.abs(back_in_first.astype(int) - first)[inner].mean() < 2.0
    assert (reverse.weight[:, -2:] == 0).all() and (reverse.weight[-1:, :] == 0).all()  # left through the right and bottom edges
    assert stabilizer.motion(gray(first), gray(second), (H, W)).reverse is None  # only when asked for


def test_precise_state_is_the_moving_average_on_a_still_scene():
    """A still scene flickering by a grey level: with nothing moving the stabiliser is an
    exponential moving average. The float32 state follows the float average to within its final
    rounding; the 8-bit state rounds every blend and drifts from it 50 times as much."""
    from realtime_adain.benchmarks.temporal_quality import moving_average

    rng = np.random.default_rng(0)
    still = texture(H, W, 3)
    frames = [np.clip(still.astype(int) + rng.integers(-1, 2, still.shape), 0, 255).astype(np.uint8) for _ in range(12)]
    average = moving_average(frames, 0.3)
    drift = {}
    for precise in (False, True):
        stabilizer = Stabilizer(0.3, precise=precise)
        out = [stabilizer(still, frame) for frame in frames]
        drift[precise] = np.mean([np.abs(a.astype(int) - b).mean() for a, b in zip(out, average)])
    assert drift[True] < 0.005 and drift[False] > 10 * drift[True], drift


@pytest.mark.parametrize("window_bytes, held", [(None, np.float32), (8 * 2**20, np.float16)])
def test_two_pass_is_the_forward_pass_then_the_backward_pass(window_bytes, held):
    """With a window longer than the clip, exactly the definition, cuts included: the forward
    output held in float32 where the window fits so (160x120: 10.6 MB with the frames' final
    copies and motions), else in float16."""
    clip = camera_clip()
    stylized = flickering(clip)
    stabilizer = TwoPassStabilizer(0.5, flow_width=80, **({"window_bytes": window_bytes} if window_bytes else {}))
    assert stabilizer._layout(clip[0].shape[:2])[0] == np.dtype(held).itemsize * 4
    got = two_pass(clip, stylized, stabilizer)
    expected = forward_then_backward(clip, stylized, 0.5, held)
    assert len(got) == len(clip)
    for index, (a, b) in enumerate(zip(got, expected)):
        assert np.array_equal(a, b), index
    forward = Stabilizer(0.5, flow_width=80, precise=True)
    once = [forward(content, frame) for content, frame in zip(clip, stylized)]
    assert sum(not np.array_equal(a, b) for a, b in zip(got, once)) >= len(clip) - 5  # the backward pass blended


def test_the_window_cuts_off_less_than_a_grey_level():
    """A long shot through a window of 2 x lookahead frames: within one grey level of the pass
    over the whole shot (what is cut off weighs strength ** lookahead < 1/512)."""
    world = texture(H + 80, W + 80, 0)
    clip = [world[40 + (i % 7) - 3:40 + (i % 7) - 3 + H, 40 - i:40 - i + W] for i in range(30)]
    stylized = flickering(clip)
    lookahead = lookahead_frames(0.5)
    assert 0.5 ** lookahead <= 1 / 512 < 0.5 ** (lookahead - 1)
    small = held_at_most(2 * lookahead)
    pieces = []
    for content, frame in zip(clip, stylized):
        pieces.append(len(small.push(content, frame)))
    pieces.append(len(small.flush()))
    assert [count for count in pieces[:-1] if count] == [lookahead, lookahead]  # a full window finalises all but the lookahead
    assert sum(pieces) == len(clip)
    windowed = two_pass(clip, stylized, held_at_most(2 * lookahead))
    whole = two_pass(clip, stylized, TwoPassStabilizer(0.5, flow_width=80))
    assert max(np.abs(a.astype(int) - b).max() for a, b in zip(windowed, whole)) <= 1
    assert any(not np.array_equal(a, b) for a, b in zip(windowed, whole))  # the cut-off is real


def test_a_scene_cut_finalises_the_frames_before_it():
    clip = camera_clip()
    stylized = flickering(clip)
    stabilizer = TwoPassStabilizer(0.5, flow_width=80)
    returned = [len(stabilizer.push(content, frame)) for content, frame in zip(clip, stylized)]
    # cuts before frames 6 (the square's scene), 11 and 14 (new textures): each releases the shot before it
    assert returned == [0] * 6 + [6] + [0] * 4 + [5] + [0, 0] + [3] + [0]
    assert len(stabilizer.flush()) == 2 and stabilizer.flush() == []


@pytest.mark.parametrize("strength, expected", [(0.0, 0), (0.5, 9), (0.7, 18), (0.9, 60), (0.95, MAX_LOOKAHEAD),
                                                (1.0, MAX_LOOKAHEAD)])
def test_lookahead_by_strength(strength, expected):
    assert lookahead_frames(strength) == expected


def test_strength_zero_and_bad_frames():
    clip = camera_clip()[:3]
    stylized = flickering(clip)
    off = TwoPassStabilizer(0.0)
    outs = [off.push(c, s)[0] for c, s in zip(clip, stylized)]  # the frames as they are, in new arrays
    assert all(np.array_equal(o, s) and o is not s for o, s in zip(outs, stylized)) and off.flush() == []
    with pytest.raises(ValueError, match="strength"):
        TwoPassStabilizer(1.5)
    with pytest.raises(ValueError, match="must both be"):
        TwoPassStabilizer(0.5).push(clip[0], stylized[0][:, :-1])
    one_way = Stabilizer(0.5).motion(gray(clip[0]), gray(clip[1]), clip[0].shape[:2])
    with pytest.raises(ValueError, match="reverse=True"):
        TwoPassStabilizer(0.5).push_motion(one_way, stylized[1])


@pytest.mark.parametrize("batch_size", [1, 4])
def test_video_pipeline_holds_frames_and_packets_in_order(batch_size):
    """The pipeline's two-pass stage gives the frames of push/flush, and every packet stays
    between the frames it came between, though frames wait for their window."""
    clip = camera_clip()
    stylized = dict(zip((frame.tobytes() for frame in clip), flickering(clip)))
    expected = two_pass(clip, [stylized[c.tobytes()] for c in clip], held_at_most(12))

    def stylize_stream(batches):
        for batch in batches:
            yield np.stack([stylized[frame.tobytes()] for frame in batch])

    items: list[object] = []
    for index, frame in enumerate(clip):
        items += [Frame(frame.copy(), index, 1, index), f"packet after {index}"]
    written: list[object] = []
    stylized_counts: list[int] = []  # the progress bar's: frames count when stylized, not when their window is done
    Pipeline(iter(items), stylize_stream=stylize_stream, write_frame=written.append, write_packet=written.append,
             batch_size=batch_size, queue_frames=2, on_stylized=stylized_counts.append,
             stabilizer=held_at_most(12)).run()
    assert sum(stylized_counts) == len(clip) and max(stylized_counts) == batch_size
    assert [item.pts if isinstance(item, Frame) else item for item in written] == [
        item.pts if isinstance(item, Frame) else item for item in items]
    frames = [item.image for item in written if isinstance(item, Frame)]
    for index, (a, b) in enumerate(zip(frames, expected)):
        assert np.array_equal(a, b), index


def test_motion_ahead_gives_the_reverse_motion_too():
    clip = camera_clip()[:4]
    stabilizer = Stabilizer(0.5, flow_width=80)
    ahead = MotionAhead(stabilizer, workers=2, reverse=True)
    try:
        motions = [future.result() for future in [ahead.submit(frame) for frame in clip]]
    finally:
        ahead.close()
    assert motions[0] is None
    for previous, current, motion in zip(clip, clip[1:], motions[1:]):
        direct = stabilizer.motion(gray(previous, 80), gray(current, 80), previous.shape[:2], reverse=True)
        assert np.array_equal(motion.reverse.positions, direct.reverse.positions)
        assert np.array_equal(motion.reverse.weight, direct.reverse.weight)


def test_backward_pass_on_the_device_gives_the_frames_of_opencvs():
    """The backward pass with torch on the stylizer's device (CUDA in `video`; the CPU device
    here), from frames whose forward pass ran there too (uint8, as downloaded): the frames of the
    OpenCV pass up to float arithmetic, cuts alike, and it did blend."""
    from realtime_adain.benchmarks.temporal_quality import psnr

    clip = camera_clip()
    stylized = flickering(clip)
    host, device_side = TwoPassStabilizer(0.5, flow_width=80), TwoPassStabilizer(0.5, flow_width=80, device="cpu")
    once = Stabilizer(0.5, flow_width=80, precise=True)
    previous, got, expected = None, [], []
    for content, frame in zip(clip, stylized):
        luma = once.luma(content)
        motion = once.motion(previous, luma, frame.shape[:2], reverse=True)
        previous = luma
        forwarded = once.apply(motion, frame)
        expected += host.push_forwarded(motion, forwarded)
        got += device_side.push_forwarded(motion, forwarded)
    expected += host.flush()
    got += device_side.flush()
    assert len(got) == len(expected) == len(clip)
    assert max(np.abs(a.astype(int) - b).max() for a, b in zip(got, expected)) <= 2
    assert psnr(got, expected) > 50
    assert psnr(got, stylized) < 45  # it blended


def test_a_ctrl_c_while_the_window_is_written_waits_for_every_thread():
    """Ctrl-C after the last batch left the network, while the two-pass window still goes through
    the backward pass and the encoder: `run` raises KeyboardInterrupt only once no thread writes
    any more (the caller closes the file next), and every stylized frame was written."""
    import signal
    import threading
    import time

    clip = camera_clip()[:6] * 3
    written: list[int] = []

    def slow_write(frame):
        time.sleep(0.05)
        written.append(frame.pts)

    def stream(batches):
        for batch in batches:
            yield batch.copy()
        signal.setitimer(signal.ITIMER_REAL, 0.2)  # the "Ctrl-C" comes while the window is being written

    def interrupt(*_):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGALRM, interrupt)
    items = [Frame(frame.copy(), index, 1, index) for index, frame in enumerate(clip)]
    before = set(threading.enumerate())
    try:
        with pytest.raises(KeyboardInterrupt):
            Pipeline(iter(items), stylize_stream=stream, write_frame=slow_write, write_packet=print,
                     stabilizer=TwoPassStabilizer(0.5, flow_width=80)).run()
        writing = [thread.name for thread in set(threading.enumerate()) - before if thread.name.startswith("video-")]
        assert not writing and written == list(range(len(clip)))
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def test_the_window_fits_its_memory_and_its_frame_budget():
    """Held frames are float16 RGBA where the whole window fits the byte budget, else 8-bit RGB,
    so big frames still look far enough ahead; only frames too big even so look less far ahead.
    A window capped for the first frame's size (a pipeline's budget) does not grow for smaller
    frames later on (it would outrun the pipeline's frame slots)."""
    full = 9 + 16  # strength 0.5: lookahead 9, and 16 frames final per pass
    besides = H * W * FINAL_BYTES_PER_PIXEL + TwoPassStabilizer(0.5)._motion_bytes((H, W))  # its final copy and motion
    roomy = TwoPassStabilizer(0.5, window_bytes=full * (H * W * HELD_BYTES_PER_PIXEL + besides))
    assert roomy._layout((H, W)) == (HELD_BYTES_PER_PIXEL, 9, full)
    tight = TwoPassStabilizer(0.5, window_bytes=full * (H * W * HELD_BYTES_PER_PIXEL_8BIT + besides))
    assert tight._layout((H, W)) == (HELD_BYTES_PER_PIXEL_8BIT, 9, full)
    assert tight.lookahead_at((2 * H, 2 * W)) == 3 and tight.window_frames((2 * H, 2 * W)) == 6  # a quarter as many frames
    clip = camera_clip()[:3]
    stylized = flickering(clip)
    tight.push(clip[0], stylized[0])
    assert tight._held[0].dtype == np.uint8 and roomy.push(clip[0], stylized[0]) == [] and roomy._held[0].dtype == np.float16
    capped = TwoPassStabilizer(0.5)
    capped.hold_at_most(capped.window_frames((2 * H, 2 * W)))
    assert capped.most_held == full and capped.window_frames((H // 2, W // 2)) == full
    capped.hold_at_most(6)
    assert capped.most_held == 6 and capped.window_frames((H // 2, W // 2)) == 6 and capped.lookahead_at((H // 2, W // 2)) == 3


def test_video_sizes_the_window_for_its_frames_and_says_when_it_is_short(capsys):
    from pathlib import Path

    from realtime_adain.video.temporal_stages import size_window

    usual, strong = TwoPassStabilizer(0.5), TwoPassStabilizer(0.95)
    size_window(usual, Path("clip.mp4"), (720, 1280))
    assert usual.most_held == 25 and capsys.readouterr().err == ""  # all it needs, nothing to say
    size_window(strong, Path("clip.mp4"), (720, 1280))
    err = capsys.readouterr().err
    assert strong.most_held == 128 and "look 64 frames ahead" in err and "weighs up to 3.8%" in err


@pytest.mark.parametrize("per_pixel", [HELD_BYTES_PER_PIXEL_FLOAT32, HELD_BYTES_PER_PIXEL_8BIT])
@pytest.mark.slow_cases('16')  # (default run's time: 2 s)
def test_what_the_window_holds_stays_within_its_bytes(per_pixel):
    """The held forward outputs and the final frames a backward pass hands out, together, stay
    within `window_bytes` (tracemalloc's peak, beside a few float32 frames of working memory;
    float16 frames are torch's, which it does not see). A budget that held a whole window
    (strength 0.9: 120 frames) in float32 or 8 bits took up to 2.7x of it: the final 8-bit frames
    of each pass and the frames' reverse motions were not counted."""
    import tracemalloc

    clip = [texture(H, W, 0)] * 250  # a still scene: no cut ends a window early
    stylized = flickering(clip)
    budget = 120 * H * W * per_pixel
    stabilizer = TwoPassStabilizer(0.9, flow_width=80, window_bytes=budget)
    tracemalloc.start()
    try:
        baseline = tracemalloc.get_traced_memory()[0]
        for content, frame in zip(clip, stylized):
            stabilizer.push(content, frame)  # the finals are dropped at once: only the pass holds them
        peak = tracemalloc.get_traced_memory()[1] - baseline
    finally:
        tracemalloc.stop()
    assert peak <= budget + 5 * H * W * HELD_BYTES_PER_PIXEL_FLOAT32, peak / budget


def test_the_cut_off_note_is_said_only_where_a_clip_is_cut_and_names_the_remedies_that_help(capsys):
    """A 2-frame clip at 0.95 was told of a cut-off every 64 frames, and --size was offered where
    the 64-frame cap, not the frames' size, shortens the look ahead."""
    from pathlib import Path

    from realtime_adain.video.temporal_stages import size_window

    strong = TwoPassStabilizer(0.95)
    size_window(strong, Path("clip.mp4"), (64, 96), frames=2)
    size_window(strong, Path("clip.mp4"), (64, 96), frames=128)
    assert capsys.readouterr().err == ""  # one window holds the whole clip: nothing is cut off
    size_window(strong, Path("clip.mp4"), (64, 96), frames=129)
    err = capsys.readouterr().err
    assert "look 64 frames ahead" in err and "--size" not in err
    size_window(TwoPassStabilizer(0.9), Path("clip.mp4"), (2160, 3840))  # (4K: the window's bytes shorten it)
    assert "a smaller --size" in capsys.readouterr().err
