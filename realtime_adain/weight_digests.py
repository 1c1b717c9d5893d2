"""The identities of weights: a file's SHA-256 (remembered while the file is unchanged), the
engine caches' key of a pair of weights files, and a digest of a network's parameters.
"""

from __future__ import annotations

import functools
import hashlib
import os
import stat
from typing import Sequence

import torch
from torch import nn

from realtime_adain.errors import UserError
from realtime_adain.regular_files import open_regular
from realtime_adain.weight_files import refuse_too_large


def files_id(paths: Sequence[str | os.PathLike]) -> str:
    """A short identity of weights files (the encoder's, the decoder's), the key of engine caches."""
    return "-".join(weights_sha256(p)[:16] for p in paths)


def weights_sha256(path: str | os.PathLike) -> str:
    """`file_sha256` of a weights file, remembered while the file is unchanged (the same inode,
    size, modification and change times): every Stylizer names its caches by its 94 MB of
    weights, 50 ms of hashing each time in a process that makes many."""
    try:
        status = os.stat(path)
    except OSError:
        return file_sha256(path)  # which says what is wrong with it
    if stat.S_ISREG(status.st_mode):  # (a 40 GB sparse file was hashed for 97 s, then refused for its size)
        refuse_too_large(path, status.st_size)
    return _remembered_sha256(os.fspath(path), (status.st_dev, status.st_ino, status.st_size,
                                                status.st_mtime_ns, status.st_ctime_ns))


@functools.lru_cache(maxsize=32)
def _remembered_sha256(path: str, status: tuple[int, ...]) -> str:
    return file_sha256(path)


def file_sha256(path: str | os.PathLike) -> str:
    """The file's SHA-256; a file that cannot be read (permissions, an I/O error) is a UserError
    naming it, not a bare OSError that says which file only sometimes."""
    digest = hashlib.sha256()
    try:
        with open_regular(path) as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    except OSError as exc:
        raise UserError(f"{path}: cannot read it ({exc.strerror or exc})") from None
    return digest.hexdigest()


def parameters_sha256(module: nn.Module) -> str:
    """A digest of a module's parameters, so networks that never touched a file have an identity."""
    digest = hashlib.sha256()
    for name, tensor in module.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()
