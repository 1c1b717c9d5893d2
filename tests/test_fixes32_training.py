"""Fixes of the trainer's hostile campaign 32: a huge picture whose size lay past the header bound,
edited Adam settings, PyTorch's worker-count warning, image notes from loader processes, and
evaluate.py's decoder names."""

from __future__ import annotations

import csv
import gc
import shutil
import struct
import warnings
import zlib

import cv2
import pytest

from realtime_adain.limits import usable_cpus
from realtime_adain.training import batch_loading, item_streams, training_images
from realtime_adain.training.config import DEFAULT_WORKERS, TrainConfig
from realtime_adain.training.evaluate import Evaluation, format_table
from test_train_hostile_checkpoints import finished_run, refused_as_damaged  # noqa: F401  (a fixture)
from test_train_hostile_environment import tool_process
from train_support import tiny_args, train_tool  # noqa: F401  (fixtures)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory, data_dir):
    """96x96 copies: two contents, one style."""
    root = tmp_path_factory.mktemp("data")
    for kind, names in (("content", ("sailboat.jpg", "lenna.jpg")), ("style", ("trial.jpg",))):
        (root / kind).mkdir()
        for name in names:
            picture = cv2.imread(str(data_dir / kind / name))
            cv2.imwrite(str(root / kind / name), cv2.resize(picture, (96, 96), interpolation=cv2.INTER_AREA))
    return root


def tiff_past_the_head(width: int, height: int, padding: int) -> bytes:
    """An 8-bit grey TIFF whose one deflate strip (of zeros) comes first and whose directory comes
    after `padding` bytes, as libtiff writes its directory after the pixels."""
    strip = zlib.compress(bytes(width * height))
    ifd_at = 8 + len(strip) + padding
    tags = [(256, 4, width), (257, 4, height), (258, 3, 8), (259, 3, 8), (262, 3, 1), (273, 4, 8),
            (277, 3, 1), (278, 4, height), (279, 4, len(strip))]
    entries = b"".join(struct.pack("<HHI", tag, kind, 1) + (struct.pack("<HH", value, 0) if kind == 3 else
                                                               struct.pack("<I", value)) for tag, kind, value in tags)
    return (b"II*\0" + struct.pack("<I", ifd_at) + strip + bytes(padding) + struct.pack("<H", len(tags)) + entries
            + bytes(4))


def webp_past_the_head(width: int, height: int, padding: int) -> bytes:
    """A lossless WebP header stating width x height, then `padding` bytes (Pillow reads a whole
    WebP to open it)."""
    bits = (width - 1) | (height - 1) << 14 | 1 << 28  # (alpha used; version 0)
    chunk = b"\x2f" + struct.pack("<I", bits) + bytes(padding)
    body = b"WEBP" + b"VP8L" + struct.pack("<I", len(chunk)) + chunk
    return b"RIFF" + struct.pack("<I", len(body)) + body


@pytest.mark.parametrize("name, build", [("big.tif", tiff_past_the_head), ("big.webp", webp_past_the_head)])
def test_a_huge_picture_whose_size_lies_past_the_header_bound_is_skipped_unread(tmp_path, monkeypatch, name, build):
    """A 5 MB TIFF of 16000x16000 whose directory lay past the first 4 MiB was decoded (1.8 GB a
    read, in each loader process): only a JPEG's or PNG's size was required within the bound.
    Here the bound is lowered to 4 KiB, and the picture is just over the 64 megapixels."""
    monkeypatch.setattr(training_images, "HEADER_BYTES", 4096)
    width, height = 8192, 8193
    picture = tmp_path / name
    picture.write_bytes(build(width, height, 8192))
    image, why = training_images.read_training_image(picture)
    assert image is None and why == training_images.too_large(width, height)
    assert why.startswith(f"too large a picture ({width}x{height}, over the 64 megapixels"), why


