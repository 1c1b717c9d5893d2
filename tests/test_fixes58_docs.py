"""Session 58's fixes to docs and messages: an image with a side of 0 is refused as having no
pixels (its layout was blamed: "must be (H, W, 3) ..., got shape (0, 5, 3)"), as docs/api.md says;
`video --json`'s reason for a stream numbered pictures leave out is the note's words."""

from __future__ import annotations

import argparse
import importlib
import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import realtime_adain as ra
from realtime_adain.adain import StyleStats
from test_video_picture_output import clip

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def style() -> StyleStats:
    generator = torch.Generator().manual_seed(58)
    return StyleStats(torch.rand(512, generator=generator), torch.rand(512, generator=generator) + 0.1)


@pytest.fixture
def style_picture(data_dir):
    return data_dir / "style" / "brushstrokes.jpg"


EMPTY = [  # an image with a side of 0, and the width x height its message names
    (lambda: np.zeros((0, 5, 3), np.uint8), "5x0"),
    (lambda: np.zeros((0, 0, 3), np.uint8), "0x0"),
    (lambda: np.zeros((4, 0), np.uint8), "0x4"),
    (lambda: Image.new("RGB", (64, 64)).crop((0, 0, 0, 10)), "0x10"),
]


@pytest.mark.parametrize("make, sides", EMPTY, ids=["0x5 array", "0x0 array", "grey no width", "PIL crop"])
def test_an_image_with_a_side_of_0_is_said_to_have_no_pixels(stylizer, style, make, sides):
    expected = rf"^image has a side of 0 pixels \({sides}\): it holds no picture$"
    with pytest.raises(ValueError, match=expected):
        stylizer.stylize_image(make(), style, size=32)
    with pytest.raises(ValueError, match=expected):
        stylizer.style(make())


def test_frames_with_a_side_of_0_are_said_to_have_no_pixels(stylizer, style):
    with pytest.raises(ValueError, match=r"^frames has a side of 0 pixels \(4x0\): it holds no picture$"):
        stylizer.stylize(np.zeros((0, 4, 3), np.uint8), style)
    with pytest.raises(ValueError, match=r"^frames\[0\] has a side of 0 pixels \(0x3\)"):
        list(stylizer.stylize_frames([np.zeros((3, 0, 3), np.uint8)], style))
    with pytest.raises(ValueError, match=r"^frames must be \(H, W, 3\) or \(N, H, W, 3\) RGB, got shape \(8, 8, 4\)$"):
        stylizer.stylize(np.zeros((8, 8, 4), np.uint8), style)  # (a wrong layout is still named as one)


def test_write_image_of_an_empty_array_says_so(tmp_path):
    with pytest.raises(ValueError, match=r"^image has a side of 0 pixels \(5x0\)"):
        ra.write_image(tmp_path / "x.png", np.zeros((0, 5, 3), np.uint8))
    assert not (tmp_path / "x.png").exists()


def test_numbered_pictures_json_reason_is_the_notes_words(run_cli, weights_env, style_picture, tmp_path):
    """docs/video.md: a left-out stream's reason is "why, in the words of the note said on stderr";
    numbered pictures' said "numbered pictures hold the pictures alone", in no note."""
    source = clip(tmp_path / "clip.mp4", frames=3)
    out = tmp_path / "frames" / "f_%04d.png"
    code, stdout, err = run_cli("video", source, "-s", style_picture, "--size", "32", "--style-size", "64",
                                "--threads", "1", "--stabilize", "off", "--json", "-o", out)
    assert code == 0 and "Traceback" not in err, err
    note = "numbered pictures hold no audio; leaving out stream #1"
    assert f"note: {out}: {note}" in err
    streams = json.loads(stdout)["streams"]
    assert streams == [{"index": 1, "kind": "audio", "codec": "aac", "action": "left out", "output_codec": None,
                        "reason": note}]


@pytest.mark.parametrize("target", ["temporal", "serve"])
def test_every_bench_option_is_named_in_the_docs(target):
    """`bench temporal`'s --preset, --flow-width, --momentum and `bench serve`'s --frame-size,
    --process-size were in --help alone (the docs named only the Python arguments)."""
    docs = "\n".join(page.read_text(encoding="utf-8") for page in [REPO / "README.md", *(REPO / "docs").glob("*.md")])
    parser = argparse.ArgumentParser()
    importlib.import_module(f"realtime_adain.benchmarks.{target}").add_arguments(parser)
    options = [string for action in parser._actions for string in action.option_strings
               if string.startswith("--") and string != "--help"]
    missing = [option for option in options if not re.search(rf"`[^`]*{re.escape(option)}\b", docs)]
    assert not missing, missing


def test_export_help_points_to_where_the_engine_cache_is(run_cli):
    """It said "(default: the engine cache, $REALTIME_ADAIN_ENGINES)", though with that variable
    unset the cache is $REALTIME_ADAIN_HOME/engines, the checkout's or the per-user one."""
    code, out, _ = run_cli("export", "--help")
    text = " ".join(out.split())
    assert code == 0 and "engine cache, $REALTIME_ADAIN_ENGINES)" not in text
    assert "(default: the engine cache `engines list` names; where it is: `engines --help`)" in text
