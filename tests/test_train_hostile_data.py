"""Hostile training data: odd files, links, a dataset that vanishes, a worker that dies.

A bad file is skipped with a counted warning; a run that cannot go on says so in one line.
"""

from __future__ import annotations

import os
import shutil
import signal
import struct
import threading
import time
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from realtime_adain.training import checkpoint, image_listing, training_images
from realtime_adain.training.config import resolve_config
from realtime_adain.training.trainer import Trainer
from cli_support import training_error_line
from train_support import tiny_args, train_tool  # noqa: F401  (fixtures)


@pytest.fixture
def dataset(tmp_path, data_dir):
    """One content and one style image, copied so a test may spoil them."""
    for kind, name in (("content", "sailboat.jpg"), ("style", "trial.jpg")):
        (tmp_path / kind).mkdir()
        shutil.copy(data_dir / kind / name, tmp_path / kind / name)
    return tmp_path


def png_bomb(path: Path) -> None:
    """A PNG whose header claims 60000 x 60000 pixels (10 GB decoded) in 100 bytes."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", 60000, 60000, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 1000))
                     + chunk(b"IEND", b""))


def spoil(content: Path, good: bytes) -> None:
    """Every kind of bad or odd file the brief lists, beside the good image."""
    (content / "zero.jpg").write_bytes(b"")
    (content / "truncated.jpg").write_bytes(good[: len(good) // 3])
    (content / "notes.jpg").write_text("a text file with an image's name\n")
    cv2.imwrite(str(content / "dot.png"), np.zeros((1, 1, 3), np.uint8))
    cv2.imwrite(str(content / "sliver.png"), np.zeros((3, 20000, 3), np.uint8))
    png_bomb(content / "bomb.png")
    cv2.imwrite(str(content / "grey.png"), np.full((80, 80), 128, np.uint8))
    cv2.imwrite(str(content / "deep.png"), np.full((80, 80, 3), 40000, np.uint16))
    Image.new("CMYK", (80, 80), (10, 20, 30, 40)).save(content / "cmyk.jpg")
    Image.new("RGBA", (80, 80), (10, 20, 30, 0)).save(content / "rgba.png")
    os.mkfifo(content / "pipe.jpg")  # reading it would block forever
    os.symlink("loop_b.jpg", content / "loop_a.jpg")
    os.symlink("loop_a.jpg", content / "loop_b.jpg")
    os.symlink("/nonexistent/x.jpg", content / "dangling.jpg")
    (content / "nested" / "deeper").mkdir(parents=True)
    shutil.copy(content / "sailboat.jpg", content / "nested" / "deeper" / "copy.jpg")


def logged_rows(run: Path) -> int:
    """Rows of log.csv so far: the run is training once there is one."""
    log = run / "log.csv"
    return len(log.read_text().splitlines()) - 1 if log.is_file() else 0


def test_hidden_files_and_folders_are_not_training_images(tmp_path):
    """macOS's `._NAME.jpg` twins (not images: one warning each, thousands on a copied COCO) and
    our own half-written `.NAME.part.jpg` files were listed as training images."""
    root = tmp_path / "content"
    (root / ".thumbnails").mkdir(parents=True)
    for path in (root / "photo.jpg", root / "._photo.jpg", root / ".photo.123-abcdefgh.part.jpg",
                 root / ".thumbnails" / "photo.jpg"):
        path.write_bytes(b"x")
    assert image_listing.list_images(root, "content") == [root / "photo.jpg"]


def test_linked_folders_are_followed_once(tmp_path):
    """A dataset assembled from links to folders was "empty" (pathlib's rglob does not follow
    them); a link loop must still end."""
    real = tmp_path / "real"
    real.mkdir()
    (real / "a.jpg").write_bytes(b"x")
    root = tmp_path / "content"
    root.mkdir()
    (root / "part1").symlink_to(real)
    (real / "back").symlink_to(root)  # a loop: content/part1/back -> content
    assert image_listing.list_images(root, "content") == [root / "part1" / "a.jpg"]


def test_run_directory_inside_the_dataset_is_not_read(train_tool, dataset, published_weights, one_thread):
    """--out inside --content: its sample grids (JPEGs) became content images of a resumed run."""
    run = dataset / "content" / "run"
    code, _, err = train_tool(*tiny_args(dataset, published_weights[0], run, 1, "--save-every", "1",
                                         "--sample-every", "1"))
    assert code == 0, err
    assert list((run / "samples").glob("*.jpg"))
    loaded = checkpoint.load_checkpoint(run)
    trainer = Trainer(resolve_config({"iterations": 2}, loaded.trainer.config), loaded)
    try:
        assert trainer.stream.content.paths == [dataset / "content" / "sailboat.jpg"]
    finally:
        trainer.close()


@pytest.mark.slow  # (default run's time: 3 s)
def test_bad_files_are_skipped_by_workers(train_tool, dataset, published_weights, one_thread):
    """Two loading processes over a folder of broken, odd and special files: no hang, no
    traceback; only files that cannot be used are reported, and counted in the log."""
    content = dataset / "content"
    spoil(content, (content / "sailboat.jpg").read_bytes())
    run = dataset / "run"
    code, _, err = train_tool(*tiny_args(dataset, published_weights[0], run, 3, "--log-every", "3"),
                              "--workers", "2", "--batch-size", "4")
    assert code == 0, err
    assert "Traceback" not in err
    warned = {line.split()[2].rstrip(":") for line in err.splitlines() if line.startswith("warning: skipped")}
    unusable = ("zero.jpg", "truncated.jpg", "notes.jpg", "dot.png", "sliver.png", "bomb.png")
    bad = {str(content / name) for name in unusable}
    assert warned <= bad
    last = (run / "log.csv").read_text().splitlines()[-1]
    assert last.endswith(f",{len(warned)}")


def test_too_large_file_is_skipped_unread(tmp_path):
    """A huge (here sparse) file named .jpg was read whole into memory before being refused."""
    huge = tmp_path / "huge.jpg"
    with open(huge, "wb") as handle:
        handle.truncate(training_images.MAX_FILE_BYTES + 1)
    image, why = training_images.read_training_image(huge)
    assert image is None and why.startswith("too large a file (2048 MiB")


def test_dataset_vanishing_mid_run_is_one_line(train_tool, dataset, published_weights, one_thread):
    """The content folder removed (a drive unmounted) during the run: a traceback from
    `ImageStream.item` ("no usable image left") before; one line naming the folder now."""
    run = dataset / "run"

    def remove_when_training():
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and logged_rows(run) < 1:
            time.sleep(0.05)
        shutil.rmtree(dataset / "content")

    remover = threading.Thread(target=remove_when_training)
    remover.start()
    code, _, err = train_tool(*tiny_args(dataset, published_weights[0], run, 3000, "--log-every", "1",
                                         "--save-every", "100000"))
    remover.join()
    line = training_error_line(code, err)
    assert line.startswith(f"error: {dataset / 'content'}: no usable content image is left"), line
    assert "no such file" in line.lower()  # (the pre-check's words, or the OS's where it went in between)


def test_killed_worker_is_one_line(train_tool, dataset, published_weights, one_thread):
    """A loading process killed (the OOM killer's SIGKILL): PyTorch's RuntimeError traceback
    before; one line suggesting fewer workers now."""
    run = dataset / "run"
    me = os.getpid()

    def children() -> list[int]:
        found = []
        for task in os.listdir(f"/proc/{me}/task"):
            try:
                found += [int(pid) for pid in Path(f"/proc/{me}/task/{task}/children").read_text().split()]
            except OSError:
                continue
        return found

    def kill_a_worker_when_training():
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            workers = set(children()) - before
            if logged_rows(run) >= 1 and workers:
                os.kill(workers.pop(), signal.SIGKILL)  # a DataLoader worker this test's run started
                return
            time.sleep(0.05)

    before = set(children())  # only a worker of this run is killed
    killer = threading.Thread(target=kill_a_worker_when_training)
    killer.start()
    code, _, err = train_tool(*tiny_args(dataset, published_weights[0], run, 3000, "--log-every", "1",
                                         "--save-every", "100000"), "--workers", "1")
    killer.join()
    line = training_error_line(code, err)
    assert line.startswith("error: an image-loading worker ended unexpectedly ("), line
    assert line.endswith("); out of memory? try fewer --workers or a smaller --load-size"), line
