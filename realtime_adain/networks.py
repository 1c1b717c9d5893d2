"""The normalised VGG-19 encoder and the AdaIN decoder, module for module as in the reference.

The layer lists mirror naoto0804/pytorch-AdaIN `net.py`, so the published state dicts
(`vgg_normalised.pth`, `decoder.pth`) load by their own keys ("0.weight", "2.bias", ...).
"""

from __future__ import annotations

import torch
from torch import nn

# Module index ranges of the full normalised VGG that end at relu1_1, relu2_1, relu3_1, relu4_1.
ENCODER_SLICES = ((0, 4), (4, 11), (11, 18), (18, 31))
ENCODER_DEPTH = ENCODER_SLICES[-1][1]
FEATURE_CHANNELS = (64, 128, 256, 512)
# Spatial downsampling from the image to relu4_1: inputs are padded to a multiple of this.
DOWNSAMPLING = 8


def _conv_block(cin: int, cout: int) -> list[nn.Module]:
    return [nn.ReflectionPad2d((1, 1, 1, 1)), nn.Conv2d(cin, cout, (3, 3)), nn.ReLU()]


def _pool() -> nn.Module:
    return nn.MaxPool2d((2, 2), (2, 2), (0, 0), ceil_mode=True)


def _up() -> nn.Module:
    return nn.Upsample(scale_factor=2, mode="nearest")


def sliced_features(layers: nn.Sequential, slices: tuple[tuple[int, int], ...], x: torch.Tensor) -> list[torch.Tensor]:
    """Run `layers` once, keeping the output at the end of each (start, stop) slice."""
    feats = []
    for start, stop in slices:
        for index in range(start, stop):
            x = layers[index](x)
        feats.append(x)
    return feats


# The published normalised VGG-19 after its first 1x1 conv: (in, out) channels of each 3x3 conv
# block (padding, conv, ReLU), "pool" for a max pool.
VGG_PLAN: tuple[tuple[int, int] | str, ...] = (
    (3, 64), (64, 64), "pool",  # relu1_1, relu1_2
    (64, 128), (128, 128), "pool",  # relu2_1, relu2_2
    (128, 256), (256, 256), (256, 256), (256, 256), "pool",  # relu3_1 .. relu3_4
    (256, 512),  # relu4_1: the last layer the encoder uses
    (512, 512), (512, 512), (512, 512), "pool",  # relu4_2 .. relu4_4
    (512, 512), (512, 512), (512, 512), (512, 512),  # relu5_1 .. relu5_4
)


def full_vgg_layers(depth: int | None = None) -> list[nn.Module]:
    """The first `depth` (default: all 53) modules of the published normalised VGG-19.

    Built only as far as asked: the layers after relu4_1 hold 80 % of its weights, and their
    random initialisation, overwritten by the loaded weights, took 0.1 s of every start."""
    layers: list[nn.Module] = [nn.Conv2d(3, 3, (1, 1))]
    for step in VGG_PLAN:
        if depth is not None and len(layers) >= depth:
            break
        layers += [_pool()] if step == "pool" else _conv_block(*step)
    return layers[:depth]


def decoder_layers() -> list[nn.Module]:
    """The reference decoder: mirror of the encoder, nearest upsampling, reflection padding."""
    layers: list[nn.Module] = _conv_block(512, 256) + [_up()]
    layers += _conv_block(256, 256) + _conv_block(256, 256) + _conv_block(256, 256)
    layers += _conv_block(256, 128) + [_up()]
    layers += _conv_block(128, 128) + _conv_block(128, 64) + [_up()]
    layers += _conv_block(64, 64) + _conv_block(64, 3)[:2]  # no ReLU after the last conv
    return layers


class Encoder(nn.Sequential):
    """VGG-19 up to relu4_1; module indices (the state-dict keys) are the published ones."""

    def __init__(self) -> None:
        super().__init__(*full_vgg_layers(ENCODER_DEPTH))

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """relu1_1, relu2_1, relu3_1 and relu4_1 of an RGB batch in [0, 1]."""
        return sliced_features(self, ENCODER_SLICES, x)


class Decoder(nn.Sequential):
    """The paper's decoder. `skips` is accepted (and unused) so every decoder has one signature."""

    kind = "plain"  # the architecture name checkpoints carry (weights.DECODER_BUILDERS)
    uses_skips = False  # the skip-concat decoder (decoders.py) takes relu1_1..relu3_1 too

    def __init__(self) -> None:
        super().__init__(*decoder_layers())

    def forward(self, t: torch.Tensor, skips: list[torch.Tensor] | None = None) -> torch.Tensor:
        return super().forward(t)
