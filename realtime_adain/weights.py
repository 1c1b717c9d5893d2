"""Loading the two networks from their weights files: the VGG encoder (the published normalised
VGG, or torchvision's VGG-19) and the decoder (the published `decoder.pth`, or one of our
safetensors checkpoints, whose metadata says its architecture and the encoder it was trained
against), each read by `weight_files`, checked by `state_checks` and put in eval mode.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from realtime_adain.checks import ascii_whole
from realtime_adain.decoders import SkipConcatDecoder
from realtime_adain.encoders import (
    ENCODER_KINDS, NORMALISED_VGG, TORCHVISION_VGG19, TorchvisionVGGEncoder, torchvision_state_dict,
)
from realtime_adain.errors import UserError, quoted
from realtime_adain.networks import ENCODER_DEPTH, FEATURE_CHANNELS, Decoder, Encoder
from realtime_adain.state_checks import (
    MAX_TEST_OUTPUT, check_output_finite, check_state_dict, describe_state_dict, relu_like_features,
)
from realtime_adain.weight_files import LoadedWeights, read_weights


def load_encoder(path: str | os.PathLike, kind: str = NORMALISED_VGG) -> nn.Module:
    """The encoder up to relu4_1; layers after it in the file are ignored.

    `kind` is the encoder a decoder was trained against (`decoder.encoder_kind`): the published
    normalised VGG by default, or torchvision's ImageNet VGG-19. `encoder.loaded_sha256` is the
    SHA-256 of the bytes it was loaded from.
    """
    path = Path(path)
    loaded = read_weights(path)
    if kind == TORCHVISION_VGG19:
        first = loaded.state_dict.get("0.weight")
        if first is not None and tuple(first.shape) == (3, 3, 1, 1):  # the normalised VGG's
            raise UserError(
                f"{path}: this is the normalised VGG; torchvision's VGG-19 encoder (--encoder torchvision-vgg19, or a "
                "decoder trained against it) needs its own weights: pass vgg19-dcbb9e9d.pth with --vgg"
            )
        encoder = TorchvisionVGGEncoder()
        state = torchvision_state_dict(loaded.state_dict)
        check_state_dict(path, encoder, state, "torchvision VGG-19")
        encoder.load_state_dict(state)
        return _checked_encoder(path, encoder, "torchvision VGG-19", loaded.sha256)
    encoder = built_for_loading(Encoder)
    state = {
        key: value
        for key, value in loaded.state_dict.items()
        if (index := ascii_whole(key.split(".")[0])) is not None and index < ENCODER_DEPTH
    }
    if not state:
        raise UserError(f"{path}: not VGG encoder weights; {describe_state_dict(loaded.state_dict, 'VGG encoder')}")
    check_state_dict(path, encoder, state, "VGG encoder")
    encoder.load_state_dict(state)
    return _checked_encoder(path, encoder, "VGG encoder", loaded.sha256)


def built_for_loading(build: Callable[[], nn.Module]) -> nn.Module:
    """`build()` with its parameters allocated but not initialised, for a state dict to fill in whole
    (initialising the VGG's layers at random cost as much as hashing its file). A module with
    buffers, which a state dict may not fill (non-persistent ones), is built as usual. (Not
    `Module.to_empty`: its first call imports torch's symbolic shapes, 0.4 s a process.)"""
    with torch.device("meta"):
        module = build()
    if any(True for _ in module.buffers()):
        return build()
    for owner in module.modules():
        for name, parameter in list(owner.named_parameters(recurse=False)):
            setattr(owner, name, nn.Parameter(torch.empty(parameter.shape, dtype=parameter.dtype),
                                              requires_grad=parameter.requires_grad))
    return module


def _checked_encoder(path: Path, encoder: nn.Module, what: str, sha256: str) -> nn.Module:
    encoder = encoder.eval().requires_grad_(False)
    encoder.loaded_sha256 = sha256
    picture = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(0))  # (noise: no flat 0.5)
    check_output_finite(path, encoder.features, (picture,), what)
    return encoder


# Decoder architectures by the name our checkpoints carry in their metadata ("architecture").
DECODER_BUILDERS: dict[str, Callable[[], nn.Module]] = {"plain": Decoder, "skip-concat": SkipConcatDecoder}


def trained_vgg_sha256(metadata: dict[str, str]) -> str | None:
    """The SHA-256 of the VGG file a checkpoint's run trained against (`vgg_sha256` of the config in
    its metadata); None where none is recorded (decoder.pth, a file of another tool)."""
    try:
        config = json.loads(metadata.get("config", "{}"))
    except (ValueError, RecursionError):  # (JSON nested past the parser's stack: every command was a traceback)
        return None
    recorded = config.get("vgg_sha256") if isinstance(config, dict) else None
    return recorded if isinstance(recorded, str) else None


def note_other_vgg(decoder: nn.Module, vgg_path: str | os.PathLike, vgg_sha256: str) -> None:
    """Say so where `decoder` was trained against another VGG file than the one loaded (`--vgg`):
    it decodes another encoder's features, and its pictures were quietly off."""
    recorded = getattr(decoder, "trained_vgg_sha256", None)
    if recorded not in (None, vgg_sha256):
        from realtime_adain.notes import note

        note(f"{vgg_path}: not the VGG encoder the decoder was trained against (SHA-256 {vgg_sha256[:12]}..., its "
             f"run's {recorded[:12]}...): results may be off; give --vgg the file that run used", once=True)


def _refuse_other_architecture(path: Path, loaded: LoadedWeights, architecture: str) -> None:
    """Refuse the tensors of another decoder architecture than the file's metadata says, naming
    both: it said "not plain decoder weights; it holds 16 tensors"."""
    for held, build in DECODER_BUILDERS.items():
        with torch.device("meta"):  # (the names alone: nothing allocated)
            names = build().state_dict().keys()
        if held != architecture and names <= loaded.state_dict.keys():
            said = (f"its metadata says {architecture}" if "architecture" in loaded.metadata else
                    "it has no metadata saying so (such a file is read as a plain decoder)")
            raise UserError(f"{path}: {held} decoder weights, where {said}")


def load_decoder(path: str | os.PathLike) -> nn.Module:
    """A decoder from the published `decoder.pth` or one of our safetensors checkpoints.

    `decoder.encoder_kind` says which encoder it was trained against (checkpoint metadata
    "encoder"; the published decoder's is the normalised VGG); `decoder.loaded_sha256` is the
    SHA-256 of the bytes it was loaded from.
    """
    path = Path(path)
    return decoder_from_weights(path, read_weights(path))


def decoder_from_weights(path: Path, loaded: LoadedWeights) -> nn.Module:
    """`load_decoder` of the weights read from `path` (a trainer checkpoint's reader checks them
    further, and reads the file once)."""
    architecture = loaded.metadata.get("architecture", "plain")
    if architecture not in DECODER_BUILDERS:
        raise UserError(f"{path}: unknown decoder architecture {quoted(architecture)}")
    encoder_kind = loaded.metadata.get("encoder", NORMALISED_VGG)
    if encoder_kind not in ENCODER_KINDS:
        raise UserError(f"{path}: the decoder was trained against an unknown encoder {quoted(encoder_kind)}")
    decoder = built_for_loading(DECODER_BUILDERS[architecture])
    if not decoder.state_dict().keys() <= loaded.state_dict.keys():
        _refuse_other_architecture(path, loaded, architecture)
    check_state_dict(path, decoder, loaded.state_dict, f"{architecture} decoder")
    decoder.load_state_dict({k: loaded.state_dict[k] for k in decoder.state_dict()})
    decoder.encoder_kind, decoder.loaded_sha256 = encoder_kind, loaded.sha256
    decoder.trained_vgg_sha256 = trained_vgg_sha256(loaded.metadata)
    decoder = decoder.eval().requires_grad_(False)
    generator = torch.Generator().manual_seed(0)  # (the same test every load)
    features = relu_like_features(FEATURE_CHANNELS[3], 2, generator)  # relu4_1 of a 16x16 image
    skips = [relu_like_features(c, 16 >> i, generator) for i, c in enumerate(FEATURE_CHANNELS[:3])]  # relu1_1..relu3_1
    check_output_finite(path, decoder, (features, skips), f"{architecture} decoder", MAX_TEST_OUTPUT)
    return decoder
