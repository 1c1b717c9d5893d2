"""Training data that changes while a run reads it, and a run at the limit on processes.

The folders change at a fixed iteration (the first checkpoint, `change_at_first_checkpoint`), so
the run sees it at the same batch every time: with workers, once the batches they fetched before
have been used. A file that goes bad is skipped with a counted warning; a folder left with no
usable image is one `error:` line, and the checkpoints so far are kept.
"""

from __future__ import annotations

import ctypes
import os
import time
import re
import resource
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Callable

import cv2
import numpy as np
import pytest

from realtime_adain.limits import count_tasks
from realtime_adain.training import skipped_files
from realtime_adain.training.trainer import Trainer
from cli_support import training_error_line
from train_support import REPO, load_tool, tiny_args, train_tool  # noqa: F401  (fixtures)

# As root, `ulimit -u` tests run as this user id, which nothing else on the machine uses: the
# limit counts every task of the user, and as nobody a limit of "nobody's tasks now + 10" failed
# when anything else ran as nobody meanwhile (another test run on the machine: `video` needs 7).
LIMITED_UID = 54399
CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_SYS_ADMIN, CAP_SYS_RESOURCE = 1, 2, 21, 24
PR_CAPBSET_DROP = 24


@pytest.fixture
def small_dataset(tmp_path):
    """Six content and two style images of 64 x 64 px (the smallest used), quick to read."""
    rng = np.random.default_rng(0)
    for kind, count in (("content", 6), ("style", 2)):
        (tmp_path / kind).mkdir()
        for i in range(count):
            cv2.imwrite(str(tmp_path / kind / f"{kind}{i}.png"), rng.integers(0, 256, (64, 64, 3), np.uint8))
    return tmp_path


def save_then(change: Callable[[], None]) -> Callable:
    """Trainer.save that makes `change` once, right after the run's first checkpoint."""
    save, done = Trainer.save, []

    def save_then_change(self):  # noqa: ANN001
        path = save(self)
        if not done:
            done.append(True)
            change()
        return path

    return save_then_change


@pytest.fixture
def change_at_first_checkpoint(monkeypatch):
    """change_at_first_checkpoint(fn): fn runs once, right after the run's first checkpoint."""
    return lambda change: monkeypatch.setattr(Trainer, "save", save_then(change))


def skipped_warnings(err: str) -> dict[str, str]:
    """{path: reason} of the `warning: skipped PATH: REASON (N skipped so far)` lines."""
    found = {}
    for line in err.splitlines():
        if line.startswith("warning: skipped "):
            path, why = line.removeprefix("warning: skipped ").split(": ", 1)
            found[path] = re.sub(r" \(\d+ skipped so far[^)]*\)$", "", why)
    return found


def last_logged_skips(run: Path) -> int:
    return int((run / "log.csv").read_text().splitlines()[-1].rsplit(",", 1)[1])


def spoil_five(content: Path) -> dict[str, str]:
    """Five of the six content images deleted, truncated, overwritten, made a folder, made a FIFO."""
    names = sorted(p.name for p in content.iterdir())
    (content / names[0]).unlink()
    cut = content / names[1]
    cut.write_bytes(cut.read_bytes()[:100])
    (content / names[2]).write_text("not an image any more\n")
    (content / names[3]).unlink()
    (content / names[3]).mkdir()
    (content / names[4]).unlink()
    os.mkfifo(content / names[4])  # opening it would wait for a writer forever
    return {
        str(content / names[0]): "cannot read it (No such file or directory)",
        str(content / names[1]): "not a readable image",
        str(content / names[2]): "not a readable image",
        str(content / names[3]): "a folder, not an image file",
        str(content / names[4]): "a device, fifo or socket, not an image file",
    }


@pytest.mark.parametrize("workers", ["0", pytest.param("2", marks=pytest.mark.slow)])  # (4-13 s each)
@pytest.mark.slow_cases('0')  # (default run's time: 5 s)
def test_files_going_bad_mid_run_are_skipped(train_tool, small_dataset, published_weights, one_thread,
                                             change_at_first_checkpoint, workers):
    """Deleted, truncated, overwritten, a folder, a FIFO since the listing: each warned once, the
    run goes on with the one image left, no worker's traceback, no hang."""
    expected = {}
    change_at_first_checkpoint(lambda: expected.update(spoil_five(small_dataset / "content")))
    run = small_dataset / "run"
    code, _, err = train_tool(*tiny_args(small_dataset, published_weights[0], run, 16, "--save-every", "2",
                                         "--log-every", "16"), "--workers", workers)
    assert code == 0, err
    assert "Traceback" not in err
    warned = skipped_warnings(err)
    assert warned.keys() == expected.keys(), err
    assert all(warned[path].startswith(why) for path, why in expected.items()), err  # (+ the decoder's words)
    assert last_logged_skips(run) == 5


