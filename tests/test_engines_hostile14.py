"""The engine cache and exports handled roughly: a cache folder behind a dead link or on a full
disk, cached files swapped for huge or foreign ones with sidecars made to vouch for them, sidecars
that are huge or lie, a killed build's leftovers, a torch.compile cache that cannot be made, and
`export` options that were ignored. Each is refused in one line or rebuilt, never trusted wrongly."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import onnx
import pytest
import torch
from onnx import TensorProto, helper

from cli_support import one_error_line
from realtime_adain.engines.cache import EngineCache
from realtime_adain.engines.onnx import INPUT_NAMES, METADATA_KEY, OUTPUT_NAME, _check_onnx, onnx_components
from realtime_adain.errors import UserError
from realtime_adain.stale_temporaries import process_tag
from test_full_disk import disk, fill  # noqa: F401 (the tmpfs fixture)

COMPONENTS = {"kind": "onnx", "weights": "abc", "precision": "fp32", "shape": "dynamic"}
HUGE = 50 << 30  # a sparse file's apparent size: no disk space, a minute to read


def built(cache: EngineCache, text: str = "the engine we built") -> Path:
    """A cached engine (its sidecars written by the cache itself)."""
    return cache.store(cache.entry(COMPONENTS, ".onnx"), lambda p: p.write_text(text)).path


# --- the cache folder ---------------------------------------------------------------------------

@pytest.mark.parametrize("link", ["loop", "dangling"])
def test_a_cache_behind_a_dead_link_is_named_as_one(tmp_path, run_cli, monkeypatch, link):
    """A loop of links said "cannot create the engine cache (File exists)"; `engines list` and
    `clear` said "no engines cached" / "removed 0 engines", hiding the mistake."""
    if link == "loop":
        os.symlink(tmp_path / "b", tmp_path / "a")
        os.symlink(tmp_path / "a", tmp_path / "b")
        said = f"{tmp_path / 'a'} is a loop of symbolic links"
    else:
        os.symlink(tmp_path / "unmounted", tmp_path / "a")
        said = f"{tmp_path / 'a'} is a symbolic link to {tmp_path / 'unmounted'}, which does not exist"
    for folder in (tmp_path / "a", tmp_path / "a" / "engines"):
        with pytest.raises(UserError, match=f"^{folder}: the engine cache cannot be made \\({said}\\)$"):
            built(EngineCache(folder))
        monkeypatch.setenv("REALTIME_ADAIN_ENGINES", str(folder))
        for action in ("list", "clear"):
            code, _, err = run_cli("engines", action)
            assert one_error_line(err, code) == f"error: {folder}: the engine cache cannot be there ({said}; check $REALTIME_ADAIN_ENGINES)"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a"] + (["b"] if link == "loop" else [])


def test_a_full_disk_under_the_cache_names_the_engine(disk):  # noqa: F811
    """ENOSPC names no file: the export said only "error: No space left on device"."""
    fill(disk, 200_000)
    cache = EngineCache(disk / "engines")
    entry = cache.entry(COMPONENTS, ".onnx")
    with pytest.raises(UserError, match=f"^{entry.path}: cannot write \\(No space left on device\\)$"):
        cache.store(entry, lambda p: p.write_bytes(b"\0" * 1_000_000))
    assert sorted(p.name for p in cache.directory.iterdir()) == []  # no build folder, no half engine


# --- cached files and sidecars -------------------------------------------------------------------

def test_a_huge_file_in_place_of_an_engine_is_not_read_to_find_out(tmp_path):
    """A 50 GB sparse file under an engine's name was hashed whole (74 s) before being rebuilt."""
    cache = EngineCache(tmp_path)
    path = built(cache)
    os.truncate(path, HUGE)
    started = time.process_time()  # (CPU time, not a loaded machine's wait)
    assert not cache.is_valid(cache.entry(COMPONENTS, ".onnx"))
    assert time.process_time() - started < 1.0


