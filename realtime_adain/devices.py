"""Which torch device and dtype a name means, checked: a device this machine lacks or torch does
not know, or a dtype the device cannot run fast, is one clear line."""

from __future__ import annotations

import torch

from realtime_adain.api_words import ArgumentMistake, as_value_error
from realtime_adain.errors import UserError, one_line, quoted


DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
DTYPE_NAMES = {value: name for name, value in DTYPES.items()}  # (a torch.dtype said as --dtype names it)
API_DTYPES = "'auto', 'fp32', 'fp16', 'bf16', torch.float32, torch.float16 or torch.bfloat16"


def refuse_empty_device(name: str) -> None:
    """'' or blanks: an unset variable (`--device "$GPU"`), not a device torch fails to read."""
    if not name.strip():
        raise UserError(f"--device '{name}': an empty name (an unset variable?); give a device such as cpu or cuda, "
                        "or leave --device out")


def pick_device(name: str = "auto") -> torch.device:
    """'auto' is the first CUDA GPU when there is one, else an Apple GPU (MPS), else the CPU. Every
    other name is checked here, so a device torch knows but we cannot run on (meta, xpu, cuda:99)
    is one clear line. MPS is supported in code but untested on real hardware. Mistakes name
    --device, as the CLI says it (the API says device: `api_words.in_api_words`)."""
    refuse_empty_device(name)
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps" if torch.backends.mps.is_available() else "cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError, TypeError):
        device = None
    shown = quoted(one_line(name))  # (a 5,000-character name was echoed whole)
    if device is None or str(device) != name or device.type not in ("cpu", "cuda", "mps"):
        raise UserError(f"unknown --device {shown} (use auto, cpu, cuda, cuda:N or mps)")
    if device.type == "cpu" and device.index not in (None, 0):
        raise UserError(f"unknown --device {shown} (the CPU is 'cpu')")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise UserError(f"--device {shown} asked for, but no Apple GPU (MPS) is available")
    if device.type == "mps" and device.index not in (None, 0):
        raise UserError(f"--device {shown} asked for, but a Mac has one Apple GPU: use 'mps'")
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise UserError(f"--device '{name}' asked for, but no CUDA GPU is available")
        count = torch.cuda.device_count()
        if device.index is not None and device.index >= count:
            raise UserError(f"--device '{name}' asked for, but there {'is' if count == 1 else 'are'} only "
                            f"{count} CUDA GPU{'' if count == 1 else 's'} (cuda:0 to cuda:{count - 1})")
    return device


def device_argument(device: torch.device | str) -> torch.device:
    """A `device=` argument of the API (a name or a torch.device) checked as `Stylizer.load` checks
    it: a device this machine lacks ('cuda' without a GPU) or a name torch does not know is a
    ValueError naming it in one line, not torch's RuntimeError; anything else a TypeError in its
    words (an int was taken as torch's CUDA index, which `Stylizer.load` refuses)."""
    if not isinstance(device, (str, torch.device)):
        raise TypeError(f"device must be a str such as 'auto', got {type(device).__name__}")
    return as_value_error(lambda: pick_device(str(device)))


def dtype_argument(dtype: str | torch.dtype) -> str:
    """A `dtype=` argument of the API as the name `pick_dtype` takes: a torch.dtype too, as `device=`
    takes a torch.device (`Stylizer.load(dtype=st.dtype)` was refused, "must be a str"); another
    value refused naming those taken."""
    if isinstance(dtype, torch.dtype):
        if dtype not in DTYPE_NAMES:
            raise ArgumentMistake(f"dtype {dtype} is not one a Stylizer runs in (use {API_DTYPES})")
        return DTYPE_NAMES[dtype]
    if not isinstance(dtype, str):
        raise TypeError(f"dtype must be a str or torch.dtype ({API_DTYPES}), got {type(dtype).__name__}")
    return dtype


def pick_dtype(name: str, device: torch.device) -> torch.dtype:
    """'auto' is fp16 on a GPU (the fast path; accurate to > 40 dB PSNR against fp32) and fp32
    on the CPU, which has no fast fp16 kernels. Apple GPUs (MPS) run half precision at twice the
    fp32 rate, so 'auto' is fp16 there too (untested on real hardware; the AdaIN statistics are
    computed in fp32 on every device, see adain.calc_mean_std); bf16 stays CUDA-only."""
    if name == "auto":
        return torch.float16 if device.type in ("cuda", "mps") else torch.float32
    if name not in DTYPES:
        raise UserError(f"unknown --dtype {quoted(one_line(name))} (use auto, {', '.join(DTYPES)})")
    if device.type == "mps" and name == "bf16":
        raise UserError("--dtype bf16 needs a CUDA device; use fp16 or fp32 on an Apple GPU (mps)")
    if name != "fp32" and device.type == "cpu":
        raise UserError(f"--dtype {name} needs a GPU (CUDA{'' if name == 'bf16' else ' or an Apple GPU, mps'}); "
                        "use fp32 on the CPU")
    return DTYPES[name]
