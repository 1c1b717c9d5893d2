"""Colour preservation encodes the recoloured style as the reference does: float, unclipped."""

from __future__ import annotations

import numpy as np
import torch

from realtime_adain.imageio import fit_short_side, read_image


def reference_coral(source: np.ndarray, target: np.ndarray) -> np.ndarray:
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


def test_preserved_colour_style_stats_are_the_references_on_a_saturated_pair(stylizer, data_dir):
    """golden_gate + mondrian: many recoloured values leave 0..255; clipped to a uint8 picture
    before encoding, relu4_1's std differed from the reference's by ~20 %."""
    content = fit_short_side(read_image(data_dir / "content" / "golden_gate.jpg"), 64)
    style = fit_short_side(read_image(data_dir / "style" / "mondrian.jpg"), 64)
    h, w = min(content.shape[0], style.shape[0]), min(content.shape[1], style.shape[1])
    content, style = content[:h, :w].copy(), style[:h, :w].copy()  # as many pixels: the reference's case
    expected_picture = reference_coral(style, content)
    assert ((expected_picture < 0) | (expected_picture > 255)).mean() > 0.05  # saturated indeed

    ours = stylizer.style_stats(style, color_reference=content)
    with torch.inference_mode():
        expected = stylizer.net.style_stats(torch.from_numpy(expected_picture).permute(2, 0, 1)[None].float() / 255)
    torch.testing.assert_close(ours.mean, expected.mean, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(ours.std, expected.std, rtol=1e-4, atol=1e-5)
