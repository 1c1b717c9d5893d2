"""Training data: an endless, shuffled, reproducible stream of (content, style) crops.

As in the reference trainer, every image is resized to load_size x load_size (512) and a random
crop_size x crop_size (256) region is taken; content and style are shuffled independently and
reshuffled every epoch. Unlike it, item k of the stream is a pure function of (seed, k): epoch
k // n uses the permutation seeded by (seed, epoch) and the crop offset is seeded by (seed, k).
So resuming is exact (the stream restarts at iteration * global batch), DataLoader workers need
no RNG bookkeeping, and data-parallel ranks split a global batch exactly: rank r of W takes items
[r * B/W, (r + 1) * B/W) of each global batch of B, as one process with batch B would see them.

An unreadable, tiny or too large image is replaced by the next image of the same permutation and
reported (path and reason) to the main process, which warns once per file and counts them: a bad
file never stops a run. Each loading process remembers the files it found unusable and passes them
over unread (a folder of empty files beside one picture read them all again for every crop), and
the run says once when nearly all of a folder's files are. The notes reading a file makes (a
picture cut short, tone-mapped) go to the main process too, and are said there once per file.
"""

from __future__ import annotations

import math
import os
import signal
import threading
import warnings
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from realtime_adain.errors import UserError, as_given
from realtime_adain.imageio import is_image_path, read_image
from realtime_adain.limits import process_room, raise_soft_limit, usable_cpus
from realtime_adain.opencv_headers import png_sample_bytes, radiance_sample_bytes, tiff_sample_bytes, webp_sample_bytes
from realtime_adain.picture_sizes import resize
from realtime_adain.pillow_stills import open_with_pillow
from realtime_adain.regular_files import open_regular
from realtime_adain.still_headers import ffmpeg_still_size
from realtime_adain.userdirs import expand_home
from realtime_adain.notes import collected, note, write_line

# Shorter sides below this are thumbnails or broken files, not training material.
MIN_IMAGE_SIDE = 64
# Every image is resized to load_size x load_size: 4096 is 8x the paper's 512 and 48 MiB an image.
MAX_LOAD_SIZE = 4096
# The largest image file read: an uncompressed 16-bit RGB TIFF at OpenCV's pixel limit is 1.5 GiB.
MAX_FILE_BYTES = 2 << 30
# The most pixels an image may have to be trained on: 8192x8192, far more than the 512-pixel load
# size needs (a 100-megapixel camera's photos are over it: skipped, said, to be scaled down first).
# A 1 MB PNG of 16384x16384 took 4.5 GB to read, each epoch, in each loader process at once (the
# default 4): enough to have the run killed.
MAX_TRAINING_PIXELS = 1 << 26
HEADER_BYTES = 4 << 20  # what is read to find a picture's stated size (a JPEG's metadata comes first)
CONTENT, STYLE = 0, 1
# The share of a folder's files found unusable at which the run says so, once (past the skipped
# files named one by one, WARNED_SKIPS: only counted in log.csv, they went unremarked).
MOSTLY_UNUSABLE = 0.9


def warn(message: str) -> None:
    """A line on stderr (a warning, a checkpoint's path) that does not break a progress bar, and is
    one line where a file's name holds a newline."""
    write_line(message)


