"""Adaptive instance normalisation and the per-style statistics it needs.

A style is reduced once to the channel-wise mean and std of its relu4_1 features (`StyleStats`);
every frame then only needs `adain(content_features, stats)`. Definitions follow the reference
implementation: unbiased variance over the spatial positions, plus eps = 1e-5, then sqrt.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import torch
import torch.nn.functional as F

from realtime_adain.settings import check_weights, scaled_weights, weight_values

EPS = 1e-5


def calc_mean_std(feat: torch.Tensor, eps: float = EPS) -> tuple[torch.Tensor, torch.Tensor]:
    """Channel-wise mean and std of an (N, C, H, W) batch, each shaped (N, C, 1, 1).

    Computed in at least fp32: relu4_1 activations are in the hundreds, so their
    variance overflows fp16 (max 65504); the std itself fits, and is returned in `feat`'s dtype.
    """
    n, c = feat.shape[:2]
    flat = feat.reshape(n, c, -1).to(torch.promote_types(feat.dtype, torch.float32))
    mean = flat.mean(dim=2).reshape(n, c, 1, 1)
    std = (flat.var(dim=2) + eps).sqrt().reshape(n, c, 1, 1)
    return mean.to(feat.dtype), std.to(feat.dtype)


ContentStats = Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


def adain(content: torch.Tensor, style_mean: torch.Tensor, style_std: torch.Tensor,
          content_stats: ContentStats | None = None) -> torch.Tensor:
    """AdaIN(x, y) = sigma(y) * (x - mu(x)) / sigma(x) + mu(y), with y given by its statistics.

    `style_mean` and `style_std` broadcast against (N, C, 1, 1): shape (C,), (1, C) or (N, C).
    `content_stats`, if given, maps the content's (mean, std) to the ones to normalise by
    (temporal.ContentStatsSmoother smooths them across video frames).
    """
    n, c = content.shape[:2]
    mean, std = calc_mean_std(content)
    if content_stats is not None:
        mean, std = content_stats(mean, std)
    style_mean = style_mean.reshape(-1, c, 1, 1)
    style_std = style_std.reshape(-1, c, 1, 1)
    return (content - mean) / std * style_std + style_mean


def _agreed(values: list[str]) -> str:
    """One fact of a style's mean and std: one value where they agree, else both ('float16/float32')."""
    return values[0] if values[0] == values[1] else "/".join(values)


def _channels(tensor: torch.Tensor) -> str:
    """A style's channels, its last dimension, after any leading ones ('2 x 512': a batch's
    statistics; the count of all values said 1024 channels)."""
    return " x ".join(str(side) for side in tensor.shape) or "1"


def _kind(value: object) -> str:
    """What a style's part is, by its kind alone: 'nested tensor' or its type's name ('ndarray')."""
    return "nested tensor" if isinstance(value, torch.Tensor) and value.is_nested else type(value).__name__


def _average(tensor: torch.Tensor) -> str:
    """The average of `tensor`'s values to 3 digits; '?' where there is none to show (no values, a
    'meta' or complex tensor, a dtype without arithmetic such as torch.bits8)."""
    if tensor.numel() == 0 or tensor.is_complex() or tensor.is_meta:  # (a meta tensor's mean took 4 s to refuse)
        return "?"
    try:
        return f"{tensor.detach().float().mean().item():.3g}"
    except (RuntimeError, TypeError, ValueError):
        return "?"


def blend(content: torch.Tensor, target: torch.Tensor, alpha: torch.Tensor | float) -> torch.Tensor:
    """The paper's content/style trade-off: alpha * t + (1 - alpha) * f(c)."""
    if isinstance(alpha, torch.Tensor):
        alpha = alpha.reshape(-1, 1, 1, 1)
    return alpha * target + (1 - alpha) * content


