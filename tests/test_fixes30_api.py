"""Session 30's fixes to the Python API (docs/api.md), each found by a hostile caller: out of memory
as one line, `Stylizer.load`'s mistakes in the API's words, `StyleStats` compared by identity,
and arguments named where they were not."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

import realtime_adain as ra
from realtime_adain.settings import ModelSettings
from realtime_adain.stylizer import Stylizer
from test_full_disk import disk, fill  # noqa: F401
from test_api21 import style  # noqa: F401  (a fixture)
from video_samples import gradient_frames, write_video

def run_under_memory_limit(script: str) -> subprocess.CompletedProcess:
    """`script` in a fresh interpreter under `ulimit -v` (6 GB: a 3000x3000 picture's features do
    not fit); its output, once it has exited 0."""
    result = subprocess.run(["bash", "-c", 'ulimit -v 6000000 && exec "$0" -c "$1"', sys.executable, script],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    return result


@pytest.mark.slow  # (fresh interpreters under a memory limit (12-24 s))
def test_out_of_memory_in_the_api_is_one_line(published_weights):
    """Under `ulimit -v`, a 3000x3000 picture raised the allocator's error (onnxruntime's over
    several lines; torch's "[enforce fail at alloc_cpu.cpp:127] ..."), where `stylize_video` and the
    CLI say "...: out of memory; lower size". A command that names its input still says it its way."""
    script = textwrap.dedent(f"""
        import numpy as np, realtime_adain as ra
        from realtime_adain.errors import out_of_memory_as_user_error
        st = ra.Stylizer.load({str(published_weights[0])!r}, {str(published_weights[1])!r}, device="cpu", engine="eager")
        S = st.style(np.full((16, 16, 3), 90, np.uint8), size=16)
        big = np.zeros((3000, 3000, 3), np.uint8)
        def cli():
            with out_of_memory_as_user_error("photo.jpg"):
                st.stylize(big, S)
        calls = [lambda: st.stylize_image(big, S, size=None), lambda: st.stylize(big, S),
                 lambda: list(st.stylize_frames([big], S)), lambda: list(st.stylize_stream([big], S)),
                 lambda: st.stylize_masked(big, np.zeros(big.shape[:2], int), [S]),
                 lambda: st.style(np.zeros((4000, 4000, 3), np.uint8), size=None, max_pixels=10**8), cli]
        for call in calls:
            try:
                call()
                print("no error")
            except ra.UserError as exc:
                print(exc)
    """)
    result = run_under_memory_limit(script)
    assert result.stdout.splitlines() == [
        "image: out of memory; lower size",
        "frames: out of memory; pass smaller frames, or fewer at a time",
        "frames: out of memory; lower batch, or pass smaller frames",
        "batches: out of memory; pass smaller frames, or fewer at a time",
        "frame: out of memory; pass a smaller frame",
        "image: out of memory; lower size",
        "photo.jpg: out of memory; lower --size",
    ], result.stderr[-2000:]


@pytest.mark.parametrize("arguments, words", [
    ({"device": "cpu", "dtype": "fp16"}, "dtype fp16 needs a GPU"),
    ({"device": "cpu", "engine": "tensorrt"}, "the tensorrt engine needs a CUDA GPU (use engine eager or onnx on the CPU)"),
    ({"device": "CPU"}, "unknown device 'CPU'"),
    ({"device": "cpu", "dtype": "x"}, "unknown dtype 'x'"),
    ({"device": "cpu", "vgg": ""}, "an empty vgg path"),
])
def test_load_says_its_mistakes_as_value_errors_in_the_apis_words(weights_env, arguments, words):
    """`Stylizer.load` said them as the CLI does, a UserError naming --dtype, --engine, --vgg;
    `stylize_video(model=...)` already named the arguments. The commands keep their words."""
    with pytest.raises(ValueError) as caught:
        Stylizer.load(**arguments)
    assert str(caught.value).startswith(words) and "--" not in str(caught.value)
    if "vgg" not in arguments:
        with pytest.raises(ra.UserError, match="unknown|--"):
            Stylizer.for_command(ModelSettings(**arguments))


def test_stylize_video_says_a_models_mistakes_as_stylizer_load_does(style, tmp_path):
    """`stylize_video(model=ModelSettings(device="CPU"))` was a UserError, where `dtype="x"` was a
    ValueError: each a ValueError (and a UserError, as before) naming the argument."""
    clip = write_video(tmp_path / "in.mp4", gradient_frames(2, 32, 32))
    for model, words in ((ModelSettings(device="CPU"), "unknown device 'CPU'"),
                         (ModelSettings(device="cpu", engine="tensorrt"), "the tensorrt engine needs a CUDA GPU")):
        with pytest.raises(ValueError, match=words) as caught:
            ra.stylize_video(clip, tmp_path / "out.mp4", style, model=model)
        assert isinstance(caught.value, ra.UserError) and "--" not in str(caught.value)
    assert sorted(os.listdir(tmp_path)) == ["in.mp4"]


def test_style_stats_compare_by_identity_and_mix_takes_a_list(style, stylizer):
    """`S == S2`, `S in [S2]` and `.index` raised "Boolean value of Tensor with more than one value
    is ambiguous"; `mix` took a dict's keys as the weights, which `stylize_video(mix=...)` refuses."""
    other = stylizer.style(np.full((16, 16, 3), 200, np.uint8), size=16)
    copy = ra.StyleStats(style.mean, style.std)
    assert style == style and style != other and style != copy
    assert other not in [style] and [other, style].index(style) == 1 and len({style, other, style}) == 2
    for weights in ({0: 0.7, 1: 0.3}, {0.7, 0.3}, np.array(1.0)):
        with pytest.raises(TypeError, match="weights must be a tuple of numbers"):
            ra.StyleStats.mix([style, other], weights)
    assert torch.equal(ra.StyleStats.mix([style, other], np.array([1.0, 1.0])).mean,
                       ra.StyleStats.mix([style, other], [1, 1]).mean)


