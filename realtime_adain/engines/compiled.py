"""torch.compile (inductor): fused kernels, frozen weights, and CUDA graphs on the GPU.

The style statistics and alpha are graph inputs, so a style switch reuses the compiled graph;
each new frame shape compiles once (shapes are static: video and camera sizes do not change).
torch compiles the network's `forward` for 8 shapes at most in a process, over every model loaded
(its recompile limit; a ninth one failed: on an H200, a `Stylizer.load()` ('auto' is compile on a
GPU without TensorRT) given photos of many sizes): past `compiled_shapes_allowed` shapes, and
after torch first refuses one (other models used up the limit), new shapes run eagerly, without
torch's five-line warning. The `image` command takes eager on a GPU anyway.
"""

from __future__ import annotations

import functools
import logging
import os
from pathlib import Path

import numpy as np
import torch

from realtime_adain.engines.base import Engine
from realtime_adain.errors import CURRENT_FOLDER_DELETED, UserError, current_folder_deleted
from realtime_adain.model import StyleTransferNet
from realtime_adain import writable_folders
from realtime_adain.writable_folders import temporary_folder_missing

# Inductor options per device type. Freezing folds the weights into the graph as constants, which
# lets the CPU path pre-pack them for oneDNN; on the GPU, CUDA graphs remove the launch overhead
# of ~40 small kernels per frame (outputs are consumed before the next replay).
OPTIONS = {
    "cpu": {"freezing": True},
    "cuda": {"freezing": True, "triton.cudagraphs": True},
}


CACHE_HINT = "set TORCHINDUCTOR_CACHE_DIR to a writable folder"
NO_TEMPORARY_FOLDER = writable_folders.NO_TEMPORARY_FOLDER  # (what `compile_missing` says; shared with the CLI)


def import_dynamo() -> None:
    """Import torch._dynamo (torch.compile and the ONNX exporter run on it), which makes inductor's
    cache folder: a $TORCHINDUCTOR_CACHE_DIR naming a file was "error: PATH: File exists", or, in
    the exporter, a traceback. Raises a UserError saying so."""
    if (failure := temporary_folder_missing() or _dynamo_failure()) is not None:
        raise UserError(failure)


@functools.cache
def _dynamo_failure() -> str | None:
    """Once per process: a second import after a failed one fails otherwise ("already registered")."""
    try:
        import torch._dynamo  # noqa: F401
    except OSError as exc:
        if exc.filename is None:  # (said "None: torch.compile's cache ...")
            reason = CURRENT_FOLDER_DELETED if current_folder_deleted() else exc.strerror or str(exc)
            return f"torch.compile cannot start: {reason}"
        return f"{exc.filename}: torch.compile's cache cannot be made there ({exc.strerror}); {CACHE_HINT}"
    return None


def compile_missing(device: torch.device) -> str | None:
    """None when torch.compile can run on `device`, else the reason it cannot."""
    return temporary_folder_missing() or _dynamo_failure() or _toolchain_missing(device) or _cache_missing()


def _toolchain_missing(device: torch.device) -> str | None:
    if device.type == "cuda":
        from torch.utils._triton import has_triton

        return None if has_triton() else "torch.compile on the GPU needs triton (pip install triton)"
    from torch._inductor import cpp_builder

    try:
        cpp_builder.get_cpp_compiler()
    except Exception:
        return "torch.compile on the CPU needs a C++ compiler (g++ or clang++)"
    return None


def _cache_missing() -> str | None:
    """Why inductor could not write the kernels it compiles (a read-only $TORCHINDUCTOR_CACHE_DIR,
    another user's folder in /tmp), else None: it failed with a traceback at the first frame."""
    from torch._inductor.runtime.cache_dir_utils import default_cache_dir

    from realtime_adain.writable_folders import check_writable_dir

    try:
        check_writable_dir(Path(os.environ.get("TORCHINDUCTOR_CACHE_DIR") or default_cache_dir()),
                           "torch.compile's cache ($TORCHINDUCTOR_CACHE_DIR)")
    except UserError as exc:
        return f"{exc}; {CACHE_HINT} or use --engine eager"
    return None