def list_images(directory: str | os.PathLike, what: str, exclude: Sequence[str | os.PathLike] = ()) -> list[Path]:
    """Image files under `directory` (recursively, sorted); a clear error if there are none.

    Symbolic links to folders are followed (a dataset assembled from links), each real folder
    once (a link loop ends). Hidden files and folders are left out: macOS's `._NAME.jpg` twins
    and our own half-written `.NAME.part.jpg` files are not images. So are the folders in
    `exclude` (the run's --out, whose samples must not become training images), and, said in a
    note, any subfolder that holds another training run (`holds_training_run`) or cannot be
    listed (`walk_errors`); `directory` itself not listed is the error (it was said to be "empty").
    Names that hold no regular file (a link that leads to none, a fifo, a device) are left out and
    counted as hidden ones are; image names among them are said in a note.
    """
    root = expand_home(directory)  # (`--content='~/coco'`: the shell leaves a quoted ~ alone)
    if root.is_file():
        raise UserError(f"{root}: --{what} takes a directory of images, not a single file")
    if not root.is_dir():
        if os.path.lexists(root):  # (a fifo, a device, a link to nowhere or in a loop: "no such" while it is there)
            raise UserError(f"{root}: --{what} takes a directory of images; this is no directory (a fifo, device, "
                            "socket, or a link that leads to none)")
        raise UserError(f"{root}: no such {what} directory")
    skipped_dirs = {os.path.realpath(d) for d in exclude}
    real_root = os.path.realpath(root)
    if real_root in skipped_dirs:  # all of it left out: "empty" said nothing useful
        raise UserError(f"{root}: the {what} directory is the run's --out; give the run a folder of its own")
    seen: set[str] = set()
    files = []
    hidden = 0  # files and folders left out for their names: said when nothing else is left
    not_regular: list[Path] = []  # links that lead to no file, fifos, sockets, devices: left out, said
    unlisted: list[OSError] = []
    for folder, subfolders, names in os.walk(root, followlinks=True, onerror=unlisted.append):
        real = os.path.realpath(folder)
        if real in seen or real in skipped_dirs:
            subfolders.clear()
            continue
        if real != real_root and holds_training_run(folder):
            note(f"{folder}: left out, it holds a training run", once=True)  # (once: evaluate.py lists twice)
            subfolders.clear()
            continue
        seen.add(real)
        hidden += sum(name.startswith(".") for name in subfolders + names)
        subfolders[:] = [d for d in subfolders if not d.startswith(".")]
        for path in (Path(folder, name) for name in names if not name.startswith(".")):
            (files if os.path.isfile(path) else not_regular).append(path)
    walk_errors(unlisted, root, what)
    files.sort()
    hidden_ones = "1 hidden file or folder" if hidden == 1 else f"{hidden} hidden files or folders"
    odd_ones = ("1 entry that is not a regular file" if len(not_regular) == 1
                else f"{len(not_regular)} entries that are not regular files")
    if not files:
        parts = [f"{hidden_ones} (names starting with '.' are left out)"] if hidden else []
        parts += [f"{odd_ones} ({NOT_REGULAR})"] if not_regular else []
        raise UserError(f"{root}: the {what} directory is empty" + (f" but for {' and '.join(parts)}" if parts else ""))
    images = [p for p in files if is_image_path(p)]
    if not images:
        counted = "1 file, not an image" if len(files) == 1 else f"{len(files)} files, none of them an image"
        left_out = [f"{hidden_ones} left out: names starting with '.'"] if hidden else []
        left_out += [f"{odd_ones} left out ({NOT_REGULAR})"] if not_regular else []
        raise UserError(f"{root}: no images in the {what} directory ({counted}"
                        + "".join(f"; {part}" for part in left_out) + ")")
    say_images_not_regular([p for p in not_regular if is_image_path(p)], root, what)
    return images


NOT_REGULAR = "links that lead to no file, fifos, sockets or devices"


def say_images_not_regular(paths: Sequence[Path], root: Path, what: str) -> None:
    """A note of the images' names left out for holding no regular file (links half of them to a
    disk not mounted: the run trained on the other half without a word)."""
    if paths:
        count = "1 image name holds" if len(paths) == 1 else f"{len(paths)} image names hold"
        named = ", ".join(str(p) for p in sorted(paths)[:3]) + (", ..." if len(paths) > 3 else "")
        note(f"{root}: {count} no regular file ({NOT_REGULAR}), left out of the {what} images: {named}", once=True)


def walk_errors(errors: Sequence[OSError], root: Path, what: str) -> None:
    """The folders `os.walk` could not list (no permission, removed meanwhile): `root` is an error,
    each subfolder a note, as it is left out (it was left out without a word)."""
    for exc in errors:
        why = exc.strerror or type(exc).__name__
        if exc.filename is None or os.fspath(exc.filename) == os.fspath(root):
            raise UserError(f"{root}: cannot read the {what} directory ({why})")
        # (once: evaluate.py lists the folders twice)
        note(f"{exc.filename}: left out, the folder cannot be read ({why})", once=True)


