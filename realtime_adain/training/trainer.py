"""The training loop: the reference's schedule, made resumable, logged and data-parallel.

Adam (lr 1e-4) with lr / (1 + 5e-5 * iteration) before each iteration (a LambdaLR), the frozen
encoder, the paper's losses (`losses.AdaINLoss`). On CUDA: autocast (bf16, or fp16 with a loss
scaler), channels_last, cuDNN autotuning, optional torch.compile. Under `torchrun` every process
takes its share of each global batch and DDP averages the gradients (NCCL on GPUs, gloo on the
CPU), so N processes compute what one process would on the whole batch (up to float rounding).

Its parts: one iteration (`step.TrainingStep`), the process's rank, device and precision
(`process.py`), the memory check (`memory.check_memory`), the run folder's lock and log
(`run_files.py`); the run's settings are resolved before it by `resolve.resolve_run`.
"""

from __future__ import annotations

import math
import os
import shutil
import time
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Iterator

import torch
import torch.distributed as dist
from tqdm import tqdm

from realtime_adain import library_signals, weight_paths, weights
from realtime_adain.progress_bars import bar_off
from realtime_adain.errors import UserError, out_of_memory_as_user_error, shell_quoted
from realtime_adain.imageio import write_image
from realtime_adain.interrupts import SignalGuard
from realtime_adain.made_folders import make_folders
from realtime_adain.writable_folders import ensure_writable_dir
from realtime_adain.stylizer import Stylizer
from realtime_adain.training import batch_loading, checkpoint, checkpoint_files, checkpoint_writing, item_streams, resume_checks, rng, skipped_files
from realtime_adain.training.config import TrainConfig
from realtime_adain.training.losses import Losses
from realtime_adain.training.memory import check_memory
from realtime_adain.training.process import Distributed, pick_training_device, seed_everything
from realtime_adain.training.run_files import LOCK_NAME, OutLock, RunLogger, check_data_apart, remove_if_empty
from realtime_adain.training.step import TrainingStep, learning_rate_factor

