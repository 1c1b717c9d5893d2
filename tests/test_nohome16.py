"""`live`, `serve` and the engine cache for a user with no home (`docker run --user 1234`, no
$HOME, no entry in the password database): their caches are speed-ups, so each runs without one
(a temporary folder, removed at exit) and says so in one note, instead of stopping."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import urllib.request

import pytest

from test_environment16 import NOBODY_UID, as_user_without_home, run, without_home
from live_support import cli_env


@pytest.fixture
def env(published_weights, tmp_path):
    """No home, a $TMPDIR of its own (owned by that user) to see that nothing is left in it."""
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    os.chown(scratch, NOBODY_UID, NOBODY_UID)
    return {**without_home(cli_env(published_weights, tmp_path / "home")), "TMPDIR": str(scratch)}


@pytest.mark.slow  # (a live session (5-9 s); the other commands without a home run by default)
def test_live_headless_without_a_home_encodes_styles_each_run(env, data_dir, tmp_path):
    """`live --no-window` stopped with "no home folder to keep the styles in" before any frame."""
    prefix = as_user_without_home()
    out = tmp_path / "out"
    out.mkdir()
    os.chown(out, NOBODY_UID, NOBODY_UID)
    done = run(["live", "--source", data_dir / "videos" / "cutBunny.mp4", "--styles", data_dir / "style" / "mondrian.jpg",
                "--no-window", "-o", out / "r.mp4", "--max-frames", "2", "--size", "32", "--style-size", "32",
                "--device", "cpu"], env, prefix=prefix)
    err = done.stderr.decode(errors="replace")
    assert done.returncode == 0, err
    assert (out / "r.mp4").is_file()
    assert err.count("note: no home folder for the style cache ($HOME unset): styles are encoded each run") == 1, err
    assert os.listdir(env["TMPDIR"]) == []


@pytest.mark.slow  # (a server started (4-7 s))
def test_serve_without_a_home_answers(env, data_dir):
    """`serve` stopped the same way; now it starts, answers /api/config and leaves no folder."""
    prefix = as_user_without_home()
    process = subprocess.Popen([*prefix, sys.executable, "-m", "realtime_adain", "serve", "--port", "0", "--device", "cpu",
                                "-s", str(data_dir / "style" / "mondrian.jpg"), "--size", "32", "--style-size", "32"],
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        line = process.stdout.readline()
        match = re.search(r"http://\S+", line)
        assert match, (line, process.poll() is not None and process.stderr.read())
        base, _, query = match.group(0).partition("?")
        with urllib.request.urlopen(f"{base.rstrip('/')}/api/config{'?' + query if query else ''}", timeout=30) as answer:
            assert answer.status == 200 and b"mondrian" in answer.read()
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(30)
    err = process.stderr.read()
    assert "note: no home folder for the style cache ($HOME unset)" in err, err
    deadline = time.monotonic() + 5
    while os.listdir(env["TMPDIR"]) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert os.listdir(env["TMPDIR"]) == []


@pytest.mark.slow  # (default run's time: 3 s)
def test_an_installed_engine_cache_without_a_home_is_temporary(env):
    """An installed package (no checkout `engines/`) keeps engines in the per-user cache folder:
    for a user with no home `--engine onnx` stopped before the export; now a temporary folder,
    one a process, written to and removed at exit."""
    prefix = as_user_without_home()
    code = ("from pathlib import Path; import realtime_adain.engines.cache as c; "
            "c.CHECKOUT_ENGINES = Path('/nonexistent'); d = c.EngineCache.for_run().directory; "
            "(d / 'engine').write_bytes(b'built'); print(d, c.EngineCache.for_run().directory == d)")
    settings = {k: v for k, v in env.items() if k != "REALTIME_ADAIN_ENGINES"}
    done = subprocess.run([*prefix, sys.executable, "-c", code], env=settings, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    folder, same = done.stdout.split()
    assert folder.startswith(env["TMPDIR"]) and same == "True"
    assert done.stderr.count("note: no home folder for the engine cache ($HOME unset): engines are built each run") == 1
    assert os.listdir(env["TMPDIR"]) == []


@pytest.mark.slow  # an ONNX export checked against onnxruntime: about 12 s on a busy CPU
def test_an_onnx_run_of_an_installed_package_without_a_home(env, data_dir, tmp_path):
    """The same, end to end: `image --engine onnx` stopped with "no home folder to keep the
    engines in"; now it exports into a temporary folder, removed at exit."""
    prefix = as_user_without_home()
    out = tmp_path / "out"
    out.mkdir()
    os.chown(out, NOBODY_UID, NOBODY_UID)
    code = ("import sys; from pathlib import Path; import realtime_adain.engines.cache as c; "
            "c.CHECKOUT_ENGINES = Path('/nonexistent'); from realtime_adain.cli import main; sys.exit(main(sys.argv[1:]))")
    settings = {k: v for k, v in env.items() if k != "REALTIME_ADAIN_ENGINES"}
    done = subprocess.run([*prefix, sys.executable, "-c", code, "image", str(data_dir / "content" / "lenna.jpg"), "-s",
                           str(data_dir / "style" / "mondrian.jpg"), "--size", "32", "--engine", "onnx", "--device", "cpu",
                           "-o", str(out / "r.png")], env=settings, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert (out / "r.png").is_file() and "engines are built each run" in done.stderr
    assert not [name for name in os.listdir(env["TMPDIR"]) if name.startswith("realtime-adain-")]


@pytest.mark.slow  # (default run's time: two sheets)
def test_a_contact_sheet_without_a_home_encodes_styles_each_run(env, data_dir, tmp_path):
    """`image --sheet` stopped with "no home folder to keep the styles in", as `live` did."""
    prefix = as_user_without_home()
    out = tmp_path / "out"
    out.mkdir()
    os.chown(out, NOBODY_UID, NOBODY_UID)
    done = run(["image", data_dir / "content" / "cornell.jpg", "-s", data_dir / "style" / "mondrian.jpg",
                "-s", data_dir / "style" / "trial.jpg", "--sheet", out / "sheet.jpg", "--size", "32",
                "--style-size", "32", "--device", "cpu"], env, prefix=prefix)
    err = done.stderr.decode(errors="replace")
    assert done.returncode == 0, err
    assert (out / "sheet.jpg").is_file()
    assert err.count("note: no home folder for the style cache ($HOME unset): styles are encoded each run") == 1, err
    assert os.listdir(env["TMPDIR"]) == []
