"""A training process: its place in a data-parallel run (torchrun's variables), its device, its
autocast dtype and its seed."""

from __future__ import annotations

import os
import random
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist

from realtime_adain.devices import pick_device
from realtime_adain.errors import UserError
from realtime_adain.training.config import AMP_MODES


@dataclass
class Distributed:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @classmethod
    def from_env(cls) -> "Distributed":
        """torchrun's RANK / WORLD_SIZE / LOCAL_RANK, or a single process. Values torchrun never
        sets (a stray `WORLD_SIZE=abc` or `WORLD_SIZE=2` in the shell, without RANK or the
        rendezvous address) are one line: they were ValueError and KeyError tracebacks."""
        world_size = _launch_number("WORLD_SIZE", "1", 1)
        if world_size == 1:
            return cls()
        needed = ("RANK",) if dist.is_initialized() else ("RANK", "MASTER_ADDR", "MASTER_PORT")
        if missing := [name for name in needed if not os.environ.get(name)]:
            raise UserError(f"$WORLD_SIZE={world_size} without ${missing[0]}: start data-parallel runs with torchrun "
                            "(docs/training.md), or unset WORLD_SIZE for one process")
        rank = _launch_number("RANK", "", 0, world_size - 1)
        return cls(rank, world_size, _launch_number("LOCAL_RANK", "0", 0))


def _launch_number(name: str, default: str, low: int, high: int | None = None) -> int:
    """A whole number from the launcher's variable `name` ($name unset or empty: `default`)."""
    text = os.environ.get(name) or default
    allowed = f"a whole number from {low}" + (f" to {high}" if high is not None else "")
    if not (text.isascii() and text.isdigit() and len(text) < 10) or int(text) < low or (high is not None and int(text) > high):
        raise UserError(f"${name}={text!r} is not {allowed} (as torchrun sets it); fix it or unset it")
    return int(text)


def pick_training_device(name: str, dist_info: Distributed) -> torch.device:
    device = pick_device(name)
    if device.type == "cuda" and dist_info.world_size > 1 and device.index is None:
        device = torch.device("cuda", dist_info.local_rank)
    return device


AUTOCAST_NAMES = {None: "off", torch.float16: "fp16", torch.bfloat16: "bf16"}  # pick_amp's dtypes as --amp names


def pick_amp(mode: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype: 'auto' is bf16 on GPUs that have it, fp16 on older ones, none on the CPU."""
    if mode not in AMP_MODES:
        raise UserError(f"unknown AMP mode '{mode}' (use {', '.join(AMP_MODES)})")
    if mode == "off":
        return None
    if device.type != "cuda":
        if mode == "auto":
            return None
        raise UserError(f"--amp {mode} needs a CUDA device; use --amp off on the CPU")
    if mode == "fp16" or (mode == "auto" and not torch.cuda.is_bf16_supported()):
        return torch.float16
    return torch.bfloat16


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
