"""Writing onto a full disk: a real 2 MiB tmpfs, filled up (or nearly) before the command runs.

Every case: exit status 2, one `error:` line naming the file being written (ENOSPC itself names
none), no temporary file left and nothing under the final name. Needs root to mount the tmpfs.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from pathlib import Path
from typing import Iterator

import pytest

from weights_server import WeightsServer, release_bytes, synthetic_release  # noqa: F401

FILLER = "filler"


@contextlib.contextmanager
def tmpfs(path: Path, size: str) -> Iterator[Path]:
    """A tmpfs of `size` (mount's words: "2m") at `path`, made if missing, unmounted afterwards;
    the test is skipped where one cannot be mounted (not root)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    path.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                            capture_output=True, text=True)
    if result.returncode:
        pytest.skip(f"cannot mount a tmpfs: {result.stderr.strip() or result.returncode}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


@pytest.fixture
def disk(tmp_path):
    """An empty 2 MiB tmpfs, unmounted afterwards."""
    with tmpfs(tmp_path / "disk", "2m") as mount:
        yield mount


def fill(disk: Path, leave: int = 0) -> None:
    """Take all the disk's space but about `leave` bytes."""
    with open(disk / FILLER, "wb", buffering=0) as out:
        try:
            while True:
                out.write(b"\0" * 4096)
        except OSError:
            pass
    if leave:
        os.truncate(disk / FILLER, max(0, os.path.getsize(disk / FILLER) - leave))


def assert_one_error_naming(code: int, err: str, path: Path) -> None:
    assert code == 2, err
    assert err.count("\n") == 1 and err.startswith(f"error: {path}: ") and "No space left" in err, err
    assert "Traceback" not in err


def left_on(disk: Path) -> list[str]:
    return sorted(p.name for p in disk.rglob("*") if p.name != FILLER)


def test_image_onto_a_full_disk(run_cli, weights_env, data_dir, disk):
    fill(disk)
    out = disk / "result.png"
    code, _, err = run_cli("image", data_dir / "content" / "cornell.jpg", "-s", data_dir / "style" / "trial.jpg",
                           "--size", "64", "--style-size", "64", "-o", out)
    assert_one_error_naming(code, err, out)
    assert left_on(disk) == []


@pytest.mark.slow_cases('96000-bunny.gif', '96000-bunny.mp4')  # (the default run time: full from the start and a GIF stay)
@pytest.mark.parametrize("leave, name", [(0, "bunny.mp4"), (96_000, "bunny.mp4"), (96_000, "bunny.gif")])  # full from
def test_video_onto_a_full_disk(run_cli, weights_env, data_dir, disk, leave, name, one_thread):  # the start, or later
    fill(disk, leave)
    out = disk / name
    code, _, err = run_cli("video", data_dir / "videos" / "cutBunny.mp4", "-s", data_dir / "style" / "trial.jpg",
                           "--size", "32", "--style-size", "32", "--frames", "120", "-o", out)
    err = "".join(line + "\n" for line in err.splitlines()  # (a GIF notes its dropped sound)
                  if "frame/s" not in line and "\r" not in line and ": dropping audio" not in line)
    assert_one_error_naming(code, err, out)
    assert left_on(disk) == []


def test_weights_download_onto_a_full_disk(run_cli, synthetic_release, disk, tmp_path, monkeypatch):
    monkeypatch.setenv("REALTIME_ADAIN_HOME", str(tmp_path / "home"))
    fill(disk, 500_000)  # room for a start: the error comes mid-way (--no-checksum: no sizes, no room check first)
    target = disk / "weights"
    with WeightsServer(synthetic_release) as server:
        code, _, err = run_cli("weights", "download", "--base-url", server.url, "--dir", target, "--no-checksum")
    assert_one_error_naming(code, err, target / "vgg_normalised.pth")
    assert left_on(disk) == []  # not even the folder it created


@pytest.mark.slow  # (an ONNX export (10-23 s); exports onto full homes run by default in test_full_disk20)
def test_onnx_export_onto_a_full_disk(run_cli, weights_env, disk):
    import onnxruntime  # noqa: F401 (the dev extra has it: a missing one is a failure, not a skip)
    fill(disk, 200_000)
    out = disk / "adain.onnx"
    code, _, err = run_cli("export", "--format", "onnx", "-o", out)
    assert_one_error_naming(code, err, out)
    assert left_on(disk) == []
