"""The style-transfer graph: encoder -> AdaIN(style statistics) -> decoder, any input size.

Style statistics and alpha are inputs of `forward`, never attributes: switching or mixing styles
changes tensors, not the graph, so compiled and exported engines are built once.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from realtime_adain.adain import ContentStats, StyleStats, adain, blend, masked_adain, resize_mask
from realtime_adain.networks import DOWNSAMPLING, FEATURE_CHANNELS, Encoder

# Below this, relu4_1 would be 1 pixel wide and its reflection padding undefined.
MIN_SIDE = 2 * DOWNSAMPLING


def padded_size(height: int, width: int, multiple: int = DOWNSAMPLING) -> tuple[int, int]:
    """The network's input size for a frame: sides rounded up to `multiple`, at least MIN_SIDE."""
    return tuple(max(MIN_SIDE, -(-side // multiple) * multiple) for side in (height, width))


def pad_to_multiple(images: torch.Tensor, multiple: int = DOWNSAMPLING) -> torch.Tensor:
    """Pad (N, C, H, W) on the bottom/right so H and W are multiples of `multiple` (>= MIN_SIDE).

    Reflection keeps edges natural; sides too short to reflect are extended by replication.
    """
    h, w = images.shape[-2:]
    target_h, target_w = padded_size(h, w, multiple)
    pad_h, pad_w = target_h - h, target_w - w
    if pad_h == 0 and pad_w == 0:
        return images
    return F.pad(images, (0, pad_w, 0, pad_h), mode=padding_mode(h, w, multiple))


def padding_mode(height: int, width: int, multiple: int = DOWNSAMPLING) -> str:
    """'reflect' where both sides are long enough to mirror their padding, else 'replicate'."""
    target_h, target_w = padded_size(height, width, multiple)
    return "reflect" if target_h - height < height and target_w - width < width else "replicate"


def neutral_style(dtype: torch.dtype, device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Style inputs of `StyleTransferNet.forward` for tracing and warm-up: mean 0 and std 1 per
    relu4_1 channel, alpha 1. Their values never matter to a compiled graph, only their shapes."""
    channels = FEATURE_CHANNELS[-1]
    return (
        torch.zeros(channels, dtype=dtype, device=device),
        torch.ones(channels, dtype=dtype, device=device),
        torch.ones(1, dtype=dtype, device=device),
    )


def example_inputs(images_shape: tuple[int, ...], dtype: torch.dtype, device: torch.device | str = "cpu") -> tuple:
    """All four inputs of `StyleTransferNet.forward` for export: random images and a neutral style."""
    return (torch.rand(images_shape, dtype=dtype, device=device), *neutral_style(dtype, device))


class StyleTransferNet(nn.Module):
    """Images in [0, 1] (N, 3, H, W) -> stylized images (unclamped), same size."""

    def __init__(self, encoder: Encoder, decoder: nn.Module) -> None:
        super().__init__()
        self.encoder = encoder
        self.decoder = decoder

    def encode(self, images: torch.Tensor) -> list[torch.Tensor]:
        """Features the decoder needs: relu1_1..relu4_1 for skip decoders, else relu4_1 only."""
        if self.decoder.uses_skips:
            return self.encoder.features(images)
        return [self.encoder(images)]

    def forward(
        self,
        images: torch.Tensor,
        style_mean: torch.Tensor,
        style_std: torch.Tensor,
        alpha: torch.Tensor,
        content_stats: ContentStats | None = None,
    ) -> torch.Tensor:
        h, w = images.shape[-2:]
        feats = self.encode(pad_to_multiple(images))
        content = feats[-1]
        target = blend(content, adain(content, style_mean, style_std, content_stats), alpha)
        return self.decoder(target, feats[:-1])[..., :h, :w]

    def forward_masked(
        self, images: torch.Tensor, mask: torch.Tensor, styles: Sequence[StyleStats], alpha: float
    ) -> torch.Tensor:
        """Spatial control: `mask` (H, W) holds, per pixel, the index of the style to use there."""
        h, w = images.shape[-2:]
        padded = pad_to_multiple(images)
        feats = self.encode(padded)
        content = feats[-1]
        full_mask = F.pad(mask[None, None].float(), (0, padded.shape[-1] - w, 0, padded.shape[-2] - h), mode="replicate")
        labels = resize_mask(full_mask[0, 0], content.shape[-2:])
        target = blend(content, masked_adain(content, labels, styles), alpha)
        return self.decoder(target, feats[:-1])[..., :h, :w]

    @torch.no_grad()
    def style_stats(self, images: torch.Tensor) -> StyleStats:
        """Reduce one style image (1, 3, H, W) in [0, 1] to its relu4_1 statistics.

        Like the reference, the style is encoded at its own size (no padding: it is never
        decoded), except for images too small for the encoder.
        """
        if min(images.shape[-2:]) < MIN_SIDE:
            images = pad_to_multiple(images)
        return StyleStats.of_features(self.encoder(images))
