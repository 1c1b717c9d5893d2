"""The files a training run keeps in its --out besides its checkpoints: the lock held while it
writes there (`OutLock`), log.csv and the TensorBoard scalars (`RunLogger`), an earlier run's
samples and events removed, and what a run that never started made removed again; and its data
kept apart from all of them (`check_data_apart`)."""

from __future__ import annotations

import csv
import io
import os
import threading
from contextlib import suppress
from pathlib import Path

from realtime_adain.atomic import atomic_write_bytes
from realtime_adain.checks import ascii_whole
from realtime_adain.errors import UserError
from realtime_adain.file_identity import is_inside, real_path
from realtime_adain.output_paths import naming
from realtime_adain.training.skipped_files import warn
from realtime_adain.userdirs import expand_home

LOG_LINE_BYTES = 4096  # the longest log.csv line read back on a resume (a row takes under 100)
CSV_FIELDS = ("iteration", "content_loss", "style_loss", "temporal_loss", "total_loss", "lr", "iterations_per_s",
              "skipped_images")
# What a run leaves besides its checkpoints and log.csv, which a fresh run starts afresh (`RunLogger`).
EARLIER_RUN_FILES = ("samples/iter_*.jpg", "tensorboard/events.out.tfevents.*")
LOCK_NAME = ".lock"  # in --out, held (flock) by the run writing there
RUN_FOLDERS = ("checkpoints", "samples", "tensorboard")  # in --out: the run writes there, and removes files


def check_data_apart(out: Path, datasets: dict[str, str]) -> None:
    """Refuse, before anything is made or removed, a dataset (`datasets`: "content" and "style" to
    their folders) that is --out, or is or lies inside a folder the run writes and cleans up
    (`RUN_FOLDERS`), or into which one of those leads (a link): a fresh run removes
    samples/iter_*.jpg, which were the user's content pictures where --content was OUT/samples,
    and every sample saved there would become a training image. A dataset elsewhere in --out, or
    --out inside a dataset (left out of the data: `list_images`), is fine."""
    for what, directory in datasets.items():
        root = expand_home(directory)
        if real_path(root) == real_path(out):  # (all of it would be left out: "empty" said nothing useful)
            raise UserError(f"{root}: the {what} directory is the run's --out; give the run a folder of its own")
        for name in RUN_FOLDERS:
            folder = out / name
            if real_path(root) == real_path(folder) or is_inside(root, folder):
                where = "is" if real_path(root) == real_path(folder) else "lies inside"
                raise UserError(f"{root}: the {what} directory {where} the run's {name}/ folder, where it writes "
                                "its files and removes an earlier run's; give the run a folder of its own")
            if is_inside(folder, root) and not is_inside(folder, out):  # (a link: not left out with --out)
                raise UserError(f"{folder}: the run's {name}/ folder leads into the {what} directory {root}, where "
                                "the run would write its files and remove an earlier run's; give the run a folder "
                                "of its own")


def remove_if_empty(paths: list[Path]) -> None:
    """What a run that never started made in an existing --out (the user's folder, or a dataset's):
    an empty checkpoints/ and the lock file were left behind."""
    for path in paths:
        with suppress(OSError):  # not empty, or gone
            if path.is_dir():
                path.rmdir()
            else:
                path.unlink()


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
            warn("warning: tensorboard is not installed (pip install 'realtime-adain[train]'); "
                 "logging to log.csv only")
        else:
            quiet_tensorboard_thread()
            try:
                os.fsencode(self.tensorboard_dir).decode("utf-8")  # TensorBoard's file layer takes UTF-8 names only
                self.tensorboard = SummaryWriter(str(self.tensorboard_dir), purge_step=start_iteration + 1)
            except UnicodeError:
                warn(f"warning: {self.tensorboard_dir}: TensorBoard cannot write under a name that is not "
                     "UTF-8; logging to log.csv only")
            except OSError as exc:  # optional, as when not installed: a file named tensorboard, a read-only folder
                warn(f"warning: {self.tensorboard_dir}: cannot write TensorBoard logs ({exc.strerror or exc}); "
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
