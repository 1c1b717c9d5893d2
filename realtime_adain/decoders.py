"""The decoder with concatenation skip connections ("skip-concat").

Pilchen & Gascon (2024) found that concatenating the *content* encoder's relu1_1..relu3_1 features
into the decoder keeps content more faithful than the paper's decoder, at about the same number
of parameters. Here each upsampled stage is concatenated with the content feature of the same
resolution; to stay near the plain decoder's budget, the relu3_1 stage has three convolutions
instead of four (3.69 M parameters against 3.51 M).

The content features come from the same frozen encoder that produced t, so style statistics are
untouched: AdaIN still acts on relu4_1 only.
"""

from __future__ import annotations

import torch
from torch import nn

from realtime_adain.networks import _conv_block, _up


class SkipConcatDecoder(nn.Module):
    """g(t, [relu1_1, relu2_1, relu3_1] of the content) -> image; input sides multiple of 8."""

    kind = "skip-concat"
    uses_skips = True

    def __init__(self) -> None:
        super().__init__()
        self.stage4 = nn.Sequential(*_conv_block(512, 256), _up())
        # + relu3_1 (256 channels)
        self.stage3 = nn.Sequential(*_conv_block(512, 256), *_conv_block(256, 256), *_conv_block(256, 128), _up())
        # + relu2_1 (128 channels)
        self.stage2 = nn.Sequential(*_conv_block(256, 128), *_conv_block(128, 64), _up())
        # + relu1_1 (64 channels); no ReLU after the last convolution, as in the plain decoder
        self.stage1 = nn.Sequential(*_conv_block(128, 64), *_conv_block(64, 3)[:2])

    def forward(self, t: torch.Tensor, skips: list[torch.Tensor] | None = None) -> torch.Tensor:
        if skips is None or len(skips) != 3:
            raise ValueError("the skip-concat decoder needs the content's relu1_1, relu2_1 and relu3_1")
        relu1, relu2, relu3 = skips
        x = self.stage4(t)
        x = self.stage3(torch.cat([x, relu3.to(x.dtype)], dim=1))
        x = self.stage2(torch.cat([x, relu2.to(x.dtype)], dim=1))
        return self.stage1(torch.cat([x, relu1.to(x.dtype)], dim=1))
