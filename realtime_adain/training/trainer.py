"""The training loop: the reference's schedule, made resumable, logged and data-parallel.

Adam (lr 1e-4) with lr / (1 + 5e-5 * iteration) before each iteration (a LambdaLR), the frozen
encoder, the paper's losses (`losses.AdaINLoss`). On CUDA: autocast (bf16, or fp16 with a loss
scaler), channels_last, cuDNN autotuning, optional torch.compile. Under `torchrun` every process
takes its share of each global batch and DDP averages the gradients (NCCL on GPUs, gloo on the
CPU), so N processes compute what one process would on the whole batch (up to float rounding).
"""

from __future__ import annotations

import csv
import inspect
import io
import math
import os
import random
import shlex
import shutil
import threading
import time
import warnings
from contextlib import contextmanager, nullcontext, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import torch
import torch.distributed as dist
from tqdm import tqdm

from realtime_adain import interrupts, weights
from realtime_adain.atomic import atomic_write_bytes, make_folders, naming
from realtime_adain.checks import ascii_whole
from realtime_adain.errors import UserError, out_of_memory_as_user_error
from realtime_adain.imageio import write_image
from realtime_adain.interrupts import SignalGuard
from realtime_adain.writable_folders import ensure_writable_dir
from realtime_adain.stylizer import Stylizer
from realtime_adain.devices import pick_device
from realtime_adain.training import checkpoint, data
from realtime_adain.training.config import AMP_MODES, TrainConfig
from realtime_adain.training.losses import AdaINLoss, Losses
from realtime_adain.training.memory import check_fits, loading_bytes
from realtime_adain.userdirs import expand_home

# The encoder's buffers are fixed and the decoder has none, so no buffer syncing per step. torch
# 2.14 renamed DDP's `broadcast_buffers` to `forward_sync_buffers` and warns on the old name (once
# per process, in every torchrun run).
_NO_BUFFER_SYNC = ({"forward_sync_buffers": False}
                   if "forward_sync_buffers" in inspect.signature(torch.nn.parallel.DistributedDataParallel).parameters
                   else {"broadcast_buffers": False})

LOG_LINE_BYTES = 4096  # the longest log.csv line read back on a resume (a row takes under 100)
CSV_FIELDS = ("iteration", "content_loss", "style_loss", "temporal_loss", "total_loss", "lr", "iterations_per_s",
              "skipped_images")
SAMPLE_ROWS = 4
# What a run leaves besides its checkpoints and log.csv, which a fresh run starts afresh (`RunLogger`).
EARLIER_RUN_FILES = ("samples/iter_*.jpg", "tensorboard/events.out.tfevents.*")
LOCK_NAME = ".lock"  # in --out, held (flock) by the run writing there


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


