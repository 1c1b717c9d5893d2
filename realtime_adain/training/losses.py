"""The paper's objective, as the reference implementation (naoto0804/pytorch-AdaIN) computes it.

content = MSE(f(g(t)) at relu4_1, t)
style   = sum over relu1_1..relu4_1 of MSE(mean(f(g(t))), mean(f(s))) + MSE(std(...), std(...))
total   = content_weight * content + style_weight * style

Means and stds are `adain.calc_mean_std` (unbiased variance + 1e-5), and MSE averages over every
element, so a loss on two equal halves of a batch averages to the loss on the whole batch: what
makes data-parallel gradients equal the single-process gradient.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from realtime_adain.adain import adain, calc_mean_std


@dataclass
class Losses:
    content: torch.Tensor  # weighted, as logged by the reference
    style: torch.Tensor  # weighted
    total: torch.Tensor


def wide(x: torch.Tensor) -> torch.Tensor:
    """float32 at least: under autocast, bf16/fp16 features are too coarse for the statistics."""
    return x if x.dtype == torch.float64 else x.float()


def content_loss(output_feature: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return F.mse_loss(wide(output_feature), wide(target))


def style_statistics(style_features: Sequence[torch.Tensor]) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(mean, std) of each layer, in float32 at least: activations reach the hundreds."""
    return [calc_mean_std(wide(style)) for style in style_features]


def style_loss(output_features: Sequence[torch.Tensor], style_features: Sequence[torch.Tensor]) -> torch.Tensor:
    return style_loss_to_statistics(output_features, style_statistics(style_features))


def style_loss_to_statistics(
    output_features: Sequence[torch.Tensor], style_stats: Sequence[tuple[torch.Tensor, torch.Tensor]]
) -> torch.Tensor:
    """The style loss against the style's per-layer (mean, std), as `style_statistics` gives them."""
    total = torch.zeros((), device=output_features[0].device, dtype=wide(output_features[0]).dtype)
    for output, (style_mean, style_std) in zip(output_features, style_stats, strict=True):
        output_mean, output_std = calc_mean_std(wide(output))
        total = total + F.mse_loss(output_mean, style_mean) + F.mse_loss(output_std, style_std)
    return total


class AdaINLoss(nn.Module):
    """Frozen encoder + trained decoder -> the paper's losses for a content and a style batch.

    `forward` returns (content loss, style loss, stylized output), both losses weighted: plain
    tensors, as DDP and torch.compile like them. Only the decoder's parameters get gradients.
    """

    def __init__(
        self, encoder: nn.Module, decoder: nn.Module, style_weight: float = 10.0, content_weight: float = 1.0
    ) -> None:
        super().__init__()
        self.encoder = encoder.eval().requires_grad_(False)
        self.decoder = decoder
        self.style_weight = style_weight
        self.content_weight = content_weight

    def forward(self, content: torch.Tensor, style: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        with torch.no_grad():
            content_feats = self.encoder.features(content)
            style_stats = style_statistics(self.encoder.features(style))
        return self.from_features(content_feats, style_stats)

    def from_features(
        self, content_feats: Sequence[torch.Tensor], style_stats: Sequence[tuple[torch.Tensor, torch.Tensor]]
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """`forward` from encoded inputs: the content's features (relu4_1 last, relu1_1..relu3_1
        before it when the decoder takes skips) and the style's `style_statistics`. Evaluation
        encodes each image once and pairs them here."""
        with torch.no_grad():
            t = adain(wide(content_feats[-1]), *style_stats[-1])  # float32 under autocast too
        skips = content_feats[:-1] if self.decoder.uses_skips else None
        output = self.decoder(t, skips)
        output_feats = self.encoder.features(output)
        loss_c = self.content_weight * content_loss(output_feats[-1], t)
        loss_s = self.style_weight * style_loss_to_statistics(output_feats, style_stats)
        return loss_c, loss_s, output
