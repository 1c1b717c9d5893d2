"""Session 46: a `video` run over several outputs stopped by a full disk or a full standard
output says what was made and what was never tried, as `image` does."""

from __future__ import annotations

import sys

import pytest

from realtime_adain.cli import main as cli_main
from video_samples import gradient_frames, write_video


@pytest.mark.slow  # (default run's time: 3 s)
def test_a_report_to_a_full_stdout_says_the_outputs_made_and_not_tried(weights_env, data_dir, tmp_path, one_thread,
                                                                        capsys, monkeypatch):
    """`video a.mp4 b.mp4 --json >/dev/full` said the first output was written and nothing of the
    second, never tried (h5)."""
    for name in ("a", "b"):
        write_video(tmp_path / f"{name}.mp4", gradient_frames(2, 32, 32))
    with open("/dev/full", "w") as full:
        monkeypatch.setattr(sys, "stdout", full)
        code = cli_main(["video", str(tmp_path / "a.mp4"), str(tmp_path / "b.mp4"), "-s",
                         str(data_dir / "style" / "mondrian.jpg"), "--size", "32", "--stabilize", "off",
                         "-o", str(tmp_path / "out") + "/", "--json"])
    made = tmp_path / "out" / "a_stylized_mondrian.mp4"
    assert code == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        f"error: standard output: cannot write (No space left on device); {made} was written; "
        "stopped there: 1 of 2 outputs written, 1 not tried")
    assert sorted(path.name for path in (tmp_path / "out").iterdir()) == [made.name]
