"""The training images found in folders (`list_images`): recursively, links to folders followed
once, hidden names, other training runs' folders and entries that hold no regular file left out,
folders that cannot be listed said.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Iterator, Sequence

from realtime_adain.errors import UserError
from realtime_adain.imageio import is_image_path
from realtime_adain.notes import note
from realtime_adain.training.run_files import RUN_FOLDERS
from realtime_adain.userdirs import expand_home


def list_images(directory: str | os.PathLike, what: str, exclude: Sequence[str | os.PathLike] = ()) -> list[Path]:
    """Image files under `directory` (recursively, sorted); a clear error if there are none.

    Symbolic links to folders are followed (a dataset assembled from links), each real folder
    once (a link loop ends). Hidden files and folders are left out: macOS's `._NAME.jpg` twins
    and our own half-written `.NAME.part.jpg` files are not images. So are the folders in
    `exclude` (the run's --out, whose samples must not become training images), and, said in a
    note, any subfolder that holds another training run (`holds_training_run`) or cannot be listed
    (`walk_errors`); `directory` itself not listed, or a training run's or a folder inside one (its
    samples/), is the error (it was said to be "empty"; a run's was trained on, its sample grids
    included, without a word).
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
    if holds_training_run(root):  # (as a subfolder it is left out, below; given itself, it was trained on)
        raise UserError(f"{root}: --{what} is a training run's folder (its samples are stylized pictures, not "
                        f"{what} images); give the folder of the {what} images")
    if (run := run_around(root)) is not None:  # (its samples/: the run's sample grids were trained on)
        raise UserError(f"{root}: --{what} lies inside the training run {run} (its samples are stylized pictures, "
                        f"not {what} images); give the folder of the {what} images")
    skipped_dirs = {_folder_key(d) for d in exclude}  # (the trainer refused a dataset that is one: `check_data_apart`)
    seen: set[object] = set()
    files = []
    hidden = 0  # files and folders left out for their names: said when nothing else is left
    not_regular: list[Path] = []  # links that lead to no file, fifos, sockets, devices: left out, said
    unlisted: list[OSError] = []
    for folder, subfolders, names in walk(root, unlisted.append):
        real = _folder_key(folder)
        if real in seen or real in skipped_dirs:
            subfolders.clear()
            continue
        if holds_training_run(folder):
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


def walk(root: str | os.PathLike, onerror: Callable[[OSError], object]) -> Iterator[tuple[str, list[str], list[str]]]:
    """`os.walk(root, followlinks=True, onerror=onerror)`, top down, in its order, without recursion:
    Python 3.11's calls itself a level, and a dataset folder nested 1000 deep ended training in a
    RecursionError traceback. Subfolders taken out of the list yielded are not entered."""
    stack = [os.fspath(root)]
    while stack:
        top = stack.pop()
        subfolders, names = [], []
        try:
            with os.scandir(top) as entries:
                for entry in entries:
                    try:
                        is_dir = entry.is_dir()  # (links followed)
                    except OSError:
                        is_dir = False
                    (subfolders if is_dir else names).append(entry.name)
        except OSError as exc:
            onerror(exc)
            continue
        yield top, subfolders, names
        stack += [os.path.join(top, name) for name in reversed(subfolders)]


def _folder_key(folder: str | os.PathLike) -> object:
    """Which folder `folder` is, links followed: its (device, inode), one stat (`realpath` takes one
    a part of the path: a walk down a folder nested thousands deep took the square of that). Its
    real path where it cannot be read."""
    try:
        status = os.stat(folder)
    except (OSError, ValueError):
        return os.path.realpath(folder)
    return status.st_dev, status.st_ino


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


def run_around(root: Path) -> str | None:
    """The training run whose samples/, checkpoints/ or tensorboard/ `root` is or lies inside, if any
    (a dataset elsewhere in a run's folder is the user's: `check_data_apart`)."""
    real = Path(os.path.realpath(root))
    return next((str(folder) for folder in real.parents
                 if real.relative_to(folder).parts[0] in RUN_FOLDERS and holds_training_run(str(folder))), None)


def holds_training_run(folder: str) -> bool:
    """Whether `folder` is a training run's --out: its checkpoints/ and its lock or log.csv, as the
    trainer makes them (`Trainer._prepare_out_dir`). An earlier run's --out inside a dataset
    holds stylized samples, which must not be trained on or evaluated as content or style."""
    return os.path.isdir(os.path.join(folder, "checkpoints")) and any(
        os.path.isfile(os.path.join(folder, name)) for name in (".lock", "log.csv"))
