"""The engine interface on the CPU: eager parity with the model, compile vs eager, the engine
cache (keys, stale and foreign engines), engine selection and bad inputs."""

from __future__ import annotations

import copy
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from torch._dynamo.utils import counters

from engines_support import assert_close, content_frames, extreme_frames, style_image
from realtime_adain import engines
from realtime_adain.adain import calc_mean_std
from realtime_adain.engines.cache import EngineCache, cache_key
from realtime_adain.engines.frames import FramePadder
from realtime_adain.errors import UserError
from realtime_adain.model import pad_to_multiple


def reference_stylize(stylizer, frames: np.ndarray, style, alpha: float) -> np.ndarray:
    """The model called directly, as `Stylizer.stylize` did before engines existed."""
    with torch.inference_mode():
        images = stylizer.to_tensor(frames)
        out = stylizer.net(images, style.mean, style.std, torch.tensor(alpha))
    result = stylizer.to_uint8(out)
    return result if frames.ndim == 4 else result[0]


@pytest.fixture(scope="module")
def style(stylizer, data_dir):
    return stylizer.style_stats(style_image(data_dir))


def test_eager_engine_is_exactly_the_model(stylizer, style, data_dir):
    """Single frames of sizes that need padding, and a batch: bit-identical to the model."""
    assert stylizer.engine_name == "eager" and stylizer.engine.name == "eager"
    for frame in content_frames(data_dir, 45):
        assert frame.shape[1] % 8 != 0
        np.testing.assert_array_equal(stylizer.stylize(frame, style, 0.7), reference_stylize(stylizer, frame, style, 0.7))
    batch = np.stack([f[:40, :56] for f in content_frames(data_dir, 48)])
    out = stylizer.stylize(batch, style, 1.0)
    assert out.shape == batch.shape
    np.testing.assert_array_equal(out, reference_stylize(stylizer, batch, style, 1.0))


def test_extreme_frames_stay_finite(stylizer, style):
    frames = np.stack(extreme_frames(32, 40))
    with torch.inference_mode():
        raw = stylizer.net(stylizer.to_tensor(frames), style.mean, style.std, torch.tensor(1.0))
    assert torch.isfinite(raw).all()
    np.testing.assert_array_equal(stylizer.stylize(frames, style), stylizer.to_uint8(raw))


def test_stream_matches_single_calls(stylizer, style, data_dir):
    frames = [f[:40, :48] for f in content_frames(data_dir, 48)]
    streamed = list(stylizer.engine.stylize_stream(frames, style, 1.0))
    for frame, out in zip(frames, streamed, strict=True):
        np.testing.assert_array_equal(out, stylizer.stylize(frame, style))


def test_style_switch_uploads_only_statistics(stylizer, style):
    engine = stylizer.engine
    first = engine.style_inputs(style, 0.5)
    assert engine.style_inputs(style, 0.5)[0] is first[0]  # same style: nothing uploaded again
    other = type(style)(style.mean * 0.5, style.std * 2)
    switched = engine.style_inputs(other, 0.25)
    torch.testing.assert_close(switched[1], other.std)
    assert float(switched[2]) == 0.25


def test_fp16_statistics_do_not_overflow():
    """relu4_1-like activations in the hundreds: their variance exceeds fp16's 65504."""
    feat = torch.rand(1, 8, 24, 24, generator=torch.Generator().manual_seed(0)) * 1200
    naive = feat.half().reshape(1, 8, -1).float().var(dim=2).half()
    assert torch.isinf(naive).any()  # what an all-fp16 reduction would produce
    mean, std = calc_mean_std(feat.half())
    ref_mean, ref_std = calc_mean_std(feat)
    assert std.dtype == torch.float16 and torch.isfinite(std).all()
    torch.testing.assert_close(std.float(), ref_std, rtol=2e-3, atol=0)
    torch.testing.assert_close(mean.float(), ref_mean, rtol=2e-3, atol=0)


def fp16_rounded(net: torch.nn.Module) -> torch.nn.Module:
    """A copy of `net` that stores weights and every layer's input and output at fp16 precision
    (overflow included) while computing in fp32: what fp16 kernels with fp32 accumulation do."""
    rounded = copy.deepcopy(net)
    for parameter in rounded.parameters():
        parameter.data = parameter.data.half().float()
    for module in rounded.modules():
        if not list(module.children()):
            module.register_forward_pre_hook(lambda m, args: tuple(a.half().float() for a in args))
            module.register_forward_hook(lambda m, args, out: out.half().float())
    return rounded


