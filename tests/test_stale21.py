"""Leftovers of killed runs under one rule (stale_temporaries.remove_stale), and the TensorRT engine's cache
in a read-only or full home (task h21).

The home: a folder the run, as a user that is not root, cannot write (tests/test_full_disk20.py),
and a real 2 MiB tmpfs filled up (tests/test_full_disk.py). No GPU or TensorRT here: only what
builds and loads a TensorRT engine is stood in for; the cache, its folders and files are real.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import torch

from realtime_adain import stale_temporaries
from realtime_adain.engines import cache as engine_cache
from realtime_adain.engines.cache import EngineCache
from realtime_adain.engines.tensorrt import TensorRTEngine
from realtime_adain.stale_temporaries import process_tag
from realtime_adain.userdirs import remove_stale_temporary_caches
from test_full_disk import disk, fill  # noqa: F401  (a fixture)
from test_full_disk20 import FALLBACK_NOTE, INSTALLED, home_env, read_only_home  # noqa: F401  (a fixture)
from test_signals import dead_pid


def store_an_engine(folder: Path) -> None:
    cache = EngineCache(folder)
    cache.store(cache.entry({"kind": "onnx"}, ".onnx"), lambda path: path.write_bytes(b"graph"))


# (what removes, the name of a leftover of process PID, whether it is a folder)
REMOVERS = {
    "outputs": (stale_temporaries.remove_stale_temporaries, ".clip.realtime-adain-{pid}-abcd1234.part.mp4", False),
    "engine builds": (store_an_engine, ".build-{pid}-abcd1234", True),
    "per-run caches": (lambda folder: remove_stale_temporary_caches("engines"), "realtime-adain-engines-{pid}-abcd1234",
                       True),
}


@pytest.mark.parametrize("what", REMOVERS)
def test_each_remover_takes_only_what_a_killed_run_left(what, tmp_path, monkeypatch):
    """Hidden .part outputs, engine build folders and per-run temporary caches were removed by
    three loops written apart, each with its own scan and checks. One rule now: a leftover whose
    process is gone and which was untouched for long goes, with all it holds; one of a running
    process, one just written (perhaps another machine's) and a link named like one stay, and
    what the link points to is never touched."""
    remove, name, is_folder = REMOVERS[what]
    folder, elsewhere = tmp_path / "folder", tmp_path / "elsewhere"
    folder.mkdir()
    (elsewhere / "inside").mkdir(parents=True)
    monkeypatch.setattr(tempfile, "tempdir", str(folder))  # where per-run caches are made
    gone, old = dead_pid(), time.time() - 2 * stale_temporaries.STALE_UNKNOWN_AFTER_S
    stale, running = folder / name.format(pid=process_tag(gone)), folder / name.format(pid=process_tag())
    fresh, link = (folder / name.format(pid=process_tag(gone)).replace("abcd", other) for other in ("efgh", "link"))
    link.symlink_to(elsewhere)
    for path in (stale, running, fresh):
        if is_folder:
            (path / "half").mkdir(parents=True)
            (path / "half" / "written").write_bytes(b"x")
        else:
            path.write_bytes(b"x")
    for path in (stale, running, link):
        os.utime(path, (old, old), follow_symlinks=False)
    remove(folder)
    left = {p.name for p in folder.iterdir() if not p.name.startswith("onnx-")}  # (but the engine stored)
    assert left == {running.name, fresh.name, link.name}
    assert (elsewhere / "inside").is_dir()


def test_engines_clear_removes_builds_of_older_versions_at_any_age(tmp_path):
    """`engines clear` removes every build folder whose process is gone, a fresh one and one
    named without a process id (older versions) too; a build's own sweep leaves those."""
    gone = dead_pid()
    for name in (f".build-{process_tag(gone)}-abcd1234", ".build-efgh5678", f".build-{process_tag()}-ijkl9012"):
        (tmp_path / name).mkdir()
    store_an_engine(tmp_path)
    assert len(list(tmp_path.glob(".build-*"))) == 3
    EngineCache(tmp_path).clear()
    assert [p.name for p in tmp_path.iterdir()] == [f".build-{process_tag()}-ijkl9012"]


# A run that uses the TensorRT engine, as far as it goes without a GPU: TensorRT's build and load
# and the GPU's check are stood in for; the engine picks its cache and stores the build there.
TENSORRT_RUN = INSTALLED + (
    "import torch; import realtime_adain.engines as engines, realtime_adain.engines.tensorrt as t; "
    "engines.require = lambda *a: None; t.load_engine = lambda path: path; "
    "t.tensorrt_components = lambda *a: {'kind': 'tensorrt', 'shape': '1x3x8x8'}; "
    "t.build_engine = lambda net, shape, dtype, device, path: path.write_bytes(b'plan' * 50_000); "
    "engine = t.TensorRTEngine(None, torch.device('cpu'), torch.float16, 'weights'); "
    "path = engine.engine_for((1, 3, 8, 8)); print(path, engine.builds, path.read_bytes() == b'plan' * 50_000)")


def run_tensorrt(env: dict[str, str], home: Path, prefix: tuple[str, ...] = ()) -> str:
    """The one note of a run whose TensorRT engine was built in the temporary folder, removed at exit."""
    done = subprocess.run([*prefix, sys.executable, "-c", TENSORRT_RUN], env={**env, "HOME": str(home)},
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    path, builds, same = done.stdout.split()
    assert path.startswith(env["TMPDIR"]) and builds == "1" and same == "True"
    assert os.listdir(env["TMPDIR"]) == []
    assert not [p for p in home.rglob("*") if p.is_file()]  # no half-written engine in the cache
    note, = done.stderr.splitlines()
    assert note.endswith(FALLBACK_NOTE), note
    return note


@pytest.mark.slow  # (default run's time: 4 s)
def test_a_read_only_home_builds_the_tensorrt_engine_in_a_temporary_folder(home_env, tmp_path):
    """$HOME read-only, $REALTIME_ADAIN_HOME unset: the ONNX engine built in a temporary folder,
    but the TensorRT engine stopped with "the engine cache is not writable", after loading the
    weights: its engine is a speed-up of the run as much as ONNX's is."""
    home, prefix = read_only_home(tmp_path)
    note = run_tensorrt(home_env, home, prefix)
    assert note.startswith(f"note: {home}/.cache/realtime-adain/engines: the engine cache is not writable "), note


@pytest.mark.slow  # (default run's time: 3 s)
def test_a_full_home_builds_the_tensorrt_engine_in_a_temporary_folder(home_env, disk):
    """$HOME on a full disk: the TensorRT engine's build failed with "No space left on device"
    (after minutes of building, on a GPU); now it goes into a temporary folder, said in one note."""
    (disk / "home").mkdir()
    fill(disk)
    assert "No space left on device" in run_tensorrt(home_env, disk / "home")


def test_a_tensorrt_cache_named_by_a_variable_is_never_swapped(tmp_path, monkeypatch):
    """The fallback is for the default folder only: one named by $REALTIME_ADAIN_HOME (or
    $REALTIME_ADAIN_ENGINES) is used or refused, as for ONNX; a cache given is used as it is."""
    monkeypatch.setattr(engine_cache, "CHECKOUT_ENGINES", tmp_path / "not-a-checkout")
    monkeypatch.delenv("REALTIME_ADAIN_ENGINES", raising=False)
    monkeypatch.setenv("REALTIME_ADAIN_HOME", str(tmp_path))
    named = TensorRTEngine(None, torch.device("cpu"), torch.float16, "weights").cache
    assert (named.directory, named.fallback) == (tmp_path / "engines", False)
    given = EngineCache(tmp_path / "given")
    assert TensorRTEngine(None, torch.device("cpu"), torch.float16, "weights", given).cache is given
    monkeypatch.delenv("REALTIME_ADAIN_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    default = TensorRTEngine(None, torch.device("cpu"), torch.float16, "weights").cache
    assert (default.directory, default.fallback) == (tmp_path / "home/.cache/realtime-adain/engines", True)
