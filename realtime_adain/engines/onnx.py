"""ONNX: the same graph exported with the style statistics and alpha as inputs, run by onnxruntime.

One file serves every frame size: the image height and width are exported as dynamic multiples
of 8 (frames are padded before the graph), and the batch is dynamic too. Exports are cached in
the engine cache under the weights, opset and library versions, which the file itself carries too
(`METADATA_KEY`): a valid export of other weights put in its place, with a digest made to match,
stylized wrongly without a word; it is rebuilt instead.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import importlib.util
import io
import json
import math
import os
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from realtime_adain.engines.base import Engine, import_problem
from realtime_adain.engines.cache import EngineCache, graph_code, in_the_way
from realtime_adain.engines.frames import HostFrames, frames_to_images
from realtime_adain.errors import UserError
from realtime_adain.library_signals import signals_through_libraries
from realtime_adain.model import MIN_SIDE, StyleTransferNet, example_inputs
from realtime_adain.networks import DOWNSAMPLING

INPUT_NAMES = ("images", "style_mean", "style_std", "alpha")
OUTPUT_NAME = "stylized"
OPSET = 18
# Export-time bounds of the dynamic axes (frames are padded to multiples of 8 before the graph).
MAX_SIDE = 8192
MAX_BATCH = 256
METADATA_KEY = "realtime_adain.engine"  # the cache components an export was made for (JSON)
INSTALL = "pip install 'realtime-adain[onnx]'"

# onnxruntime, imported by this module only (`onnxruntime_missing`, `_session`), otherwise stores a
# device id and a database under $HOME/.cache/Microsoft as it loads, and where it cannot (HOME
# read-only, missing or a file) logs a coloured warning: Python API callers too, not only the
# CLI's (the user's setting wins).
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")


def onnxruntime_missing() -> str | None:
    """None when onnxruntime imports and the exporter is installed, else how to install them or why
    onnxruntime does not load (only it: onnx and onnxscript take seconds to import, and only an
    export needs them)."""
    if not all(importlib.util.find_spec(name) for name in ("onnx", "onnxscript", "onnxruntime")):
        return f"the onnx engine needs onnx, onnxscript and onnxruntime: {INSTALL}"
    return import_problem("onnxruntime", "onnxruntime")


def exporter_problem() -> str | None:
    """None when onnx and onnxscript import, else why not in one line. Found is not loadable, as
    for onnxruntime; importing them takes seconds, so only doctor and the onnx engine's own paths
    (`require_onnx`, which import them next) ask, not every run's `onnxruntime_missing`."""
    return import_problem("onnx", "onnx") or import_problem("onnxscript", "onnxscript")


def require_onnx() -> None:
    """Raise why the onnx engine cannot run or export here as a UserError: a missing package, or
    one installed that does not load (was "cannot load onnx (...); reinstall it")."""
    from realtime_adain import engines

    engines.require("onnx", torch.device("cpu"), torch.float32)
    if problem := exporter_problem():
        raise UserError(f"{problem}; {INSTALL}")


def export_onnx(net: StyleTransferNet, path: str | os.PathLike, precision: torch.dtype = torch.float32,
                components: dict[str, str] | None = None) -> None:
    """Write the graph to `path` (dynamic batch, height and width; inputs as INPUT_NAMES), with the
    cache `components` it is made for in its metadata."""
    require_onnx()
    from realtime_adain.engines.compiled import import_dynamo

    import_dynamo()
    from torch.export import Dim

    model = _copy_for_export(net, precision)
    side = MIN_SIDE // DOWNSAMPLING, MAX_SIDE // DOWNSAMPLING
    height, width = Dim("height8", min=side[0], max=side[1]), Dim("width8", min=side[0], max=side[1])
    batch = Dim("batch", min=1, max=MAX_BATCH)
    example = example_inputs((1, 3, 64, 64), precision)
    dynamic = ({0: batch, 2: DOWNSAMPLING * height, 3: DOWNSAMPLING * width}, None, None, None)
    # (the exporter narrates; it takes a Ctrl-C in its C++ callbacks for an error of its own)
    with contextlib.redirect_stdout(io.StringIO()), torch.no_grad(), signals_through_libraries():
        torch.onnx.export(
            model, example, str(path), input_names=list(INPUT_NAMES), output_names=[OUTPUT_NAME],
            dynamo=True, dynamic_shapes=dynamic, opset_version=OPSET, optimize=True, external_data=False,
        )
    if components is not None:
        import onnx

        model = onnx.load(str(path))
        model.metadata_props.add(key=METADATA_KEY, value=json.dumps(components, sort_keys=True))
        onnx.save(model, str(path))


