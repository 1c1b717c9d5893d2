"""The Python API: docs/api.md's examples run as written; bad arguments name themselves."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from video_samples import gradient_frames, write_video

DOC = Path(__file__).resolve().parents[1] / "docs" / "api.md"


def test_docs_examples_run(weights_env, data_dir, tmp_path, monkeypatch):
    shutil.copy(data_dir / "content" / "sailboat.jpg", tmp_path / "photo.jpg")
    shutil.copy(data_dir / "style" / "brushstrokes.jpg", tmp_path / "starry.jpg")
    shutil.copy(data_dir / "style" / "mondrian.jpg", tmp_path / "b.jpg")
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
])
def test_bad_arguments_name_themselves(stylizer, data_dir, call, error, word):
    from realtime_adain.imageio import read_image

    style = stylizer.style(read_image(data_dir / "style" / "mondrian.jpg"), 32)
    with pytest.raises(error, match=re.escape(word)):
        call(stylizer, style)


def test_api_matches_the_stylizer(stylizer, data_dir):
    """The API's image call is the CLI's computation: same frames, same statistics."""
    from realtime_adain.imageio import fit_short_side, read_image, resize

    photo = read_image(data_dir / "content" / "sailboat.jpg")
    style = stylizer.style(data_dir / "style" / "mondrian.jpg", 64)
    out = stylizer.stylize_image(photo, style, 0.5, size=48)
    small = fit_short_side(photo, 48)
    expected = resize(stylizer.stylize(small, stylizer.style_stats(read_image(data_dir / "style" / "mondrian.jpg"), 64), 0.5),
                      photo.shape[1::-1])
    assert np.array_equal(out, expected)