def test_a_digest_of_an_older_version_without_the_size_still_counts(tmp_path):
    cache = EngineCache(tmp_path)
    entry = cache.entry(COMPONENTS, ".onnx")
    built(cache)
    digest, size = entry.digest_file.read_text().split()
    assert int(size) == entry.path.stat().st_size
    entry.digest_file.write_text(digest + "\n")
    assert cache.is_valid(entry)
    entry.digest_file.write_text(f"{digest} {int(size) + 1}\n")  # a size that lies
    assert not cache.is_valid(entry)


@pytest.mark.parametrize("sidecar", [".json", ".sha256"])
def test_huge_sidecars_are_not_read_into_memory(tmp_path, run_cli, monkeypatch, sidecar):
    """A 50 GB sparse sidecar was read whole: "error: ...: out of memory; lower --size" on every
    run (a MemoryError), the engine never rebuilt, `engines list` failed too."""
    cache = EngineCache(tmp_path)
    path = built(cache)
    huge = path.with_name(path.name + sidecar)
    huge.unlink()
    huge.touch()
    os.truncate(huge, HUGE)
    assert not cache.is_valid(cache.entry(COMPONENTS, ".onnx"))
    monkeypatch.setenv("REALTIME_ADAIN_ENGINES", str(tmp_path))
    code, out, err = run_cli("engines", "list")
    assert code == 0 and err == "" and len(out.splitlines()) == 3  # the engine's row
    assert cache.get_or_build(COMPONENTS, ".onnx", lambda p: p.write_text("rebuilt"), Path.read_text) == ("rebuilt", True)
    assert huge.stat().st_size < 1000


def test_engines_list_keeps_a_lying_sidecar_on_one_short_row(tmp_path, run_cli, monkeypatch):
    """A sidecar's 10,000-character value was printed whole, and a newline in one broke the row."""
    cache = EngineCache(tmp_path)
    path = built(cache)
    sidecar = path.with_name(path.name + ".json")
    sidecar.write_text(json.dumps(dict(COMPONENTS, weights="w" * 10_000, kind="on\nnx")))
    monkeypatch.setenv("REALTIME_ADAIN_ENGINES", str(tmp_path))
    code, out, _ = run_cli("engines", "list")
    rows = out.splitlines()
    assert code == 0 and len(rows) == 3 and rows[2].startswith("on\\nnx ") and len(rows[2]) < 200, rows
    code, out, _ = run_cli("engines", "list", "--json")  # the values as they are
    assert json.loads(out)["engines"][0]["weights"] == "w" * 10_000


def test_a_killed_builds_leftovers_are_removed_by_the_next_build(tmp_path):
    """A build killed by SIGKILL left its folder (as large as an engine) until `engines clear`."""
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    gone = process_tag(int(finished.stdout))
    dead, recent, unknown = tmp_path / f".build-{gone}-abcd1234", tmp_path / f".build-{gone}-efgh5678", tmp_path / ".build-ijkl9012"
    for folder in (dead, recent, unknown):
        folder.mkdir()
        (folder / "half.onnx").write_bytes(b"\0" * 1000)
    for folder in (dead, unknown):
        os.utime(folder, (time.time() - 7200, time.time() - 7200))
    built(EngineCache(tmp_path))
    assert not dead.exists()
    assert recent.exists() and unknown.exists()  # perhaps another machine's running build, or an older version's


def tiny_onnx(path: Path, components: dict[str, str] | None, static: bool = False) -> None:
    """A valid graph with the model's inputs and output (the output is the input)."""
    side = (64, 64) if static else ("height", "width")
    images = helper.make_tensor_value_info("images", TensorProto.FLOAT, [1 if static else "batch", 3, *side])
    others = [helper.make_tensor_value_info(name, TensorProto.FLOAT, [None]) for name in INPUT_NAMES[1:]]
    out = helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.FLOAT, [1 if static else "batch", 3, *side])
    graph = helper.make_graph([helper.make_node("Identity", ["images"], [OUTPUT_NAME])], "g", [images, *others], [out])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    if components is not None:
        model.metadata_props.add(key=METADATA_KEY, value=json.dumps(components, sort_keys=True))
    onnx.save(model, str(path))


