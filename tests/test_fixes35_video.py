"""A `video` run stopped after its output was opened but before it stylized a frame: a GIF's muxer
cannot finish a file without a picture (FFmpeg's trailer says EINVAL), and the run ended in
`error: ...part.gif: the .gif muxer could not finish the file (Invalid argument)`, exit 2,
instead of `terminated`, 143 (once in the random-moment sweep of test_interrupts21)."""

from __future__ import annotations

import signal
import subprocess
import sys
from fractions import Fraction

import pytest

from live_support import cli_env
from realtime_adain.video.formats import EncodeSettings
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