@pytest.mark.parametrize("workers, change", [("0", "fifos"), ("2", "renamed")])
@pytest.mark.slow_cases('2-renamed')  # (default run's time: fifos stay)
def test_content_gone_mid_run_is_one_line(train_tool, small_dataset, published_weights, one_thread,
                                          change_at_first_checkpoint, workers, change):
    """Every file made a FIFO, or the folder renamed (a drive remounted elsewhere): one line, exit 2,
    the checkpoint before it kept."""
    content = small_dataset / "content"

    def remove_everything() -> None:
        if change == "renamed":
            content.rename(small_dataset / "moved")
            return
        for path in content.iterdir():
            path.unlink()
            os.mkfifo(path)

    change_at_first_checkpoint(remove_everything)
    run = small_dataset / "run"
    code, _, err = train_tool(*tiny_args(small_dataset, published_weights[0], run, 40, "--save-every", "2",
                                         "--log-every", "1"), "--workers", workers)
    line = training_error_line(code, err)
    assert line.startswith(f"error: {content}: no usable content image is left ("), line
    reason = ("cannot read it (No such file or directory)" if change == "renamed"
              else "a device, fifo or socket, not an image file")
    assert line.endswith(f": {reason})"), line
    assert (run / "checkpoints" / "decoder_iter_0000002.safetensors").is_file()


def test_run_folder_removed_mid_run_stops_in_one_line(train_tool, small_dataset, published_weights, one_thread,
                                                     change_at_first_checkpoint):
    """The run's own folder removed mid-run: the run went on, made checkpoints/ anew without its
    lock (another run could start there) and wrote log.csv into the deleted file."""
    run = small_dataset / "run"
    change_at_first_checkpoint(lambda: shutil.rmtree(run))
    code, _, err = train_tool(*tiny_args(small_dataset, published_weights[0], run, 6, "--save-every", "2",
                                         "--log-every", "2"))
    line = training_error_line(code, err)
    assert line == (f"error: {run}: the run's folder was removed, moved or replaced during the run (its log.csv and "
                    "lock with it); stopped at iteration 4"), line


@pytest.mark.slow  # (a training run changed under it (10-20 s))
def test_many_files_gone_are_counted_not_each_named(train_tool, tmp_path, published_weights, one_thread,
                                                     change_at_first_checkpoint):
    """A subfolder removed mid-run (COCO's train2014 of 80000) warned once per file, thousands of
    lines: the first WARNED_SKIPS are named, the rest only counted."""
    rng = np.random.default_rng(0)
    for kind, count in (("content", skipped_files.WARNED_SKIPS + 10), ("style", 1)):
        (tmp_path / kind / "part").mkdir(parents=True)
        for i in range(count):
            folder = tmp_path / kind / ("part" if i >= 5 else "")
            cv2.imwrite(str(folder / f"{i:03d}.png"), rng.integers(0, 256, (64, 64, 3), np.uint8))
    change_at_first_checkpoint(lambda: shutil.rmtree(tmp_path / "content" / "part"))
    run = tmp_path / "run"
    code, _, err = train_tool(*tiny_args(tmp_path, published_weights[0], run, 30, "--save-every", "2",
                                         "--log-every", "30"))
    assert code == 0, err
    warnings = [line for line in err.splitlines() if line.startswith("warning: skipped ")]
    assert len(warnings) == skipped_files.WARNED_SKIPS, err
    assert warnings[-1].endswith(f"({skipped_files.WARNED_SKIPS} skipped so far; more are counted in log.csv, not named)")
    assert last_logged_skips(run) == skipped_files.WARNED_SKIPS + 5