def test_fp16_precision_keeps_the_accuracy_targets(stylizer, style, data_dir):
    """The GPU fp16 accuracy targets (PSNR > 40 dB, relative error < 1e-2 against fp32), checked
    here by rounding to fp16 around every layer: real photos, a 360p frame and the dark/bright
    extremes stay finite and within tolerance. (On a GPU, tests/test_engines_gpu.py checks the
    real fp16 kernels; these are synthetic weights with the published first layer.)"""
    rounded = fp16_rounded(stylizer.net)
    stats = style.to("cpu", torch.float16).to("cpu", torch.float32)
    frames = content_frames(data_dir, 200) + content_frames(data_dir, 360, count=1) + extreme_frames(96, 128)
    for frame in frames:
        with torch.inference_mode():
            images = stylizer.to_tensor(frame)
            out = rounded(images, stats.mean, stats.std, torch.tensor(1.0))
        assert torch.isfinite(out).all()
        assert_close(stylizer.stylize(frame, style), stylizer.to_uint8(out)[0])


@pytest.mark.slow  # (default run's time: the corpus's and bench's compile runs; eager and ONNX parity stay)
def test_compile_on_cpu_matches_eager(stylizer, style, data_dir):
    """torch.compile (inductor, frozen weights) on one small shape against eager, compiled once."""
    assert engines.unavailable("compile", stylizer.device, stylizer.dtype) is None  # needs a C++ compiler
    engine = engines.create("compile", stylizer.net, stylizer.device, stylizer.dtype)
    frames = np.stack([f[:32, :40] for f in content_frames(data_dir, 40)] + extreme_frames(32, 40)[:2])
    torch._dynamo.reset()
    counters.clear()
    out = engine.stylize(frames, style, 1.0)
    reference = stylizer.stylize(frames, style, 1.0)
    for ref, got in zip(reference, out):
        assert_close(ref, got)
    # Style switches with statistics of every kind (plain tensors, inference-mode tensors, float64)
    # and a new alpha reuse the compiled graph: nothing is compiled again.
    plain = type(style)(style.mean.clone() * 0.5, style.std.clone() * 2)
    with torch.inference_mode():
        inference = type(style)(style.mean * 2, style.std * 0.5)
    wide = type(style)(style.mean.double(), style.std.double())
    for other, alpha in ((plain, 1.0), (inference, 0.5), (wide, 0.8)):
        for ref, got in zip(stylizer.stylize(frames, other, alpha), engine.stylize(frames, other, alpha)):
            assert_close(ref, got)
    assert counters["stats"]["unique_graphs"] == 1


# --- engine selection and bad inputs ---------------------------------------------------------

@pytest.mark.parametrize("height, width", [(360, 640), (45, 67), (5, 200), (13, 3), (1, 1)])
def test_frame_padder_pads_as_the_model_into_reused_buffers(height, width):
    """The GPU upload's uint8 padding (run here on the CPU) equals `pad_to_multiple` exactly, and
    a second frame of the same shape lands in the same buffer: nothing is allocated per frame."""
    frames = torch.from_numpy(np.random.default_rng(height).integers(0, 256, (2, height, width, 3), dtype=np.uint8))
    padder = FramePadder(tuple(frames.shape), torch.device("cpu"))
    padded = padder(frames)
    expected = pad_to_multiple(frames.permute(0, 3, 1, 2).float()).permute(0, 2, 3, 1)
    torch.testing.assert_close(padded.float(), expected, rtol=0, atol=0)
    if padder.needed:
        assert padder(frames.flip(0)).data_ptr() == padded.data_ptr()
    else:
        assert padded is frames  # 360p (like 720p and 1080p) needs no padding at all


def test_auto_on_the_cpu_and_unknown_engines():
    cpu = torch.device("cpu")
    assert engines.resolve("auto", cpu, torch.float32) == "eager"
    assert "eager" in engines.available(cpu, torch.float32)
    with pytest.raises(UserError, match="needs a CUDA GPU"):
        engines.resolve("tensorrt", cpu, torch.float32)
    with pytest.raises(UserError, match="unknown --engine 'turbo'"):
        engines.resolve("turbo", cpu, torch.float32)


def test_bad_frames_and_alpha_are_api_misuse(stylizer, style):
    """Wrong kinds and shapes from a caller are TypeError/ValueError, not a user's CLI error."""
    with pytest.raises(TypeError, match="uint8"):
        stylizer.stylize(np.zeros((8, 8, 3), np.float32), style)
    with pytest.raises(ValueError, match="RGB"):
        stylizer.stylize(np.zeros((8, 8), np.uint8), style)
    with pytest.raises(ValueError, match="alpha"):
        stylizer.stylize(np.zeros((16, 16, 3), np.uint8), style, 1.5)


