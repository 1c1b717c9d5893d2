"""Hostile style libraries: folders holding things that are not images (fifos, sockets, device
links, link loops, empty, truncated, inflated or mislabelled files, names that are not UTF-8),
libraries too large to encode at start-up, damaged cache entries, and folders changing under a
running session's rescans. A bad style is left out with a note; no usable style is one error."""

from __future__ import annotations

import os
import socket
import struct
import subprocess
import sys
import threading
import time
import zlib
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save

import realtime_adain.live.styles as styles_module
from live_support import copy_styles, write_video
from realtime_adain.clib import c_library
from realtime_adain.imageio import write_image
from realtime_adain.live.app import LiveSession
from realtime_adain.live.styles import StyleLibrary
from realtime_adain.settings import LiveSettings, ModelSettings

SIZE = 64


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def bomb_png(side: int = 100_000) -> bytes:
    """74 bytes whose header claims side x side RGB pixels."""
    header = png_chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0))
    return b"\x89PNG\r\n\x1a\n" + header + png_chunk(b"IDAT", zlib.compress(b"\0" * 64)) + png_chunk(b"IEND", b"")


def tiny_png(path: Path, seed: int = 0) -> Path:
    write_image(path, np.random.default_rng(seed).integers(0, 256, (24, 24, 3), dtype=np.uint8))
    return path


def hostile_things(folder: Path, data_dir: Path) -> socket.socket:
    """Everything a style folder should not hold, beside whatever is already in it; the socket
    returned must stay open while the folder is scanned."""
    os.mkfifo(folder / "fifo.jpg")  # opening it would wait for a writer forever
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(folder / "socket.png"))
    os.symlink("/dev/zero", folder / "zero.jpg")
    os.symlink("/dev/urandom", folder / "random.png")
    os.symlink("loop.jpg", folder / "loop.jpg")
    os.symlink(".", folder / "itself.jpg")
    (folder / "folder.jpg").mkdir()
    (folder / "empty.jpg").write_bytes(b"")
    (folder / "truncated.png").write_bytes(tiny_png(folder / "whole.png").read_bytes()[:60])
    (folder / "whole.png").unlink()
    (folder / "bomb.png").write_bytes(bomb_png())
    (folder / "clip.jpg").write_bytes((data_dir / "videos" / "cutBunny.mp4").read_bytes()[:200_000])
    return sock


def notes(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("note:")]


def test_things_that_are_not_images_are_left_out_with_a_note(stylizer, data_dir, tmp_path, one_thread, capsys):
    """One empty, truncated, inflated or mislabelled file in a style folder ended `live` at
    start-up ('error: styles/bomb.png: the image is larger than ...'): the library keeps the rest."""
    folder = copy_styles(data_dir, tmp_path / "styles", names=("trial.jpg",))
    sock = hostile_things(folder, data_dir)
    try:
        lib = StyleLibrary([folder], stylizer, SIZE, tmp_path / "cache").load()
    finally:
        sock.close()
    assert lib.names == ["trial"]
    said = notes(capsys.readouterr().err)
    decoded = [line for line in said if line.endswith("; style left out")]
    assert len(decoded) == 4, said
    for name in ("bomb.png", "clip.jpg", "empty.jpg", "truncated.png"):
        assert any(f"{folder / name}: " in line for line in decoded), name
    # the FIFO, the socket and the links to devices or loops are never opened: the folder's listing names them
    assert all(": left out, " in line for line in said if line not in decoded), said


def test_a_library_with_no_usable_style_is_one_error_line(run_cli, weights_env, data_dir, tmp_path, one_thread):
    folder = tmp_path / "styles"
    folder.mkdir()
    (folder / "empty.jpg").write_bytes(b"")
    (folder / "bomb.png").write_bytes(bomb_png())
    clip = write_video(tmp_path / "clip.mp4", frames=4)
    code, _, err = run_cli("live", "--source", clip, "--styles", folder, "--no-window", "-o", tmp_path / "o.mp4",
                           "--size", "32", "--style-size", "64")
    assert code != 0 and "Traceback" not in err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert errors == [f"error: none of the 2 style images is usable (the first: {folder / 'bomb.png'}: "
                      "100000x100000 is larger than the 268435456 pixels an image may have (OPENCV_IO_MAX_IMAGE_PIXELS))"]


