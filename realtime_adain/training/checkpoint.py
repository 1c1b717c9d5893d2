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
import math
import os
import re
import shutil
import stat
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save as safetensors_bytes

from realtime_adain import weight_digests, weight_files, weights
from realtime_adain.errors import UserError
from realtime_adain.atomic import atomic_write_bytes
from realtime_adain.userdirs import expand_home

STATE_FORMAT = "realtime-adain trainer state 1"
# Skipped files a trainer state names; past that they are only counted. All of them made its JSON
# grow without bound, and safetensors refuses a header over 100 MB: no checkpoint, a traceback.
SAVED_SKIPS = 1000
DECODER_PATTERN = re.compile(r"decoder_iter_(\d+)\.safetensors")
CHECKPOINT_NAME = re.compile(r"(?:decoder|trainer)_iter_(\d+)\.safetensors")


def decoder_file(directory: Path, iteration: int) -> Path:
    return Path(directory) / f"decoder_iter_{iteration:07d}.safetensors"


def state_file(directory: Path, iteration: int) -> Path:
    return Path(directory) / f"trainer_iter_{iteration:07d}.safetensors"


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


def _tensor_dict(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    # channels_last or GPU tensors: safetensors wants contiguous CPU tensors.
    return {key: value.detach().cpu().contiguous() for key, value in state.items()}


def save_decoder(path: Path, decoder: torch.nn.Module, architecture: str, encoder: str, iteration: int,
                 config: dict[str, Any]) -> None:
    metadata = {
        "architecture": architecture,
        "encoder": encoder,
        "iteration": str(iteration),
        "config": json.dumps(config, sort_keys=True),
    }
    atomic_write_bytes(path, safetensors_bytes(_tensor_dict(decoder.state_dict()), metadata))


def recorded_vgg_sha256(decoder_path: Path) -> str | None:
    """The SHA-256 of the VGG file the run of a decoder file trained against (`vgg_sha256` of the
    config in its metadata); None where it records none (decoder.pth, a file of another tool). Only
    the file's header is read."""
    return weights.trained_vgg_sha256(weight_files.header_metadata(decoder_path))


def rng_state() -> dict[str, Any]:
    import random

    import numpy as np

    name, keys, position, has_gauss, cached = np.random.get_state()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": [name, keys.tolist(), int(position), int(has_gauss), float(cached)],
        "python": [random.getstate()[0], list(random.getstate()[1]), random.getstate()[2]],
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict[str, Any]) -> None:
    import random

    import numpy as np

    torch.set_rng_state(state["torch"])
    name, keys, position, has_gauss, cached = state["numpy"]
    np.random.set_state((name, np.array(keys, dtype=np.uint32), position, has_gauss, cached))
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    if state.get("cuda") and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"][: torch.cuda.device_count()])


def _state_to_file(state: TrainerState, decoder_sha256: str) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    tensors: dict[str, torch.Tensor] = {}
    optimizer_state = {}
    for param_id, param_state in state.optimizer["state"].items():
        names = []
        for name, value in param_state.items():
            tensors[f"optimizer.{param_id}.{name}"] = value
            names.append(name)
        optimizer_state[str(param_id)] = names
    tensors["rng.torch"] = state.rng["torch"]
    for index, cuda_state in enumerate(state.rng.get("cuda", [])):
        tensors[f"rng.cuda.{index}"] = cuda_state
    document = {
        "iteration": state.iteration,
        "config": state.config,
        "optimizer": {"param_groups": state.optimizer["param_groups"], "state": optimizer_state},
        "scheduler": state.scheduler,
        "scaler": state.scaler,
        "rng": {"numpy": state.rng["numpy"], "python": state.rng["python"], "cuda": len(state.rng.get("cuda", []))},
        "skipped": state.skipped[:SAVED_SKIPS],
        "skipped_count": max(state.skipped_count, len(state.skipped)),
        "loss_window": {"sums": state.loss_window, "iterations": state.window_iterations},
        "decoder_sha256": decoder_sha256,
    }
    return _tensor_dict(tensors), {"format": STATE_FORMAT, "state": json.dumps(document)}


def save_checkpoint(directory: Path, decoder: torch.nn.Module, state: TrainerState) -> Path:
    """Write both files of iteration `state.iteration`; returns the decoder file's path. If the
    decoder cannot be written (a full disk, Ctrl-C), its trainer state goes too: no half checkpoint."""
    tensors, metadata = _state_to_file(state, weight_digests.parameters_sha256(decoder))
    state_path = state_file(directory, state.iteration)
    path = decoder_file(directory, state.iteration)
    folder = _open_folder(directory)
    try:  # (from the state's write on: a Ctrl-C just after its rename left it without a decoder)
        atomic_write_bytes(state_path, safetensors_bytes(tensors, metadata))
        save_decoder(path, decoder, state.config["decoder"], state.config["encoder"], state.iteration, state.config)
        if folder is not None and not _still_at(folder, directory):  # (the decoder went to a folder made anew)
            raise UserError(f"{directory}: the folder was moved or replaced while checkpoint {state.iteration} was "
                            "written; stopped")
    except BaseException:
        _remove_lone_state(folder, state_path, path)
        raise
    finally:
        if folder is not None:
            os.close(folder)
    return path


