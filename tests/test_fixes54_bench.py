"""Session 54's bench and doctor fixes: a closed standard output lost every bench's results (without
--json FILE) and doctor's report, with exit 0; a bench serve killed with SIGKILL left its server
running, listening, for ever."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest


@pytest.mark.parametrize("command", [["doctor"], ["bench", "model", "-r", "16x16", "--iters", "1", "--warmup", "0"]],
                         ids=["doctor", "bench model"])
@pytest.mark.slow_cases('doctor')  # (default run's time, 2026-12-07: a rarer variant; the corpus and `-m slow` runs keep it)
def test_a_closed_stdout_is_refused_before_any_work(command, weights_env, tmp_path):
    closed = subprocess.run([sys.executable, "-m", "realtime_adain", *command], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, timeout=120,
                            preexec_fn=lambda: os.close(1))
    assert closed.returncode == 2
    assert closed.stderr.startswith("error: standard output is closed, so the ") and closed.stderr.count("\n") == 1


@pytest.mark.slow  # (13 s: a whole bench run; the refusal without a results file stays in the default run)
def test_a_bench_with_its_results_file_runs_with_stdout_closed(weights_env, tmp_path):
    results = tmp_path / "bench.json"
    closed = subprocess.run([sys.executable, "-m", "realtime_adain", "bench", "model", "-r", "16x16", "--iters", "1",
                             "--warmup", "0", "--engine", "eager", "--json", str(results)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, timeout=300,
                            preexec_fn=lambda: os.close(1))
    assert closed.returncode == 0, closed.stderr
    assert results.stat().st_size > 0


PARENT = """
import subprocess, sys, time
from realtime_adain.benchmarks.serve import dies_with_parent
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], preexec_fn=dies_with_parent())
print(child.pid, flush=True)
time.sleep(60)
"""


@pytest.mark.slow  # (default run's time, 2026-12-07: a rarer case; `-m slow` runs keep it)
def test_the_bench_servers_child_dies_with_its_parent_killed():
    parent = subprocess.Popen([sys.executable, "-c", PARENT], stdout=subprocess.PIPE, text=True)
    child = int(parent.stdout.readline())
    parent.kill()
    parent.wait()
    for _ in range(100):  # (the kernel sends SIGTERM as the parent goes; reaped by init)
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            return
        with open(f"/proc/{child}/stat") as stat:
            if stat.read().rsplit(")", 1)[1].split()[0] == "Z":
                return
        time.sleep(0.1)
    os.kill(child, signal.SIGKILL)
    pytest.fail("the child outlived its parent")
