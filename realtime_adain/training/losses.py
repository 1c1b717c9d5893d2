"""The paper's objective, as the reference implementation (naoto0804/pytorch-AdaIN) computes it.

content = MSE(f(g(t)) at relu4_1, t)
style   = sum over relu1_1..relu4_1 of MSE(mean(f(g(t))), mean(f(s))) + MSE(std(...), std(...))
total   = content_weight * content + style_weight * style (+ temporal_weight * temporal)

temporal (optional, in the spirit of ReReVST, Wang et al. 2020): the content is perturbed by a
small random affine warp A and noise, and the output of the perturbed content should be the warped
output: MSE(g(A c + n), A g(c)) over the pixels A keeps inside the frame. It teaches the decoder
that small motion of the input moves, rather than re-renders, the stylized texture.

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
    temporal: torch.Tensor  # weighted; 0 without a temporal weight
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


def random_affine(n: int, shift: float = 0.04, degrees: float = 2.0, scale: float = 0.03,
                  device: torch.device | str = "cpu") -> torch.Tensor:
    """(N, 2, 3) affine_grid matrices of small random motions: shift as a fraction of the size,
    rotation in degrees, zoom of 1 +- scale (torch's global generator: seeded runs repeat)."""
    angle = (torch.rand(n, device=device) * 2 - 1) * degrees * torch.pi / 180
    zoom = 1 + (torch.rand(n, device=device) * 2 - 1) * scale
    offset = (torch.rand(n, 2, device=device) * 2 - 1) * shift * 2  # normalised coordinates span 2
    cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
    return torch.stack([torch.stack([cos, -sin, offset[:, 0]], 1), torch.stack([sin, cos, offset[:, 1]], 1)], 1)


def affine_warp(images: torch.Tensor, theta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(warped images, (N, 1, H, W) mask of pixels sampled from inside the frame)."""
    grid = F.affine_grid(theta.to(images.dtype), list(images.shape), align_corners=False)
    warped = F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    ones = torch.ones_like(images[:, :1])
    inside = F.grid_sample(ones, grid, mode="bilinear", padding_mode="zeros", align_corners=False) > 0.999
    return warped, inside.to(images.dtype)


def temporal_loss(perturbed_output: torch.Tensor, output: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    """MSE between g(A c + n) and A g(c), over the pixels A samples from inside the frame."""
    warped, inside = affine_warp(wide(output), theta)
    squared = (wide(perturbed_output) - warped) ** 2 * inside
    return squared.sum() / (inside.sum() * output.shape[1]).clamp(min=1)


class AdaINLoss(nn.Module):
    """Frozen encoder + trained decoder -> the paper's losses for a content and a style batch.

    `forward` returns (content loss, style loss, stylized output), both losses weighted: plain
    tensors, as DDP and torch.compile like them. Only the decoder's parameters get gradients.
    With `temporal=True` (training with a temporal weight) it returns (content, style, temporal,
    output): the temporal term is computed inside `forward` so DDP synchronises its gradients.
    """

    def __init__(
        self, encoder: nn.Module, decoder: nn.Module, style_weight: float = 10.0, content_weight: float = 1.0,
        temporal_weight: float = 0.0, noise: float = 0.02,
    ) -> None:
        super().__init__()
        self.encoder = encoder.eval().requires_grad_(False)
        self.decoder = decoder
        self.style_weight = style_weight
        self.content_weight = content_weight
        self.temporal_weight = temporal_weight
        self.noise = noise

    def forward(self, content: torch.Tensor, style: torch.Tensor, temporal: bool = False, theta: torch.Tensor | None = None):
        """`theta` fixes the perturbation's affine matrices (tests); by default they are random."""
        with torch.no_grad():
            content_feats = self.encoder.features(content)
            style_stats = style_statistics(self.encoder.features(style))
        loss_c, loss_s, output = self.from_features(content_feats, style_stats)
        if not temporal:
            return loss_c, loss_s, output
        if theta is None:
            theta = random_affine(content.shape[0], device=content.device)
        with torch.no_grad():
            moved = affine_warp(content, theta)[0] + self.noise * torch.randn_like(content)
            moved_feats = self.encoder.features(moved.clamp(0, 1))
        _, moved_output = self.decode(moved_feats, style_stats)
        loss_t = self.temporal_weight * temporal_loss(moved_output, output, theta)
        return loss_c, loss_s, loss_t, output

    def decode(self, content_feats: Sequence[torch.Tensor], style_stats: Sequence[tuple[torch.Tensor, torch.Tensor]]
               ) -> tuple[torch.Tensor, torch.Tensor]:
        """(AdaIN target t, decoder output g(t)) for encoded content and the style's statistics."""
        with torch.no_grad():
            t = adain(wide(content_feats[-1]), *style_stats[-1])  # float32 under autocast too
        skips = content_feats[:-1] if self.decoder.uses_skips else None
        return t, self.decoder(t, skips)

    def from_features(
        self, content_feats: Sequence[torch.Tensor], style_stats: Sequence[tuple[torch.Tensor, torch.Tensor]]
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """`forward` from encoded inputs: the content's features (relu4_1 last, relu1_1..relu3_1
        before it when the decoder takes skips) and the style's `style_statistics`. Evaluation
        encodes each image once and pairs them here."""
        t, output = self.decode(content_feats, style_stats)
        output_feats = self.encoder.features(output)
        loss_c = self.content_weight * content_loss(output_feats[-1], t)
        loss_s = self.style_weight * style_loss_to_statistics(output_feats, style_stats)
        return loss_c, loss_s, output
