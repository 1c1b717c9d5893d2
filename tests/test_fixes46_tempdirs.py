"""Temporary folders and full disks as tester h5 found them (session 46): with no writable temporary
folder (a read-only container), `export --format onnx` said "error: None: torch.compile's cache
..." and, its hint followed, a 60-line traceback; `serve` did not start even with uploads off. An
upload onto a full disk was not logged, its uploader got the server's path and "UserError", and
the upload it was to replace was dropped all the same. `image --sheet` and `serve` kept quiet about
a style cache they could not write (`live` logs it)."""

from __future__ import annotations

import asyncio
import resource
import subprocess
import sys
import tempfile

import aiohttp
import cv2
import numpy as np
import pytest
import torch

from realtime_adain.engines.compiled import NO_TEMPORARY_FOLDER, compile_missing
from realtime_adain.live.styles import StyleLibrary
from realtime_adain.serve import styles as serve_styles
from realtime_adain.serve.styles import StyleRegistry
from realtime_adain.weight_digests import file_sha256
from test_serve import env_with, served, upload_form


@pytest.fixture
def no_temporary_folder(monkeypatch, tmp_path):
    """tempfile finding no writable temporary folder, as in a read-only container: its one
    candidate is a missing folder, and its own search runs (nothing found before is kept)."""
    monkeypatch.setattr(tempfile, "tempdir", None)
    monkeypatch.setattr(tempfile, "_candidate_tempdir_list", lambda: [str(tmp_path / "missing")])


def test_onnx_export_and_compile_without_a_temporary_folder_say_so_in_one_line(run_cli, weights_env, tmp_path,
                                                                               no_temporary_folder):
    code, _, err = run_cli("export", "--format", "onnx", "-o", tmp_path / "x.onnx")
    assert (code, err) == (2, f"error: {NO_TEMPORARY_FOLDER}\n")
    assert compile_missing(torch.device("cpu")) == NO_TEMPORARY_FOLDER
    assert not (tmp_path / "x.onnx").exists()


def test_serve_with_uploads_says_it_needs_a_temporary_folder(run_cli, weights_env, data_dir, no_temporary_folder):
    code, _, err = run_cli("serve", "-s", data_dir / "style" / "mondrian.jpg", "--port", "0", "--device", "cpu",
                           "--allow-uploads")
    assert code == 2 and err.count("\n") == 1, err
    assert err.startswith("error: --allow-uploads: the folder for uploaded styles cannot be made in the temporary "
                          "folder (No usable temporary directory found in [") and err.endswith("set TMPDIR to a writable folder\n")


def file_size_limit(limit: int):
    """`ulimit -f` for a child: a write past `limit` bytes fails (EFBIG; Python ignores SIGXFSZ)."""
    return lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))


@pytest.mark.slow  # (default run's time: a real server started, 9-20 s; the note itself is the sheet test's)
def test_serve_without_uploads_starts_with_no_temporary_folder_and_notes_an_unwritable_style_cache(
        weights_env, data_dir, tmp_path):
    """A real `serve` with tempfile finding no folder (uploads off), its files limited to 16 KiB:
    the style's cache entry (a 160x160 thumbnail) cannot be written, said in one note."""
    script = ("import sys, tempfile\n"
              f"tempfile._candidate_tempdir_list = lambda: [{str(tmp_path / 'missing')!r}]\n"
              "from realtime_adain.__main__ import entry\n"
              "sys.argv[0] = 'realtime-adain'\n"
              "sys.exit(entry())\n")
    command = [sys.executable, "-c", script, "serve", "-s", str(data_dir / "style" / "mondrian.jpg"), "--port", "0",
               "--device", "cpu", "--size", "32", "--style-size", "64", "--style-cache", str(tmp_path / "cache")]
    process = subprocess.Popen(command, env=env_with(weights_env), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               stdin=subprocess.DEVNULL, text=True, preexec_fn=file_size_limit(16384))
    try:
        line = process.stdout.readline()
    finally:
        process.terminate()
        _, err = process.communicate(timeout=60)
    assert line.startswith("serving on http://127.0.0.1:"), err
    notes = [text for text in err.splitlines() if "style cache" in text]
    assert len(notes) == 1 and notes[0].startswith(f"note: the style cache cannot be written: {tmp_path / 'cache'}/"), err
    assert notes[0].endswith(": cannot write (File too large); the styles are encoded again next run"), err


def test_an_upload_onto_a_full_disk_is_logged_told_plainly_and_drops_no_other(stylizer, data_dir, tmp_path,
                                                                             monkeypatch, capsys):
    """One upload held of at most one; the next, written while this process may write no file past
    256 KiB (`ulimit -f`, which the server takes as a full disk), fails: the first is kept."""
    monkeypatch.setattr(serve_styles, "MAX_UPLOADS", 1)
    library = StyleLibrary([data_dir / "style" / "mondrian.jpg"], stylizer, 64, tmp_path / "cache").load()
    (tmp_path / "up").mkdir()
    registry = StyleRegistry(library, tmp_path / "up")
    small = cv2.imencode(".png", np.full((20, 20, 3), 90, np.uint8))[1].tobytes()
    noise = np.random.default_rng(0).integers(0, 256, (400, 400, 3), np.uint8)  # a PNG of about 480 KB
    large = cv2.imencode(".png", noise)[1].tobytes()

    async def main():
        async with served(stylizer, registry, allow_uploads=True) as (_server, url), aiohttp.ClientSession() as http:
            async with http.post(f"{url}/api/styles", data=upload_form(small)) as response:
                first = response.status, await response.json()
            soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
            resource.setrlimit(resource.RLIMIT_FSIZE, (256 * 1024, hard))
            try:
                async with http.post(f"{url}/api/styles", data=upload_form(large)) as response:
                    second = response.status, await response.json()
            finally:
                resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
            return first, second

    capsys.readouterr()
    first, second = asyncio.run(main())
    log = capsys.readouterr().err
    assert first[0] == 200 and second == (500, {"error": "the server has no room to keep the style (disk full)"})
    kept = registry.get(first[1]["id"])
    assert kept is not None and kept.style.path.is_file()  # (it was dropped before the write that failed)
    assert [path.name for path in (tmp_path / "up").iterdir()] == [kept.style.path.name]
    said = [line for line in log.splitlines() if "upload" in line]
    assert len(said) == 1 and said[0].startswith(f"serve: an upload could not be kept: {tmp_path / 'up'}/upload-"), log
    assert said[0].endswith(": cannot write (File too large)"), log


def test_a_sheet_notes_an_unwritable_style_cache_once(run_cli, weights_env, stylizer, data_dir, tmp_path):
    """Folders where the styles' cache entries go: the sheet is made, and one note says the cache
    was not written (`live` logs it as style-cache-unwritable; the sheet said nothing)."""
    styles, cache = [data_dir / "style" / name for name in ("mondrian.jpg", "trial.jpg")], tmp_path / "cache"
    entries = [StyleLibrary([], stylizer, 64, cache).cache_path(file_sha256(style)) for style in styles]
    for entry in entries:
        entry.mkdir(parents=True)
    code, _, err = run_cli("image", data_dir / "content" / "cornell.jpg", "-s", styles[0], "-s", styles[1], "--size",
                           "32", "--style-size", "64", "--sheet", tmp_path / "sheet.png", "--style-cache", cache)
    assert code == 0 and (tmp_path / "sheet.png").is_file(), err
    notes = [line for line in err.splitlines() if "style cache" in line]
    assert notes == [f"note: the style cache cannot be written: {entries[0]}: is a folder; give a file name; "
                     "the styles are encoded again next run"], err
