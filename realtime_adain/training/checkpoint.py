"""Trainer checkpoints: the decoder the runtime loads, and the state that makes a resume exact.

Every `save_every` iterations the trainer writes two files into OUT/checkpoints/:

- `decoder_iter_NNNNNNN.safetensors`: the decoder alone, with metadata "architecture", "encoder",
  "iteration" and "config" (JSON). `weights.load_decoder` reads it, so `--decoder` of image,
  video and live, and `realtime-adain export`, take it as it is.
- `trainer_iter_NNNNNNN.safetensors`: optimizer tensors and RNG states as tensors, everything else
  (iteration, scheduler, loss scaler, numpy/python RNG, skipped files, config) as JSON metadata.

No pickle anywhere. Each file is written to a temporary name and renamed; the trainer state goes
first, so a decoder file whose trainer state exists beside it marks a complete checkpoint.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save as safetensors_bytes

from realtime_adain import weights
from realtime_adain.errors import UserError
from realtime_adain.atomic import atomic_write_bytes

STATE_FORMAT = "realtime-adain trainer state 1"
DECODER_PATTERN = re.compile(r"decoder_iter_(\d+)\.safetensors")


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
    skipped: list[str] = field(default_factory=list)


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


def _state_to_file(state: TrainerState) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
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
        "skipped": state.skipped,
    }
    return _tensor_dict(tensors), {"format": STATE_FORMAT, "state": json.dumps(document)}


def save_checkpoint(directory: Path, decoder: torch.nn.Module, state: TrainerState) -> Path:
    """Write both files of iteration `state.iteration`; returns the decoder file's path."""
    tensors, metadata = _state_to_file(state)
    atomic_write_bytes(state_file(directory, state.iteration), safetensors_bytes(tensors, metadata))
    path = decoder_file(directory, state.iteration)
    save_decoder(path, decoder, state.config["decoder"], state.config["encoder"], state.iteration, state.config)
    return path


def _read_state(path: Path) -> TrainerState:
    loaded = weights.read_weights(path)
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
        return TrainerState(
            iteration=int(document["iteration"]),
            config=document["config"],
            optimizer={"state": optimizer_state, "param_groups": param_groups},
            scheduler=document["scheduler"],
            scaler=document["scaler"],
            rng=rng,
            skipped=list(document.get("skipped", [])),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise UserError(f"{path}: damaged trainer state ({type(exc).__name__}: {exc})") from None


def latest_decoder_file(directory: Path) -> Path | None:
    """The newest complete checkpoint (decoder file with its trainer state) in `directory`."""
    found = []
    for path in Path(directory).glob("decoder_iter_*.safetensors"):
        match = DECODER_PATTERN.fullmatch(path.name)
        if match and state_file(directory, int(match.group(1))).is_file():
            found.append((int(match.group(1)), path))
    return max(found)[1] if found else None


def find_checkpoint(path: str | Path) -> tuple[Path, Path]:
    """(decoder file, trainer state file) for --resume: a decoder file, a state file or a run dir."""
    path = Path(path)
    if path.is_dir():
        directory = path / "checkpoints" if (path / "checkpoints").is_dir() else path
        decoder = latest_decoder_file(directory)
        if decoder is None:
            raise UserError(f"{path}: no trainer checkpoint in this directory")
        path = decoder
    elif not path.is_file():
        raise UserError(f"{path}: no such checkpoint")
    match = re.fullmatch(r"(?:decoder|trainer)_iter_(\d+)\.safetensors", path.name)
    if not match:
        raise UserError(
            f"{path}: not a trainer checkpoint (expected decoder_iter_N.safetensors from tools/train.py, "
            "or its run directory)"
        )
    iteration = int(match.group(1))
    decoder, state = decoder_file(path.parent, iteration), state_file(path.parent, iteration)
    for needed in (decoder, state):
        if not needed.is_file():
            raise UserError(f"{path}: incomplete checkpoint, {needed.name} is missing beside it")
    return decoder, state


@dataclass
class Checkpoint:
    decoder_path: Path
    decoder_state: dict[str, torch.Tensor]
    trainer: TrainerState


def load_checkpoint(path: str | Path) -> Checkpoint:
    decoder_path, state_path = find_checkpoint(path)
    decoder = weights.load_decoder(decoder_path)  # architecture, encoder and every tensor checked
    trainer = _read_state(state_path)
    if trainer.config.get("decoder") != decoder.kind:
        raise UserError(f"{state_path}: its trainer state does not belong to {decoder_path.name}")
    return Checkpoint(decoder_path, decoder.state_dict(), trainer)