def holds_training_run(folder: str) -> bool:
    """Whether `folder` is a training run's --out: its checkpoints/ and its lock or log.csv, as the
    trainer makes them (`Trainer._prepare_out_dir`). An earlier run's --out inside a dataset
    holds stylized samples, which must not be trained on or evaluated as content or style."""
    return os.path.isdir(os.path.join(folder, "checkpoints")) and any(
        os.path.isfile(os.path.join(folder, name)) for name in (".lock", "log.csv"))


def read_training_image(path: Path) -> tuple[np.ndarray | None, str]:
    """(image, "") or (None, why it cannot be used)."""
    try:
        size = path.stat().st_size
    except OSError as exc:  # removed or made unreadable since the scan
        return None, f"cannot read it ({exc.strerror or exc})"
    if size > MAX_FILE_BYTES:  # a huge or sparse file would be read whole into memory
        return None, f"too large a file ({size >> 20} MiB, over {MAX_FILE_BYTES >> 20} MiB)"
    try:
        stated = stated_size(path)
    except HeaderTooLong:
        return None, (f"its size is not stated in its first {HEADER_BYTES >> 20} MiB (metadata that long before "
                      "it?), so it could be any size")
    if stated and stated[0] * stated[1] > MAX_TRAINING_PIXELS:
        return None, too_large(*stated)
    try:
        image = read_image(path)
    except UserError as exc:
        return None, str(exc).removeprefix(f"{path}: ")
    except OSError as exc:
        return None, f"cannot read it ({exc.strerror or exc})"
    except Exception as exc:  # a decoder may fail in its own way on a damaged file
        return None, f"unreadable ({type(exc).__name__})"
    if image.shape[0] * image.shape[1] > MAX_TRAINING_PIXELS:  # (a size no header read here stated)
        return None, too_large(image.shape[1], image.shape[0])
    if min(image.shape[:2]) < MIN_IMAGE_SIDE:
        return None, f"too small ({image.shape[1]}x{image.shape[0]}, under {MIN_IMAGE_SIDE} px)"
    return image, ""


def too_large(width: int, height: int) -> str:
    return f"too large a picture ({width}x{height}, over the {MAX_TRAINING_PIXELS >> 20} megapixels an image is trained on)"


class HeaderTooLong(Exception):
    """A file longer than HEADER_BYTES whose size its first HEADER_BYTES do not state: it is unknown."""


def stated_size(path: Path) -> tuple[int, int] | None:
    """(width, height) as the file's header states it, read without decoding a pixel: by the
    header readers the decoders' own checks use (`header_size`), else by Pillow from the first
    HEADER_BYTES. None where neither can tell and the file is within the bound (damaged, or not an
    image: the decoder says why, and the decoded size is checked). Raises HeaderTooLong where
    the file goes on past the bound: a JPEG of 16000x16000 behind 4.6 MB of metadata, a TIFF of
    16000x16000 whose directory lay 5 MiB in, were decoded (1.8 GB a read, in each loader process)."""
    try:
        with open_regular(path) as handle:  # (a FIFO is not waited on: read_image says what it is)
            head = handle.read(HEADER_BYTES)
            cut = bool(handle.read(1))
            size = header_size(head, FileBytes(handle), str(path)) or pillow_size(head)
    except (OSError, UserError):  # removed, or not a regular file: read_image says so
        return None
    if size is None and cut:
        raise HeaderTooLong
    return size