@pytest.mark.slow  # (default run's time, 2026-12-07: a rarer variant; the corpus and `-m slow` runs keep it)
def test_a_name_that_is_not_utf8_is_a_style(run_cli, weights_env, stylizer, data_dir, tmp_path, one_thread):
    """A file named b'bad\\xff.png' ended `live` with a traceback (UnicodeEncodeError) from the
    cache's metadata; its name is shown with the byte escaped, in the log file too."""
    folder = copy_styles(data_dir, tmp_path / "styles", names=("trial.jpg",))
    tiny_png(folder / os.fsdecode(b"bad\xff.png"))
    tiny_png(folder / "new\nline.png", seed=1)
    clip, log = write_video(tmp_path / "clip.mp4", frames=4), tmp_path / "live.log"
    code, _, err = run_cli("live", "--source", clip, "--styles", folder, "--no-window", "-o", tmp_path / "o.mp4",
                           "--log", log, "--max-frames", "2", "--size", "32", "--style-size", "64")
    assert code == 0, err
    assert "live: styles count=3 computed=3 cached=0" in log.read_text()
    lib = StyleLibrary([folder], stylizer, SIZE, tmp_path / "c2").load()
    assert sorted(lib.names) == ["bad\\xff", "new\nline", "trial"]


def test_a_huge_library_is_cut_with_a_note(stylizer, tmp_path, one_thread, monkeypatch, capsys):
    """Every style is encoded at a cold start: 3000 tiny PNGs took 84 s; the library is bounded."""
    monkeypatch.setattr(styles_module, "MAX_STYLES", 3)
    folder = tmp_path / "styles"
    folder.mkdir()
    for i in range(5):
        tiny_png(folder / f"s{i}.png", seed=i)
    lib = StyleLibrary([folder], stylizer, 32, tmp_path / "cache").load()
    assert lib.names == ["s0", "s1", "s2"]
    assert notes(capsys.readouterr().err) == [
        f"note: 5 style images found; the first 3 usable ones are used; not read: {folder / 's3.png'}, {folder / 's4.png'}"]
    tiny_png(folder / "a.png", seed=9)
    assert lib.rescan() == ["a"] and lib.names == ["a", "s0", "s1"]  # a rescan keeps to the limit too


MEASURE_LOAD = """
import os, sys
from pathlib import Path
import torch
from realtime_adain.live.styles import StyleLibrary
from realtime_adain.stylizer import Stylizer
torch.set_num_threads(1)
stylizer = Stylizer.load(os.environ["REALTIME_ADAIN_VGG"], os.environ["REALTIME_ADAIN_DECODER"], device="cpu")
def resident(): return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")
before = resident()
library = StyleLibrary([sys.argv[1]], stylizer, 64, Path(sys.argv[2])).load()
print(len(library), (resident() - before) / 2**20)
"""


@pytest.mark.slow  # about 5 s: a new process and 100 styles (fewer do not show it every time)
def test_encoding_many_styles_gives_the_freed_memory_back(weights_env, tmp_path):
    """3000 tiny styles held 11 GB at start-up (glibc kept each encoding's freed feature maps
    pinned behind the few bytes kept of it); 100 held 250 to 400 MB. Measured in a new process,
    the heap as a start-up has it."""
    assert hasattr(c_library(), "malloc_trim") and Path("/proc/self/statm").exists(), \
        "this test needs glibc's malloc_trim and /proc (Linux, as CI runs it)"
    folder = tmp_path / "styles"
    folder.mkdir()
    for i in range(100):
        tiny_png(folder / f"s{i:03d}.png", seed=i)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parents[1]),
                                                        os.environ.get("PYTHONPATH", "")]), "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-c", MEASURE_LOAD, str(folder), str(tmp_path / "cache")], env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    count, grown = done.stdout.split()
    assert int(count) == 100 and float(grown) < 40, f"{float(grown):.0f} MB held for 100 styles of 24x24 pixels"


