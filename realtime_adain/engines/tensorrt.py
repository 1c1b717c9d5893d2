"""TensorRT through torch-tensorrt: the whole graph as one engine per frame shape.

The style mean/std and alpha are engine inputs, so switching or mixing styles never rebuilds.
Engines are static-shape (the fastest tactics; a video or camera keeps its size) and cached under
a key of the weights, shape, precision, GPU and TensorRT/torch-tensorrt versions: a stale or
foreign engine is rebuilt, not loaded. Engines are built only where torch-tensorrt and a GPU exist;
the graph handed to torch-tensorrt is checked without a GPU by its dry run
(tests/test_engines_tensorrt.py, docs/engines.md "TensorRT details").
"""

from __future__ import annotations

import copy
import importlib.util
from pathlib import Path

import torch
from torch import nn

from realtime_adain.engines import base
from realtime_adain.engines.base import Engine
from realtime_adain.engines.cache import EngineCache, graph_code
from realtime_adain.library_signals import signals_through_libraries
from realtime_adain.model import StyleTransferNet, example_inputs, padded_size
from realtime_adain.networks import DOWNSAMPLING

PRECISIONS = {torch.float16: "fp16", torch.float32: "fp32", torch.bfloat16: "bf16"}


def tensorrt_missing(device: torch.device | None = None) -> str | None:
    """None when TensorRT engines can be built on this CUDA device, else why not (the registry
    has already checked that the device is a GPU). The GPU first: installing torch-tensorrt on a
    machine without one (it may replace torch) still builds nothing."""
    if not torch.cuda.is_available():
        return "the tensorrt engine needs a CUDA GPU"
    if not (importlib.util.find_spec("torch_tensorrt") and importlib.util.find_spec("tensorrt")):
        return "the tensorrt engine needs torch-tensorrt: pip install 'realtime-adain[tensorrt]'"
    return import_problem()


def import_problem() -> str | None:
    """None when torch-tensorrt imports, else why not in one line (it looks for NVIDIA's TensorRT
    libraries, which come from NVIDIA's package index, as it loads)."""
    return base.import_problem("torch_tensorrt", "torch-tensorrt")


def shape_name(shape: tuple[int, ...]) -> str:
    return "x".join(str(s) for s in shape)


def tensorrt_components(weights_id: str, shape: tuple[int, ...], dtype: torch.dtype, device: torch.device) -> dict[str, str]:
    """Everything an engine's validity depends on; any change gives another cache key."""
    import tensorrt
    import torch_tensorrt

    major, minor = torch.cuda.get_device_capability(device)
    return {
        "kind": "tensorrt", "weights": weights_id, "shape": shape_name(shape), "precision": PRECISIONS[dtype],
        "gpu": f"{torch.cuda.get_device_name(device)} sm_{major}{minor}",
        "tensorrt": tensorrt.__version__, "torch_tensorrt": torch_tensorrt.__version__, "torch": torch.__version__,
        "code": graph_code("engines/tensorrt.py"),
    }


# Strong typing (the default since torch-tensorrt 2.10, the only mode in 2.14) makes every layer
# run in the dtype the graph has: fp16 convolutions for an fp16 copy of the model, and the fp32
# AdaIN statistics (adain.calc_mean_std upcasts: fp16 variance overflows) stay fp32. So no
# precision option is passed. A graph that would not go to TensorRT whole fails to build instead
# of silently running partly in PyTorch.
COMPILE_OPTIONS = {"require_full_compilation": True}


def engine_model(net: StyleTransferNet, dtype: torch.dtype, device: torch.device) -> StyleTransferNet:
    """A copy of `net` for TensorRT, whose inputs always have sides that are multiples of 8.

    torch-tensorrt has no converter for ceil_mode max pooling (the published VGG's), so it would
    run the 3 pools in PyTorch and split the graph into 4 engines. On sides that are multiples of
    8 every pool sees even sizes, where ceil and floor modes give the same result.
    """
    model = copy.deepcopy(net).to(device, dtype).to(memory_format=torch.contiguous_format).eval()
    for module in model.modules():
        if isinstance(module, nn.MaxPool2d):
            module.ceil_mode = False
    return model


def export_graph(net: StyleTransferNet, shape: tuple[int, ...], dtype: torch.dtype, device: torch.device):
    """(ExportedProgram, example inputs) of the engine graph for (N, 3, H, W) images."""
    if len(shape) != 4 or shape[1] != 3 or shape[2] % DOWNSAMPLING or shape[3] % DOWNSAMPLING:
        raise ValueError(f"engine shape must be (N, 3, H, W) with H, W multiples of {DOWNSAMPLING}, got {shape}")
    example = list(example_inputs(shape, dtype, device))
    with torch.no_grad():
        return torch.export.export(engine_model(net, dtype, device), tuple(example)), example


def build_engine(net: StyleTransferNet, shape: tuple[int, ...], dtype: torch.dtype, device: torch.device, path: Path) -> None:
    """Compile the graph for (N, 3, H, W) images (H, W multiples of 8) and save it to `path`."""
    import torch_tensorrt

    with signals_through_libraries():  # (it may take a Ctrl-C for an error of its own, as the ONNX exporter does)
        exported, example = export_graph(net, shape, dtype, device)
        with torch.no_grad():
            compiled = torch_tensorrt.dynamo.compile(exported, inputs=example, **COMPILE_OPTIONS)
            torch_tensorrt.save(compiled, str(path), output_format="exported_program", inputs=example)


def load_engine(path: Path) -> torch.nn.Module:
    """The saved ExportedProgram (torch_tensorrt.load returns torch.export.load's) as a module."""
    import torch_tensorrt

    return torch_tensorrt.load(str(path)).module()


def cached_engine(
    net: StyleTransferNet, weights_id: str, shape: tuple[int, ...], dtype: torch.dtype, device: torch.device,
    cache: EngineCache | None = None, rebuild: bool = False,
) -> tuple[torch.nn.Module, bool]:
    """The engine for this shape from the cache, built first if missing or stale; (engine, built)."""
    from realtime_adain import engines

    engines.require("tensorrt", device, dtype)
    cache = cache or EngineCache.for_run()
    components = tensorrt_components(weights_id, shape, dtype, device)
    return cache.get_or_build(
        components, ".ep", lambda tmp: build_engine(net, shape, dtype, device, tmp), load_engine, rebuild=rebuild
    )


class TensorRTEngine(Engine):
    name = "tensorrt"
    memory_format = torch.contiguous_format  # the engine's input binding is plain NCHW

    def __init__(self, net: StyleTransferNet, device: torch.device, dtype: torch.dtype, weights_id: str,
                 cache: EngineCache | None = None) -> None:
        super().__init__(net, device, dtype)
        self.weights_id = weights_id
        self.cache = EngineCache.of_engine(cache)
        self.engines: dict[tuple[int, ...], torch.nn.Module] = {}
        self.builds = 0  # engines built (not loaded) by this engine: style switches add none

    def engine_for(self, shape: tuple[int, ...]) -> torch.nn.Module:
        if shape not in self.engines:
            engine, built = cached_engine(self.net, self.weights_id, shape, self.dtype, self.device, self.cache)
            self.engines[shape] = engine
            self.builds += int(built)
        return self.engines[shape]

    def prepare(self, batch: int, height: int, width: int) -> None:
        self.engine_for((batch, 3, *padded_size(height, width)))

    def step(self, images, mean, std, alpha):
        return self.engine_for(tuple(images.shape))(images, mean, std, alpha)