def header_size(head: bytes, whole: "FileBytes", name: str) -> tuple[int, int] | None:
    """(width, height) from the headers OpenCV and FFmpeg decode by (`opencv_headers`, `still_headers`); None for
    other formats. A TIFF's first directory may lie anywhere in the file
    (libtiff writes it after the pixels): it is read from `whole`, the rest from `head`."""
    data = np.frombuffer(head, np.uint8)
    try:
        ffmpeg = ffmpeg_still_size(data, name)
        stated = ((ffmpeg[1] if ffmpeg else None) or tiff_sample_bytes(whole) or png_sample_bytes(data)
                  or radiance_sample_bytes(data) or webp_sample_bytes(data))
    except Exception:  # noqa: BLE001 - a damaged header (an EXR's of too many attributes): no size stated
        return None
    return (stated[0], stated[1]) if stated else None


class FileBytes:
    """An open file's bytes, read as a slice of them is asked for (`file[a:b]`): what a header
    reader of an array takes, for a header that may lie anywhere in a file of up to 2 GiB."""

    def __init__(self, handle) -> None:  # noqa: ANN001
        self.handle = handle

    def __getitem__(self, part: slice) -> bytes:
        start = part.start or 0
        self.handle.seek(start)
        return self.handle.read(max(0, part.stop - start))


def pillow_size(head: bytes) -> tuple[int, int] | None:
    """(width, height) as Pillow reads it from `head`; None where it cannot (not a format it
    knows, damaged, or a header longer than `head`)."""
    try:
        with open_with_pillow(head) as image:
            return image.size
    except Exception:  # noqa: BLE001 - whatever Pillow's format readers raise on a damaged header
        return None


def check_readable(paths: Sequence[Path], root: str | os.PathLike, what: str) -> None:
    """Fail now, not in a worker, when no file of a directory can be used (usually the first can)."""
    reasons = []
    for path in paths:
        image, why = read_training_image(path)
        if image is not None:
            return
        reasons.append(why)
    raise UserError(f"{root}: none of the {len(paths)} {what} images is usable (first: {reasons[0]})")


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
        process says so (`batches`), and says each note once (`say_notes`)."""
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


class DataWarning(str):
    """A warning among the notes a loading process hands the main process (`say_notes`)."""


_warned: set[str] = set()


def say_notes(said: Sequence[str]) -> None:
    """The notes of a batch's reading (`ImageStream.item`), each once in the run; the warning that
    a folder is nearly all unusable as a warning, once, however many loading processes found it."""
    for message in said:
        if not isinstance(message, DataWarning):
            note(message, once=True)
        elif message not in _warned:
            _warned.add(message)
            warn(message)


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


def ignore_interrupts(_worker_id: int) -> None:
    """A loading worker ignores Ctrl-C: a terminal sends it to the whole process group, and a
    worker caught by it while exiting printed a 19-line traceback after the run's one line (about
    one Ctrl-C in two with --workers 2). The training process stops the workers itself."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


# Open files a loading worker holds in the training process: its queue's pipe, and one file per
# tensor of each batch in flight (torch passes them as file descriptors), prefetch_factor 4 x 2.
FILES_PER_WORKER = 12
SPARE_FILES = 16  # checkpoints, log, TensorBoard, samples
# Tasks (`ulimit -u` counts threads too) a loading worker adds: its process, the threads there that
# feed its result queue and hand tensors' file descriptors over, its index queue's feeder here.
TASKS_PER_WORKER = 4
SPARE_TASKS = 4  # the pin-memory and TensorBoard threads, a thread pool's late start


def check_open_file_limit(workers: int) -> None:
    """Workers need open files (EMFILE in a worker lost its batch and the run waited forever):
    raise the soft limit (`ulimit -Sn`) as far as the hard one allows, or say what to change."""
    try:
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        open_now = len(os.listdir("/proc/self/fd" if os.path.isdir("/proc/self/fd") else "/dev/fd"))
    except (ImportError, OSError, ValueError):  # Windows, or no fd listing: nothing to check
        return
    needed = open_now + workers * FILES_PER_WORKER + SPARE_FILES
    if soft == resource.RLIM_INFINITY or soft >= needed or raise_soft_limit(resource.RLIMIT_NOFILE, needed, hard):
        return
    raise UserError(f"--workers {workers} needs about {needed} open files, and the limit is {soft} (`ulimit -n`); "
                    "raise it or use fewer --workers (0 loads in the training process)")


