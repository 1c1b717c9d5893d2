"""MotionAhead shortens the interpreter's switch interval while open (`switch_interval`): beside a
thread that keeps the GIL, each of a motion worker's many OpenCV calls waited up to 5 ms to take
the GIL back (tools/bench_motion_beside_python.py measures it; docs/BENCHMARKS.md)."""

from __future__ import annotations

import gc
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from realtime_adain import switch_interval
from realtime_adain.temporal import MotionAhead, Stabilizer

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def default_interval():
    before = sys.getswitchinterval()
    sys.setswitchinterval(0.005)
    yield 0.005
    sys.setswitchinterval(before)


def test_open_motion_workers_shorten_the_switch_interval_and_the_last_puts_it_back(default_interval):
    first = MotionAhead(Stabilizer(), workers=1)
    assert sys.getswitchinterval() == pytest.approx(switch_interval.SHORT_INTERVAL_S)
    second = MotionAhead(Stabilizer(), workers=1)
    first.close()
    first.close()  # (idempotent: counted once)
    assert sys.getswitchinterval() == pytest.approx(switch_interval.SHORT_INTERVAL_S)  # the second is open
    second.close()
    assert sys.getswitchinterval() == pytest.approx(default_interval)


def test_motion_workers_never_closed_put_it_back_when_collected(default_interval):
    ahead = MotionAhead(Stabilizer(), workers=1)
    frame = np.zeros((48, 64, 3), np.uint8)
    ahead.submit(frame).result()
    ahead.pool.shutdown(wait=True)  # (its threads gone, as at exit; the object itself dropped below)
    del ahead
    gc.collect()
    assert sys.getswitchinterval() == pytest.approx(default_interval)


def test_an_interval_the_program_set_meanwhile_is_left_alone(default_interval):
    with MotionAhead(Stabilizer(), workers=1):
        sys.setswitchinterval(0.002)
    assert sys.getswitchinterval() == pytest.approx(0.002)


def test_a_shorter_interval_found_is_kept(default_interval):
    sys.setswitchinterval(0.0001)
    with MotionAhead(Stabilizer(), workers=1):
        assert sys.getswitchinterval() == pytest.approx(0.0001)
    assert sys.getswitchinterval() == pytest.approx(0.0001)


@pytest.mark.slow  # (the default run time: a tools/ script smoke test)
def test_the_benchmark_script_runs(tmp_path):
    done = subprocess.run([sys.executable, str(REPO / "tools" / "bench_motion_beside_python.py"), "--size", "160x96",
                           "--seconds", "0.1", "--repeats", "1"], capture_output=True, text=True, timeout=120,
                          cwd=tmp_path, env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("motion at 160x96, one worker") and len(lines) == 2 + 6
    assert [line.split()[0] for line in lines[2:]] == ["idle"] * 2 + ["opencv"] * 2 + ["python"] * 2