@pytest.mark.slow  # (default run's time: 2 s)
def test_file_named_with_a_newline_is_warned_in_one_line(train_tool, small_dataset, published_weights, one_thread):
    """A bad file whose name holds a newline made its warning two lines, as it would the run's
    "checkpoint:" and "decoder:" lines with such an --out."""
    (small_dataset / "content" / "bad\nname.jpg").write_text("not an image")
    run = small_dataset / "run\nfolder"
    code, out, err = train_tool(*tiny_args(small_dataset, published_weights[0], run, 6, "--log-every", "6"))
    assert code == 0, err
    escaped = str(small_dataset / "content" / "bad\\nname.jpg")
    assert f"warning: skipped {escaped}: not a readable image (1 skipped so far)" in err.splitlines(), err
    saved = f"{small_dataset}/run\\nfolder/checkpoints/decoder_iter_0000006.safetensors"
    assert err.splitlines()[-1] == f"checkpoint: {saved}"
    assert out == f"decoder: {saved}\n"


def test_out_that_is_the_content_folder_is_one_line(train_tool, small_dataset, published_weights):
    """--out naming the content folder: "the content directory is empty" (its images were left out
    as the run's own files), and an empty checkpoints/ and .lock were left among the images."""
    content = small_dataset / "content"
    before = sorted(os.listdir(content))
    code, _, err = train_tool(*tiny_args(small_dataset, published_weights[0], content, 2))
    line = training_error_line(code, err)
    assert line == f"error: {content}: the content directory is the run's --out; give the run a folder of its own"
    assert sorted(os.listdir(content)) == before


def test_failed_start_leaves_an_existing_out_as_it_was(train_tool, small_dataset, published_weights):
    """A run that cannot start (here: no style folder) left checkpoints/ and .lock in the user's
    own --out folder; one it made itself was removed already."""
    run = small_dataset / "run"
    run.mkdir()
    code, _, err = train_tool(*tiny_args(small_dataset, published_weights[0], run, 2),
                              "--style", small_dataset / "none")
    assert training_error_line(code, err) == f"error: {small_dataset / 'none'}: no such style directory"
    assert os.listdir(run) == []


def test_diverged_decoder_is_not_saved(train_tool, small_dataset, published_weights, one_thread):
    """Loss weights at their bound (1e12) with --lr 1 (1e39, past float32's range, is refused while parsing now): the loss is checked only every --log-every, so
    checkpoints of NaN weights were saved in between, for --resume to continue from."""
    run = small_dataset / "run"
    code, _, err = train_tool(*tiny_args(small_dataset, published_weights[0], run, 3, "--save-every", "1",
                                         "--log-every", "100"), "--style-weight", "1e12", "--content-weight", "1e12",
                              "--lr", "1")
    assert training_error_line(code, err) == (
        "error: the decoder's weights are no longer finite at iteration 2; lower --lr, or the loss weights "
        "(--style-weight, --content-weight, --temporal-weight)")
    assert {path.name for path in run.glob("checkpoints/*.safetensors")} == {
        "decoder_iter_0000001.safetensors", "trainer_iter_0000001.safetensors"}  # (the finite one only)


@pytest.mark.slow
def test_compile_without_a_compiler_is_one_line(small_dataset, published_weights):
    """--compile where no C++ compiler works (here $CXX names none): Inductor's 109-line traceback
    at the first step, exit 1; one line, exit 2, and no run folder, now. (About 10 s of tracing.)"""
    run = small_dataset / "run"
    done = subprocess.run([sys.executable, str(REPO / "tools" / "train.py"),
                           *map(str, tiny_args(small_dataset, published_weights[0], run, 2)), "--compile"],
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, "OMP_NUM_THREADS": "1", "CXX": str(small_dataset / "no-such-g++")})
    line = training_error_line(done.returncode, done.stderr)
    assert line.startswith("error: --compile failed (InvalidCxxCompiler: No working C++ compiler found"), line
    assert line.endswith("); install what it names, or train without --compile"), line
    assert not run.exists()


def drop_capabilities(*capabilities: int) -> None:
    """Leave root's `capabilities` out of the programs this process starts (their bounding set)."""
    prctl = ctypes.CDLL(None, use_errno=True).prctl
    for capability in capabilities:
        if prctl(PR_CAPBSET_DROP, capability, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), f"cannot drop capability {capability} (the test needs CAP_SETPCAP)")


def changing_run(args: list[str], change: str,
                 preexec: Callable[[], None] | None = None) -> subprocess.CompletedProcess:
    """tools/train.py in its own process (`preexec` first), `change` made at its first checkpoint."""
    return subprocess.run([sys.executable, __file__, change, *args], capture_output=True, text=True, timeout=120,
                          preexec_fn=preexec, env={**os.environ, "OMP_NUM_THREADS": "1"}, cwd=REPO)


