"""Finding, reading and checking network weights.

Where weights come from, in order: explicit paths (--vgg/--decoder), the environment variables
REALTIME_ADAIN_VGG / REALTIME_ADAIN_DECODER, then the per-user weights directory (platformdirs,
or REALTIME_ADAIN_HOME). `.pth` files load with `weights_only=True`; our own checkpoints are
safetensors with metadata saying which decoder architecture they hold.
"""

from __future__ import annotations

import errno
import hashlib
import os
import pickle
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import torch
from torch import nn

from realtime_adain.decoders import SkipConcatDecoder
from realtime_adain.encoders import (
    ENCODER_KINDS, NORMALISED_VGG, TORCHVISION_VGG19, TorchvisionVGGEncoder, torchvision_state_dict,
)
from realtime_adain.errors import UserError
from realtime_adain.networks import ENCODER_DEPTH, Decoder, Encoder
from realtime_adain.release import DECODER_FILENAME, VGG_FILENAME
from realtime_adain.userdirs import HOME_ENV_VAR, weights_dir  # noqa: F401 (part of this module's interface)

ENV_VAR = {"vgg": "REALTIME_ADAIN_VGG", "decoder": "REALTIME_ADAIN_DECODER"}
DEFAULT_FILENAME = {"vgg": VGG_FILENAME, "decoder": DECODER_FILENAME}


def _missing(path: Path) -> str:
    """Why `path` is no weights file: a folder, device or fifo is named as such, not 'no such'."""
    if path.is_dir():
        return "a folder, not a weights file"
    return "a device, fifo or socket, not a weights file" if path.exists() else "no such weights file"


def files_id(paths: Sequence[str | os.PathLike]) -> str:
    """A short identity of weights files (the encoder's, the decoder's), the key of engine caches."""
    return "-".join(file_sha256(p)[:16] for p in paths)


def resolve(kind: str, explicit: str | os.PathLike | None = None) -> Path:
    """The weights file of `kind` ('vgg' or 'decoder') by the resolution order above."""
    if explicit is not None and not str(explicit).strip():  # `--vgg "$UNSET"`: not a wish for the default
        raise UserError(f"an empty --{kind} path (an unset variable?); give a weights file, or leave --{kind} out")
    if explicit:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise UserError(f"{path}: {_missing(path)}")
        return path
    env = os.environ.get(ENV_VAR[kind])
    if env:
        path = Path(env).expanduser()
        if not path.is_file():
            raise UserError(f"{path} (from ${ENV_VAR[kind]}): {_missing(path)}")
        return path
    path = weights_dir() / DEFAULT_FILENAME[kind]
    if not path.is_file():
        flag = "--vgg" if kind == "vgg" else "--decoder"
        raise UserError(
            f"no {kind} weights found: run `realtime-adain weights download` (or pass {flag} PATH)"
        )
    return path


def file_sha256(path: str | os.PathLike) -> str:
    """The file's SHA-256; a file that cannot be read (permissions, an I/O error) is a UserError
    naming it, not a bare OSError that says which file only sometimes."""
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    except OSError as exc:
        raise UserError(f"{path}: cannot read it ({exc.strerror or exc})") from None
    return digest.hexdigest()


def parameters_sha256(module: nn.Module) -> str:
    """A digest of a module's parameters, so networks that never touched a file have an identity."""
    digest = hashlib.sha256()
    for name, tensor in module.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


@dataclass
class LoadedWeights:
    state_dict: dict[str, torch.Tensor]
    metadata: dict[str, str]


def _load_failure(exc: Exception) -> str:
    """Why loading failed, in words: a foreign file makes torch.load fail in pickle (KeyError: '105')."""
    if isinstance(exc, (KeyError, EOFError, pickle.UnpicklingError)):
        return "not a PyTorch or safetensors file, or cut short"
    text = str(exc).strip()
    # A zip archive cut short or altered: miniz jargon, or EINVAL from seeking past its end.
    if "PytorchStreamReader" in text or (isinstance(exc, OSError) and exc.errno == errno.EINVAL):
        return "a damaged or incomplete PyTorch archive"
    return text.splitlines()[0][:160] if text else type(exc).__name__


def read_weights(path: str | os.PathLike) -> LoadedWeights:
    """A state dict and its metadata from a `.safetensors` or (weights-only) `.pth` file."""
    path = Path(path)
    try:
        if path.suffix == ".safetensors":
            from safetensors import safe_open

            with safe_open(str(path), framework="pt") as handle:
                metadata = dict(handle.metadata() or {})
                state = {key: handle.get_tensor(key) for key in handle.keys()}
            return LoadedWeights(state, metadata)
        with warnings.catch_warnings():  # torch warns about pickle protocols; our line says it all
            warnings.simplefilter("ignore")
            state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise UserError(f"{path}: no such weights file") from None
    except Exception as exc:  # torch/safetensors raise many types for damaged files
        raise UserError(f"{path}: not a readable weights file ({_load_failure(exc)})") from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise UserError(f"{path}: not a state dict of tensors")
    return LoadedWeights(state, {})