@dataclass(frozen=True, eq=False, repr=False)
class StyleStats:
    """The only thing kept of a style image: per-channel mean and std at relu4_1, shape (C,).

    Compared and hashed by identity: tensors compared by value make no single bool (`S == S2` and
    `S in styles` raised "Boolean value of Tensor ... is ambiguous")."""

    mean: torch.Tensor
    std: torch.Tensor

    def __repr__(self) -> str:
        """A summary, not the values: the dataclass's repr printed all 1024 (110 to 170 lines for
        the REPL's echo of `st.style(...)`). Never raises, whatever a caller built it from."""
        tensors = (self.mean, self.std)
        if not all(isinstance(tensor, torch.Tensor) and not tensor.is_nested for tensor in tensors):
            # (a nested tensor has no shape: "NestedTensorImpl doesn't support sizes")
            return f"StyleStats(mean={_kind(self.mean)}, std={_kind(self.std)})"
        channels, dtype, device = (_agreed([fact(tensor) for tensor in tensors]) for fact in (
            _channels, lambda tensor: str(tensor.dtype).removeprefix("torch."),
            lambda tensor: str(tensor.device)))
        averages = f"mean {_average(self.mean)}, std {_average(self.std)}"
        return f"StyleStats({channels} channels, {dtype}, {device}, {averages})"

    @classmethod
    def of_features(cls, feat: torch.Tensor) -> "StyleStats":
        """The statistics of `feat`'s first image, as ordinary CPU tensors even under
        `torch.inference_mode` (`Stylizer.style_stats` runs in it): a caller may change a style in
        place (`style.std.mul_(0.5)`, docs/api.md), which an inference tensor refuses outside it.
        `feat` is an (N, C, H, W) tensor (None and a 1-D one failed inside the unpacking)."""
        if not isinstance(feat, torch.Tensor):
            raise TypeError(f"feat must be an (N, C, H, W) torch tensor of features, got {type(feat).__name__}")
        if feat.ndim != 4 or 0 in feat.shape:
            raise ValueError(f"feat must be an (N, C, H, W) tensor of features, got shape {tuple(feat.shape)}")
        mean, std = (stat.flatten().float().cpu() for stat in calc_mean_std(feat[:1]))
        with torch.inference_mode(False):  # (a clone made outside it is ordinary: 1024 floats)
            return cls(mean.clone(), std.clone())

    def snapshot(self) -> tuple:
        """What the caches of a style's check and upload keep, to see by `changed_since` whether the
        values changed (a caller's statistics scaled in place gave the old picture): a copy of CPU
        tensors (a numpy array they share, `.data`, or `inference_mode` change them unseen by torch's
        version counter; 512 values), torch's version counter of the others (inference tensors: none)."""
        return tuple(tensor.detach().clone() if tensor.device.type == "cpu" else
                     0 if tensor.is_inference() else tensor._version for tensor in (self.mean, self.std))

    def changed_since(self, snapshot: tuple) -> bool:
        """Whether the values changed since `snapshot` (`StyleStats.snapshot`) was taken; called per
        batch, so `snapshot` is checked by its kind and length only (None was 'not iterable')."""
        if not isinstance(snapshot, tuple) or len(snapshot) != 2:
            got = f"a tuple of {len(snapshot)}" if isinstance(snapshot, tuple) else type(snapshot).__name__
            raise TypeError(f"snapshot must be what StyleStats.snapshot() returns, got {got}")
        for tensor, kept in zip((self.mean, self.std), snapshot):
            if isinstance(kept, torch.Tensor):
                if tensor.device.type != "cpu" or tensor.shape != kept.shape or not torch.equal(tensor.detach(), kept):
                    return True
            elif tensor.device.type == "cpu" or kept != (0 if tensor.is_inference() else tensor._version):
                return True
        return False

    def to(self, device: torch.device | str, dtype: torch.dtype | None = None) -> "StyleStats":
        """These statistics on `device` (in `dtype`), the device checked first as `Stylizer.load`
        checks it: torch took 'meta' and 'cpu:1', which no stylizer runs on, and said 'xpu' with a
        bare AssertionError; a device that cannot be had is one line, not torch's error of several.
        An int is refused as `Stylizer.load` refuses it (it was taken as 'cuda:N'); a dtype that
        is not floating too: torch.bool passed (for `stylize` to refuse), int8 cut the values. The
        parts are checked by their kinds (`check_tensors`), as `stylize` and `mix` check them."""
        from realtime_adain.devices import device_argument

        if dtype is not None and not isinstance(dtype, torch.dtype):  # ('float16': torch's error of several)
            raise TypeError(f"dtype must be a torch.dtype or None, got {type(dtype).__name__}")
        if dtype is not None and (not dtype.is_floating_point or dtype.itemsize < 2):  # (float8 rounded 60.3 to 64)
            raise ValueError(f"dtype {dtype} cannot hold a style's statistics (use a floating dtype such as "
                             "torch.float32, torch.float16 or torch.bfloat16)")
        resolved = device_argument(device)  # ('auto' too, as the message offers it)
        check_tensors(self)  # (a meta tensor was torch's "Cannot copy out of meta tensor", an ndarray "no attribute 'to'")
        return StyleStats(self.mean.to(resolved, dtype), self.std.to(resolved, dtype))

    @staticmethod
    def mix(styles: Sequence["StyleStats"], weights: Sequence[float]) -> "StyleStats":
        """Statistics whose AdaIN output is the weighted mix of the styles' AdaIN outputs.

        AdaIN is affine in (mean, std), so sum_i w_i AdaIN(x; s_i) with sum_i w_i = 1 equals AdaIN
        with the weighted mean and std: mixing costs nothing per frame. Weights are normalised to
        sum to 1, as the reference's interpolation weights are. Styles from any device or dtype
        mix on the CPU, in fp32 at least.
        """
        if isinstance(styles, StyleStats) or not isinstance(styles, Sequence):
            raise TypeError(f"styles must be a list of StyleStats, got {type(styles).__name__}")
        # (the kinds stylize_video's mix= takes: a dict or set was taken by its keys, a range too)
        check_weights(weights, "weights", optional=False)
        if len(styles) != len(weights):
            raise ValueError(f"{len(weights)} mix weight{'s' * (len(weights) != 1)} for {len(styles)} "
                             f"style{'s' * (len(styles) != 1)}")
        if not styles:
            raise ValueError("no styles to mix: give at least one")
        # (each one's kind checked, and 10**400 refused, above; scaled to at most 1, so the sum cannot overflow)
        scaled = scaled_weights(weight_values(weights, "weights"), "weights")
        styles = [check_stats(s, f"styles[{i}]", channels=None) for i, s in enumerate(styles)]
        if len({(s.mean.numel(), s.std.numel()) for s in styles}) > 1:
            raise ValueError(f"styles hold different numbers of channels: {[s.mean.numel() for s in styles]}")
        # (not torch.promote_types: it refuses float8, "Promotion for Float8 Types is not supported")
        wide = any(part.dtype == torch.float64 for s in styles for part in (s.mean, s.std))
        styles = [s.to("cpu", torch.float64 if wide else torch.float32) for s in styles]
        total = sum(scaled)
        mean = sum(w / total * s.mean.reshape(-1) for w, s in zip(scaled, styles))
        std = sum(w / total * s.std.reshape(-1) for w, s in zip(scaled, styles))
        return StyleStats(mean, std)