@pytest.mark.parametrize("setting, value", [
    ("amsgrad", True), ("maximize", True), ("betas", [2.0, 0.999]), ("eps", -1.0), ("weight_decay", 1e30),
])
@pytest.mark.slow_cases('maximize-True', 'weight_decay-1e+30', 'betas-value2')  # (default run's time, 2026-12-07 and -08: rarer variants of the cases that stay, 5-8 s each)
def test_edited_adam_settings_are_a_damaged_trainer_state(train_tool, finished_run, tmp_path, one_thread, setting,
                                                          value):
    """amsgrad was a KeyError traceback at the first resumed iteration; maximize (the loss
    climbed), betas, eps and weight decay changed the training without a word."""
    def change(tensors, document):
        document["optimizer"]["param_groups"][0][setting] = value

    refused_as_damaged(train_tool, finished_run, tmp_path, change, f"Adam's {setting} = ")


@pytest.mark.slow  # (default run's time, 2026-12-07: a rarer variant; the corpus and `-m slow` runs keep it)
def test_more_workers_than_cpus_is_one_line_of_ours(dataset, capsys):
    """PyTorch warned in four lines of its own, twice, and by default (4 workers) on a 2-CPU
    machine; the default is now at most the CPUs available."""
    assert TrainConfig().workers == min(DEFAULT_WORKERS, usable_cpus())
    stream = item_streams.pair_stream(str(dataset / "content"), str(dataset / "style"), 64, 32, 0)
    workers = usable_cpus() + 1
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        batches = batch_loading.batches(stream, 0, 2, workers=workers)
        next(batches)
        del batches
        gc.collect()
    assert [str(w.message) for w in caught if "DataLoader" in str(w.message)] == []
    lines = capsys.readouterr().err.splitlines()
    assert lines == [f"warning: --workers {workers} is more than the {usable_cpus()} CPUs this run may use; loading "
                     "may be slower, not faster (fewer --workers, or leave it out)"]


@pytest.mark.slow  # (a training run with loader processes (5-9 s))
def test_a_note_from_loader_processes_is_one_line_once_per_file(dataset, published_weights, tmp_path, data_dir):
    """Three cut-short JPEGs and three loader processes gave seven notes (`once` held in each
    process alone), two of them could meet on one line, and a cut-short picture is trained on
    (as docs/training.md now says), not skipped."""
    content = tmp_path / "content"
    content.mkdir()
    for name in ("sailboat.jpg", "lenna.jpg", "flowers.jpg"):
        picture = cv2.resize(cv2.imread(str(data_dir / "content" / name)), (96, 96), interpolation=cv2.INTER_AREA)
        encoded = cv2.imencode(".jpg", picture)[1].tobytes()
        (content / name).write_bytes(encoded[: len(encoded) // 2])
    shutil.copytree(dataset / "style", tmp_path / "style")
    done = tool_process(tiny_args(tmp_path, published_weights[0], tmp_path / "run", 4, "--workers", "2"), timeout=300)
    assert done.returncode == 0, done.stderr
    notes = [line for line in done.stderr.splitlines() if "note:" in line]
    assert sorted(notes) == sorted(f"note: {content / name}: the file ends before its picture does (cut short?); the "
                                   "rest of the picture is missing" for name in ("sailboat.jpg", "lenna.jpg",
                                                                                 "flowers.jpg")), done.stderr
    with open(tmp_path / "run" / "log.csv", newline="") as handle:
        assert [row["skipped_images"] for row in csv.DictReader(handle)][-1] == "0"


def test_evaluate_names_decoders_apart():
    """run1/checkpoints/decoder_iter_0000006.safetensors and run6's: the table kept the last 45
    characters of each, the same for both."""
    decoders = [f"/data/experiments/adain/long/folder/run{n}/checkpoints/decoder_iter_0000006.safetensors"
                for n in (1, 6)]
    table = format_table([Evaluation(path, "plain", "vgg", 1, 1.0, 2.0, 21.0, 10.0) for path in decoders])
    names = [line.split()[0] for line in table.splitlines()[1:]]
    assert names == [".../run1/checkpoints/decoder_iter_0000006.safetensors",
                     ".../run6/checkpoints/decoder_iter_0000006.safetensors"]
    assert len({len(line) for line in table.splitlines()}) == 1  # (the column widened to fit them)
