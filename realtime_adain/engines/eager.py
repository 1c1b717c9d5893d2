"""The reference engine: the PyTorch module as it is (fp32 on CPU or GPU, fp16/bf16 on GPU)."""

from __future__ import annotations

import torch

from realtime_adain.engines.base import Engine
from realtime_adain.model import StyleTransferNet


class EagerEngine(Engine):
    name = "eager"
    per_sample_styles = True  # AdaIN and the alpha blend broadcast per-sample (N, C) statistics

    def __init__(self, net: StyleTransferNet, device: torch.device, dtype: torch.dtype, *unused) -> None:
        super().__init__(net, device, dtype)
        if self.device.type == "cuda":  # cuDNN's fastest fp16 convolutions are NHWC
            self.net = net.to(memory_format=torch.channels_last)

    def step(self, images, mean, std, alpha):
        return self.net(images, mean, std, alpha, content_stats=self.content_stats)
