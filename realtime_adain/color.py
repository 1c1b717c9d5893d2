"""Colour preservation (the paper's first option): give the style image the content's colours.

This is the reference implementation's `coral`: match the mean and covariance of the style
image's RGB pixels to those of the content image, before the style is encoded. The reference
sums over pixels where a mean is meant (its covariances are sums plus I), so the colours it gives
are right only when both images have as many pixels: a 1024x1024 content against a 256x256 style
got twice the content's spread and 61 % of values clipped. The content's sum is scaled to the
style's pixel count here, which is the reference exactly at equal counts and right at any other.
"""

from __future__ import annotations

import numpy as np

STRIP_PIXELS = 1 << 20  # pixels of a colour reference summed at once


def _flat_stats(image: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    flat = image.reshape(-1, 3).T.astype(np.float64)
    mean = flat.mean(axis=1, keepdims=True)
    # (one pixel has no spread: ddof=1 made it NaN, and the SVD below a traceback)
    std = flat.std(axis=1, ddof=1 if flat.shape[1] > 1 else 0, keepdims=True) + 1e-12
    return flat, mean, std


def _sqrtm(matrix: np.ndarray) -> np.ndarray:
    u, s, vt = np.linalg.svd(matrix)
    return u @ np.diag(np.sqrt(s)) @ vt


def _target_stats(image: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """The colour mean, std and standardised scatter (sum of outer products) of `image`, summed in
    strips of rows: a colour reference of any size costs a strip's memory, where its float64
    copies took 20 GB at 16384 x 16384 and ended in numpy's own MemoryError."""
    rows = max(1, STRIP_PIXELS // max(1, image.shape[1]))
    total, products = np.zeros(3), np.zeros((3, 3))
    for top in range(0, image.shape[0], rows):
        strip = image[top:top + rows].reshape(-1, 3).astype(np.float64)
        total += strip.sum(axis=0)
        products += strip.T @ strip
    count = image.shape[0] * image.shape[1]
    mean = total / count
    scatter = products - count * np.outer(mean, mean)
    # (one pixel has no spread: ddof=1 made it NaN, and the SVD below a traceback)
    std = np.sqrt(np.maximum(np.diag(scatter), 0) / (count - 1 if count > 1 else 1)) + 1e-12
    return mean[:, None], std[:, None], scatter / np.outer(std, std), count


def recolored(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """`source` (uint8 RGB) recoloured to the colour mean and covariance of `target`, as float64
    0..255 values neither clipped nor rounded: the reference encodes its recoloured style so, and
    a saturated pair (10-14 % of values outside 0..255) clipped changed relu4_1's std by ~20 %."""
    src, src_mean, src_std = _flat_stats(source)
    tgt_mean, tgt_std, tgt_scatter, tgt_count = _target_stats(target)
    src_norm = (src - src_mean) / src_std
    src_cov = src_norm @ src_norm.T + np.eye(3)
    tgt_cov = tgt_scatter * (src.shape[1] / tgt_count) + np.eye(3)
    transfer = _sqrtm(tgt_cov) @ np.linalg.inv(_sqrtm(src_cov)) @ src_norm
    return (transfer * tgt_std + tgt_mean).T.reshape(source.shape)


def match_color(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """`recolored` as a uint8 picture (clipped and rounded), to look at or save."""
    return np.clip(recolored(source, target) + 0.5, 0, 255).astype(np.uint8)
