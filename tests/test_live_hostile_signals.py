"""Signals during a live session's shutdown: a second Ctrl-C (or SIGTERM) while the outputs are
being finished must not cut that short."""

from __future__ import annotations

import os
import signal

import pytest

from live_support import copy_styles, read_video, write_video
from realtime_adain.live.app import LiveSession
from realtime_adain.live.recorder import Recorder
from realtime_adain.settings import LiveSettings, ModelSettings


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_while_the_recording_is_finished_does_not_lose_it(data_dir, tmp_path, weights_env, one_thread,
                                                                   monkeypatch, signum):
    """A second signal during the shutdown raised KeyboardInterrupt (SIGTERM: killed the process)
    in the middle of finishing the MP4: a hidden .part file was left, no recording, exit -6."""
    clip = write_video(tmp_path / "clip.mp4", frames=12, size=(96, 64))
    styles = copy_styles(data_dir, tmp_path / "styles", names=("trial.jpg",))
    out = tmp_path / "out.mp4"
    settings = LiveSettings(styles=(str(styles),), model=ModelSettings(device="cpu"), source=str(clip), size=32,
                            style_size=64, style_cache=tmp_path / "cache", window=False, output=str(out),
                            max_frames=4, snapshot_dir=tmp_path, record_dir=tmp_path)
    settings.check()
    finish = Recorder.close

    def close_under_fire(recorder: Recorder):
        os.kill(os.getpid(), signum)  # delivered to this (the main) thread before the next line
        return finish(recorder)

    monkeypatch.setattr(Recorder, "close", close_under_fire)
    previous = signal.getsignal(signum)
    assert LiveSession(settings).run() == 0
    assert signal.getsignal(signum) is previous  # the session's own handler is gone again
    assert read_video(out)[0] == 4 and sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []
