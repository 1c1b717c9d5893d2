"""The command line is parsed without loading torch: a mistyped option or `--help` answers in
well under a second instead of after torch's multi-second import. The constants the parser
names without torch are the ones the heavy modules use."""

from __future__ import annotations

import subprocess
import sys

import pytest

from realtime_adain.cli import COMMAND_MODULES

PROBE = """
import sys
from realtime_adain import cli
commands = [arg.split() for arg in sys.argv[1:]]
for argv in commands:
    try:
        code = cli.main(argv)
    except SystemExit as exc:
        code = exc.code
    print("exit", code, "torch loaded" if "torch" in sys.modules else "no torch", flush=True)
"""


def probe(*command_lines: str) -> subprocess.CompletedProcess:
    """Run each command line in turn in one fresh interpreter (main() in-process, as the console
    script runs it); stdout has one "exit CODE, torch loaded or not" line per command."""
    return subprocess.run([sys.executable, "-c", PROBE, *command_lines], capture_output=True, text=True, timeout=120)


def test_a_mistyped_option_is_refused_before_torch_loads():
    commands = [name for name in COMMAND_MODULES if name != "bench"]
    done = probe(*(f"{command} --no-such-option" for command in commands))
    assert done.stdout.splitlines() == ["exit 2 no torch"] * len(commands), done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == len(commands), done.stderr  # one line each
    for line in lines:  # named by the command's parser, or the top one's (unrecognized arguments)
        assert line.startswith("error: realtime-adain") and ("--no-such-option" in line or "required" in line), line


def test_help_lists_every_command_without_torch():
    done = probe("--help")
    assert "exit 0 no torch" in done.stdout
    for command in COMMAND_MODULES:
        assert command in done.stdout


@pytest.mark.slow  # (default run's time: 4 s)
def test_bench_registers_its_targets_when_asked_for():
    done = probe("bench temporal --strengths 2")
    assert done.stdout.strip().endswith("exit 2 torch loaded")
    assert "argument --strengths" in done.stderr


def test_names_known_without_torch_match_the_modules_that_use_them():
    from realtime_adain import devices, download, engines, release, settings, temporal, userdirs, weight_paths
    from realtime_adain.live import inference
    from realtime_adain.video import deinterlace

    assert settings.ENGINE_CHOICES == engines.CHOICES
    assert settings.DTYPE_NAMES == tuple(devices.DTYPES)
    assert settings.STABILIZE_MODES == temporal.MODES
    assert settings.DEINTERLACE_MODES == deinterlace.MODES
    assert download.PUBLISHED is release.PUBLISHED and weight_paths.weights_dir is userdirs.weights_dir
    assert inference.processing_size(None, type("S", (), {"device": type("D", (), {"type": "cpu"})()})()) == settings.LIVE_CPU_SIZE


@pytest.mark.slow
def test_a_reader_that_goes_away_ends_the_command_quietly(weights_env, tmp_path):
    """`realtime-adain doctor | head -1`: once the pipe's reader has gone, the command stops as
    `git log | head` does (exit status 141, SIGPIPE's), without "error: Broken pipe"."""
    import os

    read, write = os.pipe()
    os.close(read)  # the reader is gone before the first line is written
    env = {**os.environ, "REALTIME_ADAIN_HOME": str(tmp_path / "home")}
    done = subprocess.run([sys.executable, "-m", "realtime_adain", "doctor"], stdout=write, stderr=subprocess.PIPE,
                          text=True, timeout=120, env=env)
    os.close(write)
    assert (done.returncode, done.stderr) == (141, "")


def test_reading_and_writing_an_image_through_the_api_loads_no_torch(data_dir, tmp_path):
    """`ra.read_image`/`ra.write_image` went through the API module, which loads torch (about 2 s)."""
    code = ("import sys, realtime_adain as ra; image = ra.read_image(sys.argv[1]); ra.write_image(sys.argv[2], image); "
            "print('torch' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code, str(data_dir / "content" / "golden_gate.jpg"), str(tmp_path / "o.png")],
                            capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "False", result.stderr
    assert (tmp_path / "o.png").stat().st_size > 0
