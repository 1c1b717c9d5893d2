"""Writing a trainer checkpoint's two files (what they hold: `checkpoint`), and the room one takes."""

from __future__ import annotations

import json
import os
import shutil
import stat
from contextlib import suppress
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save as safetensors_bytes

from realtime_adain import weight_digests
from realtime_adain.errors import UserError
from realtime_adain.atomic import atomic_write_bytes
from realtime_adain.training.checkpoint import SAVED_SKIPS, STATE_FORMAT, TrainerState
from realtime_adain.training.checkpoint_files import decoder_file, state_file


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
