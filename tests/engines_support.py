"""Helpers for the engine tests: real frames from ../shared/data and the accuracy measures."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from realtime_adain.imageio import read_image
from realtime_adain.picture_sizes import fit_short_side


def content_frames(data_dir: Path, size: int, count: int = 2) -> list[np.ndarray]:
    """Real photos, shorter side `size` (their widths are not multiples of 8: padding is tested)."""
    paths = sorted((data_dir / "content").glob("*.jpg"))[:count]
    return [fit_short_side(read_image(p), size) for p in paths]


def style_image(data_dir: Path, size: int = 64) -> np.ndarray:
    return fit_short_side(read_image(sorted((data_dir / "style").glob("*.jpg"))[0]), size)


def extreme_frames(height: int, width: int) -> list[np.ndarray]:
    """All-black, all-white and a hard black/white split: the fp16 overflow and NaN cases."""
    split = np.zeros((height, width, 3), np.uint8)
    split[:, width // 2:] = 255
    return [np.zeros((height, width, 3), np.uint8), np.full((height, width, 3), 255, np.uint8), split]


def psnr(reference: np.ndarray, result: np.ndarray) -> float:
    mse = float(np.mean((reference.astype(np.float64) - result.astype(np.float64)) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(255.0**2 / mse)


def rel_error(reference: np.ndarray, result: np.ndarray) -> float:
    """||result - reference|| / ||reference|| in uint8 space."""
    reference, result = reference.astype(np.float64), result.astype(np.float64)
    return float(np.linalg.norm(result - reference) / max(np.linalg.norm(reference), 1e-12))


def assert_close(reference: np.ndarray, result: np.ndarray, min_psnr: float = 40.0, max_rel: float = 1e-2) -> None:
    assert result.shape == reference.shape and result.dtype == np.uint8
    assert psnr(reference, result) > min_psnr, f"PSNR {psnr(reference, result):.1f} dB"
    assert rel_error(reference, result) < max_rel, f"relative error {rel_error(reference, result):.2e}"
