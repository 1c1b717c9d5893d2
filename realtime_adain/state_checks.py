"""Checking loaded weights against the network they are for: every tensor there with its shape,
plain floats, finite (a wrong file said as what it looks like), and the network's output on a test
input finite and within bounds.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
from torch import nn

from realtime_adain.errors import UserError


def describe_state_dict(state: dict[str, torch.Tensor], wanted: str = "") -> str:
    """A guess at what a state dict holds, to make a wrong-file error actionable (for the
    `wanted` weights: a trainer state points at its decoder file only where a decoder was wanted)."""
    first = state.get("0.weight")
    if first is not None and tuple(first.shape) == (3, 3, 1, 1):
        return "it looks like VGG encoder weights"
    if "features.0.weight" in state:
        return "it looks like torchvision VGG-19 weights (only decoders trained against it use them)"
    if "1.weight" in state and state["1.weight"].ndim == 4 and state["1.weight"].shape[1] == 512:
        return "it looks like decoder weights"
    if any(key.startswith(("optimizer.", "rng.")) for key in state):
        beside = "; give the decoder_iter_N file beside it" if wanted.endswith("decoder") else ""
        return f"it looks like a trainer state (trainer_iter_N){beside}"
    count = len(state)  # ("it holds 1 tensors" was said)
    return f"it holds {count or 'no'} tensor{'s' if count != 1 else ''}"


def check_state_dict(path: Path, module: nn.Module, state: dict[str, torch.Tensor], what: str) -> None:
    """Raise a clear UserError unless `state` has every key of `module` with the right shape."""
    expected = module.state_dict()
    kind_of_weights = f"{what.split()[-1]} weights"  # ("decoder weights"), as describe_state_dict guesses them
    for key, tensor in expected.items():
        if key not in state:
            missing = [name for name in expected if name not in state]
            guess = describe_state_dict(state, what)
            if len(missing) * 2 <= len(expected) or kind_of_weights in guess:  # ("not VGG encoder weights; it looks like VGG encoder weights")
                more = f" and {len(missing) - 1} more" if len(missing) > 1 else ""
                raise UserError(f"{path}: incomplete {what} weights: '{key}'{more} missing of {len(expected)} tensors "
                                "(a file cut short or edited?)")
            raise UserError(f"{path}: not {what} weights; {guess}")
        if tuple(state[key].shape) != tuple(tensor.shape):
            shapes = f"'{key}' has shape {tuple(state[key].shape)}, expected {tuple(tensor.shape)}"
            if kind_of_weights in (guess := describe_state_dict(state, what)):  # (was "not ...; it looks like decoder weights")
                raise UserError(f"{path}: {kind_of_weights} of another shape: {shapes}")
            raise UserError(f"{path}: not {what} weights: {shapes}; {guess}")
        kind = _not_plain_floats(state[key])
        if kind:  # copying into float parameters would cast or fail: 8-bit ints give a white image
            raise UserError(f"{path}: not {what} weights: '{key}' holds {kind}")
        if not all_finite(state[key]):
            raise UserError(f"{path}: corrupt {what} weights: '{key}' holds NaN or Inf")


def all_finite(tensor: torch.Tensor) -> bool:
    """Whether every value of a floating-point tensor is finite. A NaN or an Inf makes the sum NaN or
    Inf, so a finite sum settles it in one pass without a mask as large as the tensor (the mask
    took a third of loading the VGG); only a sum that overflowed is checked value by value."""
    return bool(torch.isfinite(tensor.sum())) or bool(torch.isfinite(tensor).all())


# The floats a network can be loaded from: 8- and 4-bit ones (float8_e4m3fn, ...) have no
# isfinite in torch, nor all a cast (a traceback), and no published weights use them.
PLAIN_FLOATS = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


def _not_plain_floats(tensor: torch.Tensor) -> str | None:
    """What a loaded tensor holds when it is not a dense tensor of 16-, 32- or 64-bit floats with
    its data (sparse, quantized or meta tensors, integers, booleans, complex numbers, float8),
    else None."""
    if tensor.layout != torch.strided:
        return f"a {str(tensor.layout).removeprefix('torch.')} tensor, not a dense one"
    if tensor.is_meta:
        return "no data (a meta tensor)"
    dtype = str(tensor.dtype).removeprefix("torch.")
    if tensor.is_quantized or not tensor.dtype.is_floating_point:
        return f"{dtype} values, not floating-point numbers"
    if tensor.dtype not in PLAIN_FLOATS:
        return f"{dtype} values, not 16-, 32- or 64-bit floating-point numbers"
    return None


# The largest value a decoder may give on `relu_like_features`: a picture is 0..1; on them the
# stand-in decoders reach 1.2, freshly initialised ones 0.04 (plain) and 8-13 (skip-concat), and a
# trained decoder, whose features there are up to 100 times a real picture's, a few hundred at
# most. A last layer scaled by 5e4 (a peak of 6e4) still passed 1e5 and gave all-white pictures.
MAX_TEST_OUTPUT = 1e4


def relu_like_features(channels: int, side: int, generator: torch.Generator) -> torch.Tensor:
    """(1, channels, side, side) features as a VGG layer's ReLU gives them: nonnegative, varied, each
    channel of its own size from 0.1 to 100 (the published VGG's relu4_1 averages about 1 a channel,
    stand-in weights' reach the hundreds). A constant input let the weights' sums cancel: a
    decoder scaled to 1e38 passed on ones, then overflowed on every real picture."""
    scales = torch.logspace(-1, 2, channels)[torch.randperm(channels, generator=generator)]
    return torch.randn(1, channels, side, side, generator=generator).clamp_(min=0) * scales.view(1, -1, 1, 1)


def check_output_finite(path: Path, module: nn.Module, inputs: tuple, what: str, largest: float = math.inf) -> None:
    """Raise unless `module(*inputs)` is finite and within +-`largest`: finite but huge weights
    (1e30) overflow to Inf and NaN inside the network, which the frames show as black, silently,
    or give values no picture has (white)."""
    with torch.inference_mode():
        out = module(*inputs)
    out = out[-1] if isinstance(out, list) else out
    if not torch.isfinite(out).all():
        raise UserError(f"{path}: corrupt {what} weights: the network overflows (Inf or NaN) on a test input; "
                        "its values are far too large")
    if (reached := float(out.abs().max())) > largest:
        raise UserError(f"{path}: corrupt {what} weights: its output reaches {reached:.3g} on a test input, where "
                        f"a picture is 0..1; its values are far too large")
