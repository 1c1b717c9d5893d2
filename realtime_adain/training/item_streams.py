"""Training data: an endless, shuffled, reproducible stream of (content, style) crops.

As in the reference trainer, every image is resized to load_size x load_size (512) and a random
crop_size x crop_size (256) region is taken; content and style are shuffled independently and
reshuffled every epoch. Unlike it, item k of the stream is a pure function of (seed, k): epoch
k // n uses the permutation seeded by (seed, epoch) and the crop offset is seeded by (seed, k).
So resuming is exact (the stream restarts at iteration * global batch), DataLoader workers need
no RNG bookkeeping, and data-parallel ranks split a global batch exactly: rank r of W takes items
[r * B/W, (r + 1) * B/W) of each global batch of B, as one process with batch B would see them.

An unreadable, tiny or too large image (`training_images`) is replaced by the next image of the
same permutation and reported (path and reason) to the main process, which warns once per file
and counts them (`skipped_files`): a bad file never stops a run. Each loading process remembers
the files it found unusable and passes them over unread (a folder of empty files beside one
picture read them all again for every crop), and the run says once when nearly all of a folder's
files are. The notes reading a file makes (a picture cut short, tone-mapped) go to the main
process too, and are said there once per file. The DataLoader over the stream is
`batch_loading.batches`.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from realtime_adain.errors import UserError, as_given
from realtime_adain.notes import collected
from realtime_adain.picture_sizes import resize
from realtime_adain.training.image_listing import list_images
from realtime_adain.training.skipped_files import MOSTLY_UNUSABLE, WARNED_SKIPS, DataWarning
from realtime_adain.training.training_images import check_readable, read_training_image

# Every image is resized to load_size x load_size: 4096 is 8x the paper's 512 and 48 MiB an image.
MAX_LOAD_SIZE = 4096
CONTENT, STYLE = 0, 1


def load_and_crop(image: np.ndarray, load_size: int, crop_size: int, rng: np.random.Generator) -> torch.Tensor:
    """Resize to load_size x load_size, take a random crop_size square: (3, crop, crop) uint8."""
    image = resize(image, (load_size, load_size))
    top, left = rng.integers(0, load_size - crop_size + 1, size=2)
    crop = image[top : top + crop_size, left : left + crop_size]
    return torch.from_numpy(np.ascontiguousarray(crop)).permute(2, 0, 1)


class ImageStream:
    """Item k of an endless shuffled stream over `paths` (see the module docstring).

    `unusable` holds the indices of the files found unusable in this process: they are passed
    over unread for the rest of the run (100 000 empty files beside one picture were each read
    again for every crop, minutes an iteration). A file repaired during the run is used again
    after a --resume. `root` names the folder in the warning that nearly all of it is unusable."""

    def __init__(self, paths: Sequence[Path], seed: int, stream_id: int, load_size: int, crop_size: int,
                 root: str | os.PathLike) -> None:
        self.paths = list(paths)
        self.seed, self.stream_id = seed, stream_id
        self.load_size, self.crop_size = load_size, crop_size
        self._epoch_order: tuple[int, np.ndarray] | None = None
        self.unusable: set[int] = set()
        self.last_unusable = ("", "removed")  # (path, reason) of the latest file found unusable
        self.root = root
        # (the same count in every loading process: the main process says the warning once)
        self.warn_at = max(WARNED_SKIPS + 1, math.ceil(MOSTLY_UNUSABLE * len(self.paths)))

    def _order(self, epoch: int) -> np.ndarray:
        if self._epoch_order is None or self._epoch_order[0] != epoch:
            order = np.random.default_rng([self.seed, self.stream_id, epoch]).permutation(len(self.paths))
            self._epoch_order = (epoch, order)
        return self._epoch_order[1]

    def item(self, k: int) -> tuple[torch.Tensor | None, list[tuple[str, str]], list[str]]:
        """(crop, [(path, reason) of each file skipped to get it], [the notes reading them made]);
        crop None when no file is usable any more (removed or damaged during the run): the main
        process says so (`batch_loading.batches`), and says each note once (`say_notes`)."""
        n = len(self.paths)
        epoch, position = divmod(k, n)
        order = self._order(epoch)
        skipped = []
        with collected() as said:
            for attempt in range(n):
                index = int(order[(position + attempt) % n])
                if index in self.unusable:
                    continue
                path = self.paths[index]
                image, why = read_training_image(path)
                if image is not None:
                    self._say_if_mostly_unusable(len(skipped), said)
                    rng = np.random.default_rng([self.seed, self.stream_id, k, 1 << 20])
                    return load_and_crop(image, self.load_size, self.crop_size, rng), skipped, said
                self.unusable.add(index)
                self.last_unusable = (str(path), why)
                skipped.append(self.last_unusable)
        return None, skipped or [self.last_unusable], said  # (the error names one: `NoImagesLeft`)

    def _say_if_mostly_unusable(self, found_now: int, said: list[str]) -> None:
        """The warning (once: when this item's files made the count reach `warn_at`) that nearly
        all of the folder is unusable: the skipped files past the first WARNED_SKIPS are only counted."""
        if found_now and len(self.unusable) - found_now < self.warn_at <= len(self.unusable):
            what = "content" if self.stream_id == CONTENT else "style"
            said.append(DataWarning(f"warning: {self.root}: {self.warn_at} of its {len(self.paths)} {what} images "
                                    "cannot be used so far (each is skipped, and counted in log.csv); training goes "
                                    "on with the rest"))


class PairStream(Dataset):
    """Item k: (content crop k, style crop k, skipped files, notes), from independent shuffles; a
    crop is None when its directory has no usable image left."""

    def __init__(self, content: ImageStream, style: ImageStream) -> None:
        self.content, self.style = content, style

    def __len__(self) -> int:
        return 1 << 62

    def __getitem__(self, k: int) -> tuple[torch.Tensor | None, torch.Tensor | None, list[tuple[str, str]], list[str]]:
        content, skipped_content, said_content = self.content.item(k)
        style, skipped_style, said_style = self.style.item(k)
        return content, style, skipped_content + skipped_style, said_content + said_style


class GlobalBatchSampler(Sampler[list[int]]):
    """This rank's share of each global batch, from global step `start_step` on, forever."""

    def __init__(self, start_step: int, global_batch: int, rank: int = 0, world_size: int = 1) -> None:
        if global_batch % world_size:
            raise UserError(f"the batch size {global_batch} must be a multiple of the {world_size} processes")
        self.start_step, self.global_batch = start_step, global_batch
        self.local_batch = global_batch // world_size
        self.offset = rank * self.local_batch

    def __iter__(self) -> Iterator[list[int]]:
        step = self.start_step
        while True:
            first = step * self.global_batch + self.offset
            yield list(range(first, first + self.local_batch))
            step += 1


class NoImagesLeft:
    """What a worker returns instead of a batch when a directory has no usable image left: an
    exception raised in a worker reaches the main process with the worker's traceback in it."""

    def __init__(self, what: str, skipped: list[tuple[str, str]]) -> None:
        self.what, self.skipped = what, skipped

    def error(self, root: str) -> UserError:
        last = self.skipped[-1] if self.skipped else ("", "removed")
        return UserError(f"{root}: no usable {self.what} image is left (the files were removed or damaged during the "
                         f"run; last: {last[0]}: {last[1]})")


def collate(items: list) -> tuple[torch.Tensor, torch.Tensor, list[tuple[str, str]], list[str]] | NoImagesLeft:
    contents, styles, skipped, said = zip(*items)
    skipped = [entry for entries in skipped for entry in entries]
    for crops, what in ((contents, "content"), (styles, "style")):
        if any(crop is None for crop in crops):
            return NoImagesLeft(what, skipped)
    return torch.stack(contents), torch.stack(styles), skipped, [line for lines in said for line in lines]


def check_sizes(load_size: int, crop_size: int) -> None:
    if crop_size < 16 or crop_size % 8:
        raise UserError(f"--crop-size must be a multiple of 8 and at least 16, got {as_given(crop_size)}")
    if load_size < crop_size:
        raise UserError(f"--load-size ({as_given(load_size)}) must be at least --crop-size ({as_given(crop_size)})")
    if load_size > MAX_LOAD_SIZE:
        raise UserError(f"--load-size must be at most {MAX_LOAD_SIZE}, got {as_given(load_size)}")


def pair_stream(content_dir: str, style_dir: str, load_size: int, crop_size: int, seed: int,
                exclude: Sequence[str | os.PathLike] = ()) -> PairStream:
    """The stream after checking both directories (clear errors before any worker starts);
    folders in `exclude` (the run's own) are not searched."""
    check_sizes(load_size, crop_size)
    streams = []
    for root, what, stream_id in ((content_dir, "content", CONTENT), (style_dir, "style", STYLE)):
        paths = list_images(root, what, exclude)
        check_readable(paths, root, what)
        streams.append(ImageStream(paths, seed, stream_id, load_size, crop_size, root))
    return PairStream(*streams)