# A checkpoint's bytes besides its tensors: headers and JSON (the RNG states, up to SAVED_SKIPS names).
CHECKPOINT_EXTRA_BYTES = 1 << 20


def checkpoint_bytes(decoder: torch.nn.Module) -> int:
    """About what one checkpoint takes on disk: the decoder's tensors, and Adam's two moments of each
    in the trainer state beside them (42 MB for the paper's decoder)."""
    tensors = sum(value.numel() * value.element_size() for value in decoder.state_dict().values())
    return 3 * tensors + CHECKPOINT_EXTRA_BYTES


def check_room(directory: Path, decoder: torch.nn.Module) -> None:
    """A disk without room for one checkpoint is an error as the run starts: it was found at the
    first save, the training time up to --save-every spent (hours on a CPU)."""
    needed, free = checkpoint_bytes(decoder), shutil.disk_usage(directory).free
    if free < needed:
        raise UserError(f"{directory}: no room for a checkpoint ({free / 1e6:.1f} MB free, each takes about "
                        f"{needed / 1e6:.0f} MB); free some space or choose another --out")


def _open_folder(directory: Path) -> int | None:
    """The checkpoint folder, opened: the one written to, wherever it is moved (None where the
    system cannot remove files through it, or it cannot be opened: the write then says why)."""
    if os.unlink not in os.supports_dir_fd or not hasattr(os, "O_DIRECTORY"):
        return None
    try:
        return os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return None


def _still_at(folder: int, directory: Path) -> bool:
    try:
        return os.path.samestat(os.fstat(folder), os.stat(directory))
    except OSError:
        return False


def _remove_lone_state(folder: int | None, state_path: Path, decoder_path: Path) -> None:
    """The trainer state goes when its decoder was not written. Through the opened folder: a run
    folder moved mid-save kept the state alone (its old path named nothing to remove)."""
    if folder is None:
        if not decoder_path.is_file():
            state_path.unlink(missing_ok=True)
        return
    with suppress(FileNotFoundError):
        if stat.S_ISREG(os.stat(decoder_path.name, dir_fd=folder).st_mode):
            return
    with suppress(FileNotFoundError):
        os.unlink(state_path.name, dir_fd=folder)


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
        )
    except (KeyError, TypeError, ValueError, AttributeError, RecursionError,  # (JSON nested past the parser's stack)
            OverflowError) as exc:  # (a loss sum past a float's range)
        raise UserError(f"{path}: damaged trainer state ({describe(exc)})") from None


# How far a window's total may be from the sum of its terms: float32 sums over a long window round
# apart by far less (the tester's edited [1e6, 1e6, 0, 1] is far outside it).
LOSS_SUM_TOLERANCE = 1e-2


def loss_window(window: dict[str, Any], iteration: int) -> tuple[list[float], int]:
    """The (content, style, temporal, total) sums of a saved loss window, and their iteration count:
    numbers from 0 to float32's largest (the trainer sums in float32), none over no iterations,
    and the total the sum of the terms. A NaN, 1e308 or a false total trained on and then blamed
    the learning rate, or logged a row no run had."""
    sums, count = window["sums"], window["iterations"]
    if (not isinstance(sums, list) or len(sums) not in (3, 4) or not all(_kind(v) == "number" for v in sums)
            or type(count) is not int or not 0 <= count <= iteration):
        raise ValueError(f"loss window {window!r}")
    sums = [float(v) for v in sums]
    if len(sums) == 3:  # (a state before the temporal term had its own sum: the rest of the total)
        content, style, total = sums
        sums = [content, style, max(0.0, total - content - style), total]
    largest = float(torch.finfo(torch.float32).max)
    if not all(0 <= value <= largest for value in sums):  # (NaN fails both)
        raise ValueError(f"loss window sums {sums}: not finite, below 0 or past float32's range")
    if count == 0 and any(sums):
        raise ValueError(f"loss window sums {sums} over 0 iterations")
    if not math.isclose(sums[3], sum(sums[:3]), rel_tol=LOSS_SUM_TOLERANCE):
        raise ValueError(f"loss window total {sums[3]:g} is not the sum of its terms {sums[:3]}")
    return sums, count


