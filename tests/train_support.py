"""Helpers of the trainer tests: the CLI tools loaded in-process, tiny settings, the DDP worker."""

from __future__ import annotations

import importlib.util
import os
import socket
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


@pytest.fixture
def one_thread():
    """One intra-op thread: on this shared 2-core machine, spinning OpenMP threads cost 10x."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def ddp_worker(rank: int, world_size: int, port: int, config: dict, out: str) -> None:
    """One process of a gloo data-parallel run: its batch and its (all-reduced) gradients to a file."""
    from safetensors.torch import save_file

    from realtime_adain.training.config import TrainConfig
    from realtime_adain.training.trainer import Distributed, Trainer

    torch.set_num_threads(1)
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    trainer = Trainer(TrainConfig(**config), dist_info=Distributed(rank, world_size, rank))
    try:
        content, style = trainer.next_batch()
        trainer.training.backward(content, style)
        tensors = {f"grad.{name}": p.grad for name, p in trainer.decoder.named_parameters()}
        tensors.update(content=content, style=style)
        save_file({k: v.contiguous() for k, v in tensors.items()}, str(Path(out) / f"rank{rank}.safetensors"))
    finally:
        trainer.close()
