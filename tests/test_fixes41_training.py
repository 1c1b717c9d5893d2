"""Fixes of the training findings of session 41 (tester h7): `bench train` refused a batch no
machine holds at once, but tools/train.py, with no memory check, ran on with it toward the OOM
killer (Linux overcommits, so no allocation failed and the step's guard never fired)."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time

import pytest
from cli_support import one_error_line
from test_train_hostile_checkpoints import copy_run, dataset, edit_state, finished_run  # noqa: F401  (fixtures)
from train_support import REPO, tiny_args, train_tool  # noqa: F401  (a fixture)

HUGE = ("--batch-size", "1024", "--load-size", "4096", "--crop-size", "4096")
# (a run the check misses fails at once in a child limited to this address space, not after minutes
# of growing toward the machine's OOM killer)
ADDRESS_SPACE = 8 << 30
TRAINER_OPTIONS = "GiB free; lower --batch-size, --crop-size, --load-size or --workers"


def train_in_child(*args) -> tuple[subprocess.CompletedProcess, float]:
    """tools/train.py ARGS in a child with a bounded address space: (its result, seconds taken)."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    start = time.monotonic()
    done = subprocess.run(
        [sys.executable, str(REPO / "tools" / "train.py"), *map(str, args)], capture_output=True, text=True, env=env,
        timeout=300, preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE)))
    return done, time.monotonic() - start


@pytest.mark.slow  # (default run's time: a training start)
def test_the_trainer_refuses_a_batch_that_cannot_fit_at_once(dataset, published_weights, tmp_path):  # noqa: F811
    """`--batch-size 1024 --load-size 4096 --crop-size 4096` grew to 11.6 GB in 5 minutes: now one
    line, as quickly as a setting refused before the run starts, naming the trainer's options and
    the share of its image loading (2 workers, each one 4096 x 4096 image and a batch of crops)."""
    out = tmp_path / "run"
    common = tiny_args(dataset, published_weights[0], out, 1)
    refused_early, early_seconds = train_in_child(*common, "--batch-size", "0")
    assert "--batch-size must be at least 1" in one_error_line(refused_early.stderr, refused_early.returncode)
    done, seconds = train_in_child(*common, *HUGE, "--workers", "2")
    line = one_error_line(done.stderr, done.returncode)
    assert line.startswith("error: --batch-size 1024 at --crop-size 4096 needs at least 12480.1 GiB (amp off; 192.1 "
                           "GiB of it for loading images), and cpu has "), line
    assert line.endswith(TRAINER_OPTIONS) and done.returncode == 2 and done.stdout == ""
    assert seconds < early_seconds + 5, (seconds, early_seconds)
    assert not out.exists()


@pytest.mark.slow  # (default run's time: a run and its resume)
def test_a_resumed_run_is_checked_on_the_machine_it_resumes_on(finished_run, tmp_path):  # noqa: F811
    """A checkpoint of a run whose settings this machine cannot hold (a large GPU's), resumed
    here on the CPU with other --workers: refused as a new run is, its folder left as it was."""
    run = copy_run(finished_run, tmp_path)

    def grown(tensors, document):
        document["config"].update(batch_size=1024, load_size=4096, crop_size=4096, device="cuda", amp="bf16")

    edit_state(run, grown)
    before = sorted(path.name for path in (run / "checkpoints").iterdir())
    done, _ = train_in_child("--resume", run, "--iterations", "2", "--device", "cpu", "--amp", "auto", "--workers", "1")
    line = one_error_line(done.stderr, done.returncode)
    assert line.startswith("error: --batch-size 1024 at --crop-size 4096 needs at least 12384.0 GiB (amp off; 96.0 GiB "
                           "of it for loading images), and cpu has "), line
    assert line.endswith(TRAINER_OPTIONS)
    assert sorted(path.name for path in (run / "checkpoints").iterdir()) == before


def test_small_settings_still_train_with_loading_workers(train_tool, dataset, published_weights, tmp_path,  # noqa: F811
                                                        one_thread):
    """The estimates are lower bounds: a small run (its step's memory counted) trains as before."""
    out = tmp_path / "run"
    code, _, err = train_tool(*tiny_args(dataset, published_weights[0], out, 1), "--workers", "1")
    assert code == 0, err
    assert (out / "checkpoints" / "decoder_iter_0000001.safetensors").is_file()
