"""Trainer checkpoints: the decoder the runtime loads, and the state that makes a resume exact.

Every `save_every` iterations the trainer writes two files into OUT/checkpoints/:

- `decoder_iter_NNNNNNN.safetensors`: the decoder alone, with metadata "architecture", "encoder",
  "iteration" and "config" (JSON). `weights.load_decoder` reads it, so `--decoder` of image,
  video and live, and `realtime-adain export`, take it as it is.
- `trainer_iter_NNNNNNN.safetensors`: optimizer tensors and RNG states as tensors, everything else
  (iteration, scheduler, loss scaler, numpy/python RNG, skipped files: counted, the first
  SAVED_SKIPS named, the losses summed since the last log row, config, the digest of the decoder's
  weights, which ties it to its decoder file) as JSON metadata.

No pickle anywhere. Each file is written to a temporary name and renamed; the trainer state goes
first, so a decoder file whose trainer state exists beside it marks a complete checkpoint.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from realtime_adain import weight_digests, weight_files, weights
from realtime_adain.errors import UserError
from realtime_adain.training.checkpoint_files import (DECODER_PATTERN, DamagedCheckpoint, decoder_files, find_checkpoint,
                                                      state_file)
from realtime_adain.training.resume_checks import check_config_types, first_of, loss_window


STATE_FORMAT = "realtime-adain trainer state 1"
# Skipped files a trainer state names; past that they are only counted. All of them made its JSON
# grow without bound, and safetensors refuses a header over 100 MB: no checkpoint, a traceback.
SAVED_SKIPS = 1000
MAX_SKIPPED = 1 << 40  # files skipped: more than any data set holds (an edited 10**30 went into log.csv)


@dataclass
class TrainerState:
    """What besides the decoder's weights a resumed run needs to continue exactly."""

    iteration: int
    config: dict[str, Any]
    optimizer: dict[str, Any]
    scheduler: dict[str, Any]
    scaler: dict[str, Any]
    rng: dict[str, Any]
    skipped: list[str] = field(default_factory=list)  # the files skipped so far (SAVED_SKIPS of them saved)
    skipped_count: int = 0  # all of them, named or not
    # The content, style, temporal and total losses summed over the iterations since the last log
    # row, and how many: a resumed run's first row averages the same iterations as an uninterrupted one's.
    loss_window: list[float] = field(default_factory=lambda: [0.0, 0.0, 0.0, 0.0])
    window_iterations: int = 0
    # `weight_digests.parameters_sha256` of the decoder saved with it (None: a state of an earlier version):
    # a decoder file of another run or iteration beside it resumed without a word.
    decoder_sha256: str | None = None
    # The file's tensors its JSON does not name (ignored without a word): refused by
    # `resume_checks.check_optimizer_state`, after a parameter's state missing from the JSON is said.
    unnamed_tensors: list[str] = field(default_factory=list)


def recorded_vgg_sha256(decoder_path: Path) -> str | None:
    """The SHA-256 of the VGG file the run of a decoder file trained against (`vgg_sha256` of the
    config in its metadata); None where it records none (decoder.pth, a file of another tool). Only
    the file's header is read."""
    return weights.trained_vgg_sha256(weight_files.header_metadata(decoder_path))


def _read_state(path: Path) -> TrainerState:
    loaded = weight_files.read_weights(path)
    if loaded.metadata.get("format") != STATE_FORMAT:
        raise UserError(f"{path}: not a trainer state file of this version")
    try:
        document = json.loads(loaded.metadata["state"])
        tensors = loaded.state_dict
        optimizer_state = {
            int(param_id): {name: tensors[f"optimizer.{param_id}.{name}"] for name in names}
            for param_id, names in document["optimizer"]["state"].items()
        }
        param_groups = document["optimizer"]["param_groups"]
        for group in param_groups:
            if "betas" in group:
                group["betas"] = tuple(group["betas"])
        rng = dict(document["rng"])
        rng["torch"] = tensors["rng.torch"]
        rng["cuda"] = [tensors[f"rng.cuda.{i}"] for i in range(rng["cuda"])]
        named = {f"optimizer.{param_id}.{name}" for param_id, names in document["optimizer"]["state"].items()
                 for name in names}
        unnamed = sorted(set(tensors) - named - {"rng.torch"} - {f"rng.cuda.{i}" for i in range(len(rng["cuda"]))})
        if not isinstance(document["iteration"], int) or document["iteration"] < 0:
            raise ValueError(f"iteration {document['iteration']!r}")
        check_config_types(document["config"])
        skipped = document.get("skipped", [])
        skipped_count = document.get("skipped_count", len(skipped))  # (a state before SAVED_SKIPS named them all)
        if (not isinstance(skipped, list) or not all(isinstance(name, str) for name in skipped)
                or type(skipped_count) is not int or not len(skipped) <= skipped_count <= MAX_SKIPPED):
            raise ValueError(f"skipped files {skipped_count!r}")
        window = document.get("loss_window", {"sums": [0.0] * 4, "iterations": 0})  # (a state before it was kept)
        sums, window_iterations = loss_window(window, document["iteration"])
        decoder_sha256 = document.get("decoder_sha256")
        if decoder_sha256 is not None and not isinstance(decoder_sha256, str):
            raise ValueError(f"decoder digest {decoder_sha256!r}")
        return TrainerState(
            iteration=document["iteration"],
            config=document["config"],
            optimizer={"state": optimizer_state, "param_groups": param_groups},
            scheduler=document["scheduler"],
            scaler=document["scaler"],
            rng=rng,
            skipped=skipped,
            skipped_count=skipped_count,
            loss_window=sums,
            window_iterations=window_iterations,
            decoder_sha256=decoder_sha256,
            unnamed_tensors=unnamed,
        )
    except (KeyError, TypeError, ValueError, AttributeError, RecursionError,  # (JSON nested past the parser's stack)
            OverflowError) as exc:  # (a loss sum past a float's range)
        raise UserError(f"{path}: damaged trainer state ({describe(exc)})") from None


