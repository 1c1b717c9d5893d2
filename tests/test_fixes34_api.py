"""Session 34's fixes, each found by a hostile tester: a second signal while a stopped command said
so and cleaned up (a traceback, exit status 1), `Stylizer.prepare` taking any batch and size (a
torch traceback, terabytes asked for), an empty engines/ left by a failed `export --format onnx`,
a processing size's sides said float-rounded, and `export -r`'s help silent on its 16-pixel minimum."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from realtime_adain.cli import build_parser
from test_api21 import style  # noqa: F401  (a fixture)
from test_full_disk import disk  # noqa: F401  (a fixture)

REPO = Path(__file__).resolve().parents[1]

# A command stopped by SIGTERM, with a second SIGTERM sent from inside the step named by argv[2]:
# "cleanup" (removing the folders it made) or "report" (writing its `terminated` line).
SECOND_SIGNAL = """
import os, signal, sys
from pathlib import Path
from realtime_adain import cli, interrupts, made_folders

made, when = Path(sys.argv[1]) / "made", sys.argv[2]

def second_signal():
    os.kill(os.getpid(), signal.SIGTERM)  # (its handler runs at the next instruction)

if when == "cleanup":
    cleanup = made_folders.remove_made_folders_left_empty
    made_folders.remove_made_folders_left_empty = lambda: (second_signal(), cleanup())
else:
    class Stderr:
        def write(self, text):
            second_signal()
            return sys.__stderr__.write(text)

        def flush(self):
            sys.__stderr__.flush()

    sys.stderr = Stderr()

def stopped():
    made_folders.make_folders(made)
    raise interrupts.Terminated()

with interrupts.sigterm_raises():
    code = cli.run_reporting_errors(stopped)
    restored = (signal.getsignal(signal.SIGTERM) is interrupts._raise
                and signal.getsignal(signal.SIGINT) is signal.default_int_handler)
    sys.__stderr__.write(f"exit {code}, folder left: {made.exists()}, handlers restored: {restored}\\n")
sys.exit(code)
"""


@pytest.mark.parametrize("when", ["cleanup", "report"])
def test_a_second_signal_while_a_stopped_command_ends_is_ignored(tmp_path, when):
    """The first SIGTERM said `terminated`; a second one while the folders the command made were
    removed (or while that line was written) raised from the handler still in place: a traceback
    ending in `Terminated` and exit status 1 (2 runs in 40 under a burst of SIGTERMs). The signals
    are handled again after (a program calling `run_reporting_errors`, the trainer's tools, keeps them)."""
    done = subprocess.run([sys.executable, "-c", SECOND_SIGNAL, str(tmp_path), when], capture_output=True,
                          text=True, timeout=60, cwd=tmp_path)
    assert done.returncode == 143, done.stderr
    assert done.stderr == "terminated\nexit 143, folder left: False, handlers restored: True\n"


@pytest.mark.parametrize("engine", ["eager", "compile"])
@pytest.mark.parametrize("shape, error, words", [
    ((0, 180, 320), ValueError, "batch must be at least 1, got 0"),  # (compile: a torch traceback)
    ((1, -10, 10), ValueError, "height must be at least 1, got -10"),  # (compile: numpy's negative dimensions)
    (("a", 10, 10), TypeError, "batch must be a whole number, got str"),  # (compile: after its `preparing` line)
    ((1, 10, 10.0), TypeError, "width must be a whole number, got float"),
    ((1, 10**6, 10**6), ValueError, "batch, width and height are 1 x 1000000x1000000, 1000000000000 pixels in one "
                                    "call, more than 268435456"),  # (compile: a 2.73 TiB allocation)
    ((2, 16384, 16384), ValueError, "more than 268435456 (16384x16384)"),  # (one more frame than `stylize` takes)
])
@pytest.mark.slow_cases("shape1-ValueError-height must be at least 1, got -10-compile",
                        "shape3-TypeError-width must be a whole number, got float-compile",
                        "shape5-ValueError-more than 268435456 (16384x16384)-compile")  # (default run's time, 2026-12-08)
def test_prepare_checks_its_shape_as_stylize_does(published_weights, engine, shape, error, words):
    """`Stylizer.prepare` took any batch, height and width: the eager engine said nothing, the
    compile engine failed deep in torch or numpy, or after printing `preparing ... batch a`."""
    from realtime_adain.stylizer import Stylizer

    stylizer = Stylizer(Stylizer.load(*published_weights, device="cpu", engine="eager").net, "cpu", engine=engine)
    said: list[str] = []
    with pytest.raises(error) as raised:
        stylizer.prepare(*shape, say=said.append)
    assert str(raised.value).startswith(words) or words in str(raised.value), raised.value
    assert said == []


def test_prepare_checks_say_and_takes_what_stylize_takes(stylizer, style):  # noqa: F811
    with pytest.raises(TypeError, match="say must be a function taking a line of text, or None, got int"):
        stylizer.prepare(1, 16, 16, say=5)
    stylizer.prepare(np.int64(2), 8, 8)  # (bounds the same as `stylize`'s, not tighter)
    assert stylizer.stylize(np.zeros((2, 8, 8, 3), np.uint8), style).shape == (2, 8, 8, 3)


def test_a_size_over_the_bounds_is_said_exactly(stylizer, style):  # noqa: F811
    """10**30 as a processing size was said `1499999999999999889089448902656x1000000000000000019884624838656`:
    the float scale's rounding, the short side not even the size asked for."""
    with pytest.raises(ValueError) as raised:
        stylizer.stylize_image(np.zeros((100, 150, 3), np.uint8), style, size=10**30)
    assert str(raised.value) == (f"image (150x100) at size {10**30} is {15 * 10**29}x{10**30}, longer than 16384 "
                                 "pixels on a side (lower size)")


@pytest.mark.slow  # an ONNX export (10-23 s), as test_full_disk's
def test_a_failed_onnx_export_removes_the_engines_folder_it_made(run_cli, weights_env, disk, monkeypatch):  # noqa: F811
    """Into a home on a full disk, `export --format onnx` said "cannot write (No space left on
    device)" and left an empty engines/ there: the cache made it with a mkdir nothing tracked
    (an `-o sub/x.onnx` had its sub/ removed)."""
    monkeypatch.delenv("REALTIME_ADAIN_ENGINES")
    monkeypatch.setenv("REALTIME_ADAIN_HOME", str(disk))
    code, _, err = run_cli("export", "--format", "onnx")
    assert code == 2 and err.startswith(f"error: {disk}/engines/onnx-") and "No space left on device" in err, err
    assert os.listdir(disk) == []


def test_export_help_states_the_smallest_resolution(capsys):
    """`export -r 0x0` is refused as "both sides must be 16 to 4096 pixels"; --help said only
    "up to 4096 a side"."""
    with pytest.raises(SystemExit):
        build_parser(["export", "--help"]).parse_args(["export", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "WIDTHxHEIGHT of 16 to 4096 pixels a side" in help_text
    assert "(16 to 4096 pixels a side)" in (REPO / "docs" / "engines.md").read_text()
