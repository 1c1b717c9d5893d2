"""`--help` and `--version` whose text cannot be written: argparse swallows the OSError of its
write, so `realtime-adain --help >/dev/full` lost the text and exited 0, as if it had shown it."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.parametrize("args", [["--help"], ["video", "--help"], ["--version"]])
@pytest.mark.slow_cases('args1', 'args2')  # (default run's time, 2026-12-07: rarer variants of the cases that stay)
def test_help_to_a_full_disk_is_one_line(args):
    with open("/dev/full", "wb") as full:
        done = subprocess.run([sys.executable, "-m", "realtime_adain", *args], stdout=full, stderr=subprocess.PIPE,
                              timeout=60, env={"PATH": "/usr/bin:/bin", "HOME": "/tmp"})
    assert (done.returncode, done.stderr.decode()) == (
        2, "error: standard output: cannot write (No space left on device)\n")


def test_help_to_a_reader_gone_is_quiet():
    """`realtime-adain --help | head -0`: quiet, 141, as for every other command."""
    child = subprocess.Popen([sys.executable, "-m", "realtime_adain", "--help"], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
    child.stdout.close()
    assert (child.wait(timeout=60), child.stderr.read()) == (141, b"")
