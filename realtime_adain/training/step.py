"""One training iteration: the model, optimizer, schedule and precision of one process (`TrainingStep`).

Separate from the data and the bookkeeping (`trainer.py`) so `bench train` times exactly what
training runs.
"""

from __future__ import annotations

import inspect
import warnings
from contextlib import contextmanager, nullcontext
from typing import Callable, Iterator

import torch

from realtime_adain.errors import UserError
from realtime_adain.training.config import TrainConfig
from realtime_adain.training.losses import AdaINLoss, Losses
from realtime_adain.training.process import pick_amp

# The encoder's buffers are fixed and the decoder has none, so no buffer syncing per step. torch
# 2.14 renamed DDP's `broadcast_buffers` to `forward_sync_buffers` and warns on the old name (once
# per process, in every torchrun run).
_NO_BUFFER_SYNC = ({"forward_sync_buffers": False}
                   if "forward_sync_buffers" in inspect.signature(torch.nn.parallel.DistributedDataParallel).parameters
                   else {"broadcast_buffers": False})


def learning_rate_factor(decay: float) -> Callable[[int], float]:
    """The reference's decay: lr / (1 + decay * iteration)."""
    return lambda iteration: 1.0 / (1.0 + decay * iteration)


@contextmanager
def compile_failure_as_user_error(compiled: bool) -> Iterator[None]:
    """torch.compile compiles at the first step: without a C++ compiler (or Triton on a GPU) that
    was a 100-line traceback; one line naming what is missing now."""
    try:
        yield
    except Exception as exc:
        if not compiled:
            raise
        from torch._dynamo.exc import TorchDynamoException

        if not isinstance(exc, TorchDynamoException):
            raise
        from realtime_adain.engines.compiled import damaged_cache

        if (damaged := damaged_cache(exc)) is not None:  # (a killed run's 0-byte kernel: "install what it names" misled)
            raise UserError(damaged.replace("--engine eager", "train without --compile")) from None
        said = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(f"--compile failed ({said}); install what it names, or train without --compile") from None


# PyTorch's warning when the schedule moves before the optimizer ever stepped (seen on an H200 with --amp fp16).
SKIPPED_STEP_WARNING = r"Detected call of `lr_scheduler\.step\(\)` before `optimizer\.step\(\)`"


class TrainingStep:
    """Model, optimizer, schedule and precision of one process; `step(content, style)` = one iteration.

    Separate from the data and the bookkeeping so the benchmark times exactly what training runs.
    """

    def __init__(self, encoder: torch.nn.Module, decoder: torch.nn.Module, config: TrainConfig,
                 device: torch.device, world_size: int = 1) -> None:
        self.device = device
        self.amp_dtype = pick_amp(config.amp, device)
        self.decoder = decoder
        self.net = AdaINLoss(encoder, decoder, config.style_weight, config.content_weight, config.temporal_weight).to(device)
        self.temporal = config.temporal_weight > 0
        if device.type == "cuda":
            torch.backends.cudnn.benchmark = True
            self.net = self.net.to(memory_format=torch.channels_last)
        self.optimizer = torch.optim.Adam(decoder.parameters(), lr=config.lr)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, learning_rate_factor(config.lr_decay))
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp_dtype == torch.float16)
        self.model: torch.nn.Module = self.net
        if world_size > 1:  # the process group must exist already
            self.model = torch.nn.parallel.DistributedDataParallel(
                self.net, device_ids=[device.index] if device.type == "cuda" else None, **_NO_BUFFER_SYNC,
            )
        self.compiled = config.compile
        if config.compile:
            if device.type == "cpu":
                from realtime_adain.engines.compiled import quiet_cpu_build_warning

                quiet_cpu_build_warning()
            self.model = torch.compile(self.model)

    def to_device(self, batch: torch.Tensor) -> torch.Tensor:
        """uint8 (N, 3, H, W) from the loader -> float in [0, 1] on the device."""
        memory_format = torch.channels_last if self.device.type == "cuda" else torch.contiguous_format
        batch = batch.to(self.device, non_blocking=True)
        return batch.float().div_(255.0).contiguous(memory_format=memory_format)

    def backward(self, content: torch.Tensor, style: torch.Tensor) -> tuple[Losses, torch.Tensor]:
        """Losses of one batch and the decoder's gradients (averaged over processes under DDP)."""
        autocast = (
            torch.autocast(self.device.type, dtype=self.amp_dtype) if self.amp_dtype is not None else nullcontext()
        )
        with compile_failure_as_user_error(self.compiled):
            with autocast:
                if self.temporal:
                    loss_c, loss_s, loss_t, output = self.model(content, style, temporal=True)
                else:
                    loss_c, loss_s, output = self.model(content, style)
                    loss_t = torch.zeros_like(loss_c)
            total = loss_c + loss_s + loss_t
            self.scaler.scale(total).backward()
        return Losses(loss_c.detach(), loss_s.detach(), loss_t.detach(), total.detach()), output.detach()

    def step(self, content: torch.Tensor, style: torch.Tensor) -> tuple[Losses, torch.Tensor]:
        """One iteration at the current learning rate, then the schedule moves on: (losses, output)."""
        self.optimizer.zero_grad(set_to_none=True)
        losses, output = self.backward(content, style)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        with warnings.catch_warnings():  # fp16's scaler skips the steps whose gradients overflow (its first,
            warnings.filterwarnings("ignore", SKIPPED_STEP_WARNING)  # usually): the schedule still counts them
            self.scheduler.step()
        return losses, output
