"""Live outputs under hostile conditions: a source whose frame rate is absurd, a disk that fills
while a recording or a snapshot is being finished, a log file that cannot be written."""

from __future__ import annotations

import os
import threading
import time

import numpy as np
import pytest

from live_support import FAST, copy_styles, read_video
from realtime_adain.live.controller import Controller
from realtime_adain.live.effects import KeyEffects
from realtime_adain.live.inference import Result
from realtime_adain.live.outputs import output_rate
from realtime_adain.live.recorder import Recorder
from realtime_adain.live.sources import Frame
from test_full_disk import FILLER, disk, fill  # noqa: F401


@pytest.mark.parametrize("fps", [1 / 20000, 1e-300, 1e308, 90000.0, float("nan")])
def test_a_recording_plays_whatever_frame_rate_the_source_claims(tmp_path, fps, capsys):
    """A file with one frame in 5.5 hours (average rate 1/20000) as the source: the rate rounded
    to 0 and the encoder thread died of ZeroDivisionError (a traceback), the recording was lost."""
    events = []
    recorder = Recorder(tmp_path / "rec.mp4", (32, 24), fps, lambda event, **f: events.append((event, f)))
    for i in range(3):
        recorder.submit(np.full((24, 32, 3), 60 * i, np.uint8), 100.0 + i * 0.5)
    assert recorder.close() == tmp_path / "rec.mp4" and recorder.error is None, events
    assert read_video(tmp_path / "rec.mp4") == (3, 32, 24)
    assert 1 <= float(output_rate(fps)) <= 240 and "Traceback" not in capsys.readouterr().err


def test_an_unexpected_error_in_the_encoder_thread_is_said_not_a_traceback(tmp_path, capsys):
    events = []
    recorder = Recorder(tmp_path / "rec.mp4", (32, 24), 24.0, lambda event, **f: events.append((event, f)))
    recorder.submit(np.zeros((24, 32), np.uint8), 1.0)  # not RGB: PyAV refuses it with a ValueError
    recorder.close()
    assert recorder.error and events and events[0][0] == "output-error"
    assert "Traceback" not in capsys.readouterr().err and not list(tmp_path.iterdir())


def effects(tmp_path, snapshot_dir, record_dir, failed=lambda recorder: None):
    events = []
    done = KeyEffects(lambda event, **f: events.append((event, f)), threading.Event(), Controller(["a"]), None,
                      snapshot_dir, record_dir, (32, 24), 24.0, failed=failed)
    return done, events


def test_a_recording_that_fails_while_finishing_is_reported(disk, tmp_path):
    """Key `r` twice onto a disk that filled meanwhile: the file could not be finalised and the log
    said only `record-stop path=""` (exit status 0)."""
    failures = []
    keys, events = effects(tmp_path, tmp_path, disk, failed=failures.append)
    keys.toggle_recording()
    for i in range(5):  # tiny frames: all of it still in FFmpeg's buffer when the disk fills
        keys.recorder.submit(np.full((24, 32, 3), 100, np.uint8), i / 24)
    time.sleep(0.5)
    fill(disk)
    recorder = keys.recorder
    keys.toggle_recording()
    keys.join(30)
    assert failures == [recorder] and "No space left" in recorder.error
    # (frames: those it was given, lost with it: nothing was kept (session 54; it said those the file took, 0))
    assert ("record-stop", {"path": recorder.path, "frames": 5, "dropped": 0, "kept": "none"}) in events
    assert [p.name for p in disk.iterdir()] == [FILLER]


def test_a_snapshot_is_both_pictures_or_neither(disk, tmp_path):
    """The stylized PNG fit on the disk, the original did not: half a snapshot was left."""
    keys, events = effects(tmp_path, disk, tmp_path)
    noise = np.random.default_rng(0).integers(0, 256, (360, 640, 3), dtype=np.uint8)  # does not compress
    result = Result(Frame(noise, 0.0, 1), noise[:24, :32], np.full((24, 32, 3), 7, np.uint8))
    fill(disk, leave=64_000)
    keys.perform(keys.controller.apply("snapshot"), result)
    keys.join(30)
    assert events[-1][0] == "snapshot-failed" and "No space left" in events[-1][1]["reason"]
    assert [p.name for p in disk.iterdir()] == [FILLER]