def test_registry_has_one_entry_per_engine():
    """Every engine is described once: devices, dtypes, class, per-shape builds, cache kind."""
    assert engines.ENGINES == ("eager", "compile", "tensorrt", "onnx")
    assert engines.CHOICES == ("auto", *engines.ENGINES)
    for name, entry in engines.REGISTRY.items():
        cls = entry.engine_class()
        assert issubclass(cls, engines.Engine) and cls.name == name
    assert [n for n, e in engines.REGISTRY.items() if e.builds_per_shape] == ["compile", "tensorrt"]
    assert {n: e.cache for n, e in engines.REGISTRY.items()} == {
        "eager": None, "compile": None, "tensorrt": "tensorrt", "onnx": "onnx"}


@pytest.mark.parametrize("name, device, dtype, reason", [
    ("tensorrt", "cpu", torch.float32, "needs a CUDA GPU"),
    ("onnx", "cpu", torch.float16, "runs on the CPU in fp32"),
    ("onnx", "cuda", torch.float32, "runs on the CPU in fp32"),
    ("turbo", "cpu", torch.float32, "unknown --engine 'turbo'"),
])
def test_one_availability_check_gives_the_reason(name, device, dtype, reason):
    assert reason in engines.unavailable(name, device, dtype)
    with pytest.raises(UserError, match=reason):
        engines.require(name, device, dtype)
    assert name not in engines.available(torch.device(device), dtype)


def test_engine_instances_know_whether_they_build_per_shape(stylizer):
    assert stylizer.engine.builds_per_shape is False
    compiled = engines.create("compile", stylizer.net, stylizer.device, stylizer.dtype)
    assert compiled.builds_per_shape is True  # nothing is compiled until a first frame or prepare()


@pytest.mark.skipif(importlib.util.find_spec("torch_tensorrt") is not None, reason="torch-tensorrt is installed here")
def test_tensorrt_where_it_is_not_installed(weights_env, run_cli, data_dir, tmp_path):
    content = sorted((data_dir / "content").glob("*.jpg"))[0]
    style = sorted((data_dir / "style").glob("*.jpg"))[0]
    for args in (
        ("image", content, "-s", style, "-o", tmp_path / "out.png", "--engine", "tensorrt", "--size", "32"),
        ("export", "--format", "tensorrt", "-r", "360p"),
    ):
        code, out, err = run_cli(*args)
        assert code == 2 and "Traceback" not in err
        assert err.strip().splitlines() == [err.strip().splitlines()[-1]]
        assert err.startswith("error: the tensorrt engine needs")
    assert not (tmp_path / "out.png").exists()


# --- the engine cache ------------------------------------------------------------------------

COMPONENTS = {
    "kind": "tensorrt", "weights": "aaaa-bbbb", "shape": "1x3x360x640", "precision": "fp16",
    "gpu": "NVIDIA H100 sm_90", "tensorrt": "10.3.0", "torch_tensorrt": "2.5.0", "torch": "2.5.0",
}


def test_cache_key_changes_with_every_component():
    base = cache_key(COMPONENTS)
    assert cache_key(dict(reversed(list(COMPONENTS.items())))) == base  # order does not matter
    for name in COMPONENTS:
        changed = dict(COMPONENTS, **{name: COMPONENTS[name] + "-other"})
        assert cache_key(changed) != base, name


class Builds:
    """A real build step for cache tests: writes the components it was built for."""

    def __init__(self) -> None:
        self.count = 0

    def build(self, components):
        def write(path):
            self.count += 1
            path.write_text(json.dumps(components))
        return write


def test_cache_builds_once_then_loads(tmp_path):
    cache, builds = EngineCache(tmp_path), Builds()
    first, built = cache.get_or_build(COMPONENTS, ".ep", builds.build(COMPONENTS), lambda p: p.read_text())
    second, built_again = cache.get_or_build(COMPONENTS, ".ep", builds.build(COMPONENTS), lambda p: p.read_text())
    assert (built, built_again, builds.count) == (True, False, 1)
    assert first == second and json.loads(second) == COMPONENTS
    assert not list(tmp_path.glob(".build-*"))  # no temporary leftovers