def check_process_limit(workers: int) -> None:
    """Workers need processes and threads: at `ulimit -u` a worker's thread failed with its own
    traceback above the run's one line, and a failed fork left one of PyTorch's. Raise the soft
    limit as far as the hard one allows, or say what to change, before any worker starts."""
    short = process_room(workers * TASKS_PER_WORKER + SPARE_TASKS)
    if short is not None:
        soft, used, needed = short
        raise UserError(f"--workers {workers} needs about {needed} processes and threads, {used} of them running "
                        f"now, and the limit is {soft} (`ulimit -u`); raise it or use fewer --workers (0 loads in "
                        "the training process)")


def check_worker_count(workers: int, rank: int = 0) -> None:
    """One line of ours where --workers is over the CPUs this process may use (PyTorch's warning
    said it in four lines, twice, with its own source path); the run goes on as asked."""
    cpus = usable_cpus()
    if workers > cpus and rank == 0:
        warn(f"warning: --workers {workers} is more than the {cpus} CPUs this run may use; loading may be slower, "
             "not faster (fewer --workers, or leave it out)")


def batches(
    stream: PairStream, start_step: int, global_batch: int, rank: int = 0, world_size: int = 1,
    workers: int = 0, pin_memory: bool = False,
) -> Iterator[tuple[torch.Tensor, torch.Tensor, list[tuple[str, str]]]]:
    """(content uint8 (b, 3, crop, crop), style, skipped files, notes) for global steps start_step, ..."""
    if workers > 0:
        check_open_file_limit(workers)
        check_process_limit(workers)
        check_worker_count(workers, rank)
    with warnings.catch_warnings():  # (PyTorch's on the workers, twice: `check_worker_count` says it)
        warnings.filterwarnings("ignore", "This DataLoader will create", UserWarning)
        loader = DataLoader(
            stream,
            batch_sampler=GlobalBatchSampler(start_step, global_batch, rank, world_size),
            num_workers=workers,
            collate_fn=collate,
            pin_memory=pin_memory,
            persistent_workers=workers > 0,
            prefetch_factor=4 if workers > 0 else None,
            worker_init_fn=ignore_interrupts if workers > 0 else None,
            # Its own generator: the iterator's seed drawn from the global one (after a resume restored
            # it) moved the temporal term's random warps, and the resumed run was no longer exact.
            generator=torch.Generator(),
        )
        iterator = iter(loader)
    if workers > 0 and hasattr(signal, "SIGCHLD") and threading.current_thread() is threading.main_thread():
        # PyTorch's SIGCHLD handler raises a dead worker's error wherever the main thread is (in
        # a `finally`, or while another error is being reported). Without it the loader finds
        # the dead worker itself, within 5 s, and `next` raises: one place to say it in one line.
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    return iterator


# Skipped files named one by one; past that (a folder removed mid-run) they are only counted.
WARNED_SKIPS = 20


class SkipReport:
    """Warn once per unusable file, for the first WARNED_SKIPS of them, and count them all; the run
    goes on. (A subfolder removed mid-run warned once per file: thousands of lines.)"""

    def __init__(self, already: Sequence[str] = (), count: int = 0) -> None:
        """`already`: files a resumed run skipped, of `count` in all (a checkpoint names only the first
        SAVED_SKIPS: an unnamed one skipped again after the resume is counted twice)."""
        self.paths: set[str] = set(already)
        self.unnamed = max(0, count - len(self.paths))
        self.warned = 0

    def add(self, skipped: list[tuple[str, str]], warn) -> None:  # noqa: ANN001
        for path, why in skipped:
            if path in self.paths:
                continue
            self.paths.add(path)
            if self.warned < WARNED_SKIPS:
                self.warned += 1
                more = "; more are counted in log.csv, not named" if self.warned == WARNED_SKIPS else ""
                warn(f"warning: skipped {path}: {why} ({self.count} skipped so far{more})")

    @property
    def count(self) -> int:
        return len(self.paths) + self.unnamed
