"""A temporary that vanished mid-run while its folder stayed (tester h1, session 46): a `.part`
deleted during `weights download`, or an engine build's own folder removed (`engines clear` on
another machine sharing the cache), was said as "its folder ... was removed or renamed"."""

from __future__ import annotations

import shutil
import time

import pytest

from realtime_adain import download
from realtime_adain.engines.cache import CacheUnwritable, EngineCache
from realtime_adain.errors import UserError
from weights_server import WeightsServer, release_bytes, synthetic_release  # noqa: F401  (fixtures)

DECODER = "decoder.pth"


def test_a_partial_download_deleted_mid_run_is_said_so(synthetic_release, release_bytes, tmp_path):
    folder = tmp_path / "weights"
    folder.mkdir()
    part = folder / f"{DECODER}.part"

    def delete_the_part() -> None:
        while not part.exists():
            time.sleep(0.01)
        part.unlink()

    with WeightsServer(release_bytes) as server:
        server.midway[DECODER] = delete_the_part
        with pytest.raises(UserError) as refused:
            download.download_file("decoder", f"{server.url}/{DECODER}", folder)
    assert str(refused.value) == (f"{folder / DECODER}: cannot write (the partial download {part} was removed "
                                  "during the run)")
    assert folder.is_dir()


def _store_with(cache: EngineCache, meanwhile) -> str:
    """The error of a build during which `meanwhile(build_path)` ran."""
    def build(path):
        path.write_bytes(b"an engine")
        meanwhile(path)

    with pytest.raises(CacheUnwritable) as refused:
        cache.store(cache.entry({"kind": "test"}, ".onnx"), build)
    return str(refused.value)


def test_an_engine_build_folder_removed_mid_build_is_said_so(tmp_path):
    cache = EngineCache(tmp_path / "engines")
    removed = []

    def remove_the_build_folder(path):
        removed.append(path.parent)
        shutil.rmtree(path.parent)

    error = _store_with(cache, remove_the_build_folder)
    assert error.endswith(f": cannot write (the build's temporary folder {removed[0]} was removed during the run)")
    assert cache.directory.is_dir()


def test_an_engine_cache_made_anew_mid_build_is_still_said_removed(tmp_path):
    """A cache folder removed and made again at its path is not the folder the build was in."""
    cache = EngineCache(tmp_path / "engines")

    def make_the_cache_anew(path):
        shutil.rmtree(cache.directory)
        cache.directory.mkdir()

    assert _store_with(cache, make_the_cache_anew).endswith(
        f": cannot write (the engine cache {cache.directory} was removed or renamed during the run)")
