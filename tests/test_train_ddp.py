"""Data-parallel training on the CPU: 2 gloo processes under torchrun compute the gradient that
one process computes on the combined batch."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file

from realtime_adain.training.config import TrainConfig
from realtime_adain.training.trainer import Trainer
from train_support import REPO  # noqa: F401  (fixture)


@pytest.mark.slow  # (two gloo processes training (18-37 s))
def test_two_gloo_processes_match_one_process_on_the_combined_batch(published_weights, data_dir, tmp_path, one_thread):
    vgg, _ = published_weights
    config = dict(
        content_dir=str(data_dir / "content"), style_dir=str(data_dir / "style"), vgg=str(vgg),
        out=str(tmp_path / "ddp"), batch_size=4, load_size=64, crop_size=32, workers=0, device="cpu",
        decoder="skip-concat",
    )
    result = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
         str(REPO / "tests" / "train_support.py"), json.dumps(config), str(tmp_path)],
        capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=240,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "broadcast_buffers" not in result.stderr, result.stderr[-3000:]  # (torch 2.14 warns on the old name)
    ranks = [load_file(str(tmp_path / f"rank{r}.safetensors")) for r in range(2)]

    single = Trainer(TrainConfig(**{**config, "out": str(tmp_path / "single")}))
    content, style = single.next_batch()
    single.training.backward(content, style)

    # The global batch is split exactly: rank r holds items [2r, 2r + 2) of it.
    assert torch.equal(torch.cat([r["content"] for r in ranks]), content)
    assert torch.equal(torch.cat([r["style"] for r in ranks]), style)
    for name, param in single.decoder.named_parameters():
        reference = param.grad
        for rank in ranks:
            error = (rank[f"grad.{name}"] - reference).abs().max() / reference.abs().max()
            assert error < 1e-4, (name, float(error))
