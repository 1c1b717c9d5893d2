"""Fixes of the training findings of session 44 (tester h4): of two trainers started together on a
new --out, the one that lost the lock removed the other's folder; the interrupted-run hint named
the checkpoint file a run was resumed from (then refused), and broke in two at a newline in --out;
an --out that is a run's checkpoints/ folder; a refused log.csv left the lock file behind."""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys

import pytest
from realtime_adain.errors import one_line
from realtime_adain.training import checkpoint_files, trainer
from realtime_adain.training.run_files import OutLock
from cli_support import training_error_line
from test_train_hostile_checkpoints import copy_run, dataset, finished_run  # noqa: F401  (fixtures)
from train_support import REPO, tiny_args, train_tool  # noqa: F401  (a fixture)


def test_the_trainer_that_loses_the_lock_leaves_the_others_new_folder(train_tool, dataset, published_weights,  # noqa: F811
                                                                     tmp_path, monkeypatch, one_thread):
    """Two trainers started together on a new --out: the one whose lock came second removed the
    folder the first was writing to (which then died at its log.csv). Here the other trainer makes
    the folder and takes its lock just before this one locks (at its first folder check)."""
    out = tmp_path / "run"
    real_check = trainer.ensure_writable_dir
    others: list[OutLock] = []

    def other_trainer_locks_first(directory):
        if not others:
            out.mkdir(exist_ok=True)
            others.append(OutLock(out))
        real_check(directory)

    monkeypatch.setattr(trainer, "ensure_writable_dir", other_trainer_locks_first)
    try:
        code, _, err = train_tool(*tiny_args(dataset, published_weights[0], out, 1))
        assert "another training run is writing to this directory" in training_error_line(code, err)
        assert out.is_dir() and (out / ".lock").is_file() and others[0].in_place()
    finally:
        for held in others:
            held.release()


def stopped_after_a_checkpoint(*args) -> str:
    """tools/train.py ARGS, sent SIGTERM once it saved a checkpoint: its stderr."""
    process = subprocess.Popen([sys.executable, str(REPO / "tools" / "train.py"), *map(str, args)],
                               stderr=subprocess.PIPE, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    line = ""
    try:
        for line in process.stderr:
            if line.startswith("checkpoint: "):
                break
        process.send_signal(signal.SIGTERM)
        err = line + process.communicate(timeout=60)[1]
    finally:
        process.kill()
    assert process.returncode == 143, err
    return err


@pytest.mark.slow  # (default run's time: a run and its resume)
def test_the_hint_of_a_run_resumed_from_a_file_names_its_folder(train_tool, finished_run, tmp_path,  # noqa: F811
                                                                one_thread):
    """It named the decoder file resumed from, which --resume refuses once the run saved past it."""
    run = copy_run(finished_run, tmp_path)
    resumed_from = checkpoint_files.decoder_file(run / "checkpoints", 1)
    err = stopped_after_a_checkpoint("--resume", resumed_from, "--iterations", 100_000, "--save-every", 1)
    assert err.splitlines()[-1] == f"terminated (resume from the last checkpoint with --resume {run})", err
    done = checkpoint_files.latest_decoder_file(run / "checkpoints")
    iteration = int(done.stem.split("_")[-1])
    code, out, err = train_tool("--resume", run, "--iterations", iteration + 1)  # as the hint says
    expected = checkpoint_files.decoder_file(run / "checkpoints", iteration + 1)
    assert code == 0 and out.strip() == f"decoder: {expected}", err


@pytest.mark.slow  # (default run's time: the hint's other test trains too)
def test_the_hint_stays_one_line_with_a_newline_in_out(dataset, published_weights, tmp_path):  # noqa: F811
    """The `checkpoint:` line above it was escaped; the hint's quoted path broke the line in two."""
    run = tmp_path / "my\nrun"
    err = stopped_after_a_checkpoint(*tiny_args(dataset, published_weights[0], run, 100_000, "--save-every", "1"))
    hint = one_line(shlex.quote(str(run)))
    assert err.splitlines()[-1] == f"terminated (resume from the last checkpoint with --resume {hint})", err


def test_an_out_that_is_a_runs_checkpoints_folder_is_refused(train_tool, finished_run, tmp_path,  # noqa: F811
                                                             one_thread):
    """`--resume RUN --out RUN/checkpoints` nested a run in the checkpoints of another."""
    run = copy_run(finished_run, tmp_path)
    folder = run / "checkpoints"
    before = sorted(folder.iterdir())
    code, _, err = train_tool("--resume", run, "--iterations", "2", "--out", folder)
    assert training_error_line(code, err) == (f"error: {folder}: holds checkpoints itself (a run's checkpoints/ "
                                              "folder?); give the run's folder or another --out")
    assert sorted(folder.iterdir()) == before


def test_a_refused_log_leaves_nothing_the_run_made(train_tool, dataset, published_weights, tmp_path,  # noqa: F811
                                                   one_thread):
    """A fresh run into a folder holding someone's log.csv is refused, and left its empty .lock."""
    out = tmp_path / "notes"
    out.mkdir()
    (out / "log.csv").write_text("my notes\n")
    code, _, err = train_tool(*tiny_args(dataset, published_weights[0], out, 1))
    assert "not this trainer's log" in training_error_line(code, err)
    assert sorted(path.name for path in out.iterdir()) == ["log.csv"]
    assert (out / "log.csv").read_text() == "my notes\n"
