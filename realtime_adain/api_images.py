"""The API's images: what a caller passes (a path, a PIL image, an array) checked and turned into
an (H, W, 3) uint8 RGB array, and image files read and written with those checks. Free of torch,
so `ra.read_image` and `ra.write_image` do not load it (about 2 s)."""

from __future__ import annotations

import contextlib
import os
import sys
from fractions import Fraction
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from realtime_adain import imageio, pillow_stills
from realtime_adain.errors import UserError, as_given
from realtime_adain.imageio import WRITABLE_EXTENSIONS
from realtime_adain.output_paths import name_too_long
from realtime_adain.picture_sizes import MAX_DECODE_PIXELS, MAX_SIDE, no_pixels, over_budget
from realtime_adain.userdirs import expand_home

ImageLike = Any  # a path (str or os.PathLike), a PIL image, or an (H, W, 3) / (H, W) uint8 array


# The commands the CLI's messages point to, as the API's functions that do the same.
API_FUNCTIONS = {"`realtime-adain image`": "`Stylizer.stylize_image`", "`realtime-adain video`": "`stylize_video`"}


def in_api_functions(message: str) -> str:
    """`message`, written for the CLI, pointing to the API's functions instead of its commands."""
    for command, function in API_FUNCTIONS.items():
        message = message.replace(command, function)
    return message


def read_image(path: str | os.PathLike, name: str = "path") -> np.ndarray:
    """Any image file as (H, W, 3) uint8 RGB; a mistaken argument is a TypeError/ValueError naming
    it, a file that cannot be read a UserError naming the file."""
    path = check_path(path, name)
    try:
        return imageio.read_image(path)
    except UserError as exc:  # (a video's: '... not an image (`realtime-adain video` stylizes videos)')
        if len(exc.args) == 1 and isinstance(exc.args[0], str):
            exc.args = (in_api_functions(exc.args[0]),)
        raise


def write_image(path: str | os.PathLike, image: np.ndarray) -> None:
    """Write (H, W, 3) RGB or (H, W) grey uint8 atomically, in the format the extension names
    (one the CLI writes too, in colour)."""
    path = check_file_to_write(path, "path")
    if path.suffix.lower() not in WRITABLE_EXTENSIONS:
        given = f"'{path.suffix}'" if path.suffix else "no extension"
        raise ValueError(f"path must end in an image format's extension ({', '.join(WRITABLE_EXTENSIONS)}), "
                         f"got {given}: {path}")
    if not isinstance(image, np.ndarray):
        raise TypeError(f"image must be a numpy array, got {type(image).__name__}")
    rgb = as_rgb(image, "image")
    with made_folders_removed_on_failure(path):
        imageio.write_image(path, rgb)


@contextlib.contextmanager
def made_folders_removed_on_failure(output: Path) -> Iterator[None]:
    """A call that fails removes the folders it made for `output` where it left them empty, as a
    command does (a full disk left `new/` behind, by `stylize_video` and `write_image`); not
    `made_folders.remove_made_folders_left_empty`, which removes every folder this process made,
    another thread's output folder too."""
    missing = []
    for folder in output.parents:
        if folder.exists():
            break
        missing.append(folder)
    try:
        yield
    except BaseException:
        for folder in missing:  # deepest first
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise


def check_pixels(height: int, width: int, name: str) -> None:
    """Refuse an image larger than any file we read (MAX_DECODE_PIXELS) before it is copied: a
    broadcast view of 100000 x 100000 pixels takes no memory until then, and 28 GiB after."""
    if height * width > MAX_DECODE_PIXELS:
        raise ValueError(f"{name} is {width}x{height}, more than the {MAX_DECODE_PIXELS} pixels "
                         f"(16384x16384) an image may have")


def check_budget(image: np.ndarray | tuple[int, int], size: int | None, max_pixels: int, name: str,
                 size_name: str = "size", budget: str | None = None) -> None:
    """Refuse to process `image` (or its (height, width)) at `size` (the argument `size_name`) beyond
    `max_pixels` or MAX_SIDE a side: a thin strip scaled by its short side would otherwise become
    gigapixels that exhaust memory. `budget` says what `max_pixels` is where it is not the caller's
    max_pixels."""
    height, width = image.shape[:2] if isinstance(image, np.ndarray) else image
    if (found := over_budget(height, width, size, max_pixels)) is None:
        return
    new_w, new_h, over = found
    if size:  # the sides exactly: over_budget's float scale said 10**30 as 1000000000000000019884624838656
        new_w, new_h = (max(1, round(Fraction(side * size, min(height, width)))) for side in (width, height))
    at = f"{name} ({width}x{height}) at {size_name} {size} is {new_w}x{new_h}" if size else f"{name} is {width}x{height}"
    smaller = f"lower {size_name}" if size else "pass a smaller image"
    if over == "side":
        raise ValueError(f"{at}, longer than {MAX_SIDE} pixels on a side ({smaller})")
    raise ValueError(f"{at}, over {budget or f'max_pixels={max_pixels} ({smaller}, or raise max_pixels)'}")


def file_of(image: ImageLike) -> Path | None:
    """The file an image comes from: a path, or a PIL image's file (`Image.open` keeps its name),
    so that no output of the run overwrites it; None for an array or an image made in memory."""
    if isinstance(image, (str, os.PathLike)):
        return expand_home(image)  # (the file read: '~/s.jpg' is the home folder's)
    filename = getattr(image, "filename", None) if is_pil_image(image) else None
    return Path(filename) if isinstance(filename, (str, os.PathLike)) and str(filename) else None


