"""The engine and user caches (session 44): a store that fails after its rename leaves no engine,
a relative $REALTIME_ADAIN_HOME is refused, a cache path too long for the file system lets 'auto'
run eager, `export -o` into the engine cache is refused, doctor says no stray note, and a file
higher up than an output's folder is named."""

from __future__ import annotations

import os

import pytest
import torch

from realtime_adain import doctor, engines, weight_digests
from realtime_adain.atomic import PendingOutput
from realtime_adain.engines.cache import EngineCache
from realtime_adain.engines.onnx import onnx_cached, onnx_components
from realtime_adain.errors import UserError
from realtime_adain.userdirs import user_dir

COMPONENTS = {"kind": "onnx", "precision": "fp32", "shape": "dynamic", "weights": "w"}


def test_a_store_that_fails_after_the_rename_leaves_no_engine(tmp_path):
    """A full disk at the digest write left a 28 MB engine without sidecars (never loaded, keeping
    the disk full), and the error named the engine. A folder made where the digest goes, after the
    check before the build, fails the same step every time."""
    cache = EngineCache(tmp_path)
    entry = cache.entry(COMPONENTS, ".onnx")

    def build(path):
        path.write_bytes(b"engine" * 1000)
        entry.digest_file.mkdir()

    with pytest.raises(UserError) as raised:
        cache.store(entry, build)
    assert not entry.path.exists() and not entry.sidecar.exists()
    assert str(raised.value).startswith(f"{entry.digest_file}: cannot write")
    assert [p.name for p in tmp_path.iterdir()] == [entry.digest_file.name]  # no build folder left


def test_a_relative_home_is_refused(monkeypatch):
    """`REALTIME_ADAIN_HOME=relhome` was a folder under wherever each command ran: weights
    downloaded in one folder were not found from another."""
    monkeypatch.setenv("REALTIME_ADAIN_HOME", "relhome")
    with pytest.raises(UserError, match=r"^\$REALTIME_ADAIN_HOME relhome: give an absolute path$"):
        user_dir("weights", "data")


def test_a_cache_path_too_long_for_the_file_system_runs_eager(tmp_path, monkeypatch):
    """A home with a name part over 255 bytes stopped every CPU run ("File name too long") though
    'auto' needs no export: eager runs."""
    too_long = tmp_path / ("a" * 300) / "engines"
    assert onnx_cached("w", EngineCache(too_long)) is False
    monkeypatch.setenv("REALTIME_ADAIN_ENGINES", str(too_long))
    assert engines.resolve("auto", torch.device("cpu"), torch.float32, "w") == "eager"


def test_export_into_the_engine_cache_is_refused(weights_env, run_cli, monkeypatch, tmp_path):
    """`-o` onto the cached export's own name replaced a sound export with one no run loads."""
    monkeypatch.delenv("REALTIME_ADAIN_ENGINES")
    cache = tmp_path / "home" / "engines"
    code, _, err = run_cli("export", "--format", "onnx", "-o", cache / "onnx-fp32-dynamic-0123456789abcdef0123.onnx")
    assert code == 2
    assert err.strip() == (f"error: {cache}/onnx-fp32-dynamic-0123456789abcdef0123.onnx: -o is inside the engine "
                           f"cache {cache}; run export without -o to fill it")
    assert not cache.exists()


def test_doctor_says_no_note_of_a_damaged_export(weights_env, capsys, monkeypatch, tmp_path):
    """doctor's own look at 'auto' printed "note: the cached ONNX export ... does not match" before
    its report (on stderr beside --json), which says so in its own line."""
    monkeypatch.setenv("REALTIME_ADAIN_ENGINES", str(tmp_path / "engines"))  # (not the tests' shared cache)
    weights_id = weight_digests.files_id(list(weights_env))
    entry = EngineCache.for_run().entry(onnx_components(weights_id), ".onnx")
    entry.path.parent.mkdir(parents=True, exist_ok=True)
    entry.path.write_bytes(b"not an export")
    capsys.readouterr()
    auto = next(f for f in doctor.engine_support() if f.name == "auto on cpu")
    assert auto.value == "eager"
    assert capsys.readouterr().err == ""


def test_a_file_higher_up_than_the_outputs_folder_is_named(tmp_path):
    """A file as $REALTIME_ADAIN_HOME: the output's folder was blamed as "a file, not a folder"."""
    home = tmp_path / "home"
    home.write_text("x")
    final = home / "engines" / "out.onnx"
    with pytest.raises(UserError) as raised:
        PendingOutput(final)
    assert str(raised.value) == f"{final}: cannot write here ({home} is a file, not a folder)"
    assert os.listdir(tmp_path) == ["home"]
