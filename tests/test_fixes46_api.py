"""Session 46: the API takes numpy's booleans as flags and says its notes in its own words."""

from __future__ import annotations

import numpy as np
import pytest

from realtime_adain.checks import check_flag


@pytest.mark.parametrize("value", [True, False, np.bool_(True), np.False_])
def test_numpy_booleans_are_flags(value):
    """`stylize_video(keep_size=(a > 0).any())` said "keep_size must be bool, got bool" (h10)."""
    assert check_flag(value, "keep_size") is bool(value)


@pytest.mark.parametrize("value", [1, 0, "yes", None, np.array([True])])
def test_other_values_are_no_flags(value):
    with pytest.raises(TypeError, match="keep_size must be bool, got "):
        check_flag(value, "keep_size")


def test_load_says_its_notes_in_the_api_words(published_weights, tmp_path, capsys):
    """A decoder trained against another VGG noted "give --vgg the file that run used" from
    `Stylizer.load`, though `stylize_video` said `vgg` (h10)."""
    import json

    import torch
    from safetensors.torch import save_file

    import realtime_adain as ra

    vgg, decoder = published_weights
    other = tmp_path / "decoder.safetensors"  # (as tools/train.py writes one: the VGG its run used named)
    save_file({k: v.contiguous() for k, v in torch.load(decoder, map_location="cpu", weights_only=True).items()},
              str(other), metadata={"architecture": "plain", "config": json.dumps({"vgg_sha256": "0" * 64})})
    ra.Stylizer.load(vgg, other, device="cpu")
    err = capsys.readouterr().err
    assert "not the VGG encoder the decoder was trained against" in err and "give vgg the file" in err, err
    assert "--vgg" not in err, err


def test_the_flow_stabiliser_loads_no_torch():
    """`ra.Stabilizer` works after any stylizer (OpenCV and numpy), but loading it imported torch
    (1.5-3 s) for the statistics smoother's sake (h10)."""
    import subprocess
    import sys

    code = "import sys, numpy as np, realtime_adain as ra; s = ra.Stabilizer(); " \
           "f = np.zeros((8, 8, 3), np.uint8); s(f, f); s(f, f); print('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          timeout=120).stdout.strip() == "False"
