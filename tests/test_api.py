"""The Python API: docs/api.md's examples run as written; bad arguments name themselves."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from video_samples import gradient_frames, write_video

DOC = Path(__file__).resolve().parents[1] / "docs" / "api.md"


@pytest.mark.slow  # (default run's time, 2026-12-07: 20 s; README's example runs by default)
def test_docs_examples_run(weights_env, docs_pictures, tmp_path, monkeypatch, one_thread):
    write_video(tmp_path / "in.mp4", gradient_frames(4, 64, 48), audio="aac")
    monkeypatch.chdir(tmp_path)
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S)
    assert len(blocks) >= 4
    namespace: dict = {}
    for block in blocks:
        exec(compile(block, str(DOC), "exec"), namespace)
    assert (tmp_path / "photo_starry.png").is_file() and (tmp_path / "out.mp4").is_file()


def test_import_loads_no_model_and_no_torch():
    code = "import sys, realtime_adain as ra; assert 'torch' not in sys.modules and 'cv2' not in sys.modules; print(ra.__all__)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "Stylizer" in result.stdout and "stylize_video" in result.stdout


def video(current, stats, /, **changes):
    """`stylize_video` with one argument changed (every bad one is refused before a file is opened)."""
    import realtime_adain as ra

    arguments = {"source": "in.mp4", "output": "out.mp4", "style": stats, "stylizer": current, **changes}
    return ra.stylize_video(**arguments)


@pytest.mark.parametrize("call, error, word", [
    (lambda st, s: st.stylize_image(np.zeros((8, 8, 3), np.float32), s), TypeError, "uint8"),
    (lambda st, s: st.stylize_image(np.zeros((8, 8, 4), np.uint8), s), ValueError, "image"),
    (lambda st, s: st.stylize_image(object(), s), TypeError, "image"),
    (lambda st, s: st.stylize_image(np.zeros((8, 8, 3), np.uint8), "starry"), TypeError, "style"),
    (lambda st, s: st.stylize_image(np.zeros((8, 8, 3), np.uint8), s, alpha=float("nan")), ValueError, "alpha"),
    (lambda st, s: st.stylize_image(np.zeros((8, 8, 3), np.uint8), s, alpha="1"), TypeError, "alpha"),
    (lambda st, s: st.stylize_image(np.zeros((8, 8, 3), np.uint8), s, size=-1), ValueError, "size"),
    (lambda st, s: list(st.stylize_frames([np.zeros((8, 8, 3), np.uint8)], s, batch=0)), ValueError, "batch"),
    (lambda st, s: list(st.stylize_frames([np.zeros((8, 8), np.float64)], s)), TypeError, "frames[0]"),
    (lambda st, s: st.style(np.zeros((0, 8, 3), np.uint8)), ValueError, "image"),
    # Checked at the call, before the first frame is asked for (issue #13).
    (lambda st, s: st.stylize_frames(5, s), TypeError, "frames must be an iterable"),
    (lambda st, s: st.stylize_frames(np.zeros((8, 8, 3), np.uint8), s), ValueError, "frames must be an (N, H, W, 3) array"),
    (lambda st, s: st.stylize_frames([np.zeros((8, 8, 3), np.uint8)], "starry"), TypeError, "style must be StyleStats"),
    (lambda st, s: st.stylize_frames([np.zeros((8, 8, 3), np.uint8)], s, alpha="1"), TypeError, "alpha"),
    (lambda st, s: st.stylize_frames([np.zeros((8, 8, 3), np.uint8)], s, batch="2"), TypeError, "batch"),
    # Each frame when it is reached.
    (lambda st, s: list(st.stylize_frames([np.zeros((8, 8, 3), np.float32)], s)), TypeError, "frames[0] must be uint8"),
    (lambda st, s: list(st.stylize_frames([np.zeros((1, 8, 8, 3), np.uint8)], s)), ValueError, "frames[0] must be (H, W, 3)"),
    (lambda st, s: st.stylize_image(np.zeros((8, 8, 3), np.uint8), s, size="48"), TypeError, "size"),
    (lambda st, s: st.style(np.zeros((8, 8, 3), np.uint8), -3), ValueError, "size must be at least 0"),
    (lambda st, s: st.load(vgg=5), TypeError, "vgg must be a path"),
    (lambda st, s: st.load(device=0), TypeError, "device must be a str"),
    (lambda st, s: video(st, s, source=5), TypeError, "source must be a path"),
    (lambda st, s: video(st, s, style=[]), ValueError, "style must name at least one style"),
    (lambda st, s: video(st, s, style=7), TypeError, "style must be a path"),
    (lambda st, s: video(st, s, size=-1), ValueError, "size must be at least 0"),
    (lambda st, s: video(st, s, frames=2.5), TypeError, "frames must be a whole number"),
    (lambda st, s: video(st, s, style=[s, s], mix="ab"), TypeError, "mix must be a tuple of numbers"),
    (lambda st, s: video(st, s, style=[s, s], mix=[1, "a"]), TypeError, "mix[1]"),
    (lambda st, s: video(st, s, stabilize="wobble"), ValueError, "stabilize must be one of"),
    (lambda st, s: video(st, s, stabilize_strength=2), ValueError, "stabilize_strength must be in [0, 1]"),
    (lambda st, s: video(st, s, stabilize_passes=3), ValueError, "stabilize_passes must be 1 or 2"),
    (lambda st, s: video(st, s, stabilize_passes=0), ValueError, "stabilize_passes must be at least 1"),
    (lambda st, s: video(st, s, stabilize_passes=2.0), TypeError, "stabilize_passes must be a whole number"),
    (lambda st, s: video(st, s, stabilize="stats", stabilize_passes=2), ValueError, "stabilize_passes needs"),
    (lambda st, s: video(st, s, stabilize="off", stabilize_passes=1), ValueError, "stabilize_passes needs"),
    (lambda st, s: video(st, s, stabilize="off", stabilize_strength=0.5), ValueError, "stabilize_strength needs"),
    (lambda st, s: video(st, s, stylizer="st"), TypeError, "stylizer must be Stylizer"),
    (lambda st, s: video(st, s, crf="high"), TypeError, "crf"),
    (lambda st, s: video(st, s, crf=1000), ValueError, "crf 1000 is outside"),
    (lambda st, s: video(st, s, codec="nope"), ValueError, "unknown video encoder 'nope'"),
])
def test_bad_arguments_name_themselves(stylizer, data_dir, call, error, word):
    from realtime_adain.imageio import read_image

    style = stylizer.style(read_image(data_dir / "style" / "mondrian.jpg"), 32)
    with pytest.raises(error, match=re.escape(word)):
        call(stylizer, style)


@pytest.mark.parametrize("mode", ["stats", "both"])
def test_statistics_smoothing_with_another_engine_is_refused_before_any_file(mode, published_weights, data_dir):
    """A stylizer whose `auto` engine became onnx (an export was cached) was refused only once the
    output was open, in the CLI's words (--stabilize)."""
    from realtime_adain.imageio import read_image
    from realtime_adain.stylizer import Stylizer

    compiled = Stylizer.load(*published_weights, device="cpu", engine="compile")  # (compiles at the first frame only)
    style = compiled.style(read_image(data_dir / "style" / "mondrian.jpg"), 32)
    with pytest.raises(ValueError, match=re.escape(f"stabilize='{mode}' smooths statistics inside the network, which "
                                                   "only the eager engine can do; this stylizer runs compile (load it "
                                                   "with engine='eager')")):
        video(compiled, style, stabilize=mode)


def test_api_matches_the_stylizer(stylizer, data_dir):
    """The API's image call is the CLI's computation: same frames, same statistics."""
    from realtime_adain.imageio import read_image
    from realtime_adain.picture_sizes import fit_short_side, resize

    photo = read_image(data_dir / "content" / "sailboat.jpg")
    style = stylizer.style(data_dir / "style" / "mondrian.jpg", 64)
    out = stylizer.stylize_image(photo, style, 0.5, size=48)
    small = fit_short_side(photo, 48)
    expected = resize(stylizer.stylize(small, stylizer.style_stats(read_image(data_dir / "style" / "mondrian.jpg"), 64), 0.5),
                      photo.shape[1::-1])
    assert np.array_equal(out, expected)