def check_memory(config: TrainConfig, device: torch.device, world_size: int) -> None:
    """Refuse, before any folder, data scan or loading worker, settings whose step and image loading
    cannot fit in the memory free now (a new run's, or a resumed one's on this machine): a batch no
    machine holds grew for minutes toward the OOM killer (Linux overcommits: `Trainer.step`'s guard
    never fired)."""
    loading = loading_bytes(config.batch_size // world_size, config.load_size, config.crop_size, config.workers)
    check_fits(device, config.batch_size, config.crop_size, AUTOCAST_NAMES[pick_amp(config.amp, device)], "--crop-size",
               loading, ("--load-size", "--workers"), world_size)


def learning_rate_factor(decay: float) -> Callable[[int], float]:
    """The reference's decay: lr / (1 + decay * iteration)."""
    return lambda iteration: 1.0 / (1.0 + decay * iteration)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


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


class Trainer:
    """One training run (or one process of a data-parallel run); `run()` trains to the end."""

    def __init__(self, config: TrainConfig, resume: checkpoint.Checkpoint | None = None,
                 dist_info: Distributed | None = None) -> None:
        self.config = config
        self.dist = dist_info or Distributed.from_env()
        self.device = pick_training_device(config.device, self.dist)
        check_memory(config, self.device, self.dist.world_size)  # (and a wrong --amp) before the data is scanned
        self.out = Path(config.out)
        self.checkpoint_dir = self.out / "checkpoints"
        self.samples_dir = self.out / "samples"
        self.new_out = False  # whether this process's mkdir made `out` (`_make_out`)
        self.made = [p for p in (self.checkpoint_dir, self.samples_dir, self.out / LOCK_NAME) if not p.exists()]
        self.lock: OutLock | None = None
        try:
            self._set_up(config, resume)
        except BaseException:
            self.remove_what_it_made()
            self.release()
            raise

    def remove_what_it_made(self) -> None:
        """A run that never started leaves nothing behind: its `out`, if it made it, or else what it
        added to the folder that was there (the user's, or a dataset's), where empty. Its contents
        only while it holds the lock: a trainer that lost it to one started at the same moment
        removed the folder that one was writing to."""
        if self.lock is None:  # (refused before locking, lost the lock, or not the main process, which takes it)
            if self.new_out:
                remove_if_empty([self.out])
        elif self.new_out:
            shutil.rmtree(self.out, ignore_errors=True)
        else:
            remove_if_empty(self.made)

    def release(self) -> None:
        if self.lock is not None:
            self.lock.release()
            self.lock = None

    # --- set-up -------------------------------------------------------------------------------

    def _set_up(self, config: TrainConfig, resume: checkpoint.Checkpoint | None) -> None:
        if self.dist.is_main:
            self._prepare_out_dir(resume)
        self.stream = data.pair_stream(config.content_dir, config.style_dir, config.load_size, config.crop_size,
                                       config.seed, exclude=[self.out])
        data.GlobalBatchSampler(0, config.batch_size, 0, self.dist.world_size)  # checks the split early

        seed_everything(config.seed)
        vgg = weights.resolve("vgg", config.vgg)
        encoder = weights.load_encoder(vgg, config.encoder)
        digest = encoder.loaded_sha256
        if config.vgg_sha256 not in (None, digest):
            raise UserError(f"{vgg}: not the VGG encoder this run was started with (its SHA-256 is {digest[:12]}..., "
                            f"the run's {config.vgg_sha256[:12]}...); give --vgg the file it used")
        config.vgg_sha256 = digest
        decoder = weights.DECODER_BUILDERS[config.decoder]()  # the default init, seeded
        self.decoder = decoder
        self._init_process_group()
        self.training = TrainingStep(encoder, decoder, config, self.device, self.dist.world_size)
        self.iteration = 0
        self.skips = data.SkipReport()
        self.loss_window = torch.zeros(4, device=self.device)  # content, style, temporal, total summed since the last log row
        self.window_iterations = 0
        if resume is not None:
            self._restore(resume)
        self.batches = data.batches(
            self.stream, self.iteration, config.batch_size, self.dist.rank, self.dist.world_size,
            workers=config.workers, pin_memory=self.device.type == "cuda",
        )

    def _prepare_out_dir(self, resume: checkpoint.Checkpoint | None) -> None:
        if self.out.exists() and not self.out.is_dir():
            raise UserError(f"{self.out}: --out names a file; give a directory for the run")
        if checkpoint.latest_decoder_file(self.out) is not None:  # (a run was nested in another's checkpoints/)
            raise UserError(f"{self.out}: holds checkpoints itself (a run's checkpoints/ folder?); give the run's "
                            "folder or another --out")
        self._make_out()
        ensure_writable_dir(self.out)
        self.lock = OutLock(self.out)  # before checkpoints/ and samples/: a run that loses it makes nothing
        ensure_writable_dir(self.checkpoint_dir)
        ensure_writable_dir(self.samples_dir)  # (was found at the first sample: the training time spent, no checkpoint)
        latest = checkpoint.latest_decoder_file(self.checkpoint_dir)
        holds_run = latest is not None
        own_run = resume is not None and os.path.samefile(resume.decoder_path.parent, self.checkpoint_dir)
        if own_run and latest is not None and latest.name != resume.decoder_path.name:
            # (the next resume of the folder took the abandoned history's newest; the log had a gap)
            raise UserError(f"{self.out}: holds checkpoints past iteration {resume.trainer.iteration} (up to "
                            f"{latest.name}), which a run resumed from an earlier one would mix with its own; "
                            "move the later ones away, or resume the newest")
        if holds_run and not own_run:
            if resume is not None:
                raise UserError(f"{self.out}: already holds another run's checkpoints; choose another --out")
            raise UserError(f"{self.out}: already holds a run's checkpoints; continue it with --resume "
                            f"{shlex.quote(str(self.out))} or choose another --out")

    def _make_out(self) -> None:
        """`out` if missing, and `new_out` only where this process's mkdir made it: a trainer started
        at the same moment may have made it, and may be writing there. (Missing parents, a folder
        that cannot be made: `ensure_writable_dir` says why.)"""
        with suppress(OSError):
            self.new_out = make_folders(self.out)

    def _init_process_group(self) -> None:
        if self.dist.world_size > 1 and not dist.is_initialized():
            backend = "nccl" if self.device.type == "cuda" else "gloo"
            if self.device.type == "cuda":
                torch.cuda.set_device(self.device)
            dist.init_process_group(backend, rank=self.dist.rank, world_size=self.dist.world_size)

    def _restore(self, resume: checkpoint.Checkpoint) -> None:
        """The checkpoint's weights and state; a state that does not fit this decoder and optimizer
        (damaged, or edited) is one line now, not a traceback at the first iteration."""
        state = resume.trainer
        self.decoder.load_state_dict(resume.decoder_state)
        training = self.training
        try:
            fresh_groups = training.optimizer.state_dict()["param_groups"]
            checkpoint.check_like(fresh_groups, state.optimizer["param_groups"], "optimizer")
            checkpoint.check_adam_settings(fresh_groups, state.optimizer["param_groups"])
            parameters = list(self.decoder.parameters())
            checkpoint.check_optimizer_state(parameters, state.optimizer["state"], state.iteration)
            checkpoint.check_like(training.scheduler.state_dict(), state.scheduler, "scheduler")
            checkpoint.check_schedule(state.scheduler, state.optimizer["param_groups"], state.iteration, self.config.lr,
                                      learning_rate_factor(self.config.lr_decay)(state.iteration))
            training.optimizer.load_state_dict(state.optimizer)
            training.scheduler.load_state_dict(state.scheduler)
            if state.scaler:
                training.scaler.load_state_dict(state.scaler)
            checkpoint.restore_rng(state.rng)
        except (KeyError, TypeError, ValueError, IndexError, RuntimeError, OverflowError) as exc:  # (RNG numbers past C's)
            raise checkpoint.damaged_checkpoint(  # (the hint reading the files gives: `load_checkpoint`)
                f"{resume.state_path}: damaged trainer state ({checkpoint.describe(exc)})", resume.decoder_path,
                resume.state_path) from None
        self.iteration = state.iteration
        self.skips = data.SkipReport(state.skipped, state.skipped_count)
        self.loss_window = torch.tensor(state.loss_window, dtype=torch.float32, device=self.device)
        self.window_iterations = state.window_iterations

    def trainer_state(self) -> checkpoint.TrainerState:
        return checkpoint.TrainerState(
            iteration=self.iteration,
            config=self.config.to_dict(),
            optimizer=self.training.optimizer.state_dict(),
            scheduler=self.training.scheduler.state_dict(),
            scaler=self.training.scaler.state_dict(),
            rng=checkpoint.rng_state(),
            skipped=sorted(self.skips.paths),
            skipped_count=self.skips.count,
            loss_window=self.loss_window.tolist(),
            window_iterations=self.window_iterations,
        )

    # --- one iteration ------------------------------------------------------------------------

    def next_batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        """This process's (content, style) of the next global batch, in [0, 1] on the device."""
        try:
            batch = next(self.batches)
        except (RuntimeError, ConnectionError, EOFError) as exc:  # a worker died (`data.batches`)
            worker_error = not isinstance(exc, RuntimeError) or str(exc).startswith("DataLoader worker")
            if not (self.config.workers and worker_error):
                raise
            raise worker_ended(exc) from None
        if isinstance(batch, data.NoImagesLeft):
            raise batch.error(self.config.content_dir if batch.what == "content" else self.config.style_dir)
        content, style, skipped, said = batch
        if self.dist.is_main:
            self.skips.add(skipped, data.warn)
            data.say_notes(said)
        return self.training.to_device(content), self.training.to_device(style)

    def step(self) -> tuple[Losses, torch.Tensor, torch.Tensor, torch.Tensor]:
        """One iteration: (losses, content, style, output). A batch the machine cannot hold
        (`ulimit -v`, a small GPU) is one line naming the sizes to lower, not an allocator's
        traceback (OpenCV's resize in the loader raised cv2.error, which no handler knew)."""
        config = self.config
        with out_of_memory_as_user_error(
            f"--batch-size {config.batch_size} at --load-size {config.load_size}, --crop-size {config.crop_size}",
            "lower --batch-size, --crop-size or --load-size, or raise the limit (`ulimit -v`)",
        ):
            content, style = self.next_batch()
            losses, output = self.training.step(content, style)
        self.iteration += 1
        return losses, content, style, output

    # --- the loop -----------------------------------------------------------------------------

    def save(self) -> Path:
        """A checkpoint, unless training diverged since the last loss check (--log-every): weights
        of NaN were saved, and --resume went on from them."""
        if not all(bool(torch.isfinite(p).all()) for p in self.decoder.parameters()):
            raise diverged(f"the decoder's weights are no longer finite at iteration {self.iteration}")
        if self.lock is not None and not self.lock.in_place():  # the run went on into a new, unlocked folder
            raise UserError(f"{self.out}: the run's folder was removed, moved or replaced during the run (its log.csv "
                            f"and lock with it); stopped at iteration {self.iteration}")
        return checkpoint.save_checkpoint(self.checkpoint_dir, self.decoder, self.trainer_state())

    def save_samples(self, content: torch.Tensor, style: torch.Tensor, output: torch.Tensor) -> None:
        """A grid: one row per item, content | style | output."""
        rows = min(SAMPLE_ROWS, content.shape[0])
        grid = torch.cat([content[:rows], style[:rows], output[:rows].float().clamp(0, 1)], dim=3)
        image = Stylizer.to_uint8(grid.float()).reshape(-1, grid.shape[3], 3)
        write_image(self.samples_dir / f"iter_{self.iteration:07d}.jpg", image)

    def _mean_over_processes(self, values: torch.Tensor) -> torch.Tensor:
        if self.dist.world_size > 1:
            dist.all_reduce(values)
            values /= self.dist.world_size
        return values

    def run(self) -> Path | None:
        """Train to `config.iterations`; returns the last decoder checkpoint (main process)."""
        config = self.config
        logger = RunLogger(self.out, self.iteration) if self.dist.is_main else None
        tqdm.monitor_interval = 0  # its monitor thread, not needed here, warned where none can start (`ulimit -v`)
        progress = tqdm(total=config.iterations, initial=self.iteration, desc="training", unit="it",
                        disable=None if self.dist.is_main else True, dynamic_ncols=True)
        window = self.loss_window
        window_start, timed_from = time.perf_counter(), self.iteration  # (a resumed window's iterations took no time here)
        last_saved = None
        try:
            while self.iteration < config.iterations:
                interrupts.raise_kept()
                lr = self.training.optimizer.param_groups[0]["lr"]
                losses, content, style, output = self.step()
                window += torch.stack([losses.content, losses.style, losses.temporal, losses.total])
                self.window_iterations += 1
                progress.update(1)
                if self.iteration % config.log_every == 0 or self.iteration == config.iterations:
                    means = self._mean_over_processes(window / self.window_iterations).tolist()
                    speed = (self.iteration - timed_from) / (time.perf_counter() - window_start)
                    if not all(math.isfinite(v) for v in means):
                        raise diverged(f"the loss became {means[-1]} at iteration {self.iteration}")
                    if logger is not None:
                        logger.log(self.iteration, means, lr, speed, self.skips.count)
                        temporal = {"temporal": f"{means[2]:.3g}"} if config.temporal_weight > 0 else {}
                        progress.set_postfix(content=f"{means[0]:.3g}", style=f"{means[1]:.3g}", **temporal,
                                             skipped=self.skips.count, refresh=False)
                    window.zero_()
                    window_start, timed_from, self.window_iterations = time.perf_counter(), self.iteration, 0
                if self.dist.is_main and self.iteration % config.sample_every == 0:
                    self.save_samples(content, style, output)
                if self.iteration % config.save_every == 0 or self.iteration == config.iterations:
                    # Every process's sums as their mean: each process of a resumed run starts from
                    # the one saved, and the next row's mean over processes is the same.
                    self._mean_over_processes(window)
                    if self.dist.is_main:
                        last_saved = self.save()
                        data.warn(f"checkpoint: {last_saved}")
        finally:
            progress.close()
            if logger is not None:
                logger.close()
        return last_saved

    def close(self) -> None:
        # The loading workers (persistent) end now, not whenever this is collected. That waits for
        # them, up to seconds: a second Ctrl-C meanwhile (a terminal's, or `timeout` passing one
        # on) raised inside the loader's __del__, which Python printed as a traceback. The run has
        # ended (interrupted or done) and says so itself: further signals are held and dropped.
        with suppress(KeyboardInterrupt), SignalGuard(None, hold=True):
            self.batches = None
        if self.dist.world_size > 1 and dist.is_initialized():
            dist.destroy_process_group()
        self.release()


def diverged(what: str) -> UserError:
    """Training that diverged, with what to lower (a weight past float32's range is one cause)."""
    return UserError(f"{what}; lower --lr, or the loss weights (--style-weight, --content-weight, --temporal-weight)")


def remove_if_empty(paths: list[Path]) -> None:
    """What a run that never started made in an existing --out (the user's folder, or a dataset's):
    an empty checkpoints/ and the lock file were left behind."""
    for path in paths:
        with suppress(OSError):  # not empty, or gone
            if path.is_dir():
                path.rmdir()
            else:
                path.unlink()


def worker_ended(exc: BaseException) -> UserError:
    """A loading worker killed (the kernel's OOM killer, a stray kill) as one line, not a traceback."""
    said = str(exc).splitlines()[0].strip() if str(exc).strip() else type(exc).__name__
    return UserError(f"an image-loading worker ended unexpectedly ({said.rstrip('.')}); out of memory? "
                     "try fewer --workers or a smaller --load-size")


class OutLock:
    """An exclusive lock on the run directory for as long as a run writes there: two trainers
    on one --out would interleave log.csv and pair one's decoder with the other's Adam state.
    flock: released by the kernel however the process ends, so a killed run never blocks the next."""

    def __init__(self, out: Path) -> None:
        path = self.path = out / LOCK_NAME
        try:
            import fcntl
        except ImportError:  # Windows: no flock; runs are not guarded
            self.handle = None
            return
        try:
            self.handle = open(path, "a+")
        except OSError as exc:
            raise naming(path, exc) from None
        try:
            fcntl.flock(self.handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self.handle.close()
            raise UserError(f"{out}: another training run is writing to this directory; wait for it to end "
                            "or choose another --out") from None

    def in_place(self) -> bool:
        """Whether the locked file is still the one at its path: a run folder removed, moved or
        replaced mid-run took the lock and log.csv with it, and a run started there would not see one."""
        if self.handle is None:
            return True
        try:
            here, held = os.stat(self.path), os.fstat(self.handle.fileno())
        except OSError:
            return False
        return (here.st_dev, here.st_ino) == (held.st_dev, held.st_ino)

    def release(self) -> None:
        if self.handle is not None:
            self.handle.close()  # closing drops the flock
            self.handle = None


class RunLogger:
    """log.csv (appended; rows past a resumed iteration are dropped) and TensorBoard scalars; a fresh
    run starts them, and the samples, afresh."""

    def __init__(self, out: Path, start_iteration: int) -> None:
        self.csv_path = out / "log.csv"
        self.tensorboard_dir = out / "tensorboard"
        if os.path.lexists(self.csv_path) and not self.csv_path.is_file():  # a FIFO blocked the open for good
            raise UserError(f"{self.csv_path}: not a regular file (a folder, pipe, device, socket or broken link); "
                            "remove it or give another --out")
        self._truncate(start_iteration)
        if start_iteration == 0:
            remove_earlier_run_files(out)
        new = not self.csv_path.is_file()
        try:
            self.csv_file = open(self.csv_path, "a", newline="")
            self.csv = csv.writer(self.csv_file)
            if new:
                self.csv.writerow(CSV_FIELDS)
                self.csv_file.flush()  # a run killed before its first row still leaves a valid log
        except OSError as exc:
            raise naming(self.csv_path, exc) from None
        self.tensorboard = None
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            data.warn("warning: tensorboard is not installed (pip install 'realtime-adain[train]'); "
                      "logging to log.csv only")
        else:
            quiet_tensorboard_thread()
            try:
                os.fsencode(self.tensorboard_dir).decode("utf-8")  # TensorBoard's file layer takes UTF-8 names only
                self.tensorboard = SummaryWriter(str(self.tensorboard_dir), purge_step=start_iteration + 1)
            except UnicodeError:
                data.warn(f"warning: {self.tensorboard_dir}: TensorBoard cannot write under a name that is not "
                          "UTF-8; logging to log.csv only")
            except OSError as exc:  # optional, as when not installed: a file named tensorboard, a read-only folder
                data.warn(f"warning: {self.tensorboard_dir}: cannot write TensorBoard logs ({exc.strerror or exc}); "
                          "logging to log.csv only")

    def _truncate(self, start_iteration: int) -> None:
        """Keep the log's rows up to the iteration resumed from. Read line by line, LOG_LINE_BYTES
        at a time: a damaged line (bytes that are not UTF-8, a field past the csv module's limit,
        one endless line) is dropped, not a traceback, and memory stays bounded."""
        if not self.csv_path.is_file():
            return
        rows, lines = [], 0
        with open(self.csv_path, "rb") as handle:
            while line := handle.readline(LOG_LINE_BYTES):
                lines += 1
                if len(line) == LOG_LINE_BYTES and not line.endswith(b"\n"):  # a line longer than any row
                    while (rest := handle.readline(LOG_LINE_BYTES)) and not rest.endswith(b"\n"):
                        pass
                    continue
                try:
                    rows += list(csv.reader([line.decode("utf-8")]))
                except (UnicodeDecodeError, csv.Error):
                    continue
        if not lines:  # an empty log (killed before the header was written): start it afresh
            self.csv_path.unlink()
            return
        if not rows or rows[0][:1] != [CSV_FIELDS[0]]:  # (someone's notes: not rows to cut or append to)
            raise UserError(f"{self.csv_path}: not this trainer's log (its first line is not the header "
                            f"{','.join(CSV_FIELDS)}); move it away or give another --out")
        earlier = rows[0] != list(CSV_FIELDS) and set(rows[0]) < set(CSV_FIELDS)
        if earlier:  # an earlier version's log (no temporal_loss): its rows under today's header, the new cells empty
            rows = [list(CSV_FIELDS)] + [[dict(zip(rows[0], row)).get(name, "") for name in CSV_FIELDS]
                                         for row in rows[1:] if len(row) == len(rows[0])]
        # Rows of iterations after the checkpoint go, and so does a row cut short (a full disk).
        kept = [rows[0]] + [row for row in rows[1:] if len(row) == len(CSV_FIELDS)
                            and (iteration := ascii_whole(row[0])) is not None and iteration <= start_iteration]
        if len(kept) != lines or earlier:
            text = io.StringIO(newline="")
            csv.writer(text).writerows(kept)
            atomic_write_bytes(self.csv_path, text.getvalue().encode())

    def log(self, iteration: int, means: list[float], lr: float, speed: float, skipped: int) -> None:
        """One row: `means` are the content, style, temporal and total losses."""
        content, style, temporal, total = means
        try:
            self.csv.writerow([iteration, *(f"{value:.6g}" for value in means), f"{lr:.6g}", f"{speed:.4g}", skipped])
            self.csv_file.flush()
        except OSError as exc:  # a full disk: name the file
            raise naming(self.csv_path, exc) from None
        if self.tensorboard is not None:
            try:
                for name, value in (("loss/content", content), ("loss/style", style), ("loss/temporal", temporal),
                                    ("loss/total", total), ("lr", lr), ("iterations_per_s", speed)):
                    self.tensorboard.add_scalar(name, value, iteration)
            except OSError as exc:
                raise naming(self.tensorboard_dir, exc) from None

    def close(self) -> None:
        try:
            self.csv_file.close()
        except OSError:  # the row that did not fit was reported already
            pass
        if self.tensorboard is not None:
            try:
                self.tensorboard.close()
            except OSError:
                pass


def remove_earlier_run_files(out: Path) -> None:
    """A fresh run's samples and TensorBoard events only, as its log.csv holds only its rows: a run
    stopped before its first checkpoint (no checkpoint to refuse the folder by) left its own beside them."""
    for pattern in EARLIER_RUN_FILES:
        for path in out.glob(pattern):
            try:
                path.unlink()
            except FileNotFoundError:
                pass
            except OSError as exc:
                raise UserError(f"{path}: cannot remove this earlier run's file ({exc.strerror or exc}); remove it "
                                "or give another --out") from None


def quiet_tensorboard_thread() -> None:
    """TensorBoard's writer thread prints its failure (a full disk) as a traceback and hands it
    to the next add_scalar, which reports it as one line (`RunLogger.log`): the thread's is muted."""
    previous = threading.excepthook
    if getattr(previous, "quiet_tensorboard", False):
        return

    def hook(args) -> None:  # noqa: ANN001
        if not type(args.thread).__module__.startswith("tensorboard."):
            previous(args)

    hook.quiet_tensorboard = True
    threading.excepthook = hook


PATH_SETTINGS = ("content_dir", "style_dir", "vgg", "out")


def resolve_run(given: dict[str, Any], resume: str | None = None) -> tuple[TrainConfig, checkpoint.Checkpoint | None]:
    """The run's settings (with a checkpoint's, when resuming) and the checkpoint it resumes from."""
    from realtime_adain.training.config import resolve_config

    # Paths as absolute ones: a resumed run read a relative --content, --style or --vgg from the
    # folder it was resumed in, and trained on other data without a word.
    given = {name: (str(expand_home(value).absolute()) if name in PATH_SETTINGS and value else value)
             for name, value in given.items()}
    loaded = checkpoint.load_checkpoint(resume) if resume is not None else None
    if loaded is not None and not given.get("out"):
        folder = loaded.decoder_path.parent
        if folder.name != "checkpoints":  # not in a run directory: its parent is no run to write into
            raise UserError(f"{loaded.decoder_path}: not in a run's checkpoints/ folder; give --out DIR for the "
                            "resumed run")
        given = {**given, "out": str(folder.parent.absolute())}
    config = resolve_config(given, loaded.trainer.config if loaded else None)
    if loaded is not None:
        check_kept_device(config, given, loaded)
    for name, flag in zip(PATH_SETTINGS, ("--content", "--style", "--vgg")):
        if (value := getattr(config, name)) and not os.path.isabs(value):  # (a checkpoint of an earlier version)
            raise UserError(f"{loaded.decoder_path if loaded else flag}: the run's {flag} {value!r} is relative, and "
                            f"which folder it was relative to is not known; give {flag} again")
    if loaded is not None and loaded.trainer.iteration >= config.iterations:
        raise UserError(
            f"{loaded.decoder_path}: already at iteration {loaded.trainer.iteration}; "
            f"pass --iterations above it to train further"
        )
    return config, loaded


def check_kept_device(config: TrainConfig, given: dict[str, Any], loaded: checkpoint.Checkpoint) -> None:
    """The --device and --amp a resumed run keeps from its checkpoint, where it is known that they
    were not given again: a run started on a GPU and resumed on the CPU was told "--amp bf16 needs
    a CUDA device", an option not typed, and not where it came from."""
    kept = f"the run's own setting, kept in its checkpoint {loaded.decoder_path.name}"
    try:
        device = pick_training_device(config.device, Distributed.from_env())
    except UserError as exc:
        if given.get("device") is not None:
            raise
        raise UserError(f"{exc} (--device {config.device} is {kept}; give --device cpu, or another, to resume "
                        "it here)") from None
    try:
        pick_amp(config.amp, device)
    except UserError as exc:
        if given.get("amp") is not None:
            raise
        raise UserError(f"{exc} (--amp {config.amp} is {kept})") from None


def train(config: TrainConfig, resume: checkpoint.Checkpoint | None = None) -> Path | None:
    """Train the run `resolve_run` gave; returns the last checkpoint."""
    trainer = Trainer(config, resume)
    start = trainer.iteration
    try:
        return trainer.run()
    except BaseException:
        if trainer.iteration == start:  # stopped before its first iteration (a log.csv refused too): no run to keep
            trainer.remove_what_it_made()
        raise
    finally:
        trainer.close()