CHANNELS = 512  # relu4_1's channels: every encoder's statistics have this many


def check_tensors(style: "StyleStats", name: str = "style") -> "StyleStats":
    """`style`'s parts are real, dense tensors that hold values, by their kinds alone (no pass over the
    values, which on a GPU waits for the device: `StyleStats.to` runs per masked frame); else a
    TypeError/ValueError naming the part."""
    if not isinstance(style, StyleStats):
        raise TypeError(f"{name} must be StyleStats (from Stylizer.style), got {type(style).__name__}")
    for part in ("mean", "std"):
        value = getattr(style, part)
        if not isinstance(value, torch.Tensor) or value.is_complex() or value.dtype == torch.bool:
            raise TypeError(f"{name}.{part} must be a real torch tensor, got "
                            f"{value.dtype if isinstance(value, torch.Tensor) else type(value).__name__}")
        if value.is_nested:  # (its layout is torch.strided; any use failed inside torch, 93 lines)
            raise TypeError(f"{name}.{part} must be a dense tensor, got a nested tensor")
        if value.layout != torch.strided:  # (a sparse one failed deep inside torch)
            raise TypeError(f"{name}.{part} must be a dense tensor, got layout {value.layout}")
        if value.device.type == "meta":
            raise ValueError(f"{name}.{part} is on the meta device: it holds no values")
    return style


