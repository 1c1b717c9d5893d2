"""Session 33: a hostile read of the day's changes (mix checks, the ONNX export's place, doctor)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from realtime_adain import api
from realtime_adain.doctor import storage
from realtime_adain.settings import StyleSettings


@pytest.mark.parametrize("mix", [np.array([128, 128], np.uint8), np.array([100, 100], np.int8),
                                 [np.uint64(2**63)] * 2, np.array([1e308, 1e308]), np.array([6e4, 6e4], np.float16)])
def test_both_mix_checks_take_integer_and_huge_weights_alike(mix):
    """StyleSettings summed an integer array in its own type (uint8 [128, 128] wrapped to 0, refused
    as "no positive sum") where stylize_video's check, in floats, took it; float arrays past the
    float range warned "overflow encountered in scalar add"."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        StyleSettings(mix=mix).check(2)
        assert api.check_mix(mix, 2) is not None


@pytest.mark.parametrize("mix, kind, words", [
    ([10**400, 1], ValueError, r"mix\[0\] is too large for a float"),
    (np.array([1, 1], "m8[s]"), TypeError, r"mix must be .*\(mix\[0\]\)"),
])
def test_weights_no_float_holds_are_named(mix, kind, words):
    """An int past the float range was an OverflowError, a timedelta64 array (an Integral to numbers)
    a numpy UFuncTypeError or float()'s TypeError: neither named mix."""
    with pytest.raises(kind, match=words):
        StyleSettings(mix=mix).check(2)
    with pytest.raises(kind, match=words):
        api.check_mix(mix, 2)


def test_a_folder_where_the_onnx_export_goes_is_named_not_called_changed(tmp_path, capsys):
    """'auto' on the CPU looks for the export (`onnx_cached`); a folder standing there was called
    'an export that does not match the record of its build' (export cannot replace it: move it)."""
    pytest.importorskip("onnx")
    from realtime_adain.engines.cache import EngineCache
    from realtime_adain.engines.onnx import onnx_cached, onnx_components

    cache = EngineCache(tmp_path / "engines")
    entry = cache.entry(onnx_components("a" * 64), ".onnx")
    entry.path.mkdir(parents=True)
    assert not onnx_cached("a" * 64, cache)
    err = capsys.readouterr().err
    assert "move it away" in err and "does not match" not in err


def test_doctor_calls_a_link_to_nowhere_at_a_folder_a_problem(tmp_path):
    """A link to nowhere where the engines (or weights) folder goes fails every use as a file there
    does (export: 'the engine cache cannot be made'); doctor said 'note' and 'problems: none'."""
    link = tmp_path / "engines"
    link.symlink_to(tmp_path / "nowhere")
    finding = storage._folder("engines", link, str(link), "export cannot save there")
    assert finding.level == "problem", finding
    (tmp_path / "ro").mkdir()
    assert storage._folder("engines", tmp_path / "ro", "x", "y").level == "ok"


@pytest.mark.slow  # (a server started and signalled (7-14 s))
def test_bench_serve_stopped_while_its_server_loads_leaves_nothing_in_the_temporary_folder(tmp_path, weights_env):
    """A SIGTERM while `bench serve`'s server was still loading killed the server (SIGKILL): what it
    had made in the temporary folder stayed (its uploads folder, then). It is asked to stop now."""
    import os
    import signal
    import subprocess
    import sys
    import time

    temp = tmp_path / "tmp"
    temp.mkdir()
    env = {**os.environ, "TMPDIR": str(temp), "REALTIME_ADAIN_HOME": str(tmp_path / "home")}
    bench = subprocess.Popen([sys.executable, "-m", "realtime_adain", "bench", "serve", "--seconds", "40",
                              "--warmup", "0", "--size", "64x48"], env=env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60  # (the server starts once the style is written; it takes seconds to load)
    while time.monotonic() < deadline and not list(temp.glob("bench-serve-*/style.png")):
        time.sleep(0.05)
    time.sleep(1.0)
    bench.send_signal(signal.SIGTERM)
    _, err = bench.communicate(timeout=60)
    assert bench.returncode == 143, err
    assert not [p.name for p in temp.iterdir()], err


def test_bench_video_calls_its_copy_scaled_not_upscaled(run_cli, data_dir):
    """An odd --resolution below the clip's size was refused as "the upscaled copy" (a downscale)."""
    code, _, err = run_cli("bench", "video", "--video", data_dir / "videos" / "cutBunny.mp4",
                           "--style", data_dir / "style" / "brushstrokes.jpg", "--resolution", "101x57")
    assert code == 2 and "the scaled copy needs even sides, e.g. 102x58" in err, err