def damaged_cache(exc: BaseException) -> str | None:
    """What to do about a compiled kernel in inductor's cache that cannot be loaded (a run killed
    while writing it left a 0-byte .so: every later run at that size was a 160-line traceback),
    else None. Inductor wraps the loader's ImportError (BackendCompilerFailed, InductorError)."""
    from torch._inductor.runtime.cache_dir_utils import default_cache_dir

    folder = os.environ.get("TORCHINDUCTOR_CACHE_DIR") or default_cache_dir()
    places = {os.path.abspath(folder) + os.sep, os.path.realpath(folder) + os.sep}  # (messages name either)
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        # (the loader's ImportError only: a full disk or a permission in the cache is no damaged kernel)
        if isinstance(exc, ImportError) and any(place in str(exc) for place in places):
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            return (f"torch.compile's cache holds a damaged kernel ({reason[:300]}); delete the cache folder "
                    f"{os.path.abspath(folder)} (it is built again) or use --engine eager")
        exc = getattr(exc, "inner_exception", None) or exc.__cause__ or exc.__context__
    return None


def quiet_cpu_build_warning() -> None:
    """Inductor's C++ build warns that a CPU-only machine has no CUDA runtime ("No CUDA runtime is
    found, using CUDA_HOME=..."): not news to whoever compiles for the CPU."""
    logging.getLogger("torch.utils.cpp_extension").setLevel(logging.ERROR)


class CompiledEngine(Engine):
    name = "compile"

    def __init__(self, net: StyleTransferNet, device: torch.device, dtype: torch.dtype, *unused) -> None:
        super().__init__(net, device, dtype)
        if self.device.type == "cuda":
            self.net = net.to(memory_format=torch.channels_last)
        else:
            quiet_cpu_build_warning()
        self.compiled = torch.compile(
            self.net, dynamic=False, fullgraph=True, options=dict(OPTIONS[self.device.type])
        )
        self.compiled_shapes: set[tuple[int, ...]] = set()
        self.eager_shapes: set[tuple[int, ...]] = set()
        self.compiled_shapes_allowed = compiled_shapes_allowed()
        quiet_recompile_limit_warning()

    def step(self, images, mean, std, alpha):
        shape = tuple(images.shape)
        if shape in self.eager_shapes or (
            shape not in self.compiled_shapes and len(self.compiled_shapes) >= self.compiled_shapes_allowed
        ):
            return self.step_eagerly(shape, images, mean, std, alpha)
        if self.device.type == "cuda":
            torch.compiler.cudagraph_mark_step_begin()  # the previous step's outputs are consumed
        try:
            out = self.compiled(images, mean, std, alpha)
        except Exception as exc:
            if recompile_limit_hit(exc):  # other models used up torch's limit: no more tries
                self.compiled_shapes_allowed = len(self.compiled_shapes)
                return self.step_eagerly(shape, images, mean, std, alpha)
            if (reason := damaged_cache(exc)) is None:
                raise
            raise UserError(reason) from None
        self.compiled_shapes.add(shape)
        return out

    def step_eagerly(self, shape, images, mean, std, alpha):
        """The network as it is, for a frame size past the compiled ones."""
        self.eager_shapes.add(shape)
        return self.net(images, mean, std, alpha)

    @torch.inference_mode()
    def prepare(self, batch: int, height: int, width: int) -> None:
        """Compile for this shape now (a first call at a new shape otherwise pays for it)."""
        # The inputs real frames get: the same image buffer layout (another layout, or a tensor of
        # another kind, fails a guard and compiles again) and the engine's own style tensors.
        with self.lock, self._borrowed_frames() as buffers:  # not a stream's buffers, which it holds between batches
            self.step(buffers.upload(np.zeros((batch, height, width, 3), np.uint8)), *self._style_tensors, self._alpha)


def compiled_shapes_allowed() -> int:
    """Shapes one engine compiles: one under torch's recompile limit (its config names it
    `recompile_limit` since 2.7, `cache_size_limit` before)."""
    import torch._dynamo  # (imported by torch.compile already; said for a reader)

    config = torch._dynamo.config
    limit = getattr(config, "recompile_limit", None) or getattr(config, "cache_size_limit", 8)
    return max(1, int(limit) - 1)


class _NoRecompileLimitWarning(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "recompile_limit" not in record.getMessage() and "cache_size_limit" not in record.getMessage()


@functools.cache
def quiet_recompile_limit_warning() -> None:
    """torch logs five lines ("hit config.recompile_limit ...") as it refuses a shape; the engine
    then runs that shape eagerly, so the warning tells a user nothing to do."""
    logging.getLogger("torch._dynamo.convert_frame").addFilter(_NoRecompileLimitWarning())


def recompile_limit_hit(exc: BaseException | None) -> bool:
    """Whether torch refused to compile the module for one more shape (its recompile limit)."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if type(exc).__name__ in ("FailOnRecompileLimitHit", "FailOnCacheLimitHit") or "recompile limit" in str(exc):
            return True
        exc = exc.__cause__ or exc.__context__
    return False
