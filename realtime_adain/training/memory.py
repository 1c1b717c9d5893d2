"""Whether a training step (and its image loading) can fit in the memory free now.

One check for `bench train` and the trainer: both ran on into the OOM killer (Linux overcommits,
so no allocation failed) with a batch that could never fit. Every estimate is a lower bound, so
nothing that fits is refused.
"""

from __future__ import annotations

import torch

from realtime_adain.available_memory import free_memory
from realtime_adain.errors import UserError
from realtime_adain.training.config import TrainConfig
from realtime_adain.training.process import AUTOCAST_NAMES, pick_amp

# A step keeps for its backward pass 64-channel tensors at full resolution (the decoder's last
# layers, the loss encoder's first), at least three: this many elements per pixel at least (a
# measured CPU step holds several times more).
ELEMENTS_PER_PIXEL = 3 * 64
RGB_BYTES = 3  # an 8-bit RGB pixel, as images are loaded


def step_bytes(batch: int, crop: int, autocast: str) -> int:
    """What one step of `batch` crops of crop x crop holds at least (autocast halves each element)."""
    return batch * crop * crop * ELEMENTS_PER_PIXEL * (4 if autocast == "off" else 2)


def loading_bytes(batch: int, load_size: int, crop: int, workers: int) -> int:
    """What image loading holds at least on the CPU: each loading process (the training process
    itself with 0 workers) one image resized to load_size x load_size and the batch of content
    and style crops it builds."""
    return max(workers, 1) * (load_size * load_size + 2 * batch * crop * crop) * RGB_BYTES


def check_fits(device: torch.device, batch: int, crop: int, autocast: str, crop_option: str = "--size",
               loading: int = 0, loading_options: tuple[str, ...] = (), processes: int = 1) -> None:
    """Refuse, before anything runs, a step of `batch` crops of crop x crop (plus `loading` bytes
    of image loading on the CPU, which `loading_options` set) that cannot fit in the memory free
    now, naming the options to lower. Of a data-parallel run's batch, each of its `processes`
    holds its share."""
    cpu = torch.device("cpu")
    needs = {device: step_bytes(batch // processes, crop, autocast)}
    if loading:
        needs[cpu] = needs.get(cpu, 0) + loading
    for where, need in needs.items():
        free = free_memory(where)
        if free is None or need <= free:
            continue
        options = ["--batch-size", crop_option]
        details = [f"amp {autocast}"] if where == device else []
        if where == cpu and loading:
            options += loading_options
            details.append(f"{loading / 2**30:.1f} GiB of it for loading images" if details else "for loading images")
        share = f" ({batch // processes} a process)" if processes > 1 else ""
        raise UserError(f"--batch-size {batch}{share} at {crop_option} {crop} needs at least {need / 2**30:.1f} GiB "
                        f"({'; '.join(details)}), "
                        f"and {where} has {free / 2**30:.1f} GiB free; lower {', '.join(options[:-1])} or {options[-1]}")


def check_memory(config: TrainConfig, device: torch.device, world_size: int) -> None:
    """Refuse, before any folder, data scan or loading worker, settings whose step and image loading
    cannot fit in the memory free now (a new run's, or a resumed one's on this machine): a batch no
    machine holds grew for minutes toward the OOM killer (Linux overcommits: `Trainer.step`'s guard
    never fired)."""
    loading = loading_bytes(config.batch_size // world_size, config.load_size, config.crop_size, config.workers)
    check_fits(device, config.batch_size, config.crop_size, AUTOCAST_NAMES[pick_amp(config.amp, device)], "--crop-size",
               loading, ("--load-size", "--workers"), world_size)
