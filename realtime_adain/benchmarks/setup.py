"""What every benchmark needs before timing: weights to run, and a name for the machine."""

from __future__ import annotations

import argparse
import platform
from pathlib import Path

import torch

from realtime_adain import weights
from realtime_adain.errors import UserError
from realtime_adain.paths import refuse_overwriting_inputs
from realtime_adain.synthetic import write_published_weights

GENERATED = "generated stand-ins (synthetic.py)"


def benchmark_weights(args: argparse.Namespace, workdir: Path) -> tuple[Path, Path, str]:
    """The installed weights when they resolve, else stand-ins in the published formats (speed
    does not depend on the values); weights asked for by flag must exist (`--vgg ''` too: an unset
    variable, not a wish for stand-ins). Also says which."""
    try:
        return weights.resolve("vgg", args.vgg), weights.resolve("decoder", args.decoder), "installed"
    except UserError:
        if args.vgg is not None or args.decoder is not None:
            raise
        vgg, decoder = write_published_weights(workdir)
        return vgg, decoder, GENERATED


def machine(device: torch.device) -> str:
    """The GPU's name, or the CPU model and the threads torch uses."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    cpuinfo = Path("/proc/cpuinfo")
    model_lines = [line for line in cpuinfo.read_text().splitlines() if line.startswith("model name")] if cpuinfo.exists() else []
    cpu = model_lines[0].split(":", 1)[1].strip() if model_lines else platform.processor()
    return f"{cpu}, {torch.get_num_threads()} threads"


def check_results_file(json_path: Path | None, inputs: list[Path]) -> None:
    """Before the timing: `--json` must not replace an input the benchmark reads (a weights file,
    the clip); folders, devices and unwritable places are refused by `check_output_file`."""
    if json_path is not None:
        refuse_overwriting_inputs([Path(json_path)], inputs)
