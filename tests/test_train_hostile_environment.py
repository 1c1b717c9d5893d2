"""tools/train.py under a hostile environment: limits, junk library settings, odd run folders.

Each gives a working run (with a warning where something was left out) or one `error:` line.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys

import pytest

from cli_support import training_error_line
from test_train_hostile_data import dataset  # noqa: F401  (a fixture)
from train_support import REPO, tiny_args, train_tool  # noqa: F401  (fixtures)


def tool_process(args: list, limits: dict | None = None, env: dict | None = None,
                 timeout: float = 120) -> subprocess.CompletedProcess:
    """tools/train.py in its own process, under resource limits (soft and hard)."""
    def limit() -> None:
        for which, value in (limits or {}).items():
            resource.setrlimit(which, (value, value))

    return subprocess.run([sys.executable, str(REPO / "tools" / "train.py"), *map(str, args)],
                          capture_output=True, text=True, timeout=timeout, preexec_fn=limit,
                          env={**os.environ, "OMP_NUM_THREADS": "1", **(env or {})})


def test_junk_allocator_setting_is_one_line(dataset, published_weights):
    """$PYTORCH_CUDA_ALLOC_CONF=junk: torch aborted with a C++ stack (exit 134) before."""
    done = tool_process(tiny_args(dataset, published_weights[0], dataset / "run", 1),
                        env={"PYTORCH_CUDA_ALLOC_CONF": "junk"})
    line = training_error_line(done.returncode, done.stderr)
    assert "$PYTORCH_CUDA_ALLOC_CONF='junk'" in line
    assert not (dataset / "run").exists()


def test_tensorboard_folder_that_cannot_be_written_is_a_warning(train_tool, dataset, published_weights, one_thread):
    """TensorBoard is optional: a file named `tensorboard` in --out stopped the run ("File exists")."""
    run = dataset / "run"
    run.mkdir()
    (run / "tensorboard").write_text("not a folder")
    code, out, err = train_tool(*tiny_args(dataset, published_weights[0], run, 1))
    assert code == 0, err
    assert f"warning: {run / 'tensorboard'}: cannot write TensorBoard logs (File exists); logging to log.csv only" in err
    assert (run / "checkpoints" / "decoder_iter_0000001.safetensors").is_file()
    assert len((run / "log.csv").read_text().splitlines()) == 2


@pytest.mark.slow  # (a training run with loader processes (10-22 s))
def test_open_file_limit_too_low_for_the_workers_is_one_line(dataset, published_weights):
    """`ulimit -n 20` with --workers 2: a worker's EMFILE lost its batch and the run waited forever."""
    done = tool_process([*tiny_args(dataset, published_weights[0], dataset / "run", 3), "--workers", "2"],
                        limits={resource.RLIMIT_NOFILE: 20}, timeout=60)
    line = training_error_line(done.returncode, done.stderr)
    assert line.startswith("error: --workers 2 needs about "), line
    assert line.endswith("open files, and the limit is 20 (`ulimit -n`); raise it or use fewer --workers "
                         "(0 loads in the training process)"), line
    assert not (dataset / "run").exists()


@pytest.mark.slow  # (a training run with loader processes (10-22 s))
def test_soft_open_file_limit_is_raised_for_the_workers(dataset, published_weights):
    """A low soft limit under a high hard one is raised, as far as the workers need."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    assert hard == resource.RLIM_INFINITY or hard >= 256, \
        f"this test needs a hard open-file limit of at least 256 (`ulimit -Hn`), not {hard}"

    def low_soft() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (20, hard))

    done = subprocess.run([sys.executable, str(REPO / "tools" / "train.py"),
                           *map(str, tiny_args(dataset, published_weights[0], dataset / "run", 1)), "--workers", "2"],
                          capture_output=True, text=True, timeout=120, preexec_fn=low_soft,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr
    assert (dataset / "run" / "checkpoints" / "decoder_iter_0000001.safetensors").is_file()


@pytest.mark.slow
def test_batch_that_does_not_fit_in_memory_is_one_line(dataset, published_weights):
    """`ulimit -v` 5 GiB and a batch of 64 at 1024 px: OpenCV's resize raised cv2.error (a traceback)
    or torch a bare "out of memory"; now one line naming the sizes to lower."""
    args = tiny_args(dataset, published_weights[0], dataset / "run", 2)
    args[args.index("--batch-size") + 1] = "64"
    args[args.index("--load-size") + 1] = "1024"
    args[args.index("--crop-size") + 1] = "512"
    done = tool_process(args, limits={resource.RLIMIT_AS: 5 << 30})
    line = training_error_line(done.returncode, done.stderr)
    assert line.startswith("error: --batch-size 64 at --load-size 1024, --crop-size 512: out of memory; lower "), line
