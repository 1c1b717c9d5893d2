"""The console command under a low limit on processes and threads (`ulimit -u`).

The thread pools of OpenMP (torch), OpenBLAS (numpy) and OpenCV start one thread per CPU when the
libraries load or first compute, and one that could not start its threads killed the run:
libgomp's "Thread creation failed" (exit 1), OpenBLAS's "pthread_create failed" then SIGINT
("interrupted", 130). Now the soft limit is raised if the hard one allows it, or the pools get
one thread each, with a note.
"""

from __future__ import annotations

import os
import subprocess
import sys

import av
import pytest

from realtime_adain.limits import THREAD_POOL_SETTINGS
from test_train_changing_data import PROCESS_LIMIT_GROUP, tasks_now, under_process_limit

pytestmark = PROCESS_LIMIT_GROUP


def run_under(limit, weights, out, args):  # noqa: ANN001
    """`realtime-adain ARGS` in its own process under `limit` (a preexec function), with the
    libraries' thread pools at their defaults."""
    vgg, decoder = weights
    env = {name: value for name, value in os.environ.items() if name not in THREAD_POOL_SETTINGS}
    env.update(REALTIME_ADAIN_VGG=str(vgg), REALTIME_ADAIN_DECODER=str(decoder),
               REALTIME_ADAIN_HOME=str(out.parent / "home"))
    return subprocess.run([sys.executable, "-m", "realtime_adain", *map(str, args)],
                          capture_output=True, text=True, timeout=120, preexec_fn=limit, env=env)


def stylize_image_under(limit, data_dir, weights, out):  # noqa: ANN001
    return run_under(limit, weights, out, ["image", data_dir / "content" / "cornell.jpg",
                                           "-s", data_dir / "style" / "brushstrokes.jpg", "-o", out, "--size", "32"])


def stylize_video_under(limit, data_dir, weights, out):  # noqa: ANN001
    return run_under(limit, weights, out, ["video", data_dir / "videos" / "cutBunny.mp4", "-s", data_dir / "style" / "trial.jpg",
                                           "--size", "32", "--style-size", "32", "--frames", "5", "-o", out])


@pytest.mark.slow  # (a fresh interpreter under ulimit (6-13 s); the video case runs by default)
def test_image_at_a_limit_without_room_for_thread_pools_runs_them_with_one_thread(data_dir, published_weights,
                                                                                   tmp_path):
    """No room for one more thread (`prlimit --nproc=N`, soft and hard): OpenBLAS's
    `pthread_create failed` and "interrupted" (130) before; one note and the picture now."""
    limit = tasks_now() + 1
    out = tmp_path / "out.png"
    done = stylize_image_under(under_process_limit(limit, limit), data_dir, published_weights, out)
    assert done.returncode == 0, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(f"note: the limit on processes and threads is {limit} (`ulimit -u`) and "), lines[0]
    assert lines[0].endswith(": they run one thread each (slower); raise the limit for full speed"), lines[0]
    assert out.stat().st_size > 0


@pytest.mark.slow  # (a fresh interpreter under ulimit (8-16 s); the video case runs by default)
def test_image_at_a_low_soft_limit_raises_it(data_dir, published_weights, tmp_path):
    """A soft limit with no room under a high hard one is raised as far as the pools want: no note."""
    soft = tasks_now() + 1
    out = tmp_path / "out.png"
    done = stylize_image_under(under_process_limit(soft, soft + 200), data_dir, published_weights, out)
    assert done.returncode == 0, done.stderr
    assert "note:" not in done.stderr and "Traceback" not in done.stderr, done.stderr
    assert out.stat().st_size > 0


@pytest.mark.slow  # (default run's time: 4 s)
def test_video_at_a_limit_without_room_for_its_threads_runs_with_one_thread_each(data_dir, published_weights,
                                                                                tmp_path):
    """`video` under `ulimit -u` with room for its stages but not for the pools: x264 did not open
    ("Generic error in an external library"), FFmpeg's threads taking what was left. Now FFmpeg's
    codecs run one thread each too, and the clip is written. (It needs 7 here, more under load:
    a thread pool starts its workers as work queues up; the pools want about 25 on 2 CPUs.)"""
    limit = tasks_now() + 16
    out = tmp_path / "out.mp4"
    done = stylize_video_under(under_process_limit(limit, limit), data_dir, published_weights, out)
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip().startswith("note: the limit on processes and threads is "), done.stderr
    assert "error" not in done.stderr.lower(), done.stderr
    with av.open(str(out)) as container:
        assert sum(1 for _ in container.decode(video=0)) == 5


@pytest.mark.slow  # about 20 s: six runs
def test_video_at_limits_too_low_to_run_is_one_line_never_a_crash(data_dir, published_weights, tmp_path):
    """Where even one thread each does not fit, one line and exit 2: a pipeline thread that could
    not start left the decoder thread inside FFmpeg while the process ended (a segmentation fault,
    -11, after the error line)."""
    for extra in range(1, 7):
        limit = tasks_now() + extra
        out = tmp_path / f"out{extra}.mp4"
        done = stylize_video_under(under_process_limit(limit, limit), data_dir, published_weights, out)
        lines = done.stderr.strip().splitlines()
        assert done.returncode in (0, 2) and "Traceback" not in done.stderr and "Fatal" not in done.stderr, (extra, done)
        if done.returncode == 2:
            assert lines[-1].startswith("error: ") and "ulimit -u" in lines[-1], (extra, lines)
            assert not out.exists()


@pytest.mark.slow  # (about 10 s alone)
def test_live_whose_inference_thread_cannot_start_names_the_limit(data_dir, published_weights, tmp_path):
    """`live` with room for its start but not for its stylizing thread's: the session ended with
    `reason="RuntimeError: can't start new thread"`, which named no limit; a little less room
    and the shutdown joined the thread that never started ("cannot join thread before it is
    started", a traceback). How many threads a run starts depends on timing (a thread pool
    starts its workers as work queues up; under load, fewer or more), so the limits around that
    room are tried in turn, from little room (one line naming the -o file) to enough:
    each run ends in one line naming the limit, and with no traceback."""
    named = 0
    for extra in (3, 4, 5, 6, 7):
        limit = tasks_now() + extra
        out = tmp_path / f"live{extra}.mp4"
        done = run_under(under_process_limit(limit, limit), published_weights, out,
                         ["live", "--source", data_dir / "videos" / "cutBunny.mp4", "-s", data_dir / "style" / "trial.jpg",
                          "--size", "32", "--style-size", "32", "--no-window", "--max-frames", "3", "-o", out])
        assert "Traceback" not in done.stderr and "RuntimeError" not in done.stderr, (extra, done.stderr)
        if done.returncode:
            assert done.returncode in (1, 2), (extra, done.stderr)
            named += "cannot start a thread: the limit on processes and threads is reached (`ulimit -u`)" in done.stderr
    assert named, "no run met the limit"