def _copy_for_export(net: StyleTransferNet, precision: torch.dtype) -> StyleTransferNet:
    """A CPU copy in the export precision; the runtime's module stays where it is."""
    import copy

    return copy.deepcopy(net).to("cpu", precision).to(memory_format=torch.contiguous_format).eval()


def onnx_components(weights_id: str, precision: str = "fp32") -> dict[str, str]:
    """What names a cached export. The onnx version is read from the package's metadata, not by
    importing it: every CPU run with `--engine auto` asks, and the import took 0.6 s of each start."""
    try:
        version = importlib.metadata.version("onnx")
    except importlib.metadata.PackageNotFoundError:  # importable without metadata (a source tree on the path)
        import onnx

        version = onnx.__version__
    return {
        "kind": "onnx", "weights": weights_id, "precision": precision, "shape": "dynamic",
        "opset": str(OPSET), "torch": torch.__version__, "onnx": version, "code": graph_code("engines/onnx.py"),
    }


def cached_onnx(
    net: StyleTransferNet, weights_id: str, cache: EngineCache | None = None, rebuild: bool = False,
    report: Callable[[str], None] = lambda _: None, before_export: Callable[[], None] = lambda: None,
    load: Callable[[Path, bytes], Any] = lambda path, _: path,
) -> tuple[Any, bool]:
    """`load(path, bytes)` of the (cached or freshly exported) ONNX file for these weights, by
    default its path; (that, built).

    A fresh export enters the cache only after it matched PyTorch (`report` gets the figures);
    `before_export` is called when one starts. `load` gets the bytes that were checked: a session
    made from them runs where the file was deleted since (`engines clear` as a run started was
    onnxruntime's NO_SUCHFILE traceback).
    """
    require_onnx()
    cache = cache or EngineCache.for_run()
    components = onnx_components(weights_id)

    def build(tmp: Path) -> None:
        before_export()
        report(export_checked(net, tmp, components))

    return cache.get_or_build(components, ".onnx", build, lambda path: load(path, _checked_bytes(path, components)),
                              rebuild=rebuild)


MIN_PSNR = 40.0  # dB in uint8 output space, as the engine accuracy tests demand


def export_checked(net: StyleTransferNet, path: str | os.PathLike, components: dict[str, str] | None = None) -> str:
    """Export to `path`, then run it in onnxruntime against PyTorch; refuse it below MIN_PSNR."""
    export_onnx(net, path, components=components)
    host = HostFrames(torch.device("cpu"), torch.float32)
    frames = parity_frames()
    net = _copy_for_export(net, torch.float32)
    with torch.inference_mode():
        style = net.style_stats(frames_to_images(frames[0][::-1].copy(), host.device, host.dtype))
        images, alpha = host.upload(frames), torch.ones(1)
        reference = host.download(net(images, style.mean, style.std, alpha), *frames.shape[1:3])
    out = run_session(session(path), images, style.mean, style.std, alpha)
    result = host.download(out, *frames.shape[1:3])
    value = psnr(reference, result)
    if value < MIN_PSNR:
        raise UserError(f"the ONNX export differs from PyTorch in onnxruntime (PSNR {value:.1f} dB < {MIN_PSNR} dB)")
    diff = int(np.abs(reference.astype(np.int16) - result).max())
    return f"checked against onnxruntime: PSNR {value:.1f} dB, max difference {diff}/255"


def parity_frames() -> np.ndarray:
    """A small deterministic test frame: gradients plus noise, with dark and bright corners."""
    rng = np.random.default_rng(0)
    ys, xs = np.mgrid[0:72, 0:96]
    frame = np.stack([xs * 255 / 95, ys * 255 / 71, (xs + ys) * 255 / 166], axis=-1)
    frame = frame + rng.normal(0, 20, frame.shape)
    frame[:16, :16], frame[-16:, -16:] = 0, 255
    return np.clip(frame, 0, 255).astype(np.uint8)[None]


