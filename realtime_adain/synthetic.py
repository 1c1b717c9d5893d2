"""Deterministic stand-in weights in exactly the published file formats.

Tests (and benchmarks on machines without the published files, where timings do not depend on
the values) write these with `torch.save`, then go through the real loading code. The first
layer is the real one of `vgg_normalised.pth` (RGB in [0, 1] -> mean-subtracted BGR in [0, 255]),
and the rest use He initialisation, so activations have realistic magnitudes (hundreds).
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from realtime_adain.networks import decoder_layers, full_vgg_layers

CAFFE_BGR_MEAN = (103.939, 116.779, 123.68)


def _he_init(layers: list[nn.Module], generator: torch.Generator) -> None:
    for layer in layers:
        if isinstance(layer, nn.Conv2d):
            fan_in = layer.in_channels * layer.kernel_size[0] * layer.kernel_size[1]
            with torch.no_grad():
                layer.weight.copy_(torch.randn(layer.weight.shape, generator=generator) * (2.0 / fan_in) ** 0.5)
                layer.bias.copy_(torch.randn(layer.bias.shape, generator=generator) * 0.01)


def published_vgg_state_dict(seed: int = 0) -> dict[str, torch.Tensor]:
    """All 53 modules' parameters, keyed as in `vgg_normalised.pth`."""
    generator = torch.Generator().manual_seed(seed)
    vgg = nn.Sequential(*full_vgg_layers())
    _he_init(list(vgg), generator)
    with torch.no_grad():
        vgg[0].weight.zero_()
        for out_channel, in_channel in enumerate((2, 1, 0)):  # RGB -> BGR, scaled to 0..255
            vgg[0].weight[out_channel, in_channel] = 255.0
        vgg[0].bias.copy_(-torch.tensor(CAFFE_BGR_MEAN))
        # Scale down the deeper layers so relu4_1 stays in the hundreds, as in the real network.
        for layer in list(vgg)[1:]:
            if isinstance(layer, nn.Conv2d):
                layer.weight.mul_(0.8)
    return vgg.state_dict()


def published_decoder_state_dict(seed: int = 1) -> dict[str, torch.Tensor]:
    """The decoder's parameters, keyed as in `decoder.pth`, scaled so outputs land near [0, 1]."""
    generator = torch.Generator().manual_seed(seed)
    decoder = nn.Sequential(*decoder_layers())
    _he_init(list(decoder), generator)
    with torch.no_grad():
        for layer in decoder:
            if isinstance(layer, nn.Conv2d):
                layer.weight.mul_(0.6)
        decoder[-1].bias.fill_(0.5)
    return decoder.state_dict()


def write_published_weights(directory: str | Path, seed: int = 0) -> tuple[Path, Path]:
    """Write `vgg_normalised.pth` and `decoder.pth` into `directory`; return their paths."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    vgg_path, decoder_path = directory / "vgg_normalised.pth", directory / "decoder.pth"
    torch.save(published_vgg_state_dict(seed), vgg_path)
    torch.save(published_decoder_state_dict(seed + 1), decoder_path)
    return vgg_path, decoder_path


def torchvision_vgg_state_dict(seed: int = 2) -> dict[str, torch.Tensor]:
    """torchvision VGG-19 `features` up to relu4_1, keyed as in torchvision's `vgg19-*.pth`.

    He-initialised (ImageNet-normalised inputs keep activations near 1); the classifier and the
    layers after relu4_1, which the encoder ignores, are left out to keep test files small.
    """
    from realtime_adain.encoders import TorchvisionVGGEncoder

    generator = torch.Generator().manual_seed(seed)
    layers = TorchvisionVGGEncoder().layers
    _he_init(list(layers), generator)
    return {f"features.{key}": value for key, value in layers.state_dict().items()}


def write_torchvision_vgg(path: str | Path, seed: int = 2) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(torchvision_vgg_state_dict(seed), path)
    return path
