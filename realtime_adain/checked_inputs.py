"""Inputs held to the check a run made before its work: a file read again when its job comes is
compared with the SHA-256 of the bytes that were checked, so one replaced, cut short or removed in
between fails that job instead of being used unchecked."""

from __future__ import annotations

import contextlib
import hashlib
from pathlib import Path
from typing import Iterator, Mapping

import numpy as np

from realtime_adain.errors import UserError
from realtime_adain.imageio import decode_image, read_image_bytes
from realtime_adain.picture_sizes import fit_short_side


def file_digest(data: np.ndarray | bytes) -> str:
    """The SHA-256 of a file's bytes, as `StylePictures` checks a style file by (and as
    `weight_digests.file_sha256` and the style library's cache give a file's)."""
    return hashlib.sha256(data).hexdigest()


class ChangedSinceChecked(UserError):
    """An input that no longer is what the checks before the run passed when it is read for its
    job (replaced by one over --max-pixels, cut short, removed): that job fails, the others go on."""


@contextlib.contextmanager
def changed_since_checked() -> Iterator[None]:
    """Within it, a refused input is one that changed since the run checked it (`ChangedSinceChecked`)."""
    try:
        yield
    except ChangedSinceChecked:
        raise
    except UserError as exc:
        raise ChangedSinceChecked(f"{exc}; it changed since the run checked it") from None


def file_changed(path: Path) -> ChangedSinceChecked:
    """The error of an input whose bytes are no longer those the run checked."""
    return ChangedSinceChecked(f"{path}: the file changed since the run checked it")


class StylePictures(Mapping[Path, np.ndarray]):
    """The style pictures of a run at `size` (a StyleSet's), each read again when it is encoded
    instead of held from the check to the end: 12 styles of 3000x3000 at --style-size 0 took 285
    MiB more than one. A file that is not the one checked (`digests`, SHA-256) fails the jobs that
    use it. With `keep` (--preserve-color: each style is encoded again for every content), a small
    picture is kept at `size` rather than decoded and hashed once a content; a large one
    (--style-size 0) is still read again, so memory stays bounded."""

    KEPT_PICTURE_BYTES = 4 << 20  # the most a picture kept takes: at --style-size 512, up to 512x2730
    KEPT_BYTES = 128 << 20  # all of them together

    def __init__(self, digests: dict[Path, str], size: int | None, keep: bool = False) -> None:
        self.digests, self.size, self.keep = digests, size, keep
        self.kept: dict[Path, np.ndarray] = {}

    def __getitem__(self, path: Path) -> np.ndarray:
        if path in self.kept:
            return self.kept[path]
        with changed_since_checked():
            data = read_image_bytes(path)
        if file_digest(data) != self.digests[path]:
            raise file_changed(path)
        image = fit_short_side(decode_image(data, str(path)), self.size)
        if (self.keep and image.nbytes <= self.KEPT_PICTURE_BYTES
                and image.nbytes + sum(kept.nbytes for kept in self.kept.values()) <= self.KEPT_BYTES):
            self.kept[path] = image
        return image

    def __iter__(self) -> Iterator[Path]:
        return iter(self.digests)

    def __len__(self) -> int:
        return len(self.digests)
