"""Device choice (CUDA, Apple GPU, CPU) and the dtype and engine that go with it (issue #13).

No Apple GPU here: its availability is monkeypatched, and no test moves a tensor to mps.
"""

from __future__ import annotations

import functools

import pytest
import torch

from realtime_adain import doctor, engines
from realtime_adain.errors import UserError
from realtime_adain.devices import pick_device, pick_dtype

MPS = torch.device("mps")


@pytest.fixture
def hardware(monkeypatch):
    """Set which GPUs the process sees: hardware(cuda=..., mps=...)."""
    def present(cuda: bool = False, mps: bool = False) -> None:
        monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
        monkeypatch.setattr(torch.cuda, "device_count", lambda: int(cuda))
        # lru_cache-wrapped like the real one: torch._dynamo reads its __wrapped__ when inductor loads.
        monkeypatch.setattr(torch.backends.mps, "is_available", functools.lru_cache(lambda: mps))

    return present


@pytest.mark.parametrize("cuda, mps, expected", [
    (True, True, "cuda"), (True, False, "cuda"), (False, True, "mps"), (False, False, "cpu"),
])
def test_auto_prefers_cuda_then_mps_then_cpu(hardware, cuda, mps, expected):
    hardware(cuda=cuda, mps=mps)
    assert pick_device("auto").type == expected


def test_mps_named_when_present(hardware):
    hardware(mps=True)
    assert pick_device("mps") == MPS
    with pytest.raises(UserError, match="a Mac has one Apple GPU: use 'mps'"):
        pick_device("mps:1")
    assert pick_device("mps:0") == torch.device("mps:0")


def test_mps_refused_without_an_apple_gpu(hardware):
    hardware()
    with pytest.raises(UserError, match=r"device 'mps' asked for, but no Apple GPU \(MPS\) is available"):
        pick_device("mps")


def test_dtypes_on_mps():
    assert pick_dtype("auto", MPS) == torch.float16
    assert pick_dtype("fp16", MPS) == torch.float16
    assert pick_dtype("fp32", MPS) == torch.float32
    with pytest.raises(UserError, match="--dtype bf16 needs a CUDA device; use fp16 or fp32 on an Apple GPU"):
        pick_dtype("bf16", MPS)
    assert pick_dtype("auto", torch.device("cpu")) == torch.float32
    assert pick_dtype("auto", torch.device("cuda")) == torch.float16


def test_engines_on_mps():
    """Eager runs there (and is what 'auto' takes); the others say why not, without running anything."""
    assert engines.unavailable("eager", MPS, torch.float16) is None
    assert engines.resolve("auto", MPS, torch.float16, weights_id="any") == "eager"
    assert "needs a CUDA GPU" in engines.unavailable("tensorrt", MPS, torch.float16)
    assert "experimental" in engines.unavailable("compile", MPS, torch.float16)
    assert "runs on the CPU in fp32" in engines.unavailable("onnx", MPS, torch.float32)
    with pytest.raises(UserError, match="tensorrt engine needs a CUDA GPU"):
        engines.require("tensorrt", MPS, torch.float16)


def test_fp16_statistics_are_computed_in_fp32():
    """relu4_1-sized activations whose variance overflows fp16: the std must stay finite, as it
    must on an Apple GPU in fp16 (checked here on the CPU: the code path is device-independent)."""
    from realtime_adain.adain import calc_mean_std

    feat = (torch.rand(1, 4, 16, 16) * 600.0).half()
    mean, std = calc_mean_std(feat)
    assert mean.dtype == std.dtype == torch.float16
    assert torch.isfinite(std).all() and torch.isfinite(mean).all()
    torch.testing.assert_close(std.float(), calc_mean_std(feat.float())[1], rtol=1e-3, atol=0.5)


def test_doctor_lists_mps(hardware):
    hardware(mps=False)
    found = {f.name: f for f in doctor.devices()}
    assert "not available" in found["mps"].value and "untested on real hardware" in found["mps"].value
    hardware(mps=True)
    found = {f.name: f for f in doctor.devices()}
    assert found["mps"].value.startswith("available") and "supported in code" in found["mps"].value
    support = {f.name: f.value for f in doctor.engine_support()}
    assert support["eager on mps"] == "runs" and support["auto on mps"] == "eager"
    assert support["tensorrt on mps"].startswith("no: ") and "CUDA" in support["tensorrt on mps"]


def test_cli_device_mps_without_an_apple_gpu(weights_env, run_cli, data_dir, tmp_path, hardware):
    hardware()
    for command in (["image", data_dir / "content" / "lenna.jpg", "-o", tmp_path / "o.png"],
                    ["video", data_dir / "videos" / "cutBunny.mp4", "-o", tmp_path / "o.mp4"]):
        code, out, err = run_cli(*command, "-s", data_dir / "style" / "trial.jpg", "--device", "mps")
        assert code == 2 and err.strip().splitlines() == ["error: --device 'mps' asked for, but no Apple GPU (MPS) is available"]
    code, out, err = run_cli("live", "-s", data_dir / "style" / "trial.jpg", "--device", "mps", "--no-window", "-o", tmp_path / "l.mp4")
    assert code == 2 and "no Apple GPU (MPS) is available" in err and len(err.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []
