"""The style library (session 52, fixer f7): a damaged picture's note was said only when its
statistics were computed, never again once they came from the cache; and the MAX_STYLES cap
counted files that could not be used, so usable styles after them were dropped unnamed."""

from __future__ import annotations

import json
import os
import shutil
import struct
import zlib
from pathlib import Path

import numpy as np
from safetensors.torch import load, save

import realtime_adain.live.styles as styles_module
from realtime_adain.imageio import write_image
from realtime_adain.live.style_cache import MAX_NOTES
from realtime_adain.live.styles import StyleLibrary
from realtime_adain.weight_files import safetensors_metadata

SIZE = 64
CUT_SHORT = "the file ends before its picture does (cut short?); the rest of the picture is missing"


def cut_short_jpeg(data_dir: Path, path: Path) -> Path:
    """trial.jpg's first 3000 bytes: decodes, with a note that the rest is missing."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes((data_dir / "style" / "trial.jpg").read_bytes()[:3000])
    return path


def tiny_png(path: Path, seed: int = 0) -> Path:
    write_image(path, np.random.default_rng(seed).integers(0, 256, (24, 24, 3), dtype=np.uint8))
    return path


def huge_png_header(path: Path, side: int = 30_000) -> Path:
    """A PNG whose header claims side x side pixels: refused before it is decoded."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b""))
    return path


def library(stylizer, sources, cache: Path, events: list | None = None, size: int = SIZE) -> StyleLibrary:
    log = (lambda event, **fields: events.append((event, fields))) if events is not None else (lambda *a, **k: None)
    return StyleLibrary(sources, stylizer, size, cache, log)


def notes(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("note:")]


def test_a_cut_short_styles_note_is_said_again_when_its_statistics_are_cached(stylizer, data_dir, tmp_path,
                                                                                one_thread, capsys):
    """The second start (computed=0 cached=1) used the same damaged picture and said nothing."""
    trunc = cut_short_jpeg(data_dir, tmp_path / "styles" / "trunc.jpg")
    said = ("style-note", {"note": f"{trunc}: {CUT_SHORT}"})
    first_events, second_events = [], []
    first = library(stylizer, [trunc], tmp_path / "cache", first_events).load()
    assert (first.computed, said in first_events) == (1, True)
    second = library(stylizer, [trunc], tmp_path / "cache", second_events).load()
    assert (second.computed, second.reused) == (0, 1)
    assert said in second_events
    # The same bytes under another name share the entry: the note names the file used.
    copy = tmp_path / "other" / "copy.jpg"
    copy.parent.mkdir()
    shutil.copy(trunc, copy)
    capsys.readouterr()
    third = library(stylizer, [copy], tmp_path / "cache").load()
    assert third.reused == 1
    assert notes(capsys.readouterr().err) == [f"note: {copy}: {CUT_SHORT}"]


def test_a_rescan_says_the_note_of_a_cut_short_style_read_from_the_cache(stylizer, data_dir, tmp_path, one_thread):
    cache = tmp_path / "cache"
    library(stylizer, [cut_short_jpeg(data_dir, tmp_path / "earlier" / "trunc.jpg")], cache).load()
    folder = tmp_path / "styles"
    folder.mkdir()
    tiny_png(folder / "a.png")
    events: list = []
    running = library(stylizer, [folder], cache, events).load()
    added = cut_short_jpeg(data_dir, folder / "trunc.jpg")
    assert running.rescan() == ["trunc"] and running.computed == 1  # (a.png; trunc.jpg from the cache)
    assert ("style-note", {"note": f"{added}: {CUT_SHORT}"}) in events


def test_an_entry_without_notes_still_reads_and_edited_notes_are_rebuilt(stylizer, data_dir, tmp_path, one_thread):
    """An entry written before notes were kept reads as it is; one whose notes were changed is
    not as written (its checksum covers them), and is rebuilt."""
    trunc = cut_short_jpeg(data_dir, tmp_path / "styles" / "trunc.jpg")
    first = library(stylizer, [trunc], tmp_path / "cache").load()
    style = first[0]
    entry = first.cache_path(style.digest)
    assert json.loads(safetensors_metadata(entry.read_bytes())["notes"]) == [CUT_SHORT]
    first._store(style.digest, style.stats, style.thumbnail, "trunc.jpg")  # as the code before kept it
    events: list = []
    old = library(stylizer, [trunc], tmp_path / "cache", events).load()
    assert old.reused == 1 and not [e for e in events if e[0] == "style-cache-rebuild"]

    first._store(style.digest, style.stats, style.thumbnail, "trunc.jpg", [CUT_SHORT])
    data = entry.read_bytes()
    metadata = safetensors_metadata(data)
    metadata["notes"] = json.dumps(["error: something else"])
    entry.write_bytes(save(load(data), metadata=metadata))
    events = []
    edited = library(stylizer, [trunc], tmp_path / "cache", events).load()
    assert edited.computed == 1
    assert ("style-cache-rebuild", {"file": entry.name, "reason": "edited, or another style's"}) in events