def cache_entry(kind: str) -> bytes | None:
    thumb = torch.zeros(64, 64, 3, dtype=torch.uint8)
    stats = {
        "float16": (torch.zeros(512, dtype=torch.float16), torch.ones(512, dtype=torch.float16)),
        "int32": (torch.zeros(512, dtype=torch.int32), torch.ones(512, dtype=torch.int32)),
        "nan": (torch.full((512,), float("nan")), torch.ones(512)),
        "extra": (torch.zeros(512), torch.ones(512)),
    }.get(kind)
    if stats is None:
        return None
    extra = {"padding": torch.zeros(2 << 20, dtype=torch.uint8)} if kind == "extra" else {}
    return save({"mean": stats[0], "std": stats[1], "thumbnail": thumb, **extra})


@pytest.mark.parametrize("kind", ["float16", "int32", "nan", "extra", "dev-zero-link"])
def test_a_damaged_cache_entry_is_never_trusted_and_is_rebuilt(stylizer, data_dir, tmp_path, one_thread, kind):
    """Statistics of another type (float16, int32 zeros and ones) were read as the style's; a
    2 MB entry was read whole; a link to /dev/zero made the cache 'unwritable' for good."""
    folder = copy_styles(data_dir, tmp_path / "styles", names=("trial.jpg",))
    cache = tmp_path / "cache"
    good = StyleLibrary([folder], stylizer, SIZE, cache).load()
    entry = good.cache_path(good[0].digest)
    entry.unlink()
    data = cache_entry(kind)
    if data is None:
        os.symlink("/dev/zero", entry)
    else:
        entry.write_bytes(data)
    events = []
    again = StyleLibrary([folder], stylizer, SIZE, cache, lambda event, **f: events.append(event)).load()
    assert (again.computed, again.reused) == (1, 0), events
    assert torch.equal(again[0].stats.mean, good[0].stats.mean)
    assert "style-cache-unwritable" not in events
    assert entry.is_file() and not entry.is_symlink()
    assert StyleLibrary([folder], stylizer, SIZE, cache).load().reused == 1  # rebuilt whole


def test_a_rescan_says_a_bad_file_once_and_keeps_the_styles_when_nothing_is_left(stylizer, data_dir, tmp_path,
                                                                                 one_thread, monkeypatch):
    folder = copy_styles(data_dir, tmp_path / "styles", names=("trial.jpg",))
    events = []
    lib = StyleLibrary([folder], stylizer, SIZE, tmp_path / "cache", lambda event, **f: events.append((event, f)))
    lib.load()
    (folder / "bomb.png").write_bytes(bomb_png())
    decoded = []
    real_decode = styles_module.decode_image  # (a style is decoded from the bytes it was hashed by)
    monkeypatch.setattr(styles_module, "decode_image", lambda data, name: decoded.append(Path(name)) or real_decode(data, name))
    for _ in range(3):
        assert lib.rescan() == []
    assert decoded == [folder / "bomb.png"]  # decoded (and said) once, not on every rescan
    assert [event for event, _ in events] == ["rescan-skip"]
    for path in folder.iterdir():
        path.unlink()
    folder.rmdir()
    folder.write_bytes(b"a file where the folder was")
    assert lib.rescan() == [] and lib.names == ["trial"]
    assert events[-1] == ("rescan-kept", {"styles": 1, "reason": "no usable style image found"})