SAMPLE_ROWS = 4


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
        check_data_apart(self.out, {"content": config.content_dir, "style": config.style_dir})
        if self.dist.is_main:
            self._prepare_out_dir(resume)
        self.stream = item_streams.pair_stream(config.content_dir, config.style_dir, config.load_size, config.crop_size,
                                               config.seed, exclude=[self.out])
        item_streams.GlobalBatchSampler(0, config.batch_size, 0, self.dist.world_size)  # checks the split early

        seed_everything(config.seed)
        vgg = weight_paths.resolve("vgg", config.vgg)
        encoder = weights.load_encoder(vgg, config.encoder)
        digest = encoder.loaded_sha256
        if config.vgg_sha256 not in (None, digest):
            raise UserError(f"{vgg}: not the VGG encoder this run was started with (its SHA-256 is {digest[:12]}..., "
                            f"the run's {config.vgg_sha256[:12]}...); give --vgg the file it used")
        config.vgg_sha256 = digest
        decoder = weights.DECODER_BUILDERS[config.decoder]()  # the default init, seeded
        self.decoder = decoder
        if self.dist.is_main:
            checkpoint_writing.check_room(self.checkpoint_dir, decoder)
        self._init_process_group()
        self.training = TrainingStep(encoder, decoder, config, self.device, self.dist.world_size)
        self.iteration = 0
        self.skips = skipped_files.SkipReport()
        self.loss_window = torch.zeros(4, device=self.device)  # content, style, temporal, total summed since the last log row
        self.window_iterations = 0
        if resume is not None:
            self._restore(resume)
        self.batches = batch_loading.batches(
            self.stream, self.iteration, config.batch_size, self.dist.rank, self.dist.world_size,
            workers=config.workers, pin_memory=self.device.type == "cuda",
        )

    def _prepare_out_dir(self, resume: checkpoint.Checkpoint | None) -> None:
        if self.out.exists() and not self.out.is_dir():
            raise UserError(f"{self.out}: --out names a file; give a directory for the run")
        if checkpoint_files.latest_decoder_file(self.out) is not None:  # (a run was nested in another's checkpoints/)
            raise UserError(f"{self.out}: holds checkpoints itself (a run's checkpoints/ folder?); give the run's "
                            "folder or another --out")
        self._make_out()
        ensure_writable_dir(self.out)
        self.lock = OutLock(self.out)  # before checkpoints/ and samples/: a run that loses it makes nothing
        ensure_writable_dir(self.checkpoint_dir)
        ensure_writable_dir(self.samples_dir)  # (was found at the first sample: the training time spent, no checkpoint)
        latest = checkpoint_files.latest_decoder_file(self.checkpoint_dir)
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
                            f"{shell_quoted(str(self.out))} or choose another --out")

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
            resume_checks.check_like(fresh_groups, state.optimizer["param_groups"], "optimizer")
            resume_checks.check_adam_settings(fresh_groups, state.optimizer["param_groups"])
            parameters = list(self.decoder.parameters())
            resume_checks.check_optimizer_state(parameters, state.optimizer["state"], state.iteration,
                                                state.unnamed_tensors)
            resume_checks.check_like(training.scheduler.state_dict(), state.scheduler, "scheduler")
            resume_checks.check_schedule(state.scheduler, state.optimizer["param_groups"], state.iteration,
                                         self.config.lr, learning_rate_factor(self.config.lr_decay)(state.iteration))
            training.optimizer.load_state_dict(state.optimizer)
            training.scheduler.load_state_dict(state.scheduler)
            if state.scaler:
                training.scaler.load_state_dict(state.scaler)
            rng.restore_rng(state.rng)
        except (KeyError, TypeError, ValueError, IndexError, RuntimeError, OverflowError) as exc:  # (RNG numbers past C's)
            raise checkpoint.damaged_checkpoint(  # (the hint reading the files gives: `load_checkpoint`)
                f"{resume.state_path}: damaged trainer state ({checkpoint.describe(exc)})", resume.decoder_path,
                resume.state_path) from None
        self.iteration = state.iteration
        self.skips = skipped_files.SkipReport(state.skipped, state.skipped_count)
        self.loss_window = torch.tensor(state.loss_window, dtype=torch.float32, device=self.device)
        self.window_iterations = state.window_iterations

    def trainer_state(self) -> checkpoint.TrainerState:
        return checkpoint.TrainerState(
            iteration=self.iteration,
            config=self.config.to_dict(),
            optimizer=self.training.optimizer.state_dict(),
            scheduler=self.training.scheduler.state_dict(),
            scaler=self.training.scaler.state_dict(),
            rng=rng.rng_state(),
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
        except (RuntimeError, ConnectionError, EOFError) as exc:  # a worker died (`batch_loading.batches`)
            worker_error = not isinstance(exc, RuntimeError) or str(exc).startswith("DataLoader worker")
            if not (self.config.workers and worker_error):
                raise
            raise worker_ended(exc) from None
        if isinstance(batch, item_streams.NoImagesLeft):
            raise batch.error(self.config.content_dir if batch.what == "content" else self.config.style_dir)
        content, style, skipped, said = batch
        if self.dist.is_main:
            self.skips.add(skipped, skipped_files.warn)
            skipped_files.say_notes(said)
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
        with run_file_written():
            return checkpoint_writing.save_checkpoint(self.checkpoint_dir, self.decoder, self.trainer_state())

    def save_samples(self, content: torch.Tensor, style: torch.Tensor, output: torch.Tensor) -> None:
        """A grid: one row per item, content | style | output."""
        rows = min(SAMPLE_ROWS, content.shape[0])
        grid = torch.cat([content[:rows], style[:rows], output[:rows].float().clamp(0, 1)], dim=3)
        image = Stylizer.to_uint8(grid.float()).reshape(-1, grid.shape[3], 3)
        with run_file_written():
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
                        disable=bar_off() if self.dist.is_main else True, dynamic_ncols=True)
        window = self.loss_window
        window_start, timed_from = time.perf_counter(), self.iteration  # (a resumed window's iterations took no time here)
        last_saved = None
        try:
            while self.iteration < config.iterations:
                library_signals.raise_kept()
                lr = self.training.optimizer.param_groups[0]["lr"]
                losses, content, style, output = self.step()
                window += torch.stack([losses.content, losses.style, losses.temporal, losses.total])
                self.window_iterations += 1
                progress.update(1)
                if self.iteration % config.log_every == 0 or self.iteration == config.iterations:
                    means = self._mean_over_processes(window / self.window_iterations).tolist()
                    speed = (self.iteration - timed_from) / (time.perf_counter() - window_start)
                    if not all(math.isfinite(v) for v in means):
                        raise diverged(f"{loss_not_finite(means)} at iteration {self.iteration}")
                    if logger is not None:
                        with run_file_written():
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
                        skipped_files.warn(f"checkpoint: {last_saved}")
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


class RunWriteFailed(UserError):
    """A file of a run under way (a checkpoint, a sample, log.csv) that could not be written, a
    full disk as a rule: the run stops, its earlier checkpoints intact, and tools/train.py adds
    how to continue it (the line said nothing of --resume, as the Ctrl-C one does)."""


@contextmanager
def run_file_written() -> Iterator[None]:
    """The error of the write within as a `RunWriteFailed`, in the same words."""
    try:
        yield
    except RunWriteFailed:
        raise
    except UserError as exc:
        raise RunWriteFailed(str(exc)) from None


def diverged(what: str) -> UserError:
    """Training that diverged, with what to lower (a weight past float32's range is one cause)."""
    return UserError(f"{what}; lower --lr, or the loss weights (--style-weight, --content-weight, --temporal-weight)")


def loss_not_finite(means: list[float]) -> str:
    """Which of the (content, style, temporal, total) means is not finite, and what it became: the
    line quoted the total, a finite number where only a term was NaN."""
    for name, value in zip(("content", "style", "temporal"), means):
        if not math.isfinite(value):
            return f"the {name} loss became {value}"
    return f"the loss became {means[-1]}"  # (finite terms whose sum is past float32's range)


def worker_ended(exc: BaseException) -> UserError:
    """A loading worker killed (the kernel's OOM killer, a stray kill) as one line, not a traceback."""
    said = str(exc).splitlines()[0].strip() if str(exc).strip() else type(exc).__name__
    return UserError(f"an image-loading worker ended unexpectedly ({said.rstrip('.')}); out of memory? "
                     "try fewer --workers or a smaller --load-size")


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
