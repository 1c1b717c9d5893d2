"""Session 40: the report commands say a standard output they cannot write as such."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest


@pytest.mark.parametrize("command", [["engines", "list"], ["engines", "list", "--json"], ["weights", "info"],
                                     pytest.param(["doctor", "--json"], marks=pytest.mark.slow)])
def test_a_report_to_a_full_disk_names_standard_output(command, tmp_path):
    """`doctor --json >/dev/full` (and `engines list`, `weights info`) ended "error: No space left
    on device", naming nothing: the print's OSError carries no file name (h5)."""
    env = {**os.environ, "REALTIME_ADAIN_HOME": str(tmp_path / "home")}
    with open("/dev/full", "w") as full:
        result = subprocess.run([sys.executable, "-m", "realtime_adain", *command], stdout=full,
                                stderr=subprocess.PIPE, text=True, env=env, timeout=300)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == ["error: standard output: cannot write (No space left on device)"]
