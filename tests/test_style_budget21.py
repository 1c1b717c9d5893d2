"""Style images too large at the style size, in `live`, `serve` and `bench video`.

A style is encoded at `--style-size` (its shorter side): a strip 1 pixel high became 512x102400
pixels. `live` with such a style used 23 GB in 46 s and was ended by the OOM killer (no line, no
output); a `serve` upload of 2000x1 (within the upload's pixel limit) did the same to the server.
`video` and the Python API refuse such styles too (tests/test_video_cli.py, tests/test_api21.py).
"""

from __future__ import annotations

import cv2
import numpy as np

from realtime_adain.imageio import write_image
from test_serve import registry, uploaded  # noqa: F401  (a fixture)


def test_live_refuses_a_style_too_large_at_its_size_and_goes_on_with_the_others(run_cli, weights_env, data_dir,
                                                                               tmp_path):
    thin = tmp_path / "thin.png"
    write_image(thin, np.zeros((1, 2000, 3), np.uint8))  # (at --style-size 64: 128000x64)
    clip, out = data_dir / "videos" / "cutBunny.mp4", tmp_path / "out.mp4"
    common = ["live", "--source", clip, "--size", "32", "--style-size", "64", "--no-window", "--max-frames", "2",
              "-o", out]
    code, _, err = run_cli(*common, "-s", thin)
    assert code == 2 and err.strip() == (  # (one line: it was said as a note first, then as the error)
        f"error: no usable style image ({thin}: 2000x1 at --style-size 64 is 128000x64, longer than 16384 pixels "
        "on a side (--style-size 8 or less fits))"), err
    assert not out.exists()
    code, _, err = run_cli(*common, "-s", thin, "-s", data_dir / "style" / "trial.jpg")
    assert code == 0 and f"note: {thin}: 2000x1 at --style-size 64 is 128000x64" in err and "style left out" in err, err
    assert out.stat().st_size > 0


def test_serve_refuses_an_upload_too_large_at_its_style_size(stylizer, registry):  # noqa: F811
    strip = cv2.imencode(".png", np.zeros((1, 2000, 3), np.uint8))[1].tobytes()  # 2000 pixels: within the upload limit
    status, body = uploaded(stylizer, registry, strip)
    assert status == 413, body
    assert body["error"] == ("the image is 2000x1: at this server's style size (64) it would be 128000x64, more "
                             "than 16384 pixels a side or 16777216 in all"), body
    assert not any(path.name.startswith("upload-") for path in registry.upload_dir.iterdir())


def test_bench_video_refuses_a_style_too_large_at_its_size_before_timing(run_cli, data_dir, tmp_path):
    """`bench video --style` a 1x200 strip ran 9 minutes to the OOM killer (23 GB), the reference
    loop encoding it at 512x102400 for every frame."""
    thin = tmp_path / "thin.png"
    write_image(thin, np.zeros((1, 200, 3), np.uint8))
    code, out, err = run_cli("bench", "video", "--video", data_dir / "videos" / "cutBunny.mp4", "--style", thin,
                             "--size", "32", "--frames", "2")
    assert code == 2 and not out, out
    assert err.strip() == (f"error: {thin}: 200x1 at --style-size 512 is 102400x512, longer than 16384 pixels on a "
                           "side (--style-size 81 or less fits)"), err