def psnr(reference: np.ndarray, result: np.ndarray) -> float:
    mse = float(np.mean((reference.astype(np.float64) - result.astype(np.float64)) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(255.0**2 / mse)


def run_session(ort_session, images: torch.Tensor, mean: torch.Tensor, std: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
    """One model step in onnxruntime: the graph's inputs are the network's forward arguments."""
    feed = {
        "images": images.contiguous().numpy(), "style_mean": mean.reshape(-1).numpy(),
        "style_std": std.reshape(-1).numpy(), "alpha": alpha.reshape(1).numpy(),
    }
    return torch.from_numpy(np.asarray(ort_session.run([OUTPUT_NAME], feed)[0]))


def onnx_cached(weights_id: str, cache: EngineCache | None = None) -> bool:
    """Whether a valid export of these weights is in the cache (no export, no loading); where one
    is there but not valid (changed since it was built: something wrote into it), a note says so,
    as 'auto' then runs eager (it did so without a word)."""
    cache = cache or EngineCache.for_run()
    entry = cache.entry(onnx_components(weights_id), ".onnx")
    try:
        if cache.matches_build(entry):
            return True
        blocking, present = in_the_way(entry), entry.path.exists()
    except OSError:  # (a cache path too long for the file system): no export is there, and eager needs none
        return False
    from realtime_adain.notes import note

    if blocking:  # (not "does not match": no export can be made there until it is moved)
        note(f"{blocking[0]}: a folder, fifo or device stands where the ONNX export of these weights goes: "
             "not used, and `export --format onnx` cannot replace it; move it away", once=True)
    elif present:
        note(f"the cached ONNX export {entry.path.name} does not match the record of its build (changed since, "
             "made by an older version or for other weights): not used; `realtime-adain export --format onnx` (with these weights' "
             "--vgg/--decoder) makes it again", once=True)
    return False


def export_usable(path: Path, components: dict[str, str]) -> bool:
    """Whether a run would load the export at `path` for `components` (`_check_onnx`): one made by
    `export -o` (no record of its components), or for other weights, is exported again."""
    try:
        _check_onnx(path, components)
    except Exception:  # (a damaged file fails in many ways; onnx missing: no run loads it either)
        return False
    return True


def _check_onnx(path: Path, components: dict[str, str]) -> Path:
    """`path`, once `_checked_bytes` passes it."""
    _checked_bytes(path, components)
    return path


def _checked_bytes(path: Path, components: dict[str, str]) -> bytes:
    """The file's bytes after a cheap check before it is trusted: a valid graph, made for
    `components` (the digest sidecar can be made to match anything) and taking any frame size
    (raises otherwise). Read once, for the check and the session alike."""
    import onnx

    model_bytes = Path(path).read_bytes()
    model = onnx.load_model_from_string(model_bytes)
    onnx.checker.check_model(model)
    made_for = {prop.key: prop.value for prop in model.metadata_props}.get(METADATA_KEY)
    if made_for is None or json.loads(made_for) != components:
        raise ValueError(f"{path}: exported for other weights or versions")
    inputs = model.graph.input
    if [i.name for i in inputs] != list(INPUT_NAMES) or [o.name for o in model.graph.output] != [OUTPUT_NAME]:
        raise ValueError(f"{path}: not this model's inputs and outputs")
    dims = inputs[0].type.tensor_type.shape.dim
    if len(dims) != 4 or dims[1].dim_value != 3 or not all(dims[i].dim_param for i in (0, 2, 3)):
        raise ValueError(f"{path}: not exported for any batch and frame size")
    return model_bytes


def session(model: str | os.PathLike | bytes, threads: int | None = None):
    """An onnxruntime CPU session with as many threads as torch uses, of the file at `model` or of
    its bytes."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or torch.get_num_threads()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # Idle workers sleep instead of spinning: decoding, encoding and torch share these cores.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    # onnxruntime logs each failure in red on stderr, then raises it: the exception is reported in
    # one line (an allocation failure as "out of memory; lower ..."), so only fatal lines are logged.
    options.log_severity_level = 4
    if not isinstance(model, bytes):
        try:
            model = str(model)
            model.encode("utf-8")
        except UnicodeEncodeError:  # onnxruntime takes only UTF-8 names (b"\xff.onnx" was a TypeError): the file's bytes
            model = Path(model).read_bytes()
    return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])


class OnnxEngine(Engine):
    name = "onnx"

    def __init__(self, net: StyleTransferNet, device: torch.device, dtype: torch.dtype, weights_id: str,
                 cache: EngineCache | None = None) -> None:
        super().__init__(net, device, dtype)
        (self.path, model), self.built = cached_onnx(net, weights_id, EngineCache.of_engine(cache),
                                                     before_export=_say_export, load=lambda path, model: (path, model))
        self.session = session(model)  # (the bytes checked: the file may be gone by now)

    def step(self, images, mean, std, alpha):
        return run_session(self.session, images, mean, std, alpha)


def _say_export() -> None:
    """An export takes 10-30 s: said, else a run looked stalled (other engines say their builds)."""
    from realtime_adain.notes import note

    note("exporting the network to ONNX for the onnx engine (once for these weights, 10-30 s; later runs "
         "reuse it)")