def describe(exc: Exception) -> str:
    """An exception as a short phrase for a `damaged trainer state` line."""
    text = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


@dataclass
class Checkpoint:
    decoder_path: Path
    decoder_state: dict[str, torch.Tensor]
    trainer: TrainerState
    state_path: Path


def load_checkpoint(path: str | Path) -> Checkpoint:
    """The checkpoint --resume names. One that cannot be read (the newest pair, cut short by a power
    loss or a full disk) names the newest before it that can (`damaged_checkpoint`)."""
    try:
        decoder_path, state_path = find_checkpoint(path)
    except DamagedCheckpoint as exc:
        raise damaged_checkpoint(str(exc), exc.decoder_path, exc.state_path) from None
    try:
        return _read_checkpoint(decoder_path, state_path)
    except UserError as exc:
        raise damaged_checkpoint(str(exc), decoder_path, state_path) from None


def damaged_checkpoint(message: str, decoder_path: Path, state_path: Path) -> UserError:
    """`message` about the checkpoint of these two files, with, where the folder holds checkpoints
    before it, how to resume from the newest of them that can be read (moving away these files and
    those of the ones between, which --resume would choose), or that none can. The one just before
    was named without being read: following the advice stopped at it the same way."""
    iteration = int(DECODER_PATTERN.fullmatch(decoder_path.name).group(1))
    earlier = decoder_files(decoder_path.parent, before=iteration)
    if not earlier:
        return UserError(message)
    readable = next((number for number, path in enumerate(earlier) if _readable(path)), None)
    unreadable = earlier[:readable]
    if not unreadable:
        said = f"to resume from the checkpoint before it, {earlier[0].name},"
    else:
        said = (f"the checkpoint before it, {earlier[0].name}, cannot be read either" if len(unreadable) == 1 else
                f"the {len(unreadable)} checkpoints before it cannot be read either")
        if readable is None:
            return UserError(f"{message}; {said}: no checkpoint is left to resume from")
        said += f": to resume from {earlier[readable].name},"
    moved = [name for decoder in [decoder_path, *unreadable] for name in _files_of(decoder)]
    if not moved:  # (both gone meanwhile)
        return UserError(message)
    every = " and ".join(filter(None, (", ".join(moved[:-1]), moved[-1])))  # (each: they are what to move)
    return UserError(f"{message}; {said} move {every} away")


def _files_of(decoder_path: Path) -> list[str]:
    """The names of the checkpoint's two files that are there."""
    iteration = int(DECODER_PATTERN.fullmatch(decoder_path.name).group(1))
    return [path.name for path in (decoder_path, state_file(decoder_path.parent, iteration)) if os.path.lexists(path)]


def _readable(decoder_path: Path) -> bool:
    """Whether the checkpoint of `decoder_path` can be resumed from, as far as its files tell."""
    iteration = int(DECODER_PATTERN.fullmatch(decoder_path.name).group(1))
    state_path = state_file(decoder_path.parent, iteration)
    if not (decoder_path.is_file() and state_path.is_file()):
        return False
    try:
        _read_checkpoint(decoder_path, state_path)
    except (UserError, OSError):
        return False
    return True


def _read_checkpoint(decoder_path: Path, state_path: Path) -> Checkpoint:
    loaded = weight_files.read_weights(decoder_path)
    decoder = weights.decoder_from_weights(decoder_path, loaded)  # architecture, encoder and every tensor checked
    _check_as_saved(decoder_path, loaded.state_dict, decoder)
    trainer = _read_state(state_path)
    if trainer.config.get("decoder") != decoder.kind:  # (it blamed the trainer state, which "did not belong")
        raise UserError(f"{decoder_path}: a {decoder.kind} decoder; the run of {state_path.name} trains "
                        f"{trainer.config.get('decoder')}")
    if trainer.iteration != int(DECODER_PATTERN.fullmatch(decoder_path.name).group(1)):
        raise UserError(f"{state_path}: holds iteration {trainer.iteration}, not that of its name")
    if trainer.decoder_sha256 not in (None, weight_digests.parameters_sha256(decoder)):
        raise UserError(f"{state_path}: damaged trainer state (saved with other decoder weights than those of "
                        f"{decoder_path.name}: the two files come from different runs or checkpoints)")
    return Checkpoint(decoder_path, decoder.state_dict(), trainer, state_path)


def _check_as_saved(path: Path, tensors: dict[str, torch.Tensor], decoder: torch.nn.Module) -> None:
    """A checkpoint's decoder file holds what the trainer saves: the decoder's tensors alone, in its
    dtype (float32). One converted to float16 was said to have a trainer state saved with other
    weights (its digest differs), and tensors besides the decoder's were ignored without a word."""
    expected = decoder.state_dict()
    extra = sorted(set(tensors) - set(expected))
    if extra:
        raise UserError(f"{path}: {decoder.kind} decoder weights with tensors the trainer does not save: "
                        f"{first_of(extra)} besides its {len(expected)} (a file edited, or of another tool?)")
    saved = next(iter(expected.values())).dtype
    other = sorted({str(tensor.dtype).removeprefix("torch.") for tensor in tensors.values() if tensor.dtype != saved})
    if other:
        raise UserError(f"{path}: holds {' and '.join(other)} weights (the run saves "
                        f"{str(saved).removeprefix('torch.')}): converted, not the file the run wrote")
