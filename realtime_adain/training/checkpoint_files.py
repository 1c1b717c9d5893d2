"""Trainer checkpoints' file names, and finding the checkpoint --resume names (what the two files
hold: `checkpoint`)."""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

from realtime_adain.errors import UserError
from realtime_adain.userdirs import expand_home


DECODER_PATTERN = re.compile(r"decoder_iter_(\d+)\.safetensors")
CHECKPOINT_NAME = re.compile(r"(?:decoder|trainer)_iter_(\d+)\.safetensors")


def decoder_file(directory: Path, iteration: int) -> Path:
    return Path(directory) / f"decoder_iter_{iteration:07d}.safetensors"


def state_file(directory: Path, iteration: int) -> Path:
    return Path(directory) / f"trainer_iter_{iteration:07d}.safetensors"


def latest_decoder_file(directory: Path, before: int | None = None) -> Path | None:
    """The newest checkpoint's decoder file in `directory`, or the newest before iteration `before`:
    a decoder file, or any name of one with its trainer state beside it. Its trainer state may be
    missing, or either no regular file, which `find_checkpoint` says (a decoder file without its
    state was passed over for an older checkpoint, and trained anew and overwritten without a word)."""
    found = decoder_files(directory, before)
    return found[0] if found else None


def decoder_files(directory: Path, before: int | None = None) -> list[Path]:
    """The checkpoints `latest_decoder_file` chooses from (their decoder files), newest first."""
    found = []
    for path in Path(directory).glob("decoder_iter_*.safetensors"):
        match = DECODER_PATTERN.fullmatch(path.name)
        iteration = int(match.group(1)) if match else None
        if iteration is None or (before is not None and iteration >= before):
            continue
        # (a folder alone is none: the save says it is in the way)
        if path.is_file() or os.path.lexists(state_file(directory, iteration)):
            found.append((iteration, path))
    return [path for _, path in sorted(found, reverse=True)]


class DamagedCheckpoint(UserError):
    """A checkpoint --resume found that cannot be resumed from: `checkpoint.damaged_checkpoint`
    adds how to resume from one before it (which it reads to tell)."""

    def __init__(self, message: str, decoder_path: Path, state_path: Path) -> None:
        super().__init__(message)
        self.decoder_path, self.state_path = decoder_path, state_path


def _not_a_file(path: Path) -> str:
    """What a checkpoint's name holds that is no regular file (it was said to be missing)."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return "a link that leads to no file"
    if stat.S_ISDIR(mode):
        return "a folder"
    return "a fifo" if stat.S_ISFIFO(mode) else "a socket" if stat.S_ISSOCK(mode) else "a device"


def find_checkpoint(path: str | Path) -> tuple[Path, Path]:
    """(decoder file, trainer state file) for --resume: a decoder file, a state file or a run dir."""
    if not str(path).strip():  # (Path('') is the current folder; the CLI took '' as no --resume at all)
        raise UserError("--resume '': an empty path (an unset variable?); give a run directory or checkpoint, or "
                        "leave --resume out")
    path = expand_home(path)
    match = CHECKPOINT_NAME.fullmatch(path.name)
    if path.is_dir():
        directory = path / "checkpoints" if (path / "checkpoints").is_dir() else path
        decoder = latest_decoder_file(directory)
        if decoder is None and not match:  # (a folder named as a checkpoint's file is said so, below)
            raise UserError(f"{path}: no trainer checkpoint in this directory")
        path = decoder or path
    elif not os.path.lexists(path):
        raise UserError(f"{path}: no such checkpoint")
    match = CHECKPOINT_NAME.fullmatch(path.name)
    if not match and not path.is_file():  # (/dev/null was "no such checkpoint"; a checkpoint's name: below)
        raise UserError(f"{path}: not a checkpoint file (a device, fifo or socket, or a link that leads to none)")
    if not match:
        raise UserError(
            f"{path}: not a trainer checkpoint (expected decoder_iter_N.safetensors from tools/train.py, "
            "or its run directory)"
        )
    iteration = int(match.group(1))
    decoder, state = decoder_file(path.parent, iteration), state_file(path.parent, iteration)
    for needed in (decoder, state):
        if needed.is_file():
            continue
        if not os.path.lexists(needed):
            raise DamagedCheckpoint(f"{path}: incomplete checkpoint, {needed.name} is missing beside it",
                                    decoder, state)
        kind = _not_a_file(needed)
        raise DamagedCheckpoint(f"{path}: {kind}, not a checkpoint file" if needed == path else
                                f"{path}: damaged checkpoint, {needed.name} beside it is {kind}, not a file",
                                decoder, state)
    return decoder, state
