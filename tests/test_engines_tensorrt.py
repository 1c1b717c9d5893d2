"""The TensorRT engine's graph: what torch-tensorrt is given, checked as far as a CPU allows.

Engine building needs a GPU (tests/test_engines_gpu.py). Here: the engine copy of the model gives
the eager model's output exactly, and, where torch-tensorrt is installed, its own dry run (export,
lowering, converter support and partitioning, but no TensorRT build) puts the whole graph into one
TensorRT engine with no op left to PyTorch.
"""

from __future__ import annotations

import importlib.util

import pytest
import torch

from realtime_adain.engines.tensorrt import COMPILE_OPTIONS, engine_model, export_graph, import_problem

CPU = torch.device("cpu")


def test_engine_model_matches_the_model_on_engine_shapes(stylizer, one_thread):
    """ceil_mode=False pooling (which TensorRT converts) is exact on sides that are multiples of 8."""
    net = stylizer.net
    copy = engine_model(net, torch.float32, CPU)
    assert not any(getattr(m, "ceil_mode", False) for m in copy.modules())
    assert any(getattr(m, "ceil_mode", False) for m in net.modules())  # the original is untouched
    images = torch.rand(2, 3, 40, 24)
    mean, std, alpha = torch.rand(512) * 3, torch.rand(512) * 2 + 0.1, torch.tensor([0.7])
    with torch.no_grad():
        assert torch.equal(copy(images, mean, std, alpha), net(images, mean, std, alpha))
    with pytest.raises(ValueError, match="multiples of 8"):
        export_graph(net, (1, 3, 36, 24), torch.float32, CPU)


@pytest.fixture
def torch_tensorrt(monkeypatch):
    """torch-tensorrt, imported on a machine with or without a GPU.

    Without one, its import-time and compile-time device queries (compute capability, current
    device) are answered as an H100's would be: a dry run reads nothing else from the GPU.
    """
    if not torch.cuda.is_available():
        monkeypatch.setattr(torch.cuda, "get_device_capability", lambda *args, **kwargs: (9, 0))
        monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    problem = "torch-tensorrt is not installed" if importlib.util.find_spec("torch_tensorrt") is None else import_problem()
    if problem:
        pytest.skip(problem)  # installed without its TensorRT libraries: the package is absent in effect
    import torch_tensorrt

    return torch_tensorrt


@pytest.mark.tensorrt
@pytest.mark.parametrize("dtype", [torch.float16, torch.float32])
def test_whole_graph_goes_to_one_tensorrt_engine(torch_tensorrt, stylizer, dtype, one_thread):
    exported, example = export_graph(stylizer.net, (1, 3, 64, 96), dtype, CPU)
    dry = torch_tensorrt.dynamo.compile(exported, inputs=example, dryrun=True, offload_module_to_cpu=True,
                                        **COMPILE_OPTIONS)
    parts = [name for name, _ in dry.named_children()]
    assert parts == ["_run_on_acc_0"], parts  # one TensorRT block, no "_run_on_gpu_" (PyTorch) block
    engine = dry._run_on_acc_0
    ops = {str(n.target) for n in engine.graph.nodes if n.op == "call_function"}
    assert {"aten.convolution.default", "aten.max_pool2d.default", "aten.reflection_pad2d.default",
            "aten.upsample_nearest2d.vec", "aten.sqrt.default"} <= ops
    # Strong typing keeps the AdaIN statistics in fp32 inside an fp16 engine.
    dtypes = {n.meta["val"].dtype for n in engine.graph.nodes if n.op == "call_function" and "val" in n.meta}
    assert dtypes == ({torch.float16, torch.float32} if dtype == torch.float16 else {torch.float32})
    sqrt = next(n for n in engine.graph.nodes if n.target == torch.ops.aten.sqrt.default)
    assert sqrt.meta["val"].dtype == torch.float32


@pytest.mark.tensorrt
def test_ceil_mode_pooling_would_split_the_graph(torch_tensorrt, stylizer, one_thread):
    """Why engine_model exists: the model as is does not go to TensorRT whole."""
    example = [torch.rand(1, 3, 64, 96), torch.zeros(512), torch.ones(512), torch.ones(1)]
    exported = torch.export.export(stylizer.net.eval(), tuple(example))
    with pytest.raises(AssertionError, match="require_full_compilation"):
        torch_tensorrt.dynamo.compile(exported, inputs=example, dryrun=True, offload_module_to_cpu=True,
                                      **COMPILE_OPTIONS)