@pytest.mark.parametrize("foreign", ["other weights", "no metadata", "one frame size"])
def test_a_valid_onnx_not_made_for_this_key_is_rebuilt_even_when_its_digest_matches(tmp_path, foreign):
    """A valid export of other weights under this key's name, its digest made to match, was loaded
    as "already cached" and stylized wrongly (max difference 150/255); one exported for 64x64
    frames only was loaded and failed at the first frame with onnxruntime's traceback."""
    components = onnx_components("these-weights")
    cache = EngineCache(tmp_path)
    entry = cache.entry(components, ".onnx")
    made_for = {"other weights": onnx_components("other-weights"), "no metadata": None,
                "one frame size": components}[foreign]
    cache.store(entry, lambda p: tiny_onnx(p, made_for, static=foreign == "one frame size"))
    assert cache.is_valid(entry)  # the sidecars vouch for it
    check = lambda p: _check_onnx(p, components)  # noqa: E731
    rebuilt = cache.get_or_build(components, ".onnx", lambda p: tiny_onnx(p, components), check)
    assert rebuilt == (entry.path, True)
    assert cache.get_or_build(components, ".onnx", lambda p: tiny_onnx(p, None), check) == (entry.path, False)


@pytest.mark.slow  # one real export (about 10 s)
def test_a_real_export_carries_its_key_and_is_loaded_not_rebuilt(stylizer, tmp_path):
    from realtime_adain.engines.onnx import cached_onnx

    cache = EngineCache(tmp_path)
    path, built_now = cached_onnx(stylizer.net, stylizer.weights_id, cache)
    metadata = {prop.key: prop.value for prop in onnx.load(str(path), load_external_data=False).metadata_props}
    assert built_now and json.loads(metadata[METADATA_KEY]) == onnx_components(stylizer.weights_id)
    assert cached_onnx(stylizer.net, stylizer.weights_id, cache) == (path, False)


# --- export options and torch.compile's cache ----------------------------------------------------

def test_export_onnx_refuses_a_device_it_would_ignore(weights_env, run_cli):
    """`export --format onnx --device cuda:7` exported on the CPU without a word."""
    code, _, err = run_cli("export", "--format", "onnx", "--device", "cuda:7")
    assert "--device cuda:7: the onnx export is made and checked on the CPU" in one_error_line(err, code)


@pytest.mark.slow  # a fresh process importing torch._dynamo: about 5 s
def test_a_torch_compile_cache_that_is_a_file_is_one_line(tmp_path):
    """It was "error: PATH: File exists" (compile) and a 60-line traceback (export --format onnx).
    A fresh process: torch._dynamo makes the folder when first imported."""
    file = tmp_path / "file"
    file.write_text("not a folder")
    script = ("import torch\n"
              "from realtime_adain.engines.compiled import compile_missing\n"
              "from realtime_adain.engines.onnx import export_onnx\n"
              "from realtime_adain.errors import UserError\n"
              "print(compile_missing(torch.device('cpu')))\n"
              "try:\n"
              f"    export_onnx(None, {str(tmp_path / 'x.onnx')!r})\n"
              "except UserError as exc:\n"
              "    print(exc)\n")
    env = dict(os.environ, TORCHINDUCTOR_CACHE_DIR=str(file))
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    said = f"{file}: torch.compile's cache cannot be made there (File exists); set TORCHINDUCTOR_CACHE_DIR to a writable folder"
    assert result.stdout.splitlines() == [said, said]


def test_a_torch_compile_cache_that_cannot_be_written_is_said_before_compiling(monkeypatch):
    """A read-only cache folder: the compile engine failed at the first frame with a traceback."""
    from realtime_adain.engines.compiled import compile_missing

    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", "/proc/self")  # exists, takes no files
    said = compile_missing(torch.device("cpu"))
    assert said == ("/proc/self: torch.compile's cache ($TORCHINDUCTOR_CACHE_DIR) is not writable (files cannot be "
                    "created there); set TORCHINDUCTOR_CACHE_DIR to a writable folder or use --engine eager")