@pytest.mark.slow  # (a training run changed under it (11-23 s); files going bad mid-run runs by default)
def test_permissions_removed_mid_run(small_dataset, published_weights):
    """`chmod 000` on every content file after the listing: skipped, then one line (as root, the
    process runs without the capabilities that read any file)."""
    def no_file_reading_capabilities() -> None:
        if os.geteuid() == 0:
            drop_capabilities(CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH)

    run = small_dataset / "run"
    args = tiny_args(small_dataset, published_weights[0], run, 20, "--save-every", "2")
    done = changing_run([*args, "--workers", "1"], "chmod", no_file_reading_capabilities)
    line = training_error_line(done.returncode, done.stderr)
    assert line.startswith(f"error: {small_dataset / 'content'}: no usable content image is left ("), line
    assert line.endswith(": cannot read it (Permission denied))"), line
    assert (run / "checkpoints" / "decoder_iter_0000002.safetensors").is_file()


# `ulimit -u` counts every task of the user: tests that set it (running as LIMITED_UID) would count
# one another's children under pytest-xdist, so they run in one worker, one after another.
PROCESS_LIMIT_GROUP = pytest.mark.xdist_group("ulimit_u")


def under_process_limit(soft: int, hard: int) -> Callable[[], None]:
    """A preexec function: `ulimit -u` (soft, hard) that applies to the process. Root is exempt, so
    there it runs as LIMITED_UID (real uid; file access stays root's) without the exempting capabilities."""
    def limit() -> None:
        if os.getuid() == 0:
            drop_capabilities(CAP_SYS_ADMIN, CAP_SYS_RESOURCE)
            os.setresuid(LIMITED_UID, 0, 0)
        resource.setrlimit(resource.RLIMIT_NPROC, (soft, hard))

    return limit


def tasks_now() -> int:
    """Processes and threads of the user the limited run counts against (LIMITED_UID's, for root)."""
    if os.getuid() != 0:
        return count_tasks(os.getuid())
    # LIMITED_UID is this group's alone: wait until the tasks of the test before have gone (one
    # counted here and gone a moment later left the limit one or more too high: room where a
    # test expects a refusal).
    deadline = time.monotonic() + 15
    while (count := count_tasks(LIMITED_UID)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return count


@pytest.mark.slow  # (a training run under ulimit -u (12-26 s))
@PROCESS_LIMIT_GROUP
def test_process_limit_too_low_for_the_workers_is_one_line(small_dataset, published_weights):
    """`ulimit -u 8` with --workers 2: a worker's "can't start new thread" traceback (or PyTorch's
    from a failed fork) above the run's line before; one line before any worker starts now."""
    limit = tasks_now() + 8
    run = small_dataset / "run"
    done = changing_run([*tiny_args(small_dataset, published_weights[0], run, 3), "--workers", "2"], "nothing",
                        under_process_limit(limit, limit))
    line = training_error_line(done.returncode, done.stderr)
    assert line.startswith("error: --workers 2 needs about "), line
    assert line.endswith(f"and the limit is {limit} (`ulimit -u`); raise it or use fewer --workers "
                         "(0 loads in the training process)"), line
    assert not run.exists()


@pytest.mark.slow  # (a training run under ulimit -u (8-17 s))
@PROCESS_LIMIT_GROUP
def test_soft_process_limit_is_raised_for_the_workers(small_dataset, published_weights):
    """A low soft `ulimit -u` under a high hard one is raised, as far as the workers need."""
    soft = tasks_now() + 8
    run = small_dataset / "run"
    done = changing_run([*tiny_args(small_dataset, published_weights[0], run, 3), "--workers", "2"], "nothing",
                        under_process_limit(soft, soft + 200))
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert (run / "checkpoints" / "decoder_iter_0000003.safetensors").is_file()


def remove_permissions(folder: Path) -> None:
    for path in folder.iterdir():
        path.chmod(0)


def main(change: str, args: list[str]) -> int:
    """tools/train.py ARGS, with `change` ("chmod" or "nothing") made to --content at the first checkpoint."""
    content = Path(args[args.index("--content") + 1])
    Trainer.save = save_then(lambda: remove_permissions(content) if change == "chmod" else None)
    return load_tool("train").main(args)


if __name__ == "__main__":  # python3 tests/test_train_changing_data.py CHANGE TRAIN_ARGS...
    sys.exit(main(sys.argv[1], sys.argv[2:]))
