"""A signal that lands while Python runs a `__del__` or weakref callback (h3, session 36): its
KeyboardInterrupt cannot propagate there, so it was kept and said once the command returned; a
training went on to its last iteration (days, in a real run) and a video to its last frame.
Long loops now raise it at their next step."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from live_support import cli_env
from realtime_adain.training import checkpoint_files
from train_support import REPO, tiny_args
from video_samples import probe

# A finalizer that takes a SIGTERM: the handler runs inside __del__ (the loop after the kill)
FINALIZED = """
import os, signal
class Finalized:
    def __del__(self):
        os.kill(os.getpid(), signal.SIGTERM)
        for _ in range(10000):
            pass
"""


def run_script(script: str, tmp_path, env: dict | None = None) -> subprocess.CompletedProcess:
    path = tmp_path / "run.py"
    path.write_text(FINALIZED + script)
    return subprocess.run([sys.executable, str(path)], capture_output=True, text=True, timeout=240,
                          env={**(env or os.environ), "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)})


@pytest.mark.slow  # (a training in a process of its own: 6 s; the video one below stays in the default run)
def test_a_signal_swallowed_by_a_finalizer_stops_training_at_the_next_iteration(published_weights, data_dir, tmp_path):
    run = tmp_path / "run"
    args = tiny_args(data_dir, published_weights[0], run, 8, "--save-every", "1")
    done = run_script(f"""
import sys, runpy
import realtime_adain.training.trainer as trainer
step = trainer.Trainer.step
def stepped(self):
    if self.iteration == 2:
        Finalized()
    return step(self)
trainer.Trainer.step = stepped
sys.argv = [{str(REPO / 'tools' / 'train.py')!r}] + {[str(a) for a in args]!r}
runpy.run_path(sys.argv[0], run_name="__main__")
""", tmp_path)
    assert done.returncode == 143 and done.stderr.strip().splitlines()[-1].startswith("terminated"), done.stderr
    assert "Traceback" not in done.stderr and done.stdout == "", done.stdout
    last = checkpoint_files.latest_decoder_file(run / "checkpoints")
    assert last is not None and int(last.name.split("_")[-1].split(".")[0]) == 3, done.stderr  # (not 8)


@pytest.mark.slow
def test_a_signal_swallowed_by_a_finalizer_stops_a_video_at_the_next_batch(published_weights, data_dir, tmp_path):
    out = tmp_path / "out.mp4"
    done = run_script(f"""
import sys
from realtime_adain import cli
from realtime_adain.video import pipeline
start = pipeline.Pipeline.__init__
def init(self, *args, **kwargs):
    start(self, *args, **kwargs)
    told, count = self.on_stylized, [0]
    def on_stylized(n):
        count[0] += 1
        if count[0] == 3:
            Finalized()
        told(n)
    self.on_stylized = on_stylized
pipeline.Pipeline.__init__ = init
sys.exit(cli.main(["video", {str(data_dir / 'videos' / 'cutBunny.mp4')!r}, "-s", {str(data_dir / 'style' / 'trial.jpg')!r},
                   "--size", "64", "--style-size", "64", "--stabilize", "off", "--device", "cpu", "-o", {str(out)!r}]))
""", tmp_path, env=cli_env(published_weights, tmp_path / "home"))
    assert done.returncode == 143 and "Traceback" not in done.stderr, done.stderr
    kept = tmp_path / "out.partial.mp4"
    assert not out.exists() and kept.exists(), done.stderr
    assert len(probe(kept).pts) < 20, done.stderr  # (of 240: it ran on to the end before)