def as_rgb(image: ImageLike, name: str = "image", within: Callable[[int, int], None] | None = None) -> np.ndarray:
    """Any supported image kind as a contiguous (H, W, 3) uint8 RGB array. `within(height, width)`,
    given, refuses a size before anything is copied (`check_budget`): a broadcast view over
    max_pixels was copied (768 MB, 13 s for 16000 x 16000) before it was refused."""
    if isinstance(image, (str, os.PathLike)):
        rgb = read_image(image, name)  # (a file is decoded first, as the CLI decodes it)
        if within is not None:
            within(*rgb.shape[:2])
        return rgb
    height, width = image_sides(image, name)
    if within is not None:
        within(height, width)
    if is_pil_image(image):
        try:
            image = pillow_stills.pillow_image_rgb(image)  # as its file reads: 16-bit grey came out white
        except (AssertionError, ValueError) as exc:  # a mode Pillow cannot convert (La, ...), or an image closed
            if isinstance(exc, AssertionError) or "closed file" in str(exc):  # (its file closed before a
                # lazy read: an AssertionError without a message, or "seek of closed file")
                raise ValueError(f"{name}: the PIL image was closed before its pixels were read (pass it inside "
                                 "Image.open's `with` block, or call its .load() there)") from None
            if "closed image" in str(exc):
                raise ValueError(f"{name}: the PIL image is closed (pass it before calling .close())") from None
            raise ValueError(f"{name}: a PIL image in mode {image.mode} has no RGB conversion ({exc})") from None
        except OSError as exc:  # a lazily read file that turns out damaged
            raise UserError(f"{name}: the PIL image's pixels cannot be read ({exc})") from None
    image = np.asarray(image)  # a subclass as a plain array: np.matrix cannot become (H, W, 3)
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    return np.ascontiguousarray(image)


def image_sides(image: ImageLike, name: str = "image") -> tuple[int, int]:
    """The (height, width) of a PIL image or an array, checked as `as_rgb` takes it (kind, dtype,
    shape, no side 0, at most MAX_DECODE_PIXELS), without copying or converting its pixels."""
    if is_pil_image(image):
        width, height = image.size
        if 0 in (width, height):  # (a crop of no width: its scale to `size` divided by zero)
            raise ValueError(no_pixels(name, height, width))
        check_pixels(height, width, name)
        return height, width
    if not isinstance(image, np.ndarray):
        raise TypeError(f"{name} must be a path, a PIL image or a numpy array, got {type(image).__name__}")
    if image.dtype != np.uint8:
        raise TypeError(f"{name} must be uint8 (0..255), got {image.dtype}")
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] != 3):
        raise ValueError(f"{name} must be (H, W, 3) RGB or (H, W) grey, got shape {image.shape}")
    if 0 in image.shape:
        raise ValueError(no_pixels(name, *image.shape[:2]))
    check_pixels(*image.shape[:2], name)
    return image.shape[0], image.shape[1]


def is_pil_image(value: Any) -> bool:
    """Whether `value` is a PIL image, without importing PIL (there is none before it is): any
    object with `convert` and `size` was taken for one, and failed inside the conversion."""
    pil = sys.modules.get("PIL.Image")
    return pil is not None and isinstance(value, pil.Image)


def check_path(value: str | os.PathLike, name: str) -> Path:
    """A path (str or os.PathLike), not empty: Path('') is the current folder, an unset variable.
    A leading `~` or `~USER` is that home folder, as for the weights (`userdirs.expand_home`): no
    shell expands it in a call, so '~/s.jpg' was no such file and '~/o.png' made a folder named ~
    here. A name no file can have is refused here: with a NUL character (os's "embedded null byte"
    named no argument) or too long (pathlib's OSError, where a UserError is promised)."""
    if not isinstance(value, (str, os.PathLike)) or isinstance(os.fspath(value), bytes):
        raise TypeError(f"{name} must be a path (str or os.PathLike), got {type(value).__name__}")
    text = os.fspath(value)
    if not text.strip():
        raise ValueError(f"{name} is an empty path")
    if "\0" in text:
        raise ValueError(f"{name} holds a NUL character, which no file name can: {text!r}")
    path = expand_home(value)
    if reason := name_too_long(path):
        raise UserError(f"{as_given(path)}: {reason}")
    return path


def check_file_to_write(value: str | os.PathLike, name: str) -> Path:
    """A file's name to write, checked as `check_path` checks it, and not a folder's: not ending in
    a slash, nor in '.' or '..' as its last name. Path drops a trailing '/' and '/.', so 'f.png/'
    and 'f.png/.' (a folder meant) wrote the file f.png; refused as the CLI's file outputs are
    (`argtypes.file_name`). Nor '~' alone: the home folder."""
    path = check_path(value, name)
    text = os.fspath(value)
    if text.endswith(("/", os.sep)):
        raise ValueError(f"{name} {text!r} ends in a slash: give the file's name, not a folder")
    if os.path.basename(text) in (os.curdir, os.pardir):
        raise ValueError(f"{name} {text!r} ends in '{os.path.basename(text)}', a folder: give the file's name, "
                         "not a folder")
    if len(Path(text).parts) == 1 and path != Path(text):  # '~' or '~USER' alone, expanded: a home folder
        raise ValueError(f"{name} {text!r} is a home folder ({path}): give the file's name, not a folder")
    return path