def describe(exc: Exception) -> str:
    """An exception as a short phrase for a `damaged trainer state` line."""
    text = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _kind(value: Any) -> str:
    """A JSON value's kind, where ints and floats are both numbers (1e-4 may be saved as 0.0001 or 1)."""
    if isinstance(value, bool) or value is None:
        return type(value).__name__
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, (list, tuple)):
        return "sequence"
    return type(value).__name__


MAX_SKIPPED = 1 << 40  # files skipped: more than any data set holds (an edited 10**30 went into log.csv)


def check_config_types(config: dict[str, Any]) -> None:
    """The saved settings have the types of TrainConfig's (a wrong one would fail deep in the run)."""
    from realtime_adain.training.config import TrainConfig

    if not isinstance(config, dict):
        raise TypeError("its config is not a mapping")
    defaults = TrainConfig()
    for name, value in config.items():
        if not hasattr(defaults, name) or value is None:
            continue  # settings of another version are ignored; a missing path is asked for
        default = getattr(defaults, name)
        expected = "str" if default is None else _kind(default)
        if _kind(value) != expected or (isinstance(default, int) and not isinstance(default, bool)
                                        and isinstance(value, float)):
            raise TypeError(f"setting {name} is {value!r}")


def check_like(fresh: Any, loaded: Any, what: str) -> None:
    """`loaded` (a state dict from a file) has the structure and value kinds of `fresh` (the state
    dict of a new optimizer or scheduler): same lengths, numbers where numbers are. Keys only one
    of them has are let be: another PyTorch version adds or drops a few."""
    if isinstance(fresh, dict):
        if not isinstance(loaded, dict):
            raise ValueError(f"the {what} state does not match ({loaded!r})")
        for key in set(fresh) & set(loaded):
            check_like(fresh[key], loaded[key], what)
    elif isinstance(fresh, (list, tuple)):
        if not isinstance(loaded, (list, tuple)) or len(loaded) != len(fresh):
            raise ValueError(f"the {what} state does not match ({loaded!r})")
        for a, b in zip(fresh, loaded):
            check_like(a, b, what)
    elif fresh is not None and _kind(fresh) != _kind(loaded):
        raise ValueError(f"the {what} state does not match ({loaded!r} for a {_kind(fresh)})")
    elif isinstance(loaded, float) and not math.isfinite(loaded):
        raise ValueError(f"the {what} state holds {loaded}")


def check_schedule(scheduler: dict[str, Any], groups: list[dict[str, Any]], iteration: int, lr: float,
                   factor: float) -> None:
    """The learning-rate schedule is where the run is: at `iteration`, from the run's `lr`, now
    `lr * factor`. An edited position trained on at 2e-12 without a word, and an edited rate of
    1e300 overflowed inside Adam (a traceback)."""
    if scheduler.get("last_epoch") != iteration:
        raise ValueError(f"the scheduler is at iteration {scheduler.get('last_epoch')!r}, the run at {iteration}")
    for group in groups:
        rates = (scheduler.get("base_lrs"), group.get("initial_lr"), group.get("lr"))
        if rates[0] != [lr] or rates[1] != lr or not math.isclose(rates[2], lr * factor, rel_tol=1e-6):
            raise ValueError(f"learning rates {rates} do not follow the run's --lr {lr:g} at iteration {iteration}")


def check_adam_settings(fresh: list[dict[str, Any]], loaded: list[dict[str, Any]]) -> None:
    """Adam's settings in the saved parameter groups are those the trainer makes (`fresh`: a new
    optimizer's groups), the learning rate aside (the schedule moves it: `check_schedule`). An
    edited amsgrad was a KeyError at the first iteration; maximize climbed the loss, and betas,
    eps or weight decay changed the training, without a word. A setting only one of them has is
    let be: another PyTorch version adds or drops a few (as in `check_like`)."""
    for new, old in zip(fresh, loaded):
        for key in sorted(set(new) & set(old) - {"lr"}):
            if old[key] != new[key]:
                raise ValueError(f"Adam's {key} = {old[key]!r}, where the trainer sets {new[key]!r}")


