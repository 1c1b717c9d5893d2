"""A file's name as OpenCV is to open it (`opencv_name`): OpenCV reads a str as UTF-8, and one
holding a name's bytes that are not UTF-8 (PEP 383's lone surrogates, `v\\udcfe.mp4`) crashed the
process inside it, a segmentation fault and no message (`cv2.VideoCapture`, `cv2.imread`: `bench
video --video`, a camera's device link, a picture's temporary copy under such a $TMPDIR)."""

from __future__ import annotations

import os
from contextlib import contextmanager
from typing import Iterator

from realtime_adain.errors import UserError, as_given

_DESCRIPTORS = "/proc/self/fd"


@contextmanager
def opencv_name(path: str | os.PathLike | int) -> Iterator[str | int]:
    """`path` as OpenCV can take it while the `with` lasts: itself where it is UTF-8 (or a camera's
    index), else the same file by an ASCII name, /proc/self/fd/N of a descriptor opened O_PATH
    (nothing read, no device's driver woken: OpenCV opens the file anew by that name) and closed after. Where the
    system names no descriptors so, a one-line refusal. A name that cannot be opened raises the
    OSError of that open."""
    if isinstance(path, int):
        yield path
        return
    text = os.fspath(path)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        pass
    else:
        yield text
        return
    if not hasattr(os, "O_PATH") or not os.path.isdir(_DESCRIPTORS):
        raise UserError(f"{as_given(text)}: OpenCV cannot open a file whose name is not UTF-8; rename it")
    descriptor = os.open(text, os.O_PATH | os.O_CLOEXEC)
    try:
        yield f"{_DESCRIPTORS}/{descriptor}"
    finally:
        os.close(descriptor)
