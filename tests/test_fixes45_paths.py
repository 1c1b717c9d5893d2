"""Outputs named relative to a current folder that cannot be written (tester h8, session 45): the
error named ".", which the user never typed."""

from pathlib import Path

import pytest

from realtime_adain.errors import UserError
from realtime_adain.writable_folders import check_writable_dir


def test_a_read_only_current_folder_is_named_by_its_path(monkeypatch):
    monkeypatch.chdir("/sys/kernel")  # (no files can be made there, even by root)
    with pytest.raises(UserError) as refused:
        check_writable_dir(Path("out.jpg").parent)
    assert str(refused.value).startswith("/sys/kernel (the current folder): output directory is not writable")


def test_a_relative_engine_cache_setting_is_refused_as_a_relative_home_is(monkeypatch):
    """$REALTIME_ADAIN_ENGINES=releng exported into ./releng of wherever each command ran, where a
    relative $REALTIME_ADAIN_HOME was already refused (tester h1)."""
    from realtime_adain.engines.cache import engines_dir

    monkeypatch.setenv("REALTIME_ADAIN_ENGINES", "releng")
    with pytest.raises(UserError, match=r"^\$REALTIME_ADAIN_ENGINES releng: give an absolute path$"):
        engines_dir()
    monkeypatch.setenv("REALTIME_ADAIN_ENGINES", "~/engines")  # (a home-relative one is absolute once expanded)
    assert engines_dir().is_absolute()


def test_an_engine_cache_removed_during_a_build_is_said_so(tmp_path):
    """`rm -rf $REALTIME_ADAIN_HOME` while `export` built: "….onnx: cannot write (No such file or
    directory)", unlike every other output's "its folder … was removed or renamed during the run" (h8)."""
    import shutil

    from realtime_adain.engines.cache import CacheUnwritable, EngineCache

    cache = EngineCache(tmp_path / "home" / "engines")
    entry = cache.entry({"kind": "test"}, ".onnx")

    def build(path):
        path.write_bytes(b"an engine")
        shutil.rmtree(tmp_path / "home")

    with pytest.raises(CacheUnwritable, match=r"\.onnx: cannot write \(the engine cache .*/home/engines was removed or renamed during the run\)$"):
        cache.store(entry, build)
    assert not (tmp_path / "home").exists()