def test_stylize_video_takes_huge_mix_weights_as_stylestats_mix_does(stylizer, style, tmp_path, one_thread):
    """`StyleStats.mix([a, b], [1e308, 1e308])` is an even mix; `stylize_video` refused it ("a
    positive, finite sum"): the same video as with [1, 1]."""
    clip = write_video(tmp_path / "in.mp4", gradient_frames(2, 32, 32))
    other = stylizer.style(np.full((16, 16, 3), 200, np.uint8), size=16)
    decoded = []
    for name, mix in (("huge.mp4", [1e308, 1e308]), ("even.mp4", [1, 1])):
        output = ra.stylize_video(clip, tmp_path / name, [style, other], mix=mix, stylizer=stylizer, stabilize="off")
        decoded.append(subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", str(output), "-f", "rawvideo", "-"],
                                      capture_output=True, check=True).stdout)
    assert decoded[0] == decoded[1] and decoded[0]


def test_motion_ahead_checks_its_arguments():
    """`workers="2"` and `workers=None` failed comparing with an int, `1.5` was taken; a str for the
    stabiliser failed at the first frame ("'str' object has no attribute 'luma'")."""
    from realtime_adain.temporal import MotionAhead, Stabilizer

    for workers, error in (("2", TypeError), (None, TypeError), (1.5, TypeError), (0, ValueError)):
        with pytest.raises(error, match="workers"):
            MotionAhead(Stabilizer(), workers=workers)
    with pytest.raises(TypeError, match="stabilizer must be a Stabilizer"):
        MotionAhead("x")


def test_stylize_stream_names_a_missing_iterable(stylizer, style):
    with pytest.raises(TypeError, match="batches must be an iterable"):
        stylizer.stylize_stream(None, style)


@pytest.mark.parametrize("frame, styles, error, words", [
    (np.zeros((8, 8, 3), np.uint8), None, TypeError, "styles must be a sequence of StyleStats"),  # was ValueError
    (np.zeros((8, 8, 3), np.uint8), "second", TypeError, r"styles\[1\] must be StyleStats"),  # was "style must be"
    (np.zeros((8, 8, 3), np.float32), "one", TypeError, "frame must be a uint8 numpy array"),  # was "frames must be"
])
def test_stylize_masked_names_the_argument(stylizer, style, frame, styles, error, words):
    styles = {"second": [style, None], "one": [style]}.get(styles, styles)
    with pytest.raises(error, match=words):
        stylizer.stylize_masked(frame, np.zeros(frame.shape[:2], int), styles)


def test_an_object_that_looks_like_a_pil_image_is_not_one(stylizer):
    """Anything with `.convert` and `.size` was taken for a PIL image, and failed inside the
    conversion ("'Duck' object has no attribute 'info'")."""
    from PIL import Image

    class Duck:
        size = (4, 4)

        def convert(self, mode):
            return self

    with pytest.raises(TypeError, match="image must be a path, a PIL image or a numpy array, got Duck"):
        stylizer.style(Duck())
    assert stylizer.style(Image.new("RGB", (16, 16), (90, 90, 90)), size=16).mean.shape == (512,)


def test_a_video_onto_a_full_disk_leaves_no_folder_it_made(stylizer, style, disk, tmp_path, one_thread):  # noqa: F811
    """`stylize_video(..., "full/seq/%04d.png")` onto a full disk left `full/seq/` behind, empty,
    where the CLI removes the folders a failed command made; one that was there stays."""
    clip = write_video(tmp_path / "in.mp4", gradient_frames(2, 32, 32))
    (disk / "kept").mkdir()
    fill(disk)
    for output in ("new/out.mp4", "full/seq/%04d.png", "kept/out.mp4"):
        with pytest.raises(ra.UserError, match="No space left"):
            ra.stylize_video(clip, disk / output, style, stylizer=stylizer, stabilize="off")
    assert sorted(os.listdir(disk)) == ["filler", "kept"]
