"""Fixes of session 38: `live` where threads are short (`ulimit -u`, memory)."""

from __future__ import annotations

import contextlib
import threading
from typing import Iterator

import numpy as np
import pytest

from live_support import read_video
from realtime_adain.live.controller import Controller
from realtime_adain.live.effects import KeyEffects
from test_thread_limits import run_under
from test_train_changing_data import PROCESS_LIMIT_GROUP, tasks_now, under_process_limit

NO_THREAD = "cannot start a thread: the limit on processes and threads is reached (`ulimit -u`), or memory is short"


@contextlib.contextmanager
def no_thread_can_start() -> Iterator[None]:
    """Python's new threads ask for a stack no address space holds: each start fails with "can't
    start new thread", as where `ulimit -u` or `ulimit -v` (`prlimit --as`) leaves no room for one."""
    before = threading.stack_size(1 << 60)
    try:
        yield
    finally:
        threading.stack_size(before)


def key_effects(record_dir):  # noqa: ANN001
    events = []
    keys = KeyEffects(lambda event, **fields: events.append((event, fields)), threading.Event(), Controller(["a"]),
                      None, record_dir, record_dir, (32, 24), 24.0)
    return keys, events


def test_a_recording_whose_thread_cannot_start_is_refused_and_the_session_goes_on(tmp_path):
    """Key `r` where no thread could start: the RuntimeError ended the whole session (`error: cannot
    start a thread ...`, exit status 2), with no `record-failed` line. Now that line, no .part file
    left, and the next `r` records."""
    keys, events = key_effects(tmp_path)
    with no_thread_can_start():
        keys.toggle_recording()
    assert keys.recorder is None
    assert [event for event, _ in events] == ["record-failed"], events
    assert events[0][1]["reason"].endswith(f": {NO_THREAD}"), events
    assert list(tmp_path.iterdir()) == []
    keys.toggle_recording()
    keys.recorder.submit(np.full((24, 32, 3), 90, np.uint8), 0.0)
    keys.toggle_recording()
    keys.join(30)
    assert [path.suffix for path in tmp_path.iterdir()] == [".mp4"], events


def test_a_recording_stopped_where_no_thread_can_start_is_finished_there_and_kept(tmp_path):
    """Key `r` again, to stop, where no thread could start for the finishing: the session ended and
    the recording was lost. Now it is finished at once, on the session's thread, and plays."""
    keys, events = key_effects(tmp_path)
    keys.toggle_recording()
    recorder = keys.recorder
    for i in range(3):
        recorder.submit(np.full((24, 32, 3), 40 * i, np.uint8), i / 24)
    with no_thread_can_start():
        keys.toggle_recording()
    keys.join(30)  # (nothing left to wait for)
    assert ("record-stop", {"path": recorder.path, "frames": 3, "dropped": 0}) in events, events
    assert read_video(recorder.path) == (3, 32, 24)


@pytest.mark.slow  # (default run's time: 4 s)
@PROCESS_LIMIT_GROUP
def test_live_at_a_limit_that_reduces_the_thread_pools_writes_its_recording(data_dir, published_weights, tmp_path):
    """`live` under `ulimit -u` with room for its own threads but not for FFmpeg's: its decoder,
    x264 and swscale each started one a CPU anyway (as `video` no longer does), and the recording
    failed with "Resource temporarily unavailable" (a little less room: the source was lost, or a
    good file said to have no frames). Now they run one thread each, and the clip is written. (On 2
    CPUs it needs 7 here, and needed 12.)"""
    limit = tasks_now() + 9
    out = tmp_path / "live.mp4"
    done = run_under(under_process_limit(limit, limit), published_weights, out,
                     ["live", "--source", data_dir / "videos" / "cutBunny.mp4", "-s", data_dir / "style" / "trial.jpg",
                      "--size", "32", "--style-size", "32", "--no-window", "--max-frames", "5", "-o", out])
    assert done.returncode == 0, done.stderr
    assert done.stderr.startswith("note: the limit on processes and threads is "), done.stderr
    assert "error" not in done.stderr and "failed" not in done.stderr and "lost" not in done.stderr, done.stderr
    assert read_video(out)[0] == 5
