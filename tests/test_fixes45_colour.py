"""Colour preservation encodes the recoloured style as the reference does: float, unclipped."""

from __future__ import annotations

import numpy as np
import torch

from realtime_adain.imageio import read_image
from realtime_adain.picture_sizes import fit_short_side
from test_adain import reference_coral_unclipped


def test_preserved_colour_style_stats_are_the_references_on_a_saturated_pair(stylizer, data_dir):
    """golden_gate + mondrian: many recoloured values leave 0..255; clipped to a uint8 picture
    before encoding, relu4_1's std differed from the reference's by ~20 %."""
    content = fit_short_side(read_image(data_dir / "content" / "golden_gate.jpg"), 64)
    style = fit_short_side(read_image(data_dir / "style" / "mondrian.jpg"), 64)
    h, w = min(content.shape[0], style.shape[0]), min(content.shape[1], style.shape[1])
    content, style = content[:h, :w].copy(), style[:h, :w].copy()  # as many pixels: the reference's case
    expected_picture = reference_coral_unclipped(style, content)
    assert ((expected_picture < 0) | (expected_picture > 255)).mean() > 0.05  # saturated indeed

    ours = stylizer.style_stats(style, color_reference=content)
    with torch.inference_mode():
        expected = stylizer.net.style_stats(torch.from_numpy(expected_picture).permute(2, 0, 1)[None].float() / 255)
    torch.testing.assert_close(ours.mean, expected.mean, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(ours.std, expected.std, rtol=1e-4, atol=1e-5)


def test_a_colour_reference_of_any_size_costs_a_strips_memory_and_gives_the_same_colours():
    """A 16384 x 16384 `color_reference` (the decode cap) took ~20 GB of float64 copies and ended
    in numpy's own MemoryError, not the documented OutOfMemory (tester h2): its statistics are now
    summed in strips, to the same values as the whole-array formula."""
    import tracemalloc

    from realtime_adain.color import recolored

    rng = np.random.default_rng(0)
    style = rng.integers(0, 256, (32, 48, 3), dtype=np.uint8)
    reference = (rng.normal(90, 30, (1500, 700, 3)) * [1, 0.5, 1.5]).clip(0, 255).astype(np.uint8)
    same_count = reference[:32, :48]  # the reference's formula is ours at equal pixel counts
    assert np.allclose(recolored(style, same_count), reference_coral_unclipped(style, same_count), atol=1e-6)
    # at other counts, the whole-array form of ours (the target's scatter scaled to the source's count)
    flat = reference.reshape(-1, 3).T.astype(np.float64)
    mean, std = flat.mean(1, keepdims=True), flat.std(1, ddof=1, keepdims=True)
    scatter = ((flat - mean) / std) @ ((flat - mean) / std).T
    src = style.reshape(-1, 3).T.astype(np.float64)
    src_norm = (src - src.mean(1, keepdims=True)) / src.std(1, ddof=1, keepdims=True)
    sqrtm = lambda m: (lambda u, s, vt: u @ np.diag(np.sqrt(s)) @ vt)(*np.linalg.svd(m))  # noqa: E731
    whole = sqrtm(scatter * (src.shape[1] / flat.shape[1]) + np.eye(3)) @ np.linalg.inv(sqrtm(src_norm @ src_norm.T + np.eye(3))) @ src_norm
    assert np.allclose(recolored(style, reference), (whole * std + mean).T.reshape(style.shape), atol=1e-6)

    huge = np.tile(reference[:64, :64], (64, 64, 1))  # 4096 x 4096: 50 MB as uint8, 400 MB as float64
    tracemalloc.start()
    try:
        recolored(style, huge)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 100 << 20, peak
