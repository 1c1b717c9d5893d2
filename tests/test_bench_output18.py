"""A benchmark whose standard output fails: `>/dev/full` is one line naming standard output, and
a reader gone (`| head -1`) still leaves the `--json` results file written, for every target
(the guard sits in commands/bench.py around each benchmark's run)."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys

import pytest

from cli_support import one_error_line
from realtime_adain.cli import main as cli_main

TINY_MODEL = ("bench", "model", "--device", "cpu", "-r", "32x32", "--iters", "1", "--warmup", "1", "--engine", "eager")


@contextlib.contextmanager
def full_stdout():
    """The process's stdout on /dev/full, a real device that refuses every write. (Set inside the
    test: capsys puts its own stream back when the test's call starts.)"""
    with open("/dev/full", "w") as stream, pytest.MonkeyPatch.context() as patch:
        patch.setattr(sys, "stdout", stream)
        yield


@pytest.mark.slow
def test_a_full_stdout_is_named_and_stops_the_run(weights_env, capsys, one_thread):
    with full_stdout():
        code = cli_main(list(TINY_MODEL))
    err = capsys.readouterr().err
    assert code == 2
    assert one_error_line(err) == "error: standard output: cannot write (No space left on device)"


@pytest.mark.slow
def test_a_full_stdout_still_writes_the_results_file_and_says_so(weights_env, capsys, tmp_path, one_thread):
    results = tmp_path / "r.json"
    with full_stdout():
        code = cli_main([*TINY_MODEL, "--json", str(results)])
    err = capsys.readouterr().err
    assert code == 2
    assert one_error_line(err) == ("error: standard output: cannot write (No space left on device); the results "
                                   f"were written to {results}")
    assert json.loads(results.read_text())["benchmark"] == "model"


@pytest.mark.slow  # (10-16 s: the default run keeps within its 10 minutes; `-m slow` runs it)
def test_a_reader_gone_after_the_first_line_leaves_the_results_file(weights_env, data_dir, tmp_path):
    """`bench video --json out.json | head -1`: the reader left after the first line, the next
    print raised BrokenPipeError, and the run ended quietly without writing out.json."""
    results = tmp_path / "out.json"
    process = subprocess.Popen(
        [sys.executable, "-m", "realtime_adain", "bench", "video", "--frames", "2", "--size", "32", "--repeats", "1",
         "--threads", "1", "--no-baseline", "--json", str(results)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    first = process.stdout.readline()
    process.stdout.close()  # as `head -1` exits
    err = process.stderr.read()
    code = process.wait(timeout=60)
    assert first.startswith("clip: ") and code == 141 and err == "", err
    assert json.loads(results.read_text())["benchmark"] == "video"
