"""Temporal stabiliser: flow and masks on synthetic motion with known ground truth, the blend's
edge cases (identity, still scene, scene cut), smoothed content statistics, argument checks."""

from __future__ import annotations

import json
import threading

import cv2
import numpy as np
import pytest
import torch

from realtime_adain.benchmarks.temporal_quality import psnr, warp_error, input_flows
from realtime_adain.adain import calc_mean_std
from realtime_adain.model import neutral_style
from realtime_adain.temporal import ContentStatsSmoother, MotionAhead, Stabilizer
from realtime_adain.temporal.blending import blend_float, blend_rgb8, blend_weight
from realtime_adain.temporal.flow import FlowEstimator
from realtime_adain.temporal.occlusion import occluded
from realtime_adain.temporal.sampling import FLOW_MIN_SIDE, gray, sample_grid, source_map
from realtime_adain.temporal.warping import remap_rgb, warp
from realtime_adain.video.pipeline import Pipeline
from realtime_adain.video.frames import Frame

H, W = 120, 160


def texture(height: int, width: int, seed: int) -> np.ndarray:
    """Smooth random RGB texture: structure at several scales, as DIS needs."""
    rng = np.random.default_rng(seed)
    noise = rng.random((height // 4, width // 4, 3)).astype(np.float32)
    big = cv2.resize(noise, (width, height), interpolation=cv2.INTER_CUBIC)
    fine = cv2.GaussianBlur(rng.random((height, width, 3)).astype(np.float32), (0, 0), 1.0)
    return np.clip(255 * (0.7 * big + 0.3 * fine), 0, 255).astype(np.uint8)


def shifted_pair(dx: int = 3, dy: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Two crops of one texture: in the second, content moved by (dx, dy) pixels."""
    world = texture(H + 20, W + 20, 0)
    return world[10:10 + H, 10:10 + W], world[10 - dy:10 - dy + H, 10 - dx:10 - dx + W]


def moving_square(offset: int) -> np.ndarray:
    """A textured square over a static textured background, its left edge at 40 + offset."""
    frame = texture(H, W, 1).copy()
    frame[36:84, 40 + offset:88 + offset] = texture(48, 48, 2)
    return frame


def test_warped_previous_frame_matches_a_shifted_texture():
    first, second = shifted_pair()
    flow = FlowEstimator("medium", width=None)
    back = flow(gray(second), gray(first))
    inner = (slice(8, -8), slice(8, -8))
    assert np.allclose(back[inner].mean(axis=(0, 1)), (-3, -2), atol=0.25)
    warped = warp(first, back)
    error = np.abs(warped[inner].astype(float) - second[inner]).mean()
    assert error < 2.0  # grey levels: interpolation error only
    assert occluded(back, flow(gray(first), gray(second)))[inner].mean() < 0.05


def test_revealed_background_is_masked():
    first, second = moving_square(0), moving_square(8)
    stabilizer = Stabilizer(flow_width=None, preset="medium")
    _, soft, coverage = stabilizer.mask(gray(second), gray(first))
    revealed = soft[40:80, 42:46]  # background in `second`, covered by the square in `first`
    assert revealed.max() < 0.1
    assert soft[8:28, 8:150].mean() > 0.9  # static background far from the square is blended
    assert 0.5 < coverage < 1.0


def test_untrusted_pixels_keep_the_stylized_frame_exactly():
    first, second = moving_square(0), moving_square(8)
    stabilizer = Stabilizer(strength=0.9, flow_width=None, preset="medium")
    _, trust, _ = stabilizer.mask(gray(second), gray(first))
    stabilizer(first, texture(H, W, 20))
    stylized = texture(H, W, 21)  # unrelated to the previous one: every blended pixel changes
    out = stabilizer(second, stylized)
    assert np.array_equal(out[trust == 0], stylized[trust == 0])
    assert (out[trust == 1] != stylized[trust == 1]).any(axis=1).mean() > 0.9


def test_rgba_remap_equals_opencvs_rgb_remap():
    image = texture(H, W, 11)
    rng = np.random.default_rng(0)
    xs, ys = sample_grid(H, W)
    coords = cv2.merge([xs + rng.normal(0, 3, xs.shape).astype(np.float32), ys + 1.3])
    assert np.array_equal(remap_rgb(image, coords), cv2.remap(image, coords, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE))


def test_source_map_at_working_size_matches_the_flow_scaled_up():
    flow = np.dstack([np.full((45, 80), 2.0, np.float32), np.full((45, 80), -1.0, np.float32)])  # pixels of the 80x45 grid
    map_x, map_y = source_map(flow, (180, 320))
    xs, ys = sample_grid(180, 320)
    inner = (slice(8, 172), slice(8, 312))
    assert np.allclose(map_x[inner], xs[inner] + 8, atol=1e-3) and np.allclose(map_y[inner], ys[inner] - 4, atol=1e-3)


def test_blend_weight_ramps_up_from_untrusted_pixels():
    trust = np.ones((9, 12), np.uint8)
    trust[:, :3] = 0
    weight = blend_weight(trust, 0.6, 3)
    assert np.allclose(weight[4], [0, 0, 0, 0.2, 0.4, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6], atol=1e-6)
    weight = blend_weight(trust, 1.0, 1)  # strength 1: the past is kept where trusted
    assert weight[0, 2] == 0 and weight[0, 3] == 1



@pytest.mark.parametrize("soft_edge", [1, 2, 3, 5, 8, 9, 40])
def test_blend_weight_follows_the_city_block_distance(soft_edge):
    """Short edges count the distance by erosion, long ones take the distance transform: both
    are strength * min(d / soft_edge, 1), with the frame's edge not counted as untrusted."""
    rng = np.random.default_rng(soft_edge)
    for trust in (rng.random((40, 70)) > 0.15, np.ones((40, 70), bool), np.zeros((40, 70), bool), np.eye(40, 70, dtype=bool)):
        trust = trust.astype(np.uint8)
        untrusted = np.argwhere(trust == 0)
        ys, xs = np.mgrid[:40, :70]
        if len(untrusted):
            distance = np.min(np.abs(ys[..., None] - untrusted[:, 0]) + np.abs(xs[..., None] - untrusted[:, 1]), axis=-1)
        else:
            distance = np.full((40, 70), 255)
        expected = (0.7 * np.minimum(np.minimum(distance, 255) / soft_edge, 1.0)).astype(np.float32)
        assert np.array_equal(blend_weight(trust, 0.7, soft_edge), expected)

def test_the_8bit_blend_is_the_exact_blend_rounded():
    rng = np.random.default_rng(3)
    warped, current = (rng.integers(0, 256, (36, 64, 3), dtype=np.uint8) for _ in range(2))
    weight = rng.random((9, 16), dtype=np.float32)  # working size: resized bilinearly, as positions are
    full = cv2.resize(weight, (64, 36), interpolation=cv2.INTER_LINEAR)[..., None]
    exact = current + full.astype(np.float64) * (warped.astype(np.float64) - current)
    level = cv2.resize(np.rint(weight * 255).astype(np.uint8), (64, 36), interpolation=cv2.INTER_LINEAR)[..., None].astype(np.float64)
    assert np.array_equal(blend_rgb8(warped, current, weight), np.rint(current + level / 255 * (warped.astype(np.float64) - current)))
    assert np.abs(blend_rgb8(warped, current, weight) - exact).max() < 1.5  # rounding + the 8-bit weight's (twice rounded)
    assert np.array_equal(blend_rgb8(current, current, weight), current)  # equal frames stay equal
    assert np.array_equal(blend_rgb8(warped, current, np.zeros((9, 16), np.float32)), current)
    assert np.array_equal(blend_rgb8(warped, current, np.ones((9, 16), np.float32)), warped)
    assert np.allclose(blend_float(warped.astype(np.float32), current.astype(np.float32), weight), exact, atol=1e-3)


def test_the_masks_edge_does_not_show():
    """A textured square moves over a textured background (occlusions) and the stylized frames
    flicker by +-12 grey levels: blended and unblended pixels differ by about strength * 24.
    Measured on (stabilized - stylized), the largest step between neighbouring pixels in a band
    around the mask's boundary is no larger than elsewhere (the flow's grid a quarter of the
    frame's width; the hard 0/1 mask of an earlier revision: 39 grey levels there against 19)."""
    height, width = 144, 256
    background, square = texture(height, width, 1), texture(64, 64, 2)
    stabilizer = Stabilizer(0.7, flow_width=64)
    for t in range(5):
        content = background.copy()
        content[40:104, 80 + 6 * t:144 + 6 * t] = square
        noise = np.random.default_rng(100 + t).normal(0, 1, content.shape)
        stylized = np.clip(content + (12.0 if t % 2 else -12.0) + noise, 0, 255).astype(np.uint8)
        if t == 4:
            _, trust, _ = stabilizer.mask(stabilizer.luma(content), stabilizer._prev_luma)
        out = stabilizer(content, stylized)
    difference = out.mean(axis=2) - stylized.mean(axis=2)
    step = np.maximum(np.abs(np.diff(difference, axis=1))[:-1], np.abs(np.diff(difference, axis=0))[:, :-1])
    trust = cv2.resize(trust, (width, height), interpolation=cv2.INTER_NEAREST)
    band = (cv2.dilate(trust, np.ones((9, 9), np.uint8)) != cv2.erode(trust, np.ones((9, 9), np.uint8)))[:-1, :-1]
    assert 0.05 < band.mean() < 0.6  # the square's edges are untrusted, most of the frame is not
    assert step[band].max() < 1.25 * step[~band].max()


def test_luma_halved_first_matches_a_direct_area_downscale():
    frame = cv2.GaussianBlur(texture(360, 640, 13), (0, 0), 1.0)
    direct = cv2.resize(cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY), (160, 90), interpolation=cv2.INTER_AREA)
    assert gray(frame, 160).shape == (90, 160)
    assert np.abs(gray(frame, 160).astype(int) - direct).max() <= 1


@pytest.mark.parametrize("height, width", [(1, 1), (1, 2000), (2000, 1), (40000, 2), (2, 2), (8, 8), (10, 640), (24, 1920), (1920, 24), (24, 320), (320, 24)])
def test_tiny_and_thin_frames_are_stabilized(height, width):
    """OpenCV's DIS refuses lumas under 12 pixels a side and crashes the process on some under 32
    (12x40, 31x80): lumas are stretched to 32 on each axis, and the flow scaled back per axis. A
    fine texture moving 2 px right in a thin frame at the flow's width is still followed (frames
    scaled down for the flow lose this texture's finest detail, thin or not: only no crash there)."""
    assert min(gray(np.zeros((height, width, 3), np.uint8), 320).shape) >= FLOW_MIN_SIDE
    world = texture(max(height, 32) + 8, max(width, 32) + 8, 21)
    frames = [np.ascontiguousarray(world[4:4 + height, 4 - 2 * i:4 - 2 * i + width]) for i in range(3)]
    stabilizer = Stabilizer(strength=0.9)
    stylized = flickering(frames)
    out = [stabilizer(frame, styled) for frame, styled in zip(frames, stylized)]
    assert [o.shape for o in out] == [(height, width, 3)] * 3
    if height > 32766:  # longer than OpenCV's remap takes: passed through unstabilised
        assert all(np.array_equal(o, styled) and o is not styled for o, styled in zip(out, stylized))
    if min(height, width) >= 24 and width <= 320:  # (a 2 px move is most of a tiny frame: maybe a cut)
        assert stabilizer.cuts == 0 and not np.array_equal(out[2], stylized[2])
        inner = (slice(4, -4), slice(8, -8))
        clean = 255 - frames[2][inner].astype(float)  # the stand-in stylizer without its flicker

        def error(image):
            return np.abs(image[inner] - clean).mean()

        unmoved = 0.1 * stylized[2].astype(float) + 0.9 * stylized[1]  # blended without following the move
        assert error(out[2]) < 0.8 * error(stylized[2].astype(float)) and error(out[2]) < 0.5 * error(unmoved)


def test_flow_refuses_lumas_that_would_crash_opencv():
    flow = FlowEstimator("fast", width=None)
    for shape in ((12, 40), (31, 80), (40, 31)):
        with pytest.raises(ValueError, match="32"):
            flow(np.zeros(shape, np.uint8), np.zeros(shape, np.uint8))
    with pytest.raises(ValueError, match="one shape"):
        flow(np.zeros((40, 40), np.uint8), np.zeros((40, 48), np.uint8))


def test_strength_zero_is_the_identity():
    stabilizer = Stabilizer(strength=0.0)
    for seed in range(3):
        stylized = texture(H, W, 10 + seed)
        out = stabilizer(texture(H, W, seed), stylized)
        assert np.array_equal(out, stylized) and out is not stylized  # (a frame of its own: session 27)


def test_still_scene_flicker_is_reduced():
    scene = texture(H, W, 3).astype(np.float32)
    rng = np.random.default_rng(0)
    frames = [np.clip(scene + rng.normal(0, 6, scene.shape), 0, 255).astype(np.uint8) for _ in range(10)]
    stabilizer = Stabilizer(strength=0.8)
    out = [stabilizer(frame, frame) for frame in frames]  # any stylizer: here the identity

    def flicker(clip):
        return np.mean([np.abs(a.astype(float) - b).mean() for a, b in zip(clip[4:], clip[5:])])

    assert flicker(out) < 0.5 * flicker(frames)
    assert stabilizer.cuts == 0


def test_scene_cut_resets():
    stabilizer = Stabilizer(strength=0.9)
    shot_a, shot_b = texture(H, W, 4), texture(H, W, 5)
    for _ in range(3):
        stabilizer(shot_a, shot_a)
    stylized_b = 255 - shot_b
    assert np.array_equal(stabilizer(shot_b, stylized_b), stylized_b)
    assert stabilizer.cuts == 1
    assert stabilizer.last_coverage < stabilizer.cut_fraction


@pytest.mark.parametrize("grey", [20, 128])
def test_a_flat_still_scene_with_sensor_noise_is_not_a_cut(grey):
    """DIS follows the noise of a flat frame, so its two flows disagree everywhere; the frames,
    close unmoved, are one still shot: blended, not counted as cuts (it was: 7 of 7)."""
    rng = np.random.default_rng(0)
    scene = np.full((H, W, 3), grey, np.uint8)
    frames = [np.clip(scene + rng.normal(0, 2, scene.shape), 0, 255).astype(np.uint8) for _ in range(8)]
    stabilizer = Stabilizer(strength=0.7)
    out = [stabilizer(frame, stylized) for frame, stylized in zip(frames, flickering(frames))]
    assert stabilizer.cuts == 0
    flicker = np.mean([np.abs(a.astype(float) - b).mean() for a, b in zip(out[3:], out[4:])])
    assert flicker < 0.5 * np.mean([np.abs(a.astype(float) - b).mean() for a, b in zip(flickering(frames)[3:], flickering(frames)[4:])])


@pytest.mark.parametrize("low, high", [(5, 35), (110, 130)])
def test_a_cut_between_two_dark_or_low_contrast_shots_is_still_a_cut(low, high):
    """Two different dark (or low-contrast) shots are within 24 grey levels almost everywhere: taken
    for one still shot, the cut was blended, a third of the old shot in the new one's first frames."""
    rng = np.random.default_rng(0)

    def shot(seed: int) -> np.ndarray:  # (structure at 16 px and more: finer, within 8 px blocks, averages out)
        coarse = cv2.resize(texture(H // 4, W // 4, seed), (W, H), interpolation=cv2.INTER_CUBIC)
        scene = low + coarse.astype(np.float32) * ((high - low) / 255)
        return np.clip(scene + rng.normal(0, 2, scene.shape), 0, 255).astype(np.uint8)

    frames = [shot(8) for _ in range(4)] + [shot(9) for _ in range(3)]
    stylized = flickering(frames)
    stabilizer = Stabilizer(strength=0.7)
    out = [stabilizer(frame, styled) for frame, styled in zip(frames, stylized)]
    assert stabilizer.cuts == 1
    assert np.array_equal(out[4], stylized[4])


def flickering(frames: list[np.ndarray], seed: int = 7) -> list[np.ndarray]:
    """A stand-in stylizer's output: each frame inverted plus its own noise (+-12 grey levels)."""
    rng = np.random.default_rng(seed)
    return [np.clip(255 - frame.astype(np.int16) + rng.integers(-12, 13, frame.shape), 0, 255).astype(np.uint8)
            for frame in frames]


def camera_clip() -> list[np.ndarray]:
    """A pan, then a moving square, then a cut to another shot: every branch of the stabiliser."""
    world = texture(H + 40, W + 40, 0)
    pan = [world[20:20 + H, 20 - 2 * i:20 - 2 * i + W] for i in range(6)]
    return pan + [moving_square(2 * i) for i in range(5)] + [texture(H, W, 5 + (i > 2)) for i in range(5)]


def test_motion_ahead_on_threads_gives_the_same_frames_as_one_call_per_frame():
    """Motion estimated for many frames at once on worker threads (as `video` does beside the
    network), then applied in order, is bit-identical to the stabiliser called frame by frame."""
    clip = camera_clip()
    stylized = flickering(clip)
    serial = Stabilizer(0.7, flow_width=80)
    expected = [serial(content, frame) for content, frame in zip(clip, stylized)]
    assert serial.cuts == 3  # into the square's scene, into the first texture and into the second

    parallel = Stabilizer(0.7, flow_width=80)
    ahead = MotionAhead(parallel, workers=3)
    try:
        motions = [ahead.submit(content) for content in clip]  # all in flight before the first apply
        got = [parallel.apply(motion.result(), frame) for motion, frame in zip(motions, stylized)]
    finally:
        ahead.close()
    assert parallel.cuts == serial.cuts
    for index, (a, b) in enumerate(zip(got, expected)):
        assert np.array_equal(a, b), index
    assert any(not np.array_equal(a, b) for a, b in zip(got, stylized))  # it did blend


@pytest.mark.parametrize("batch_size, workers", [(1, 1), (4, 3)])
def test_video_pipeline_stabilizes_as_one_call_per_frame(batch_size, workers):
    """The video pipeline's stabilize stage (motion on workers, apply on the encoder thread)."""
    clip = camera_clip()
    stylized = dict(zip((frame.tobytes() for frame in clip), flickering(clip)))
    serial = Stabilizer(0.7, flow_width=80)
    expected = [serial(content, stylized[content.tobytes()]) for content in clip]

    def stylize_stream(batches):
        for batch in batches:
            yield np.stack([stylized[frame.tobytes()] for frame in batch])

    written: list[np.ndarray] = []
    items = [Frame(frame.copy(), index, 1, index) for index, frame in enumerate(clip)]
    Pipeline(iter(items), stylize_stream=stylize_stream, write_frame=lambda frame: written.append(frame.image),
             write_packet=print, batch_size=batch_size, stabilizer=Stabilizer(0.7, flow_width=80),
             motion_workers=workers).run()
    assert len(written) == len(clip)
    for index, (a, b) in enumerate(zip(written, expected)):
        assert np.array_equal(a, b), index


class FailingStabilizer(Stabilizer):
    def __init__(self, fail_at: int) -> None:
        super().__init__(0.7, flow_width=80)
        self.fail_at, self.applied = fail_at, 0

    def apply(self, motion, stylized):
        self.applied += 1
        if self.applied == self.fail_at:
            raise RuntimeError("stabilize failed")
        return super().apply(motion, stylized)


@pytest.mark.parametrize("where", ["stabilize", "encode"])
def test_a_failure_after_the_network_stops_the_video_pipeline(where):
    """The stabilize stage's own failure, or the encoder's while frames pass the stabilize
    stage, reaches the caller as that error; no thread is left waiting."""
    clip = camera_clip()
    items = [Frame(frame.copy(), index, 1, index) for index, frame in enumerate(clip)]
    written: list[int] = []

    def write_frame(frame):
        if where == "encode" and len(written) == 4:
            raise RuntimeError("encode failed")
        written.append(frame.pts)

    pipeline = Pipeline(iter(items), stylize_stream=lambda batches: batches, write_frame=write_frame, write_packet=print,
                        batch_size=2, queue_frames=2, stabilizer=FailingStabilizer(5 if where == "stabilize" else 0))
    before = set(threading.enumerate())
    with pytest.raises(RuntimeError, match=f"{where} failed"):
        pipeline.run()
    assert written == [0, 1, 2, 3]
    assert not [thread.name for thread in set(threading.enumerate()) - before]  # the run's own threads all ended


@pytest.mark.parametrize("kwargs, name", [
    ({"strength": 1.5}, "strength"), ({"strength": -0.1}, "strength"), ({"mode": "smooth"}, "mode"),
    ({"preset": "slow"}, "preset"), ({"cut_fraction": 2.0}, "cut_fraction"), ({"flow_width": 4}, "width"),
    ({"soft_edge": 0}, "soft_edge"),
])
def test_bad_values_name_the_argument(kwargs, name):
    with pytest.raises(ValueError, match=name):
        Stabilizer(**kwargs)


def test_mismatched_frames_raise():
    with pytest.raises(ValueError, match="stylized"):
        Stabilizer()(texture(H, W, 0), texture(H, W // 2, 0))


@pytest.mark.parametrize("mode", ["off", "stats"])
def test_modes_without_flow_pass_frames_through(mode):
    stylized = texture(H, W, 6)
    stabilizer = Stabilizer(mode=mode)
    stabilizer(texture(H, W, 7), texture(H, W, 8))
    out = stabilizer(texture(H, W, 7), stylized)
    assert np.array_equal(out, stylized) and out is not stylized  # (a frame of its own: session 27)


def test_stats_smoother_is_an_ema_and_resets_at_a_jump():
    smoother = ContentStatsSmoother(momentum=0.75)
    std = torch.ones(2, 4, 1, 1)
    mean, _ = smoother(torch.tensor([0.0, 0.2]).reshape(2, 1, 1, 1).expand(2, 4, 1, 1), std)
    assert torch.allclose(mean[:, 0, 0, 0], torch.tensor([0.0, 0.05]))
    mean, _ = smoother(torch.full((1, 4, 1, 1), 5.0), torch.ones(1, 4, 1, 1))  # a cut: starts afresh
    assert torch.allclose(mean, torch.full((1, 4, 1, 1), 5.0)) and smoother.cuts == 1
    with pytest.raises(ValueError, match="momentum"):
        ContentStatsSmoother(momentum=1.2)


def test_model_normalises_by_the_given_content_stats(stylizer):
    net = stylizer.net
    images = torch.rand(2, 3, 32, 32) * torch.tensor([1.0, 0.5]).reshape(2, 1, 1, 1)
    style_mean, style_std, alpha = neutral_style(torch.float32)
    with torch.inference_mode():
        plain = net(images, style_mean, style_std, alpha)
        hooked = net(images, style_mean, style_std, alpha, content_stats=ContentStatsSmoother(momentum=0.0))
        first_stats = net(images, style_mean, style_std, alpha, content_stats=lambda m, s: (m[:1].expand_as(m), s[:1].expand_as(s)))
        content = net.encode(images)[-1]
        mean, std = calc_mean_std(content[:1])
        expected = net.decoder((content - mean) / std * style_std.reshape(1, -1, 1, 1) + style_mean.reshape(1, -1, 1, 1), [])
    assert torch.allclose(plain, hooked, atol=1e-5)  # momentum 0: each frame's own statistics
    assert torch.allclose(first_stats, expected, atol=1e-5)
    assert not torch.allclose(first_stats[1], plain[1], atol=1e-3)


def test_warp_error_of_a_still_clip_is_zero_and_psnr_of_itself_infinite():
    clip = [texture(H, W, 9)] * 3
    flows = input_flows(clip)
    assert warp_error(clip, flows) == pytest.approx(0.0, abs=1e-9)
    assert psnr(clip, clip) == float("inf")
    first, second = shifted_pair()
    unwarped = (((second.astype(float) - first) / 255) ** 2).sum(axis=2).mean()
    assert warp_error([first, second], input_flows([first, second])) < 0.1 * unwarped


@pytest.mark.slow  # (default run's time: a benchmark run; the stabiliser's modes are tested above)
def test_bench_temporal_runs(run_cli, weights_env, tmp_path, data_dir):
    out, figure = tmp_path / "temporal.json", tmp_path / "difference.png"
    code, _, err = run_cli("bench", "temporal", "--frames", "3", "--size", "48", "--strengths", "0.8",
                           "--cost-frames", "1", "--json", str(out), "--figure", str(figure))
    assert code == 0, err
    assert cv2.imread(str(figure)).shape == (48, 4 * 86, 3)  # the input, per-frame, one pass, two passes
    data = json.loads(out.read_text())
    assert [clip["clip"] for clip in data["clips"]] == ["cutBunny", "pan+zoom", "still+noise"]
    labels = [row["variant"] for row in data["clips"][0]["rows"]]
    assert labels == ["per-frame", "moving average w=0.3", "moving average w=0.6", "stats", "flow 0.7 8-bit (live)",
                      "flow 0.8", "both 0.8", "flow 2-pass 0.8"]
    assert set(data["cost_ms_per_frame_1_thread"]) == set(data["cost_ms_per_frame_default_threads"]) == {"360p", "720p", "1080p"}
    assert set(data["cost_ms_per_frame_motion_1_thread"]) == set(data["cost_ms_per_frame_pipelined"]) == {"360p", "720p", "1080p"}
    assert "DenseOpticalFlow.calc" in data["cost_720p_ms_by_call"] and "remap" in data["cost_720p_ms_by_call"]
    assert set(data["cost_ms_per_frame_precise_apply_1_thread"]) == set(data["cost_ms_per_frame_two_pass_1_thread"]) == {
        "360p", "720p", "1080p"}
    assert set(data["clips"][0]["beats_moving_average"]) == {"moving average w=0.3", "moving average w=0.6"}


def test_the_one_cut_in_cutbunny_is_found(data_dir):
    from realtime_adain.benchmarks.temporal_clips import video_clip

    clip = video_clip(data_dir / "videos" / "cutBunny.mp4", 0, 96)
    stabilizer, cuts = Stabilizer(), []
    for index, frame in enumerate(clip):
        before = stabilizer.cuts
        stabilizer(frame, frame)
        if stabilizer.cuts > before:
            cuts.append(index)
    assert cuts == [235]  # the clip's only shot change (mean frame difference 77 grey levels there, < 5 elsewhere)
