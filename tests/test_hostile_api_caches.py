"""A hostile environment: odd per-user folders, engine caches holding foreign, damaged or linked
files, and weights that cannot be read. Commands report one line (doctor: a finding), and
`engines clear` never deletes anything that is not its own."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from realtime_adain import doctor, download
from realtime_adain.engines.cache import EngineCache
from realtime_adain.errors import UserError
from realtime_adain.imageio import write_image
from realtime_adain.release import PUBLISHED
from realtime_adain.weight_digests import file_sha256

COMPONENTS = {"kind": "onnx", "weights": "abc", "precision": "fp32", "shape": "dynamic"}


def engine_name(digest: str, kind: str = "onnx") -> str:
    return f"{kind}-fp32-dynamic-{digest * 20}.{'onnx' if kind == 'onnx' else 'ep'}"


def precious(tmp_path: Path) -> Path:
    """A folder of someone's files outside the cache, with a snapshot to compare against."""
    folder = tmp_path / "precious"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.txt").write_text("keep")
    (folder / "sub" / "b.txt").write_text("keep")
    return folder


def tree(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def test_engines_list_survives_foreign_sidecars(run_cli, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    cache.mkdir()
    for digest, sidecar in [("a", "[1, 2]"), ("b", '{"kind": {"a": 1}, "precision": null}'), ("c", "null"),
                            ("d", "\udcff")]:
        (cache / engine_name(digest)).write_bytes(b"")
        (cache / (engine_name(digest) + ".json")).write_text(sidecar, errors="surrogateescape")
    monkeypatch.setenv("REALTIME_ADAIN_ENGINES", str(cache))
    code, out, err = run_cli("engines", "list")  # was AttributeError: 'list' object has no attribute 'get'
    assert code == 0 and out.count("\n") == 6, err
    code, out, err = run_cli("engines", "list", "--json")  # was TypeError: 'list' object is not a mapping
    assert code == 0, err
    rows = json.loads(out)["engines"]
    assert len(rows) == 4 and "kind" not in rows[1]  # (not a sidecar of ours: no metadata, session 37)


def test_engines_clear_deletes_nothing_but_its_own(run_cli, tmp_path, monkeypatch):
    folder, cache = precious(tmp_path), tmp_path / "cache"
    cache.mkdir()
    before = tree(folder)
    (cache / engine_name("a")).write_bytes(b"engine")
    (cache / (engine_name("a") + ".json")).mkdir()  # a folder named like a sidecar: stopped clear midway
    (cache / (engine_name("a") + ".json") / "inside").write_text("x")
    (cache / engine_name("b", "tensorrt")).symlink_to(folder / "a.txt")  # links: the link goes, never its target
    (cache / (engine_name("b", "tensorrt") + ".json")).symlink_to(folder / "sub" / "b.txt")
    (cache / engine_name("c")).symlink_to(folder)
    (cache / engine_name("d")).mkdir()
    (cache / ".build-abcd1234").symlink_to(folder)  # named like a build, but a link
    (cache / ".build-cache").mkdir()  # a user's folder in a folder given as the cache: was deleted
    (cache / ".build-cache" / "mine").write_text("x")
    (cache / ".build-x1y2z3_4").mkdir()  # an interrupted build of ours
    (cache / "notes.txt").write_text("mine")
    monkeypatch.setenv("REALTIME_ADAIN_ENGINES", str(cache))
    code, out, err = run_cli("engines", "clear")
    assert code == 0 and "removed 3 engines" in out, err  # (c, a link to a folder, is a link: it goes)
    assert tree(folder) == before and (folder / "a.txt").read_text() == "keep"
    assert sorted(p.name for p in cache.iterdir()) == sorted([
        engine_name("a") + ".json", engine_name("d"), ".build-abcd1234", ".build-cache", "notes.txt"])
    assert (cache / ".build-cache" / "mine").is_file()


@pytest.mark.parametrize("which", ["path", "sidecar"])
def test_a_folder_where_an_engine_goes_is_refused_before_the_build(tmp_path, which):
    cache = EngineCache(tmp_path)
    entry = cache.entry(COMPONENTS, ".onnx")
    getattr(entry, which).mkdir()
    built = []
    with pytest.raises(UserError, match="not a file we wrote"):  # was IsADirectoryError after the build
        cache.get_or_build(COMPONENTS, ".onnx", built.append, lambda p: p)
    assert built == [] and getattr(entry, which).is_dir()
    assert sorted(p.name for p in tmp_path.iterdir()) == [getattr(entry, which).name]


def test_a_linked_engine_is_replaced_not_written_through(tmp_path):
    folder = precious(tmp_path)
    cache = EngineCache(tmp_path / "cache")
    entry = cache.entry(COMPONENTS, ".onnx")
    entry.path.parent.mkdir()
    entry.path.symlink_to(folder / "a.txt")
    entry.sidecar.write_text(json.dumps(COMPONENTS))

    def load(path):
        if path.read_text() != "built":
            raise ValueError("damaged")
        return path

    cache.get_or_build(COMPONENTS, ".onnx", lambda p: p.write_text("built"), load)
    assert (folder / "a.txt").read_text() == "keep" and not entry.path.is_symlink()


def findings(report) -> dict[tuple[str, str], doctor.Finding]:
    return {(s.title, f.name): f for s in report.sections for f in s.findings}


def test_doctor_reports_a_home_that_is_a_file(weights_env, monkeypatch, tmp_path):
    home = tmp_path / "home-file"
    home.write_text("not a folder")
    monkeypatch.setenv("REALTIME_ADAIN_HOME", str(home))
    monkeypatch.delenv("REALTIME_ADAIN_ENGINES")
    found = findings(doctor.run_checks({"weights": doctor.weight_files, "caches": doctor.caches}))
    for key in (("weights", "directory"), ("caches", "engines"), ("caches", "styles")):
        assert found[key].level == "problem", found[key]  # was: "problems: none"
        assert f"{home} is a file, not a folder" in found[key].value and "REALTIME_ADAIN_HOME" in found[key].fix
    monkeypatch.setenv("REALTIME_ADAIN_HOME", str(tmp_path / "fresh"))
    found = findings(doctor.run_checks({"weights": doctor.weight_files, "caches": doctor.caches}))
    assert all(f.level == "ok" for f in found.values()), found
    assert not (tmp_path / "fresh").exists()  # checked without making anything


def test_unreadable_weights_are_a_finding_and_one_line(weights_env, monkeypatch, tmp_path, run_cli):
    unreadable = tmp_path / "vgg.pth"
    unreadable.mkdir()  # opens, then fails to read (EISDIR): as a permission or I/O error does
    with pytest.raises(UserError, match=f"{unreadable}: cannot read it"):
        file_sha256(unreadable)
    monkeypatch.setattr("realtime_adain.weight_paths.resolve", lambda kind, explicit=None, encoder=None: unreadable)
    found = findings(doctor.run_checks({"weights": doctor.weight_files}))
    assert found["weights", "vgg"].level == "problem" and "cannot read it" in found["weights", "vgg"].value
    assert ("weights", "check failed") not in found  # was: the whole section one 'check failed'


def test_empty_weights_option_is_refused(weights_env, run_cli, tmp_path):
    code, _, err = run_cli("weights", "info", "--vgg", "")
    assert code == 1  # info shows it as a row
    code, _, err = run_cli("export", "--format", "tensorrt", "-o", "")
    assert code == 2 and "an empty path" in err  # was: the default engine cache, silently
    write_image(tmp_path / "p.png", np.full((8, 8, 3), 80, np.uint8))
    code, _, err = run_cli("image", tmp_path / "p.png", "-s", tmp_path / "p.png", "-o", tmp_path / "o.png",
                           "--vgg", "")
    assert code == 2 and "an empty --vgg path" in err  # was: $REALTIME_ADAIN_VGG, silently


@pytest.mark.parametrize("odd", ["fifo", "link"])
def test_download_refuses_a_fifo_or_link_where_the_partial_file_goes(tmp_path, odd):
    folder = precious(tmp_path)
    weights = tmp_path / "weights"
    weights.mkdir()
    part = weights / (PUBLISHED["vgg"].filename + ".part")
    if odd == "fifo":
        os.mkfifo(part)  # was: open() blocked forever
    else:
        part.symlink_to(folder / "a.txt")  # resuming would append to it
    with pytest.raises(UserError, match="fifo|symbolic link"):
        download.download_file("vgg", "file:///nonexistent/vgg_normalised.pth", weights)
    assert (folder / "a.txt").read_text() == "keep"


def test_a_relative_xdg_folder_is_ignored_as_the_spec_says(monkeypatch, tmp_path):
    """A relative $XDG_CACHE_HOME / $XDG_DATA_HOME would put caches under whatever folder the
    command runs in; the XDG spec says to ignore such a value (Linux's platformdirs does not)."""
    import sys

    from realtime_adain.userdirs import user_dir

    if not sys.platform.startswith("linux"):
        pytest.skip("XDG folders are Linux's (platformdirs uses other ones elsewhere)")
    monkeypatch.delenv("REALTIME_ADAIN_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/cache")
    monkeypatch.setenv("XDG_DATA_HOME", "data")
    assert user_dir("engines", "cache") == tmp_path / ".cache" / "realtime-adain" / "engines"
    assert user_dir("weights", "data") == tmp_path / ".local" / "share" / "realtime-adain" / "weights"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert user_dir("engines", "cache") == tmp_path / "xdg" / "realtime-adain" / "engines"