def describe_state_dict(state: dict[str, torch.Tensor]) -> str:
    """A guess at what a state dict holds, to make a wrong-file error actionable."""
    first = state.get("0.weight")
    if first is not None and tuple(first.shape) == (3, 3, 1, 1):
        return "it looks like VGG encoder weights"
    if "features.0.weight" in state:
        return "it looks like torchvision VGG-19 weights (only decoders trained against it use them)"
    if "1.weight" in state and state["1.weight"].ndim == 4 and state["1.weight"].shape[1] == 512:
        return "it looks like decoder weights"
    return f"it holds {len(state)} tensors"


def check_state_dict(path: Path, module: nn.Module, state: dict[str, torch.Tensor], what: str) -> None:
    """Raise a clear UserError unless `state` has every key of `module` with the right shape."""
    for key, tensor in module.state_dict().items():
        if key not in state:
            raise UserError(f"{path}: not {what} weights; {describe_state_dict(state)}")
        if tuple(state[key].shape) != tuple(tensor.shape):
            raise UserError(
                f"{path}: not {what} weights: '{key}' has shape {tuple(state[key].shape)}, "
                f"expected {tuple(tensor.shape)}; {describe_state_dict(state)}"
            )
        if not torch.isfinite(state[key]).all():
            raise UserError(f"{path}: corrupt {what} weights: '{key}' holds NaN or Inf")


def load_encoder(path: str | os.PathLike, kind: str = NORMALISED_VGG) -> nn.Module:
    """The encoder up to relu4_1; layers after it in the file are ignored.

    `kind` is the encoder a decoder was trained against (`decoder.encoder_kind`): the published
    normalised VGG by default, or torchvision's ImageNet VGG-19.
    """
    path = Path(path)
    loaded = read_weights(path)
    if kind == TORCHVISION_VGG19:
        first = loaded.state_dict.get("0.weight")
        if first is not None and tuple(first.shape) == (3, 3, 1, 1):  # the normalised VGG's
            raise UserError(
                f"{path}: the decoder was trained against torchvision's VGG-19; pass its weights "
                "(vgg19-dcbb9e9d.pth) with --vgg, not the normalised VGG"
            )
        encoder = TorchvisionVGGEncoder()
        state = torchvision_state_dict(loaded.state_dict)
        check_state_dict(path, encoder, state, "torchvision VGG-19")
        encoder.load_state_dict(state)
        return encoder.eval().requires_grad_(False)
    encoder = Encoder()
    state = {
        key: value
        for key, value in loaded.state_dict.items()
        if key.split(".")[0].isdigit() and int(key.split(".")[0]) < ENCODER_DEPTH
    }
    if not state:
        raise UserError(f"{path}: not VGG encoder weights; {describe_state_dict(loaded.state_dict)}")
    check_state_dict(path, encoder, state, "VGG encoder")
    encoder.load_state_dict(state)
    return encoder.eval().requires_grad_(False)


# Decoder architectures by the name our checkpoints carry in their metadata ("architecture").
DECODER_BUILDERS: dict[str, Callable[[], nn.Module]] = {"plain": Decoder, "skip-concat": SkipConcatDecoder}


def load_decoder(path: str | os.PathLike) -> nn.Module:
    """A decoder from the published `decoder.pth` or one of our safetensors checkpoints.

    `decoder.encoder_kind` says which encoder it was trained against (checkpoint metadata
    "encoder"; the published decoder's is the normalised VGG).
    """
    path = Path(path)
    loaded = read_weights(path)
    architecture = loaded.metadata.get("architecture", "plain")
    if architecture not in DECODER_BUILDERS:
        raise UserError(f"{path}: unknown decoder architecture '{architecture}'")
    encoder_kind = loaded.metadata.get("encoder", NORMALISED_VGG)
    if encoder_kind not in ENCODER_KINDS:
        raise UserError(f"{path}: the decoder was trained against an unknown encoder '{encoder_kind}'")
    decoder = DECODER_BUILDERS[architecture]()
    check_state_dict(path, decoder, loaded.state_dict, f"{architecture} decoder")
    decoder.load_state_dict({k: loaded.state_dict[k] for k in decoder.state_dict()})
    decoder.encoder_kind = encoder_kind
    return decoder.eval().requires_grad_(False)
