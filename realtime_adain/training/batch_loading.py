"""The batches a run trains on (`batches`): a DataLoader over the pair stream (`item_streams`), its
workers' limits checked before any starts (open files, processes and threads, CPUs), Ctrl-C
ignored in them.
"""

from __future__ import annotations

import os
import signal
import threading
import warnings
from typing import Iterator

import torch
from torch.utils.data import DataLoader

from realtime_adain.errors import UserError
from realtime_adain.limits import process_room, raise_soft_limit, usable_cpus
from realtime_adain.training.item_streams import GlobalBatchSampler, PairStream, collate
from realtime_adain.training.skipped_files import warn


def ignore_interrupts(_worker_id: int) -> None:
    """A loading worker ignores Ctrl-C: a terminal sends it to the whole process group, and a
    worker caught by it while exiting printed a 19-line traceback after the run's one line (about
    one Ctrl-C in two with --workers 2). The training process stops the workers itself."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


# Open files a loading worker holds in the training process: its queue's pipe, and one file per
# tensor of each batch in flight (torch passes them as file descriptors), prefetch_factor 4 x 2.
FILES_PER_WORKER = 12
SPARE_FILES = 16  # checkpoints, log, TensorBoard, samples
# Tasks (`ulimit -u` counts threads too) a loading worker adds: its process, the threads there that
# feed its result queue and hand tensors' file descriptors over, its index queue's feeder here.
TASKS_PER_WORKER = 4
SPARE_TASKS = 4  # the pin-memory and TensorBoard threads, a thread pool's late start


def check_open_file_limit(workers: int) -> None:
    """Workers need open files (EMFILE in a worker lost its batch and the run waited forever):
    raise the soft limit (`ulimit -Sn`) as far as the hard one allows, or say what to change."""
    try:
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        open_now = len(os.listdir("/proc/self/fd" if os.path.isdir("/proc/self/fd") else "/dev/fd"))
    except (ImportError, OSError, ValueError):  # Windows, or no fd listing: nothing to check
        return
    needed = open_now + workers * FILES_PER_WORKER + SPARE_FILES
    if soft == resource.RLIM_INFINITY or soft >= needed or raise_soft_limit(resource.RLIMIT_NOFILE, needed, hard):
        return
    raise UserError(f"--workers {workers} needs about {needed} open files, and the limit is {soft} (`ulimit -n`); "
                    "raise it or use fewer --workers (0 loads in the training process)")


def check_process_limit(workers: int) -> None:
    """Workers need processes and threads: at `ulimit -u` a worker's thread failed with its own
    traceback above the run's one line, and a failed fork left one of PyTorch's. Raise the soft
    limit as far as the hard one allows, or say what to change, before any worker starts."""
    short = process_room(workers * TASKS_PER_WORKER + SPARE_TASKS)
    if short is not None:
        soft, used, needed = short
        raise UserError(f"--workers {workers} needs about {needed} processes and threads, {used} of them running "
                        f"now, and the limit is {soft} (`ulimit -u`); raise it or use fewer --workers (0 loads in "
                        "the training process)")


def check_worker_count(workers: int, rank: int = 0) -> None:
    """One line of ours where --workers is over the CPUs this process may use (PyTorch's warning
    said it in four lines, twice, with its own source path); the run goes on as asked."""
    cpus = usable_cpus()
    if workers > cpus and rank == 0:
        warn(f"warning: --workers {workers} is more than the {cpus} CPUs this run may use; loading may be slower, "
             "not faster (fewer --workers, or leave it out)")


def batches(
    stream: PairStream, start_step: int, global_batch: int, rank: int = 0, world_size: int = 1,
    workers: int = 0, pin_memory: bool = False,
) -> Iterator[tuple[torch.Tensor, torch.Tensor, list[tuple[str, str]]]]:
    """(content uint8 (b, 3, crop, crop), style, skipped files, notes) for global steps start_step, ..."""
    if workers > 0:
        check_open_file_limit(workers)
        check_process_limit(workers)
        check_worker_count(workers, rank)
    with warnings.catch_warnings():  # (PyTorch's on the workers, twice: `check_worker_count` says it)
        warnings.filterwarnings("ignore", "This DataLoader will create", UserWarning)
        loader = DataLoader(
            stream,
            batch_sampler=GlobalBatchSampler(start_step, global_batch, rank, world_size),
            num_workers=workers,
            collate_fn=collate,
            pin_memory=pin_memory,
            persistent_workers=workers > 0,
            prefetch_factor=4 if workers > 0 else None,
            worker_init_fn=ignore_interrupts if workers > 0 else None,
            # Its own generator: the iterator's seed drawn from the global one (after a resume restored
            # it) moved the temporal term's random warps, and the resumed run was no longer exact.
            generator=torch.Generator(),
        )
        iterator = iter(loader)
    if workers > 0 and hasattr(signal, "SIGCHLD") and threading.current_thread() is threading.main_thread():
        # PyTorch's SIGCHLD handler raises a dead worker's error wherever the main thread is (in
        # a `finally`, or while another error is being reported). Without it the loader finds
        # the dead worker itself, within 5 s, and `next` raises: one place to say it in one line.
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    return iterator
