"""torch.compile (inductor): fused kernels, frozen weights, and CUDA graphs on the GPU.

The style statistics and alpha are graph inputs, so a style switch reuses the compiled graph;
each new frame shape compiles once (shapes are static: video and camera sizes do not change).
"""

from __future__ import annotations

import logging

import numpy as np
import torch

from realtime_adain.engines.base import Engine
from realtime_adain.model import StyleTransferNet

# Inductor options per device type. Freezing folds the weights into the graph as constants, which
# lets the CPU path pre-pack them for oneDNN; on the GPU, CUDA graphs remove the launch overhead
# of ~40 small kernels per frame (outputs are consumed before the next replay).
OPTIONS = {
    "cpu": {"freezing": True},
    "cuda": {"freezing": True, "triton.cudagraphs": True},
}


def compile_missing(device: torch.device) -> str | None:
    """None when torch.compile can run on `device`, else the reason it cannot."""
    if device.type == "cuda":
        from torch.utils._triton import has_triton

        return None if has_triton() else "torch.compile on the GPU needs triton (pip install triton)"
    from torch._inductor import cpp_builder

    try:
        cpp_builder.get_cpp_compiler()
    except Exception:
        return "torch.compile on the CPU needs a C++ compiler (g++ or clang++)"
    return None


class CompiledEngine(Engine):
    name = "compile"

    def __init__(self, net: StyleTransferNet, device: torch.device, dtype: torch.dtype, *unused) -> None:
        super().__init__(net, device, dtype)
        if self.device.type == "cuda":
            self.net = net.to(memory_format=torch.channels_last)
        else:  # inductor's C++ build warns that a CPU-only machine has no CUDA runtime: not news
            logging.getLogger("torch.utils.cpp_extension").setLevel(logging.ERROR)
        self.compiled = torch.compile(
            self.net, dynamic=False, fullgraph=True, options=dict(OPTIONS[self.device.type])
        )

    def step(self, images, mean, std, alpha):
        if self.device.type == "cuda":
            torch.compiler.cudagraph_mark_step_begin()  # the previous step's outputs are consumed
        return self.compiled(images, mean, std, alpha)

    @torch.inference_mode()
    def prepare(self, batch: int, height: int, width: int) -> None:
        """Compile for this shape now (a first call at a new shape otherwise pays for it)."""
        # The inputs real frames get: the same image buffer layout (another layout, or a tensor of
        # another kind, fails a guard and compiles again) and the engine's own style tensors.
        with self.lock, self._borrowed_frames() as buffers:  # not a stream's buffers, which it holds between batches
            self.step(buffers.upload(np.zeros((batch, height, width, 3), np.uint8)), *self._style_tensors, self._alpha)
