"""The encoders a decoder can be trained against, by the name checkpoints record ("encoder").

"vgg-normalised" is the published normalised VGG (`networks.Encoder`, the paper's encoder).
"torchvision-vgg19" is torchvision's ImageNet VGG-19 up to relu4_1, fed ImageNet-normalised RGB,
loaded from torchvision's own state-dict file (`vgg19-dcbb9e9d.pth`, keys "features.N.*").
A decoder only works with the encoder it was trained against, so the runtime loads the encoder
its checkpoint names.
"""

from __future__ import annotations

import torch
from torch import nn

from realtime_adain.checks import ascii_whole
from realtime_adain.networks import Encoder, sliced_features

NORMALISED_VGG = "vgg-normalised"
TORCHVISION_VGG19 = "torchvision-vgg19"
ENCODER_KINDS = (NORMALISED_VGG, TORCHVISION_VGG19)

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# Module index ranges of torchvision's `features` ending at relu1_1, relu2_1, relu3_1, relu4_1.
TORCHVISION_SLICES = ((0, 2), (2, 7), (7, 12), (12, 21))
TORCHVISION_DEPTH = TORCHVISION_SLICES[-1][1]


class TorchvisionVGGEncoder(nn.Module):
    """torchvision's VGG-19 to relu4_1 with ImageNet input normalisation built in.

    Like `networks.Encoder`: input RGB in [0, 1]; `forward` gives relu4_1, `features` gives
    relu1_1..relu4_1. Parameters are `layers.N.*`; torchvision's files call them `features.N.*`
    (`torchvision_state_dict` maps them).
    """

    kind = TORCHVISION_VGG19

    def __init__(self) -> None:
        super().__init__()
        # Imported here: torchvision takes seconds to load, and every command imports this module.
        from torchvision.models.vgg import cfgs, make_layers

        # torchvision's VGG-19 "E" configuration up to conv4_1: 21 modules, the last is relu4_1.
        self.layers = make_layers(cfgs["E"][:12])
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).reshape(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).reshape(1, 3, 1, 1), persistent=False)

    def _normalise(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean.to(x.dtype)) / self.std.to(x.dtype)

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        return sliced_features(self.layers, TORCHVISION_SLICES, self._normalise(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(self._normalise(x))


def torchvision_state_dict(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The encoder's entries of a torchvision VGG-19 state dict, renamed to our keys.

    Keys may be torchvision's ("features.0.weight") or bare ("0.weight"); the classifier and the
    layers after relu4_1 are dropped.
    """
    renamed = {}
    for key, value in state.items():
        bare = key[len("features."):] if key.startswith("features.") else key
        index = ascii_whole(bare.split(".")[0])
        if index is not None and index < TORCHVISION_DEPTH:
            renamed[f"layers.{bare}"] = value
    return renamed


def build_encoder(kind: str) -> nn.Module:
    """An uninitialised encoder of `kind` (one of ENCODER_KINDS)."""
    if kind == NORMALISED_VGG:
        return Encoder()
    if kind == TORCHVISION_VGG19:
        return TorchvisionVGGEncoder()
    raise ValueError(f"unknown encoder kind '{kind}' (use {', '.join(ENCODER_KINDS)})")
