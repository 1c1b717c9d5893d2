"""Fixes of session 31 in the temporal stabiliser: the frame's border in a still scene, and
`ContentStatsSmoother`'s checks."""

import numpy as np
import pytest
import torch

from realtime_adain.temporal import ContentStatsSmoother, Stabilizer
from realtime_adain.temporal.sampling import full_size_maps, sample_grid, source_map, working_size
from realtime_adain.temporal.two_pass import TwoPassStabilizer
from realtime_adain.temporal.warping import remap_rgb

# (height, width, flow width): 720p with the default flow width (4x), and an odd size whose
# working grid is stretched to 32 rows (55 / 32 and 97 / 40: scales that are not whole)
STILL_SIZES = [(720, 1280, 320), (55, 97, 40)]


def _noise(height: int, width: int, seed: int) -> np.ndarray:
    """Fine texture: a position off by half a pixel changes it by many grey levels."""
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


@pytest.mark.parametrize("precise", [True, False])
@pytest.mark.parametrize("height,width,flow_width", STILL_SIZES)
def test_a_still_scene_keeps_the_stylized_frame_to_its_edge(height, width, flow_width, precise):
    # The positions resized from the flow's grid went flat over the outer half step (cv2.resize
    # clamps): at 720p columns 0 and 1 were sampled 1.5 and 0.5 pixels off, up to 170 levels.
    content, stylized = _noise(height, width, 1), _noise(height, width, 2)
    stabilizer = Stabilizer(0.7, flow_width=flow_width, precise=precise)
    for _ in range(4):
        out = stabilizer(content, stylized)
    np.testing.assert_array_equal(out, stylized)


@pytest.mark.parametrize("height,width,flow_width", STILL_SIZES)
def test_two_passes_keep_a_still_scene_to_its_edge(height, width, flow_width):
    content, stylized = _noise(height, width, 3), _noise(height, width, 4)
    stabilizer = TwoPassStabilizer(0.7, flow_width=flow_width)
    frames = []
    for _ in range(4):
        frames += stabilizer.push(content, stylized)
    frames += stabilizer.flush()
    assert len(frames) == 4
    for frame in frames:
        np.testing.assert_array_equal(frame, stylized)


@pytest.mark.parametrize("height,width,flow_width", STILL_SIZES + [(20, 500, 64)])
def test_a_known_shift_is_followed_to_the_edge(height, width, flow_width):
    # A uniform flow of (1.25, -0.5) working pixels: every full-size position is its pixel plus
    # that displacement in full-size pixels, the border bands included.
    h, w = working_size((height, width), flow_width)
    flow = np.empty((h, w, 2), np.float32)
    flow[..., 0], flow[..., 1] = 1.25, -0.5
    map_x, map_y = source_map(flow, (height, width))
    xs, ys = sample_grid(height, width)
    np.testing.assert_allclose(map_x, xs + 1.25 * width / w, atol=1e-3)
    np.testing.assert_allclose(map_y, ys - 0.5 * height / h, atol=1e-3)


def test_a_whole_pixel_shift_warps_exactly():
    # 2 working pixels at 4x: the frame moves 8 pixels right, its left edge replicated.
    image = _noise(720, 1280, 5)
    positions = np.empty((180, 320, 2), np.float32)
    positions[..., 0], positions[..., 1] = sample_grid(180, 320)
    positions[..., 0] -= 2
    positions = positions * 4 + 1.5  # in full-size pixels, centres aligned as cv2.resize aligns them
    warped = remap_rgb(image, full_size_maps(positions, (720, 1280)))
    np.testing.assert_array_equal(warped[:, 8:], image[:, :-8])
    np.testing.assert_array_equal(warped[:, :8], np.repeat(image[:, :1], 8, axis=1))


def test_content_stats_smoother_refuses_what_is_not_stats():
    smoother = ContentStatsSmoother()
    mean, std = torch.zeros(2, 4, 1, 1), torch.ones(2, 4, 1, 1)
    with pytest.raises(TypeError, match="^mean must be an .*torch.Tensor, got ndarray"):
        smoother(mean.numpy(), std)
    with pytest.raises(TypeError, match="^std must be"):
        smoother(mean, [1.0, 1.0])
    with pytest.raises(ValueError, match=r"mean \(2, 4, 1, 1\) and std \(3, 4, 1, 1\) must be of one shape"):
        smoother(mean, torch.ones(3, 4, 1, 1))
    with pytest.raises(ValueError, match="^mean must be .* at least one frame, got shape \\(0, 4, 1, 1\\)"):
        smoother(torch.zeros(0, 4, 1, 1), torch.ones(0, 4, 1, 1))
    with pytest.raises(ValueError, match="at least one frame"):
        smoother(torch.tensor(0.0), torch.tensor(1.0))
    # nothing refused changed the state: the first frame is its own statistics
    out_mean, out_std = smoother(mean + 1, std)
    assert torch.equal(out_mean, mean + 1) and torch.equal(out_std, std)


def test_a_frame_of_nan_statistics_does_not_poison_the_later_ones():
    mean = torch.tensor([0.0, 0.1, float("nan"), 0.2]).reshape(4, 1, 1, 1).expand(4, 3, 1, 1)
    std = torch.ones(4, 3, 1, 1)
    out_mean, out_std = ContentStatsSmoother(momentum=0.5)(mean, std)
    assert torch.isnan(out_mean[2]).all()  # that frame keeps its own
    clean = torch.cat([mean[:2], mean[3:]])
    want_mean, _ = ContentStatsSmoother(momentum=0.5)(clean, torch.ones(3, 3, 1, 1))
    torch.testing.assert_close(out_mean[[0, 1, 3]], want_mean)
    assert torch.equal(out_std, std)
