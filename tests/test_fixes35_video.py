"""`video` stopped by a signal where finishing the output fails (task h1 of session 35).

- Stopped after its output was opened but before it stylized a frame: a GIF's muxer cannot finish
  a file without a picture (FFmpeg's trailer says EINVAL), and the run ended in `error:
  ...part.gif: the .gif muxer could not finish the file (Invalid argument)`, exit 2, instead of
  `terminated`, 143 (once in the random-moment sweep of test_interrupts21).
- Stopped on a full disk: a video's error named the hidden temporary file
  (`error: .../.o.29894-1kw8y5b1.part.mp4: No space left on device`); numbered pictures said
  `cannot write (Directory not empty)` (the cut-short picture the failed write left in the hidden
  folder) and left the pictures renamed before that.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from fractions import Fraction

import numpy as np
import pytest

from live_support import cli_env
from realtime_adain.atomic import PendingOutput
from realtime_adain.errors import UserError
from realtime_adain.interrupts import Terminated
from realtime_adain.video.partial_outputs import keep_partial
from realtime_adain.video.picture_output import PictureOutput
from test_full_disk import FILLER, disk, fill, tmpfs  # noqa: F401  (a fixture)
from realtime_adain.video.encoder_settings import EncodeSettings
from realtime_adain.video.writer import VideoFormatOut, VideoWriter

# Holds the run before it stylizes its first frame, its output open (said on stdout), so that a
# signal meets it there.
HOLD_FIRST_FRAME = """
import os, time
from realtime_adain.video import pipeline

original = pipeline.Pipeline._stylize_all

def held(self):
    os.write(1, b"output open\\n")
    time.sleep(30)
    return original(self)

pipeline.Pipeline._stylize_all = held
"""


@pytest.mark.parametrize("name", ["out.gif", "out.mp4", "out.mkv", "out.webm", "out.mov", "out.avi"])
def test_a_writer_closed_as_partial_before_any_frame_raises_nothing(tmp_path, name):
    writer = VideoWriter(tmp_path / name, EncodeSettings(), VideoFormatOut(32, 32, Fraction(1, 25), Fraction(25)), [])
    writer.close(whole=False)


@pytest.mark.slow
def test_sigterm_before_the_first_gif_frame_is_terminated_with_nothing_left(published_weights, data_dir, tmp_path):
    hook, out = tmp_path / "hook", tmp_path / "out"
    hook.mkdir(), out.mkdir()
    (hook / "sitecustomize.py").write_text(HOLD_FIRST_FRAME)
    env = cli_env(published_weights, tmp_path / "home")
    env["PYTHONPATH"] = f"{hook}:{env['PYTHONPATH']}"
    process = subprocess.Popen([sys.executable, "-m", "realtime_adain", "video", data_dir / "videos/cutBunny.mp4",
                                "-s", data_dir / "style/trial.jpg", "--size", "32", "--style-size", "64",
                                "--frames", "2", "--device", "cpu", "-o", out / "clip.gif"],
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert process.stdout.readline() == "output open\n"
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 143 and err.strip().splitlines()[-1] == "terminated", err
    assert "Traceback" not in err and not list(out.iterdir())


def noise(seed: int, size: int = 96) -> np.ndarray:
    """A picture that does not compress: each takes its own room on the disk."""
    return np.random.default_rng(seed).integers(0, 256, (size, size, 3), np.uint8)


def test_a_partial_video_that_cannot_be_finished_on_a_full_disk_names_the_output(disk):
    """x264 holds its first frames (lookahead): the disk fills before they are flushed, so finishing
    the partial file fails."""
    out = disk / "o.mp4"
    pending = PendingOutput(out)
    writer = VideoWriter(pending.path, EncodeSettings("libx264", crf=0), VideoFormatOut(96, 96, Fraction(1, 25), Fraction(25)), [])
    for frame in range(10):
        writer.write_frame(noise(frame), frame, 1)
    fill(disk)
    with pytest.raises(UserError) as raised:
        keep_partial(writer, pending, Terminated())
    assert str(raised.value) == f"{out}: cannot write (No space left on device)"
    assert [p.name for p in disk.iterdir()] == [FILLER]


# Sends the run SIGTERM once writing has failed (the encoder thread's error recorded), from the
# stylizing thread as it hands its next frame on: the signal meets the run there every time.
SIGNAL_AFTER_A_FAILED_WRITE = """
import os, signal
from realtime_adain.video import pipeline

original = pipeline.Pipeline._put_downstream

def put(self, *args, **kwargs):
    if self.downstream_error is not None and not getattr(self, "signalled", False):
        self.signalled = True
        os.kill(os.getpid(), signal.SIGTERM)
    return original(self, *args, **kwargs)

pipeline.Pipeline._put_downstream = put
"""


@pytest.mark.slow
def test_a_signal_after_pictures_filled_the_disk_says_the_disk_is_full(published_weights, data_dir, tmp_path):
    """Said `cannot write (Directory not empty)` (the cut-short picture left in the hidden folder)
    and left the pictures before it: now as without the signal, one line and nothing left."""
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(SIGNAL_AFTER_A_FAILED_WRITE)
    env = cli_env(published_weights, tmp_path / "home")
    env["PYTHONPATH"] = f"{hook}:{env['PYTHONPATH']}"
    with tmpfs(tmp_path / "disk", "200k") as disk:  # (a few pictures fit)
        done = subprocess.run([sys.executable, "-m", "realtime_adain", "video", data_dir / "videos/cutBunny.mp4", "-s",
                               data_dir / "style/trial.jpg", "--size", "90", "--style-size", "64", "--frames", "48",
                               "--device", "cpu", "--stabilize", "off", "-o", disk / "f_%04d.png"],
                              env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 2 and done.stderr.strip().splitlines()[-1] == (
            f"error: {disk / 'f_%04d.png'}: cannot write (No space left on device)"), done.stderr
        assert not list(disk.iterdir())


def test_stopped_pictures_on_a_full_disk_keep_the_whole_ones(disk):
    """The pictures written before a failed write are kept as the partial result (the hidden
    folder's cut-short picture failed it: `Directory not empty`)."""
    pictures = PictureOutput(disk / "f_%04d.png", 1, Fraction(25))
    with pytest.raises(OSError):
        for frame in range(400):
            pictures.write_frame(noise(frame, 160), frame, 1)
    kept = pictures.frames_written
    assert kept > 3 and pictures.publish_partial() == disk / "f_%04d.partial.png"
    assert sorted(p.name for p in disk.iterdir()) == [f"f_{n:04d}.partial.png" for n in range(1, kept + 1)]
