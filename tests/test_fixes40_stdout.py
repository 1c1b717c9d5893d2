"""Session 40: the report commands say a standard output they cannot write as such."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from weights_server import release_bytes  # noqa: F401  (fixture)


@pytest.mark.parametrize("command", [["engines", "list"], ["engines", "list", "--json"], ["weights", "info"],
                                     pytest.param(["doctor", "--json"], marks=pytest.mark.slow)])
@pytest.mark.slow_cases('command1', 'command0', 'command2')  # (default run's time: 3 s)
def test_a_report_to_a_full_disk_names_standard_output(command, tmp_path):
    """`doctor --json >/dev/full` (and `engines list`, `weights info`) ended "error: No space left
    on device", naming nothing: the print's OSError carries no file name (h5)."""
    env = {**os.environ, "REALTIME_ADAIN_HOME": str(tmp_path / "home")}
    with open("/dev/full", "w") as full:
        result = subprocess.run([sys.executable, "-m", "realtime_adain", *command], stdout=full,
                                stderr=subprocess.PIPE, text=True, env=env, timeout=300)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == ["error: standard output: cannot write (No space left on device)"]


@pytest.mark.slow  # (default run's time: two downloads)
def test_a_download_to_a_full_stdout_fetches_both_files_then_says_so(release_bytes, tmp_path):
    """`weights download >/dev/full`: the first file's line failed inside the download, so the
    decoder was never fetched, and the error did not say so (h9)."""
    from weights_server import WeightsServer

    with WeightsServer(release_bytes) as server, open("/dev/full", "w") as full:
        result = subprocess.run([sys.executable, "-m", "realtime_adain", "weights", "download", "--dir", str(tmp_path / "w"),
                                 "--base-url", server.url, "--no-checksum"], stdout=full, stderr=subprocess.PIPE,
                                text=True, env={**os.environ, "REALTIME_ADAIN_HOME": str(tmp_path / "home")}, timeout=300)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"error: standard output: cannot write (No space left on device); the weights are in place in {tmp_path / 'w'}"]
    assert {path.name: path.read_bytes() for path in (tmp_path / "w").iterdir()} == release_bytes
