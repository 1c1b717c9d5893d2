"""AdaIN, mixing and colour preservation against their formulas, computed independently."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from realtime_adain.adain import StyleStats, adain, blend, calc_mean_std
from realtime_adain.color import match_color


def formula_stats(x: np.ndarray, eps: float = 1e-5) -> tuple[np.ndarray, np.ndarray]:
    """mu and sigma per (n, c) over space; sigma from the unbiased variance plus eps (reference)."""
    flat = x.reshape(x.shape[0], x.shape[1], -1).astype(np.float64)
    mean = flat.mean(axis=2)
    var = ((flat - mean[..., None]) ** 2).sum(axis=2) / (flat.shape[2] - 1)
    return mean, np.sqrt(var + eps)


def formula_adain(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """AdaIN(x, y) = sigma(y) * (x - mu(x)) / sigma(x) + mu(y)."""
    mx, sx = formula_stats(x)
    my, sy = formula_stats(y)
    return sy[..., None, None] * (x - mx[..., None, None]) / sx[..., None, None] + my[..., None, None]


def rel_error(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


@pytest.fixture
def features() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    content = np.abs(rng.normal(3.0, 5.0, size=(2, 16, 9, 11)))
    style = np.abs(rng.normal(10.0, 20.0, size=(1, 16, 13, 7)))
    return content, style


@pytest.mark.parametrize("dtype,tolerance", [(torch.float64, 1e-6), (torch.float32, 1e-4)])
def test_adain_matches_formula(features, dtype, tolerance):
    content, style = features
    stats = StyleStats.of_features(torch.tensor(style, dtype=dtype))
    # StyleStats keeps float32; rebuild in the tested dtype from the same features for float64.
    mean, std = calc_mean_std(torch.tensor(style, dtype=dtype))
    out = adain(torch.tensor(content, dtype=dtype), mean.flatten(), std.flatten())
    expected = formula_adain(content, np.broadcast_to(style, (2,) + style.shape[1:]))
    assert out.dtype == dtype
    assert rel_error(out.numpy(), expected) < tolerance
    assert rel_error(stats.std.double().numpy(), formula_stats(style)[1][0]) < 1e-6


def test_adain_output_has_the_style_statistics(features):
    content, style = features
    mean, std = calc_mean_std(torch.tensor(style))
    out = adain(torch.tensor(content), mean.flatten(), std.flatten()).numpy()
    out_mean, _ = formula_stats(out)
    np.testing.assert_allclose(out_mean, np.broadcast_to(formula_stats(style)[0], out_mean.shape), rtol=1e-9)


def test_alpha_ends(features):
    content, style = features
    c = torch.tensor(content)
    mean, std = calc_mean_std(torch.tensor(style))
    target = adain(c, mean.flatten(), std.flatten())
    assert torch.equal(blend(c, target, 0.0), c)
    assert torch.equal(blend(c, target, 1.0), target)
    half = blend(c, target, torch.tensor(0.5, dtype=torch.float64))
    np.testing.assert_allclose(half.numpy(), 0.5 * content + 0.5 * target.numpy(), rtol=1e-12)


def test_mixing_equals_weighted_sum_of_adain_outputs(features):
    """The paper interpolates AdaIN outputs; mixing the statistics must give exactly that."""
    content, _ = features
    rng = np.random.default_rng(1)
    styles = [np.abs(rng.normal(m, s, size=(1, 16, 8, 8))) for m, s in ((1, 2), (20, 5), (4, 30))]
    weights = [0.5, 0.3, 0.2]
    expected = sum(w * formula_adain(content, np.broadcast_to(s, (2, 16, 8, 8))) for w, s in zip(weights, styles))
    stats = [StyleStats(*(t.flatten().double() for t in calc_mean_std(torch.tensor(s)))) for s in styles]
    mixed = StyleStats.mix(stats, weights)
    out = adain(torch.tensor(content), mixed.mean, mixed.std).numpy()
    assert rel_error(out, expected) < 1e-6
    # Unnormalised weights are normalised to sum to 1, as the reference does.
    scaled = StyleStats.mix(stats, [5, 3, 2])
    torch.testing.assert_close(scaled.mean, mixed.mean)


def test_mix_rejects_mismatched_weights():
    stats = StyleStats(torch.zeros(4), torch.ones(4))
    with pytest.raises(ValueError):
        StyleStats.mix([stats, stats], [1.0])
    with pytest.raises(ValueError):
        StyleStats.mix([stats, stats], [0.0, 0.0])


def colour_stats(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    flat = image.reshape(-1, 3).astype(np.float64)
    return flat.mean(axis=0), np.cov(flat.T)


def test_colour_preservation_gives_the_style_the_contents_colours(data_dir):
    from realtime_adain.imageio import read_image
    from realtime_adain.picture_sizes import fit_short_side

    content = fit_short_side(read_image(data_dir / "content" / "golden_gate.jpg"), 128)
    style = fit_short_side(read_image(data_dir / "style" / "mondrian.jpg"), 128)
    content_before = content.copy()
    recoloured = match_color(style, content)
    c_mean, c_cov = colour_stats(content)
    s_mean, s_cov = colour_stats(style)
    r_mean, r_cov = colour_stats(recoloured)
    assert recoloured.shape == style.shape and recoloured.dtype == np.uint8
    np.testing.assert_array_equal(content, content_before)  # the content is not touched
    # The recoloured style takes the content's colour means and channel correlations, and its
    # channel spreads up to the reference's +I regularisation of the covariances and clipping ...
    assert np.abs(r_mean - c_mean).max() < 3.0
    assert np.abs(correlation(r_cov) - correlation(c_cov)).max() < 0.05
    np.testing.assert_allclose(np.sqrt(np.diag(r_cov)), np.sqrt(np.diag(c_cov)), rtol=0.15)
    # ... and no longer the style's.
    assert np.abs(s_mean - c_mean).max() > 10.0
    assert np.abs(correlation(s_cov) - correlation(c_cov)).max() > 0.2


def correlation(cov: np.ndarray) -> np.ndarray:
    std = np.sqrt(np.diag(cov))
    return cov / np.outer(std, std)


def reference_coral(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """`reference_coral_unclipped` as a uint8 picture."""
    return np.clip(reference_coral_unclipped(source, target) + 0.5, 0, 255).astype(np.uint8)


def reference_coral_unclipped(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """naoto0804/pytorch-AdaIN's `coral` (function.py) in float64 on 0..255 values: covariances
    summed over pixels plus I, and the result neither clipped nor rounded (its test.py encodes it so)."""
    def flat(image):
        f = image.reshape(-1, 3).T.astype(np.float64)
        mean, std = f.mean(1, keepdims=True), f.std(1, ddof=1, keepdims=True)
        return (f - mean) / std, mean, std

    def sqrtm(m):
        u, s, vt = np.linalg.svd(m)
        return u @ np.diag(np.sqrt(s)) @ vt

    src, _, _ = flat(source)
    tgt, tgt_mean, tgt_std = flat(target)
    out = sqrtm(tgt @ tgt.T + np.eye(3)) @ np.linalg.inv(sqrtm(src @ src.T + np.eye(3))) @ src
    return (out * tgt_std + tgt_mean).T.reshape(source.shape)


@pytest.mark.parametrize("content_side, style_side", [(128, 128), (256, 64), (64, 256), (300, 40)])
def test_colour_preservation_holds_whatever_the_two_sizes(data_dir, content_side, style_side):
    """The reference's sums made the recoloured spread sqrt(content pixels / style pixels) times
    the content's (x4 for 256 against 64 px); at equal pixel counts it is the reference exactly."""
    import cv2

    from realtime_adain.imageio import read_image

    content = cv2.resize(read_image(data_dir / "content" / "sailboat.jpg"), (content_side, content_side),
                         interpolation=cv2.INTER_AREA)
    style = cv2.resize(read_image(data_dir / "style" / "mondrian.jpg"), (style_side, style_side),
                       interpolation=cv2.INTER_AREA)
    recoloured = match_color(style, content)
    c_mean, c_cov = colour_stats(content)
    r_mean, r_cov = colour_stats(recoloured)
    assert np.abs(r_mean - c_mean).max() < 5.0  # (values clipped at 0 and 255 move it a little)
    np.testing.assert_allclose(np.sqrt(np.diag(r_cov)), np.sqrt(np.diag(c_cov)), rtol=0.15)  # (clipping, as above)
    if content_side == style_side:
        np.testing.assert_array_equal(recoloured, reference_coral(style, content))
