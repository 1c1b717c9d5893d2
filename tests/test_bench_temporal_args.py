"""`bench temporal`'s clip options are bounded (every variant of a clip is held in memory; E_warp
needs two frames), and a flat style, whose per-frame output does not change, is no traceback."""

from __future__ import annotations

import pytest

from realtime_adain.benchmarks.temporal_quality import measure_clip


@pytest.mark.parametrize("option, value, words", [
    ("--frames", "1", "1 is outside 2..1000"), ("--frames", "1001", "1001 is outside 2..1000"),
    ("--size", "100000", "100000 is outside 32..1080"), ("--cost-frames", "0", "0 is outside 1..1000"),
    ("--strengths", "0.2,0.20", "'0.2,0.20' names a strength twice"),  # (was merged without a word)
])
def test_clip_options_are_bounded(run_cli, option, value, words):
    code, _, err = run_cli("bench", "temporal", option, value)
    assert code == 2 and words in err and len(err.strip().splitlines()) == 1, err


def test_a_device_as_the_clip_is_named_so(run_cli, weights_env):
    code, _, err = run_cli("bench", "temporal", "--video", "/dev/null")
    assert (code, err.strip()) == (2, "error: /dev/null: not a regular file")


def test_an_unchanging_output_gives_no_ratio_instead_of_a_traceback(stylizer):
    """A still clip of one colour stylizes every frame alike: the per-frame E_warp is 0 and the
    ratios to it are undefined (None; the per-frame row's own is 1) (it was a ZeroDivisionError)."""
    import argparse

    import numpy as np

    clip = [np.full((32, 48, 3), 100, np.uint8) for _ in range(3)]
    style = stylizer.style_stats(np.full((64, 64, 3), 200, np.uint8), 64)
    args = argparse.Namespace(momentum=0.8, strengths=[0.5], preset="ultrafast", flow_width=320)
    result = measure_clip("flat", clip, stylizer, style, args)
    rows = result["rows"]
    assert rows[0]["e_warp"] == 0 and rows[0]["ratio"] == 1.0 and all(row["ratio"] is None for row in rows[1:])