def check_optimizer_state(parameters: list[torch.Tensor], state: dict[int, dict[str, torch.Tensor]],
                          iteration: int) -> None:
    """Adam's moments exist for every parameter (after the first iteration) with its shape, hold
    finite numbers (the second moment none below 0), and its step count is a whole number up to the
    run's iteration (one a step, fewer where fp16 skipped some). An edited value trained into NaN,
    whose advice (a lower --lr) a resumed run cannot follow, or was a traceback in Adam (a complex step)."""
    expected = set(range(len(parameters))) if iteration > 0 else set(state)
    if set(state) != expected or not set(state) <= set(range(len(parameters))):
        raise ValueError(f"Adam state for parameters {sorted(state)[:4]}..., the decoder has {len(parameters)}")
    for index, moments in state.items():
        shape = tuple(parameters[index].shape)
        for name in ("exp_avg", "exp_avg_sq"):
            if name not in moments or tuple(moments[name].shape) != shape or not moments[name].is_floating_point():
                raise ValueError(f"Adam's {name} of parameter {index} does not fit its shape {shape}")
            values = moments[name]
            if not bool(torch.isfinite(values).all()) or (name == "exp_avg_sq" and bool((values < 0).any())):
                raise ValueError(f"Adam's {name} of parameter {index} holds numbers that are not finite"
                                 + (" or below 0" if name == "exp_avg_sq" else ""))
        step = moments.get("step")
        if step is None or step.numel() != 1:
            raise ValueError(f"Adam's step of parameter {index} is missing")
        real = not step.is_complex() and step.dtype != torch.bool
        if not (real and 0 <= step.item() <= iteration and step.item() == int(step.item())):  # (NaN fails `<=`)
            raise ValueError(f"Adam's step of parameter {index} is {step.item()!r}, not a whole number from 0 to the "
                             f"run's iteration {iteration}")


def latest_decoder_file(directory: Path, before: int | None = None, whole: bool = False) -> Path | None:
    """The newest checkpoint (decoder file with its trainer state beside it) in `directory`, or the
    newest before iteration `before`. With `whole`, only one whose two files are regular files (one
    to resume from instead); without it, either may be a folder, fifo or device, which
    `find_checkpoint` says (the newest was passed over for an older one without a word)."""
    found = []
    for path in Path(directory).glob("decoder_iter_*.safetensors"):
        match = DECODER_PATTERN.fullmatch(path.name)
        iteration = int(match.group(1)) if match else None
        if iteration is None or (before is not None and iteration >= before):
            continue
        state = state_file(directory, iteration)
        if (path.is_file() and state.is_file()) if whole else os.path.lexists(state):
            found.append((iteration, path))
    return max(found)[1] if found else None


def damaged_checkpoint(message: str, decoder_path: Path, state_path: Path) -> UserError:
    """`message` about the checkpoint of these two files, with, where the folder holds a whole one
    before it, how to resume from that one instead (moving these away)."""
    iteration = int(DECODER_PATTERN.fullmatch(decoder_path.name).group(1))
    earlier = latest_decoder_file(decoder_path.parent, before=iteration, whole=True)
    if earlier is None:
        return UserError(message)
    there = [path.name for path in (decoder_path, state_path) if os.path.lexists(path)]
    return UserError(f"{message}; to resume from the checkpoint before it, {earlier.name}, move "
                     f"{' and '.join(there)} away")


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
            raise damaged_checkpoint(f"{path}: incomplete checkpoint, {needed.name} is missing beside it",
                                     decoder, state)
        kind = _not_a_file(needed)
        raise damaged_checkpoint(f"{path}: {kind}, not a checkpoint file" if needed == path else
                                 f"{path}: damaged checkpoint, {needed.name} beside it is {kind}, not a file",
                                 decoder, state)
    return decoder, state


@dataclass
class Checkpoint:
    decoder_path: Path
    decoder_state: dict[str, torch.Tensor]
    trainer: TrainerState
    state_path: Path


def load_checkpoint(path: str | Path) -> Checkpoint:
    """The checkpoint --resume names. One that cannot be read (the newest pair, cut short by a power
    loss or a full disk) names the one before it, whose files may be whole."""
    decoder_path, state_path = find_checkpoint(path)
    try:
        return _read_checkpoint(decoder_path, state_path)
    except UserError as exc:
        raise damaged_checkpoint(str(exc), decoder_path, state_path) from None


def _read_checkpoint(decoder_path: Path, state_path: Path) -> Checkpoint:
    decoder = weights.load_decoder(decoder_path)  # architecture, encoder and every tensor checked
    trainer = _read_state(state_path)
    if trainer.config.get("decoder") != decoder.kind:
        raise UserError(f"{state_path}: its trainer state does not belong to {decoder_path.name}")
    if trainer.iteration != int(DECODER_PATTERN.fullmatch(decoder_path.name).group(1)):
        raise UserError(f"{state_path}: holds iteration {trainer.iteration}, not that of its name")
    if trainer.decoder_sha256 not in (None, weight_digests.parameters_sha256(decoder)):
        raise UserError(f"{state_path}: damaged trainer state (saved with other decoder weights than those of "
                        f"{decoder_path.name}: the two files come from different runs or checkpoints)")
    return Checkpoint(decoder_path, decoder.state_dict(), trainer, state_path)