def test_a_running_session_survives_its_style_folder_being_wrecked_and_rescanned(data_dir, tmp_path, weights_env,
                                                                                 one_thread):
    """Keys pressed from another thread while the folder changes under the session: rescans
    (repeated while one runs), next/previous/mix; the current style's file deleted, a bad name
    and bad files added, then the whole folder replaced by a file. The session keeps going."""
    clip = write_video(tmp_path / "clip.mp4", frames=12, size=(96, 64))
    folder = copy_styles(data_dir, tmp_path / "styles", names=("trial.jpg", "brushstrokes.jpg"))
    settings = LiveSettings(styles=(str(folder),), model=ModelSettings(device="cpu"), source=str(clip), size=32,
                            style_size=SIZE, style_cache=tmp_path / "cache", window=False,
                            output=str(tmp_path / "out.mp4"), loop=True, snapshot_dir=tmp_path,
                            record_dir=tmp_path, log=str(tmp_path / "live.log"))
    settings.check()
    session = LiveSession(replace(settings))
    failures: list[str] = []

    def press(*actions: str) -> None:
        for action in actions:
            session.effects.perform(session.controller.apply(action), None)

    def wreck() -> None:
        try:
            deadline = time.monotonic() + 60
            while session.stats.frames < 2 and time.monotonic() < deadline:
                time.sleep(0.02)
            (folder / "trial.jpg").unlink()  # the current style
            tiny_png(folder / os.fsdecode(b"caf\xe9.png"))
            (folder / "empty.jpg").write_bytes(b"")
            (folder / "bomb.png").write_bytes(bomb_png())
            os.mkfifo(folder / "fifo.png")
            for _ in range(5):
                press("rescan", "next", "mix", "previous", "color")
            for step in range(3):
                while session.effects.rescanning and time.monotonic() < deadline:
                    time.sleep(0.02)
                if step == 1:
                    for path in folder.iterdir():
                        path.unlink()
                    folder.rmdir()
                    folder.write_bytes(b"not a folder")
                press("rescan", "next", "mix")
                frames = session.stats.frames
                while session.stats.frames < frames + 2 and time.monotonic() < deadline:
                    time.sleep(0.02)
        except Exception as exc:  # reported by the assertion below
            failures.append(repr(exc))
        finally:
            session.stop_event.set()

    threading.Thread(target=wreck, daemon=True).start()
    assert session.run() == 0
    log = Path(settings.log).read_text()
    assert not failures, failures
    assert "rescan-failed" not in log and "live: error" not in log, log
    assert "caf\\xe9" in log and "rescan-kept styles=" in log, log
    assert session.stats.frames > 6


def test_a_fifo_swapped_in_for_a_style_is_refused_not_waited_on(tmp_path):
    """A style listed, then replaced by a FIFO before its digest is read: the open blocked the
    rescan thread for good. Now a file that is not regular is a UserError at once."""
    from realtime_adain.errors import UserError
    from realtime_adain.weight_digests import file_sha256

    fifo = tmp_path / "style.png"
    os.mkfifo(fifo)
    outcome = []

    def digest() -> None:
        try:
            file_sha256(fifo)
        except UserError as exc:
            outcome.append(str(exc))

    worker = threading.Thread(target=digest, daemon=True)
    worker.start()
    worker.join(5)
    assert outcome == [f"{fifo}: not a regular file (a pipe, device or socket)"]


def test_the_session_log_takes_a_name_that_is_not_utf8(tmp_path):
    from realtime_adain.live.events import EventLog

    log = EventLog(tmp_path / "live.log")
    log("error", reason=os.fsdecode(b"styles/bad\xff.png") + ": cannot read it")
    log.close()
    assert "styles/bad\\udcff.png" in (tmp_path / "live.log").read_text()


def test_quitting_stops_a_rescan_between_styles(stylizer, data_dir, tmp_path, one_thread, monkeypatch):
    """`l` on a folder of 30 new pictures, then `q`: the rescan went on in torch as the interpreter
    ended, which aborted the process ("terminate called without an active exception", status 134).
    The exit no longer waits for it (`app.run` ends the process where a thread still runs): here
    the test waits for the thread itself."""
    from realtime_adain.live.controller import Controller, Effect
    from realtime_adain.live.effects import KeyEffects

    folder = copy_styles(data_dir, tmp_path / "styles", names=("trial.jpg",))
    events = []
    log = lambda event, **f: events.append(event)  # noqa: E731
    library = StyleLibrary([folder], stylizer, SIZE, tmp_path / "cache", log).load()
    for seed in range(5):
        tiny_png(folder / f"new{seed}.png", seed)
    stop, encoded, usable = threading.Event(), [], library._usable

    def quit_while_encoding(path, skip, digest=None):
        encoded.append(path)
        stop.set()  # `q` pressed while the first new style is being encoded
        time.sleep(0.2)
        return usable(path, skip, digest)

    monkeypatch.setattr(library, "_usable", quit_while_encoding)
    effects = KeyEffects(log, stop, Controller(library.names), library, tmp_path, tmp_path, (48, 32), 24.0)
    effects.perform([Effect("rescan")], None)
    effects.join(30)
    for worker in effects.workers:
        worker.join(30)
    assert not any(worker.is_alive() for worker in effects.workers)
    assert len(encoded) == 1 and library.names == ["trial"] and "rescan-stopped" in events