def test_stale_foreign_and_damaged_engines_are_rebuilt(tmp_path):
    cache, builds = EngineCache(tmp_path), Builds()
    load = lambda p: json.loads(p.read_text())  # noqa: E731 - raises on a damaged file
    cache.get_or_build(COMPONENTS, ".ep", builds.build(COMPONENTS), load)
    entry = cache.entry(COMPONENTS, ".ep")

    # Foreign: a file whose sidecar says another GPU built it, copied under this key's name.
    entry.sidecar.write_text(json.dumps(dict(COMPONENTS, gpu="NVIDIA A100 sm_80")))
    assert not cache.is_valid(entry)
    assert cache.get_or_build(COMPONENTS, ".ep", builds.build(COMPONENTS), load)[1] is True
    # Stale: no sidecar at all (e.g. an interrupted older version).
    entry.sidecar.unlink()
    assert cache.get_or_build(COMPONENTS, ".ep", builds.build(COMPONENTS), load)[1] is True
    # Damaged: the sidecar matches but the file does not load.
    entry.path.write_text("{truncated")
    engine, built = cache.get_or_build(COMPONENTS, ".ep", builds.build(COMPONENTS), load)
    assert built and engine == COMPONENTS and builds.count == 4
    # A new TensorRT version is another key: another file, the old one untouched.
    newer = dict(COMPONENTS, tensorrt="10.4.0")
    assert cache.get_or_build(newer, ".ep", builds.build(newer), load)[1] is True
    assert len(cache.entries()) == 2


def test_clear_removes_only_engines(tmp_path):
    cache, builds = EngineCache(tmp_path), Builds()
    cache.get_or_build(COMPONENTS, ".ep", builds.build(COMPONENTS), lambda p: p)
    (tmp_path / "notes.txt").write_text("mine")
    assert cache.clear()[0] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]


def test_engines_list_and_clear_cli(run_cli, tmp_path, monkeypatch):
    monkeypatch.setenv("REALTIME_ADAIN_ENGINES", str(tmp_path / "cache"))
    code, out, _ = run_cli("engines", "list")
    assert code == 0 and "no engines cached" in out
    EngineCache(tmp_path / "cache").get_or_build(COMPONENTS, ".ep", Builds().build(COMPONENTS), lambda p: p)
    code, out, _ = run_cli("engines", "list")
    assert code == 0 and "tensorrt" in out and "1x3x360x640" in out and "NVIDIA H100" in out
    code, out, _ = run_cli("engines", "list", "--json")
    listed = json.loads(out)["engines"]
    assert len(listed) == 1 and listed[0]["gpu"] == COMPONENTS["gpu"]
    code, out, _ = run_cli("engines", "clear")
    assert code == 0 and "removed 1 engine" in out
    assert json.loads(run_cli("engines", "list", "--json")[1])["engines"] == []


@pytest.mark.slow  # (default run's time: 5 s)
def test_bench_model_smoke(run_cli, tmp_path):
    """The benchmark runs end to end on a tiny frame and writes its JSON (no timing asserted)."""
    out_json = tmp_path / "model.json"
    code, out, err = run_cli("bench", "model", "-r", "32x16", "--engine", "eager", "--warmup", "1",
                             "--iters", "1", "--json", out_json)
    assert code == 0, err
    result = json.loads(out_json.read_text())
    (row,) = result["rows"]
    assert (row["engine"], row["resolution"], row["batch"]) == ("eager", "32x16", 1)
    assert row["step_ms_median"] > 0 and result["matmul_tflops"] > 0 and row["speedup_vs_eager"] == 1.0


def test_bench_model_refuses_an_unwritable_json_before_timing(run_cli, tmp_path):
    (tmp_path / "file").write_text("x")
    code, out, err = run_cli("bench", "model", "-r", "32x16", "--engine", "eager", "--json", tmp_path / "file" / "m.json")
    assert code == 2 and err.strip().splitlines()[-1].startswith("error:") and "not writable" in err, err
    assert out == ""  # no row was timed


def test_engine_cache_lives_in_the_checkouts_engines_folder(monkeypatch):
    """Run from a checkout, engines go to its git-ignored engines/ (the env vars still win)."""
    from realtime_adain.engines.cache import CHECKOUT_ENGINES, engines_dir

    monkeypatch.delenv("REALTIME_ADAIN_ENGINES", raising=False)
    monkeypatch.delenv("REALTIME_ADAIN_HOME", raising=False)
    assert engines_dir() == CHECKOUT_ENGINES == Path(__file__).resolve().parents[1] / "engines"
    monkeypatch.setenv("REALTIME_ADAIN_HOME", "/somewhere")
    assert engines_dir() == Path("/somewhere/engines")
