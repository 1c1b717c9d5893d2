"""A file whose every whole read ends in data FFmpeg cannot read (an .mpjpeg: its demuxer ends so,
and refuses seeks) as `live --source`: each pass was a source lost and reopened, for ever, even
with --no-loop (a 6-frame file gave 369 frames until killed). Its pass ends there, as `video` ends
the file; and a file whose passes fail the same way on every reopening is given up."""

from __future__ import annotations

import os
import subprocess
import threading
from pathlib import Path

import numpy as np
import pytest

from live_support import FAST, cli_env, copy_styles, live_command, read_video
from realtime_adain.live.capture import FRUITLESS_RECONNECTS, Capture
from realtime_adain.live.pyav_source import PyAVSource

ENDS_NOTE = "clip.mpjpeg: data it cannot read ends the file after 6 pictures"
HANG_GUARD_S = 60  # (a capture that never ends fails the test instead of hanging the run)


def write_mpjpeg(path: Path) -> Path:
    """6 pictures as FFmpeg's mpjpeg muxer writes them (played at 25 fps: it states no rate). Every
    whole read of it ends in InvalidDataError, and its demuxer cannot seek (opened again)."""
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc=size=96x64:rate=25", "-frames:v", "6",
                    "-c:v", "mjpeg", "-f", "mpjpeg", str(path)], check=True)
    return path


def write_undecodable_mpjpeg(path: Path, parts: int = 6) -> Path:
    """An .mpjpeg that opens but whose parts hold no JPEG: every pass fails with invalid data."""
    part = b"\0" * 400
    path.write_bytes(b"".join(b"--ffmpeg\r\nContent-type: image/jpeg\r\nContent-length: %d\r\n\r\n%s\r\n"
                              % (len(part), part) for _ in range(parts)))
    return path


def run_capture(capture: Capture, started: bool = False) -> None:
    if not started:
        capture.start()
    capture.join(HANG_GUARD_S)
    alive = capture.is_alive()
    capture.stop()
    capture.join()
    assert not alive, "the capture never ended"


def test_an_mpjpeg_file_played_once_ends_after_its_pictures(tmp_path, capsys):
    source = PyAVSource(str(write_mpjpeg(tmp_path / "clip.mpjpeg")), is_file=True, loop=False)
    source.open()
    lines = []
    capture = Capture(source, log=lambda event, **fields: lines.append((event, fields)))
    run_capture(capture)
    assert capture.ended and capture.unreadable is None
    assert lines == [("source-ended", {"source": "clip.mpjpeg", "frames": 6})]
    assert capsys.readouterr().err.count(ENDS_NOTE) == 1


def test_an_mpjpeg_file_looped_plays_every_pass_whole(tmp_path, capsys):
    source = PyAVSource(str(write_mpjpeg(tmp_path / "clip.mpjpeg")), is_file=True, loop=True)
    source.open()
    frames = source.frames()
    try:
        images = [next(frames) for _ in range(13)]  # two whole passes, and the third's first picture
    finally:
        frames.close()
        source.close()
    assert all(np.array_equal(images[i], images[i + 6]) for i in range(7))
    assert not any(np.array_equal(images[0], images[i]) for i in range(1, 6))
    assert capsys.readouterr().err.count(ENDS_NOTE) == 1  # said once, not on every pass


def test_a_file_failing_alike_on_every_pass_is_given_up(tmp_path):
    """A looped file replaced by one that opens but decodes nothing: reopened for ever (backing
    off to 8 s); now given up after 3 reopenings that fail the same way, in one line."""
    clip = write_mpjpeg(tmp_path / "clip.mpjpeg")
    source = PyAVSource(str(clip), is_file=True, loop=True)
    source.open()
    source.start_gate = threading.Event()  # (holds after the first picture: the file is replaced meanwhile)
    lines = []
    capture = Capture(source, log=lambda event, **fields: lines.append((event, fields)), backoff=(0.01, 0.02))
    capture.start()
    try:
        assert capture.latest.newer(0, HANG_GUARD_S) is not None
        os.replace(write_undecodable_mpjpeg(tmp_path / "new.mpjpeg"), clip)  # (the pass playing keeps the old file)
    finally:
        source.start_gate.set()
    run_capture(capture, started=True)
    assert capture.ended and capture.unreadable is None
    assert [event for event, _ in lines] == ["source-lost"] * FRUITLESS_RECONNECTS + ["source-ended"]
    assert lines[-1][1] == {"source": "clip.mpjpeg", "frames": 6, "reason": f"{FRUITLESS_RECONNECTS} reopenings "
                            "failed the same way (Invalid data found when processing input)"}


@pytest.mark.slow  # (a whole live session each; the fix's check through the command)
@pytest.mark.parametrize("options, frames", [(("--no-loop",), 6), (("--max-frames", "12"), 12)], ids=["once", "looped"])
def test_live_plays_an_mpjpeg_file(tmp_path, data_dir, published_weights, options, frames):
    clip = write_mpjpeg(tmp_path / "clip.mpjpeg")
    styles = copy_styles(data_dir, tmp_path / "styles", names=("trial.jpg",))
    out = tmp_path / "out.mp4"
    done = subprocess.run(live_command("--source", clip, *options, "--styles", styles, "--no-window", "-o", out,
                                       *FAST), env=cli_env(published_weights, tmp_path / "home"),
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "source-lost" not in done.stderr and done.stderr.count(ENDS_NOTE) == 1
    if options == ("--no-loop",):
        assert "live: source-ended source=clip.mpjpeg frames=6\n" in done.stderr
        assert 0 < read_video(out)[0] <= frames
    else:
        assert f"live: output path={out} frames=12 " in done.stderr
        assert read_video(out)[0] == frames
