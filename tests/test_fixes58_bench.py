"""Session 58: a bench's hints for the wrong kind of file, and its worker count in words."""

from __future__ import annotations

import pytest
from PIL import Image

from realtime_adain.benchmarks.temporal_report import print_cost
from video_samples import gradient_frames, write_video


def test_bench_video_asks_for_a_video_when_given_a_picture(run_cli, weights_env, tmp_path):
    """Before: "this is an image, not a video (use `realtime-adain image`)", as `video` says: the
    bench stylizes no image (`bench temporal` already asked for a video file)."""
    picture = tmp_path / "tiny.png"
    Image.new("RGB", (8, 8)).save(picture)
    code, _, err = run_cli("bench", "video", "--frames", "2", "--size", "32", "--video", str(picture))
    assert (code, err.strip()) == (2, f"error: {picture}: this is an image, not a video (give a video file)")


@pytest.mark.parametrize("bench, option", [("temporal", "--style"), ("temporal", "--photo"), ("video", "--style")])
def test_a_video_given_as_a_bench_picture_asks_for_an_image(run_cli, weights_env, tmp_path, bench, option):
    """Before: "a video or sound file, not an image (`realtime-adain video` stylizes videos)"."""
    clip = tmp_path / "in.mp4"
    write_video(clip, gradient_frames(2, 32, 24))
    code, _, err = run_cli("bench", bench, "--frames", "2", "--size", "32", option, str(clip))
    assert (code, err.strip()) == (2, f"error: {clip}: a video or sound file, not an image (give an image file)")


def test_one_motion_worker_and_one_thread_are_said_as_one(capsys):
    """Before: "motion on 1 workers", "1 threads (wall)"."""
    ms = {"360p": 1.0}
    print_cost({"per_core": ms, "threads": 1, "default_threads": ms, "motion_per_core": ms, "apply_per_core": ms,
                "motion_workers": 1, "pipelined": ms, "720p_by_call": ms, "precise_apply_per_core": ms,
                "two_pass_strength": 0.5, "two_pass_per_core": ms})
    out = capsys.readouterr().out
    assert "motion on 1 worker," in out and "; 1 thread (wall)" in out and "workers" not in out and "threads" not in out
