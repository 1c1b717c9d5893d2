"""Helpers of the trainer tests: the CLI tools loaded in-process, tiny settings, the DDP worker.

Run as a script under torchrun, it is one process of a data-parallel run (see ddp_worker).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]


def load_tool(name: str):
    """tools/NAME.py as a module (the tools are scripts, not part of the package)."""
    spec = importlib.util.spec_from_file_location(f"tool_{name}", REPO / "tools" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def tiny_args(data_dir: Path, vgg: Path, out: Path, iterations: int, *extra: str) -> list[str]:
    """CLI arguments of a run small enough for this CPU: 32 px crops of 64 px images, batch 2."""
    return [
        "--content", str(data_dir / "content"), "--style", str(data_dir / "style"), "--vgg", str(vgg),
        "--out", str(out), "--iterations", str(iterations), "--batch-size", "2", "--load-size", "64",
        "--crop-size", "32", "--workers", "0", "--device", "cpu", *extra,
    ]


def one_photo_dataset(root: Path, data_dir: Path) -> Path:
    """`root` holding one content photo and one style picture of the test material."""
    for kind, name in (("content", "sailboat.jpg"), ("style", "trial.jpg")):
        (root / kind).mkdir()
        shutil.copy(data_dir / kind / name, root / kind / name)
    return root


def checkpointed_run(dataset: Path, vgg: Path, run: Path, iterations: int) -> Path:
    """A tiny run at `run` with a checkpoint at each iteration, on one thread, to copy and spoil."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        assert load_tool("train").main(tiny_args(dataset, vgg, run, iterations, "--save-every", "1")) == 0
    finally:
        torch.set_num_threads(before)
    return run


def copy_run(run: Path, tmp_path: Path) -> Path:
    """A copy of `run` (its lock left out) in `tmp_path`."""
    copied = tmp_path / "run"
    shutil.copytree(run, copied, ignore=shutil.ignore_patterns(".lock"))
    return copied


@pytest.fixture
def train_tool(capsys):
    """Run tools/train.py in-process: returns (exit code, stdout, stderr)."""
    tool = load_tool("train")

    def run(*args: str | os.PathLike) -> tuple[int, str, str]:
        try:
            code = tool.main([str(a) for a in args])
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run


def ddp_worker(config: dict, out: str) -> None:
    """One process of a torchrun gloo run: its batch and its all-reduced gradients to a file."""
    from safetensors.torch import save_file

    from realtime_adain.training.config import TrainConfig
    from realtime_adain.training.process import Distributed
    from realtime_adain.training.trainer import Trainer

    torch.set_num_threads(1)
    rank = Distributed.from_env().rank
    trainer = Trainer(TrainConfig(**config))  # rank and world size from torchrun's environment
    try:
        content, style = trainer.next_batch()
        trainer.training.backward(content, style)
        tensors = {f"grad.{name}": p.grad for name, p in trainer.decoder.named_parameters()}
        tensors.update(content=content, style=style)
        save_file({k: v.contiguous() for k, v in tensors.items()}, str(Path(out) / f"rank{rank}.safetensors"))
    finally:
        trainer.close()


if __name__ == "__main__":  # torchrun ... tests/train_support.py CONFIG_JSON OUT_DIR
    import json
    import sys

    ddp_worker(json.loads(sys.argv[1]), sys.argv[2])