def test_a_log_file_that_cannot_be_written_loses_no_recording(run_cli, weights_env, data_dir, tmp_path, one_thread):
    """`live --log /dev/full -o out.mp4`: the first log line raised out of the session start, every
    later one again in the shutdown ("error: No space left on device", no file named, exit 2)."""
    styles = copy_styles(data_dir, tmp_path / "styles", names=("trial.jpg",))
    out = tmp_path / "out.mp4"
    code, _, err = run_cli("live", "--source", data_dir / "videos" / "cutBunny.mp4", "--styles", styles,
                           "--no-window", "-o", out, "--max-frames", "3", "--log", "/dev/full", *FAST)
    assert code == 1 and err.count('live: log-failed path=/dev/full reason="No space left on device"') == 1, err
    assert "error:" not in err and "live: session frames_shown=3" in err
    assert read_video(out)[0] == 3


def test_a_log_fifo_is_written_while_read_and_refused_unread(run_cli, weights_env, data_dir, tmp_path, one_thread):
    """`--log FIFO` with nothing reading it: the open blocked for good, before the session began."""
    styles = copy_styles(data_dir, tmp_path / "styles", names=("trial.jpg",))
    fifo = tmp_path / "events"
    os.mkfifo(fifo)
    args = ("live", "--source", data_dir / "videos" / "cutBunny.mp4", "--styles", styles, "--no-window",
            "--max-frames", "2", "--log", fifo, *FAST)
    code, _, err = run_cli(*args, "-o", tmp_path / "a.mp4")
    assert code == 2 and err == f"error: {fifo}: a FIFO that nothing reads; start its reader first, or give --log a file\n"
    assert not (tmp_path / "a.mp4").exists()
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # a reader (the lines wait in the pipe's buffer)
    try:
        code, _, err = run_cli(*args, "-o", tmp_path / "b.mp4")
        lines = os.read(reader, 1 << 16).splitlines()
    finally:
        os.close(reader)
    assert code == 0, err
    assert any(line.startswith(b"live: session frames_shown=2") for line in lines), lines


@pytest.mark.parametrize("target", ["source", "style", "output"])
def test_the_log_never_appends_to_an_input_or_the_recording(run_cli, weights_env, data_dir, tmp_path, target):
    """`--log clip.mp4` (or a style image in a --styles folder) appended event lines to it."""
    clip = tmp_path / "clip.mp4"
    clip.write_bytes((data_dir / "videos" / "cutBunny.mp4").read_bytes())
    styles = copy_styles(data_dir, tmp_path / "styles", names=("trial.jpg",))
    out = tmp_path / "out.mp4"
    log = {"source": clip, "style": styles / "trial.jpg", "output": out}[target]
    before = log.read_bytes() if log.exists() else None
    code, _, err = run_cli("live", "--source", clip, "--styles", styles, "--no-window", "-o", out, "--max-frames", "2",
                           "--log", log, *FAST)
    assert code == 2 and err.count("\n") == 1 and err.startswith(f"error: {log}: --log would write into"), err
    assert (log.read_bytes() if log.exists() else None) == before


def test_snapshots_and_recordings_never_overwrite_one_another(tmp_path, monkeypatch):
    """Names are stamped to the millisecond: two keys within one, or a clock set back, reused a name
    and the newer file replaced the older."""
    import realtime_adain.live.effects as effects_module

    monkeypatch.setattr(effects_module, "_stamp", lambda: "20250101-120000-000")
    (tmp_path / "live-20250101-120000-000-original.png").write_bytes(b"an earlier session's")
    keys, events = effects(tmp_path, tmp_path, tmp_path)
    frame = np.full((24, 32, 3), 90, np.uint8)
    result = Result(Frame(frame, 0.0, 1), frame, frame)
    for _ in range(2):
        keys.perform(keys.controller.apply("snapshot"), result)
        keys.toggle_recording()
        keys.recorder.submit(frame, 0.0)
        keys.toggle_recording()
    keys.join(30)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == sorted(["live-20250101-120000-000-original.png", "live-20250101-120000-000.mp4",
                     "live-20250101-120000-000-2-original.png", "live-20250101-120000-000-2-stylized.png",
                     "live-20250101-120000-000-2.mp4",
                     "live-20250101-120000-000-3-original.png", "live-20250101-120000-000-3-stylized.png"]), names
    assert (tmp_path / "live-20250101-120000-000-original.png").read_bytes() == b"an earlier session's"
