"""Interchangeable engines for the model step, behind one call: `Backend.stylize`.

`create(name, net, device, dtype, weights_id)` builds a backend; `resolve(name, device, dtype)`
turns 'auto' into a concrete engine and checks that the one asked for can run here, so a missing
package or GPU is one clear error at start-up instead of a failure mid-stream.
"""

from __future__ import annotations

import torch

from realtime_adain.engines.base import Backend
from realtime_adain.engines.cache import EngineCache
from realtime_adain.errors import UserError
from realtime_adain.model import StyleTransferNet
from realtime_adain.weights import parameters_sha256

ENGINES = ("eager", "compile", "tensorrt", "onnx")
CHOICES = ("auto", *ENGINES)


def unavailable(name: str, device: torch.device, dtype: torch.dtype) -> str | None:
    """None when engine `name` can run on this device and dtype, else the reason it cannot."""
    device = torch.device(device)
    if name == "eager":
        return None
    if name == "compile":
        from realtime_adain.engines.compiled import compile_available

        return compile_available(device)
    if name == "tensorrt":
        from realtime_adain.engines.tensorrt import tensorrt_missing

        return tensorrt_missing(device)
    if name == "onnx":
        from realtime_adain.engines.onnx import onnxruntime_missing

        if device.type != "cpu" or dtype != torch.float32:
            return "the onnx engine runs on the CPU in fp32 (use --device cpu --dtype fp32)"
        return onnxruntime_missing()
    return f"unknown engine '{name}' (use {', '.join(CHOICES)})"


def resolve(name: str, device: torch.device, dtype: torch.dtype, weights_id: str | None = None) -> str:
    """'auto' -> tensorrt > compile > eager on a GPU, `cpu_auto` on the CPU; else check `name`."""
    device = torch.device(device)
    if name == "auto":
        if device.type != "cuda":
            return cpu_auto(weights_id, dtype)
        return next(n for n in ("tensorrt", "compile", "eager") if unavailable(n, device, dtype) is None)
    reason = unavailable(name, device, dtype)
    if reason:
        raise UserError(reason)
    return name


def cpu_auto(weights_id: str | None, dtype: torch.dtype) -> str:
    """onnx when an export of these weights is already cached, else eager.

    Measured at 640x360 fp32 on a 2-core EPYC (docs/BENCHMARKS.md), onnxruntime and torch.compile
    are 1.1-1.4x eager; compile must first compile every new frame shape (minutes), while one onnx
    export serves every size. That export costs seconds to tens of seconds, so 'auto' takes onnx
    only once `realtime-adain export --format onnx` (or an `--engine onnx` run) has paid it; eager
    starts at once.
    """
    if weights_id and unavailable("onnx", torch.device("cpu"), dtype) is None:
        from realtime_adain.engines.onnx import onnx_cached

        if onnx_cached(weights_id):
            return "onnx"
    return "eager"


def available(device: torch.device, dtype: torch.dtype) -> list[str]:
    """The engines that can run here, fastest-first on a GPU."""
    return [n for n in ENGINES if unavailable(n, device, dtype) is None]


def create(
    name: str, net: StyleTransferNet, device: torch.device, dtype: torch.dtype,
    weights_id: str | None = None, cache: EngineCache | None = None,
) -> Backend:
    """A ready backend for engine `name` ('auto' allowed); `net` is already on device and dtype.

    `weights_id` keys cached engines; without one, it is a digest of the net's parameters.
    """
    name = resolve(name, device, dtype, weights_id)
    weights_id = weights_id or parameters_sha256(net)[:16]
    if name == "eager":
        from realtime_adain.engines.eager import EagerBackend

        return EagerBackend(net, device, dtype)
    if name == "compile":
        from realtime_adain.engines.compiled import CompiledBackend

        return CompiledBackend(net, device, dtype)
    if name == "tensorrt":
        from realtime_adain.engines.tensorrt import TensorRTBackend

        return TensorRTBackend(net, device, dtype, weights_id, cache)
    from realtime_adain.engines.onnx import OnnxBackend

    return OnnxBackend(net, device, dtype, weights_id, cache)


__all__ = ["Backend", "CHOICES", "ENGINES", "EngineCache", "available", "create", "resolve", "unavailable"]