def check_stats(style: "StyleStats", name: str = "style", channels: int | None = CHANNELS) -> "StyleStats":
    """A StyleStats a caller built or kept is what `Stylizer.style` gives: `channels` finite means
    and non-negative stds in real tensors; else a TypeError/ValueError naming it, not a torch
    error mid-stream (None: any count). Values of any real dtype that converts to float32 are
    checked as float32 (float8 and uint16 have no comparisons in torch: `std < 0` raised its
    NotImplementedError); one that does not (torch.bits8, torch.uint4) is a TypeError."""
    check_tensors(style, name)
    for part in ("mean", "std"):
        value = getattr(style, part)
        if channels is not None and value.numel() != channels:
            raise ValueError(f"{name}.{part} has {value.numel()} values, a style has {channels} "
                             f"(use Stylizer.style)")
        try:
            as_float = value.to(torch.float32)
        except (RuntimeError, NotImplementedError):  # ('"copy_" not implemented for 'Bits8'')
            raise TypeError(f"{name}.{part} holds {value.dtype} values, which torch cannot convert to float32 "
                            "(use float32)") from None
        # (float64 values past float32's range, 1e300, became inf in the network: a black picture)
        if not torch.isfinite(as_float).all():
            raise ValueError(f"{name}.{part} holds NaN or infinite values, or values too large for float32 "
                             f"(beyond {torch.finfo(torch.float32).max:.3g})")
        if part == "std" and (as_float < 0).any():
            raise ValueError(f"{name}.std holds negative values")
    return style


def masked_adain(content: torch.Tensor, mask: torch.Tensor, styles: Sequence[StyleStats]) -> torch.Tensor:
    """Spatial control as in the original implementation: region k of `mask` gets style k.

    `mask` is (H, W) of style indices at the feature resolution. Each region's content features are
    normalised with that region's own statistics and given its style's statistics.

    A region of one position (a patch of up to 8x8 pixels) has no unbiased variance, and needs
    none: x - mu(x) is 0 there, so AdaIN gives the style's mean whatever positive std normalises
    it (it was left unstyled). Normalising by the whole picture's statistics instead would keep
    more of its content, but is not AdaIN of the region, which every larger region gets.
    """
    out = content.clone()
    c = content.shape[1]
    for n in range(content.shape[0]):
        flat = content[n].reshape(c, -1)
        out_flat = out[n].reshape(c, -1)
        for index, style in enumerate(styles):
            cols = (mask.flatten() == index).nonzero().flatten()
            if cols.numel() == 1:
                out_flat[:, cols] = style.mean.to(out_flat).reshape(c, 1)
            if cols.numel() < 2:
                continue
            region = flat[:, cols].reshape(1, c, -1, 1)
            target = adain(region, style.mean.to(region), style.std.to(region))
            out_flat[:, cols] = target.reshape(c, -1)
    return out


def resize_mask(mask: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Nearest-neighbour resize of an (H, W) integer label mask to `size` (h, w)."""
    resized = F.interpolate(mask[None, None].float(), size=size, mode="nearest")
    return resized[0, 0].long()
