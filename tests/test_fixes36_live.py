"""Fixes of session 36: the live session's outputs."""

from __future__ import annotations

import resource

from live_support import read_video, record_noise
from realtime_adain.live.outputs import Recorder


def test_a_recording_past_the_file_size_limit_stops_at_once_and_plays(tmp_path):
    """`ulimit -f` (RLIMIT_FSIZE): reserving room past it fails with EFBIG, which was taken as a file
    system without fallocate; FFmpeg's writes then failed unseen until the end, every frame encoded
    for nobody and the recording lost. Now the limit stops it as a full disk does: at once, the
    frames up to there kept in a partial that plays."""
    out, events = tmp_path / "rec.mp4", []
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (400_000, hard))
    try:
        recorder = Recorder(out, (160, 120), 24.0, log=lambda event, **fields: events.append((event, fields)))
        stopped_at = record_noise(recorder, 200, 0.002)
        kept = recorder.close()
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
    assert recorder.error == "File too large", recorder.error
    assert ("output-error", {"path": str(out), "reason": recorder.error}) in events
    assert stopped_at < 150  # said while the session runs, not at its end
    assert [p.name for p in tmp_path.iterdir()] == ["rec.partial.mp4"]
    assert 0 < read_video(kept)[0] == recorder.written and kept.stat().st_size <= 400_000
