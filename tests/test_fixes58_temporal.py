"""Session 58: two passes over a numbered sequence shorter than their window say no cut-off (the
sequence states no frame count, but holds at most its run of pictures)."""

from __future__ import annotations

import numpy as np
from PIL import Image


def test_a_short_numbered_sequence_is_told_of_no_two_pass_cut_off(run_cli, weights_env, data_dir, tmp_path, one_thread):
    """Before: 8 pictures at strength 1 were told "what the backward pass cuts off every 64 frames
    weighs up to 100.0%"."""
    (tmp_path / "seq").mkdir()
    for i in range(8):
        Image.fromarray(np.random.default_rng(i).integers(0, 255, (32, 48, 3), dtype=np.uint8)).save(tmp_path / f"seq/f_{i:04d}.png")
    code, _, err = run_cli("video", tmp_path / "seq/f_%04d.png", "-s", data_dir / "style" / "trial.jpg", "--size", "32",
                           "--style-size", "32", "--stabilize-strength", "1", "-o", tmp_path / "st/%04d.png")
    assert code == 0, err
    assert "cuts off" not in err and len(list((tmp_path / "st").iterdir())) == 8
