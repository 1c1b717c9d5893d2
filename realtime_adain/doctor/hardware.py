"""The doctor's `devices` and `engines` sections: the devices torch sees (CUDA GPUs, MPS, CPU
cores) and which engines run on each, and what `auto` picks there.
"""

from __future__ import annotations

import os

from realtime_adain.doctor.onnx_export import onnx_runs, weights_in_use_id
from realtime_adain.doctor.report import Finding
from realtime_adain.notes import collected

MPS_NOTE = "Apple GPUs (MPS): supported in code, untested on real hardware"


def devices() -> list[Finding]:
    import torch

    found = []
    if torch.cuda.is_available():
        for index in range(torch.cuda.device_count()):
            props = torch.cuda.get_device_properties(index)
            found.append(Finding(
                f"cuda:{index}",
                f"{props.name}, compute capability {props.major}.{props.minor}, {props.total_memory / 2**30:.1f} GiB",
            ))
    else:
        why = "torch was built without CUDA" if not torch.version.cuda else "no GPU or driver found"
        found.append(Finding("cuda", f"not available ({why}); models run on the CPU", "note"))
    mps = torch.backends.mps
    state = "available" if mps.is_available() else "not available" + ("" if mps.is_built() else " (not built into torch)")
    found.append(Finding("mps", f"{state}; {MPS_NOTE}", "note"))
    found.append(Finding("cpu", f"{os.cpu_count()} cores, torch uses {torch.get_num_threads()} threads"))
    return found


def engine_support() -> list[Finding]:
    """Each registered engine on the CPU (fp32) and, where present, the GPUs (fp16, the default)."""
    import torch

    from realtime_adain import engines

    places = [(torch.device("cpu"), torch.float32)]
    if torch.cuda.is_available():
        places.append((torch.device("cuda"), torch.float16))
    if torch.backends.mps.is_available():
        places.append((torch.device("mps"), torch.float16))
    found = []
    weights_id = weights_in_use_id()
    for device, dtype in places:
        for name in engines.ENGINES:
            reason = engines.unavailable(name, device, dtype)
            if name == "onnx" and reason is None:
                found.append(_onnx_finding(f"{name} on {device.type}"))
                continue
            found.append(Finding(f"{name} on {device.type}", "runs" if reason is None else f"no: {reason}",
                                 "ok" if reason is None else "note"))
        with collected():  # (what 'auto' notes of a damaged export, the report says in its own line)
            auto = engines.resolve("auto", device, dtype, weights_id)
        found.append(Finding(f"auto on {device.type}", auto))
    return found


def _onnx_finding(name: str) -> Finding:
    """The onnx engine where onnxruntime loads: a problem where onnx or onnxscript is installed but
    does not import (every run and export with it fails; the cheap check runs find only look for
    them), else whether an export can be made (`onnx_runs`)."""
    from realtime_adain.engines.onnx import INSTALL, exporter_problem

    if problem := exporter_problem():
        return Finding(name, f"no: {problem}", "problem", INSTALL)
    return onnx_runs(name)
