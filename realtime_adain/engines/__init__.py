"""Interchangeable engines for the model step, behind one call: `Engine.stylize`.

Every engine is one entry of `REGISTRY`: where it runs, what it needs, how it is made, whether it
builds once per frame shape and what it caches. `unavailable` is the one availability check;
`resolve` turns 'auto' into a concrete engine and checks the one asked for, so a missing package
or GPU is one clear error at start-up instead of a failure mid-stream; `create` builds it.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Callable

import torch

from realtime_adain.engines.base import Engine
from realtime_adain.engines.cache import EngineCache
from realtime_adain.errors import UserError, one_line, quoted
from realtime_adain.model import StyleTransferNet
from realtime_adain.weight_digests import parameters_sha256


def _nothing_missing(device: torch.device) -> str | None:
    return None


def _compile_missing(device: torch.device) -> str | None:
    from realtime_adain.engines.compiled import compile_missing

    return compile_missing(device)


def _tensorrt_missing(device: torch.device) -> str | None:
    from realtime_adain.engines.tensorrt import tensorrt_missing

    return tensorrt_missing(device)


def _onnx_missing(device: torch.device) -> str | None:
    from realtime_adain.engines.onnx import onnxruntime_missing

    return onnxruntime_missing()


@dataclass(frozen=True)
class EngineSpec:
    """One engine: what it runs on, what it needs, how it is made."""

    name: str
    devices: tuple[str, ...]  # device types it runs on
    dtypes: tuple[torch.dtype, ...] | None  # None: every dtype the device runs
    missing: Callable[[torch.device], str | None]  # a package/toolchain it lacks here, else None
    factory: str  # "module:Class"; the class takes (net, device, dtype, weights_id, cache)
    builds_per_shape: bool  # compiles or builds for each new frame shape (minutes on a GPU)
    cache: str | None  # what it keeps in the engine cache ("tensorrt", "onnx") or None
    placement_hint: str = ""  # said when the device or dtype does not suit it
    # The most memory a call takes on the CPU (fp32) for each pixel the network runs, measured
    # (ru_maxrss) with a sixth more for a margin: `Stylizer` refuses a call that cannot fit
    # (`available_memory.refuse_beyond_memory`) before the OOM killer ends it.
    cpu_bytes_per_pixel: int = 0

    def engine_class(self) -> type[Engine]:
        module, cls = self.factory.split(":")
        return getattr(importlib.import_module(module), cls)


REGISTRY: dict[str, EngineSpec] = {spec.name: spec for spec in (
    EngineSpec("eager", ("cpu", "cuda", "mps"), None, _nothing_missing,
               "realtime_adain.engines.eager:EagerEngine", builds_per_shape=False, cache=None,
               cpu_bytes_per_pixel=800),  # (680 measured: 1000 x 24x32 and 1000x768 frames)
    EngineSpec("compile", ("cpu", "cuda"), None, _compile_missing,
               "realtime_adain.engines.compiled:CompiledEngine", builds_per_shape=True, cache=None,
               cpu_bytes_per_pixel=800,  # (eager's: inductor's graph of the same module, not measured)
               placement_hint="the compile engine runs on the CPU or a CUDA GPU (torch.compile on Apple GPUs "
                              "is experimental in PyTorch; use --engine eager on mps)"),
    # (its hint names no 'auto': `bench model --engine` takes none)
    EngineSpec("tensorrt", ("cuda",), None, _tensorrt_missing,
               "realtime_adain.engines.tensorrt:TensorRTEngine", builds_per_shape=True, cache="tensorrt",
               placement_hint="the tensorrt engine needs a CUDA GPU (use --engine eager or onnx on the CPU)"),
    EngineSpec("onnx", ("cpu",), (torch.float32,), _onnx_missing,
               "realtime_adain.engines.onnx:OnnxEngine", builds_per_shape=False, cache="onnx",
               placement_hint="the onnx engine runs on the CPU in fp32 (use --device cpu --dtype fp32)",
               cpu_bytes_per_pixel=1900),  # (1640 measured: onnxruntime's arena)
)}
ENGINES = tuple(REGISTRY)
CHOICES = ("auto", *ENGINES)
GPU_PREFERENCE = ("tensorrt", "compile", "eager")  # what 'auto' takes on a GPU, first that runs


def spec(name: str) -> EngineSpec:
    try:
        return REGISTRY[name]
    except KeyError:
        raise UserError(_unknown(name)) from None


def _unknown(name: str) -> str:
    """An engine name not in `REGISTRY`, said in the CLI's words (the API's: `api_words`)."""
    return f"unknown --engine {quoted(one_line(name))} (use {', '.join(CHOICES)})"


def unavailable(name: str, device: torch.device | str, dtype: torch.dtype) -> str | None:
    """None when engine `name` can run on this device and dtype, else the reason it cannot."""
    if name not in REGISTRY:
        return _unknown(name)
    entry, device = REGISTRY[name], torch.device(device)
    if device.type not in entry.devices or (entry.dtypes is not None and dtype not in entry.dtypes):
        return entry.placement_hint or f"the {name} engine runs on {', '.join(entry.devices)}"
    return entry.missing(device)


def require(name: str, device: torch.device | str, dtype: torch.dtype) -> None:
    """Raise the reason engine `name` cannot run here as a UserError (exports call this too)."""
    reason = unavailable(name, device, dtype)
    if reason:
        raise UserError(reason)


def resolve(name: str, device: torch.device, dtype: torch.dtype, weights_id: str | None = None) -> str:
    """'auto' -> tensorrt > compile > eager on a GPU (eager on mps), `cpu_auto` on the CPU; else
    check `name`."""
    device = torch.device(device)
    if name == "auto":
        if device.type == "cpu":
            return cpu_auto(weights_id, dtype)
        return next(n for n in GPU_PREFERENCE if unavailable(n, device, dtype) is None)
    require(name, device, dtype)
    return name


def cpu_auto(weights_id: str | None, dtype: torch.dtype) -> str:
    """onnx when an export of these weights is already cached, else eager.

    onnxruntime and torch.compile run somewhat faster than eager on the CPU (docs/BENCHMARKS.md),
    but compile must first compile every new frame shape (minutes), while one onnx export serves
    every size. That export costs seconds to tens of seconds, so 'auto' takes onnx only once
    `realtime-adain export --format onnx` (or an `--engine onnx` run) has paid it; eager starts at once.
    """
    if weights_id and unavailable("onnx", torch.device("cpu"), dtype) is None:
        from realtime_adain.engines.onnx import onnx_cached

        if onnx_cached(weights_id):
            return "onnx"
    return "eager"


def available(device: torch.device, dtype: torch.dtype) -> list[str]:
    """The engines that can run here, in registry order."""
    return [n for n in ENGINES if unavailable(n, device, dtype) is None]


def create(
    name: str, net: StyleTransferNet, device: torch.device, dtype: torch.dtype,
    weights_id: str | None = None, cache: EngineCache | None = None,
) -> Engine:
    """A ready engine `name` ('auto' allowed); `net` is already on device and dtype.

    `weights_id` keys cached engines; without one, it is a digest of the net's parameters.
    """
    name = resolve(name, device, dtype, weights_id)
    weights_id = weights_id or parameters_sha256(net)[:16]
    return REGISTRY[name].engine_class()(net, torch.device(device), dtype, weights_id, cache)


__all__ = ["CHOICES", "ENGINES", "Engine", "EngineCache", "EngineSpec", "REGISTRY", "available", "create",
           "require", "resolve", "spec", "unavailable"]
