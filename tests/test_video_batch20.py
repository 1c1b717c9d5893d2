"""`--batch` within the pixel budget: the network's memory grows with the pixels of a batch, and
`--batch` had no bound but the clip's length (`video --batch 240` on cutBunny at its 640x360
stacked the whole clip into one network call: tens of GiB of features on a CPU, the machine out
of memory instead of one line)."""

from __future__ import annotations

import subprocess
import sys
from fractions import Fraction

import numpy as np
import pytest

from live_support import cli_env
from test_hostile_environment import limit_address_space
from video_samples import probe, write_video


@pytest.mark.slow  # (default run's time: 3 s)
def test_video_lowers_a_batch_over_the_pixel_budget_and_says_so(weights_env, run_cli, tmp_path, data_dir):
    """`--batch 8` of 48x32 frames (1536 pixels each) with `--max-pixels 4000`: two frames a call,
    said in one line; the output has every frame."""
    clip = tmp_path / "clip.mp4"
    write_video(clip, [np.full((32, 48, 3), 10 * i, np.uint8) for i in range(6)], time_base=Fraction(1, 12))
    out = tmp_path / "out.mp4"
    code, _, err = run_cli("video", clip, "-s", data_dir / "style/trial.jpg", "-o", out, "--device", "cpu",
                           "--size", "0", "--batch", "8", "--max-pixels", "4000", "--stabilize", "off")
    assert code == 0, err
    assert "--batch 8 lowered to 2: a batch holds at most --max-pixels (4000) pixels, and a frame is 48x32" in err
    assert len(probe(out).pts) == 6


@pytest.mark.slow  # (10-16 s: the default run keeps within its 10 minutes; `-m slow` runs it)
def test_a_batch_the_machine_cannot_hold_names_the_batch(published_weights, tmp_path, data_dir):
    """A batch of 16 of cutBunny's 640x360 frames within the pixel budget but not within 5 GiB of
    address space: the one line said 'lower --size' when a batch of one fits (checked beside it)."""
    env, outputs = cli_env(published_weights, tmp_path / "home"), tmp_path / "outputs"
    outputs.mkdir()
    for batch in (16, 1):
        out = outputs / f"batch{batch}.mp4"
        done = subprocess.run([sys.executable, "-m", "realtime_adain", "video", data_dir / "videos/cutBunny.mp4",
                               "-s", data_dir / "style/trial.jpg", "--style-size", "64", "--frames", str(batch),
                               "--batch", str(batch), "--threads", "1", "--stabilize", "off", "-o", out],
                              capture_output=True, text=True, env=env, preexec_fn=limit_address_space(5 << 20),
                              timeout=240)
        if batch == 16:
            assert done.returncode == 2 and done.stderr.strip().splitlines()[-1] == (
                f"error: {data_dir / 'videos/cutBunny.mp4'}: out of memory; lower --batch or --size"), done.stderr
            assert not list(outputs.iterdir())  # no output, no partial
        else:
            assert done.returncode == 0 and len(probe(out).pts) == 1, done.stderr


@pytest.mark.slow  # (default run's time: 2 s)
def test_stylize_frames_cuts_batches_at_max_pixels(stylizer, one_thread):
    """The Python API: `batch=64` of 32x32 frames with `max_pixels=2048` gives the network two
    frames at a time (it took 64); the results are those of one frame at a time."""
    style = stylizer.style(np.random.default_rng(0).integers(0, 256, (32, 32, 3), np.uint8))
    frames = [np.random.default_rng(i).integers(0, 256, (32, 32, 3), np.uint8) for i in range(5)]
    seen: list[int] = []
    stream = stylizer.stylize_stream

    def recording(batches, style, alpha):
        def counted():
            for batch in batches:
                seen.append(len(batch))
                yield batch
        return stream(counted(), style, alpha)

    stylizer.stylize_stream = recording
    try:
        together = list(stylizer.stylize_frames(frames, style, batch=64, max_pixels=2048))
    finally:
        del stylizer.stylize_stream
    assert seen == [2, 2, 1]
    alone = list(stylizer.stylize_frames(frames, style, batch=1))
    assert len(together) == 5
    for a, b in zip(together, alone):
        assert np.abs(a.astype(int) - b).max() <= 1


@pytest.mark.parametrize("bad", ["0", "-1", "x", "1e3", ""])
def test_video_refuses_a_bad_batch_in_one_line(weights_env, run_cli, tmp_path, data_dir, bad):
    code, _, err = run_cli("video", data_dir / "videos/cutBunny.mp4", "-s", data_dir / "style/trial.jpg",
                           "-o", tmp_path / "o.mp4", "--batch", bad)
    assert code != 0 and "Traceback" not in err and not (tmp_path / "o.mp4").exists()


def test_bench_video_refuses_a_batch_that_video_would_lower(weights_env, run_cli, tmp_path, data_dir):
    """`bench video --batch 64 --resolution 1280x720` ran `video` at 18 frames a call (its pixel
    budget) while the table said "batch 64": refused up front, before any timing."""
    code, out, err = run_cli("bench", "video", "--video", data_dir / "videos/cutBunny.mp4", "--style",
                             data_dir / "style/trial.jpg", "--batch", "64", "--resolution", "1280x720",
                             "--frames", "2", "--device", "cpu")
    assert (code, out) == (2, "")
    assert err == ("error: --batch 64 of 1280x720 frames is over the 16777216 pixels a call that `video` holds "
                   "(at most 18 such frames); lower --batch or --size\n")