def test_an_entry_with_more_notes_than_a_picture_gives_is_rebuilt(stylizer, data_dir, tmp_path, one_thread):
    """A cache entry forged with its checksum made anew (a shared --style-cache): 60 000 notes were
    said on every start and rescan. More than MAX_NOTES is not ours: rebuilt, its note said once."""
    trunc = cut_short_jpeg(data_dir, tmp_path / "styles" / "trunc.jpg")
    first = library(stylizer, [trunc], tmp_path / "cache").load()
    style = first[0]
    first._store(style.digest, style.stats, style.thumbnail, "trunc.jpg", [f"n{i}" for i in range(MAX_NOTES + 1)])
    entry = first.cache_path(style.digest)
    assert len(json.loads(safetensors_metadata(entry.read_bytes())["notes"])) == MAX_NOTES  # (stored bounded)
    data = entry.read_bytes()
    metadata = safetensors_metadata(data)
    metadata["notes"] = json.dumps([f"n{i}" for i in range(60000)])
    metadata["checksum"] = first._checksum(style.digest, load(data), metadata["notes"])
    entry.write_bytes(save(load(data), metadata=metadata))
    events: list = []
    forged = library(stylizer, [trunc], tmp_path / "cache", events).load()
    assert forged.computed == 1
    assert ("style-cache-rebuild", {"file": entry.name, "reason": f"60000 notes (at most {MAX_NOTES})"}) in events
    assert len([e for e in events if e[0] == "style-note"]) == 1

def test_unusable_files_take_no_place_under_the_style_cap(stylizer, tmp_path, one_thread, monkeypatch, capsys):
    """1000 files, some unusable, before usable ones: the log said "the first 1000 are used" and
    999 were, the usable ones after them dropped, and nothing named them."""
    monkeypatch.setattr(styles_module, "MAX_STYLES", 3)
    folder = tmp_path / "styles"
    folder.mkdir()
    (folder / "a_empty.png").write_bytes(b"")
    huge_png_header(folder / "b_huge.png")
    os.mkfifo(folder / "c_fifo.png")  # (left out by the listing: not counted)
    for i in range(7):
        tiny_png(folder / f"s{i}.png", seed=i)
    events: list = []
    lib = library(stylizer, [folder], tmp_path / "cache", events, size=32).load()
    assert lib.names == ["s0", "s1", "s2"]
    left_out = (f"9 style images found; the first 3 usable ones are used; not read: {folder / 's3.png'}, "
                f"{folder / 's4.png'}, {folder / 's5.png'} and 1 more")
    assert f"note: {left_out}" in notes(capsys.readouterr().err)
    assert ("style-skip", {"reason": left_out}) in events
    tiny_png(folder / "a0.png", seed=9)
    assert lib.rescan() == ["a0"] and lib.names == ["a0", "s0", "s1"]  # a rescan fills the cap so too


def test_the_files_tried_for_the_style_cap_are_bounded(stylizer, tmp_path, one_thread, monkeypatch, capsys):
    """An unusable file takes no place, but at most MAX_TRIED_PER_STYLE x MAX_STYLES files are
    read: a folder of 100 000 empty files is not read whole."""
    monkeypatch.setattr(styles_module, "MAX_STYLES", 2)
    folder = tmp_path / "styles"
    folder.mkdir()
    tiny_png(folder / "a.png")
    for i in range(4):
        (folder / f"b{i}.png").write_bytes(b"")
    tiny_png(folder / "c.png", seed=1)
    lib = library(stylizer, [folder], tmp_path / "cache", size=32).load()
    assert lib.names == ["a"]
    assert (f"note: 6 style images found; only the first 4 are tried, 1 of them usable; not read: "
            f"{folder / 'b3.png'}, {folder / 'c.png'}") in notes(capsys.readouterr().err)
