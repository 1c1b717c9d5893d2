"""The ONNX export of the weights in use as the engine cache sees it (`ExportPlace`): whether one
is cached, whether one can be made there (writable, room for ONNX_EXPORT_BYTES, nothing in its
place), and the findings the `engines` and `caches` sections make of it.
"""

from __future__ import annotations

import importlib.util
import shutil
from dataclasses import dataclass

from realtime_adain.doctor.report import Finding
from realtime_adain.errors import UserError

# The room an ONNX export takes in the engine cache: the encoder up to relu4_1 and the decoder in
# fp32 (14.0 MB of parameters each, the skip-concat decoder 14.8 MB) and about 0.1 MB of graph, one
# file (28.2 MB for the published weights), then two sidecars of a few hundred bytes. 32 MB bounds
# it for every decoder architecture.
ONNX_EXPORT_BYTES = 32_000_000
NEED = f"{ONNX_EXPORT_BYTES / 1e6:.0f} MB"


@dataclass(frozen=True)
class ExportPlace:
    """The engine cache as the ONNX export of the weights in use sees it: whether a usable export is
    there, why none can be made there (None: one can), the bytes free there (None: not known), and
    whether what stops it is something in its place (which no temporary folder avoids)."""

    cached: bool
    refused: str | None
    free: int | None
    blocked: bool = False


def export_place(cache) -> ExportPlace | None:
    """Where `--engine onnx` and `export --format onnx` put the export, None where the onnx engine
    does not run here. The checks `EngineCache.store` makes, and the free space against
    ONNX_EXPORT_BYTES: a read-only or full cache let doctor say "onnx runs", "problems: none"."""
    import torch

    from realtime_adain import engines
    from realtime_adain.engines.cache import in_the_way
    from realtime_adain.writable_folders import check_writable_dir, nearest_folder

    if engines.unavailable("onnx", torch.device("cpu"), torch.float32) is not None:
        return None
    from realtime_adain.engines.onnx import onnx_components

    weights_id = weights_in_use_id()
    entry = cache.entry(onnx_components(weights_id), ".onnx") if weights_id else None
    if entry is not None and (blocking := in_the_way(entry)):
        return ExportPlace(False, f"{blocking[0]} is a folder, fifo or device in its place", None, blocked=True)
    cached = entry is not None and cache.matches_build(entry)
    try:
        check_writable_dir(cache.directory, "it")
    except UserError as exc:
        return ExportPlace(cached, str(exc).removeprefix(f"{cache.directory}: "), None)
    free = shutil.disk_usage(nearest_folder(cache.directory) or cache.directory).free
    room = None if free >= ONNX_EXPORT_BYTES else f"only {free / 1e6:.1f} MB free, and an export needs up to {NEED}"
    return ExportPlace(cached, room, free)


def onnx_runs(name: str) -> Finding:
    """'runs', unless no export of the weights in use is cached and the engine cache cannot take
    one: then a run makes it in a temporary folder each time (the default cache), or fails (a cache
    $REALTIME_ADAIN_ENGINES or $REALTIME_ADAIN_HOME names, or something in the export's place)."""
    from realtime_adain.engines.cache import EngineCache, cache_is_named

    try:
        cache = EngineCache()
    except UserError:  # no home folder: runs export into a temporary folder (the weights section says why)
        return Finding(name, "runs")
    place = export_place(cache)
    if place is None or place.cached or place.refused is None:
        return Finding(name, "runs")
    why = f"the engine cache {cache.directory} holds no export of these weights and cannot take one: {place.refused}"
    if place.blocked or cache_is_named():
        return Finding(name, f"no: {why}", "note")
    return Finding(name, f"runs, exporting into a temporary folder each run: {why}", "note")


def weights_in_use_id() -> str | None:
    """The engine-cache key of the weights a command would load (on the CPU 'auto' is onnx once
    those weights have an export), None where they are not found or not readable."""
    from realtime_adain import weight_digests, weight_paths
    from realtime_adain.errors import UserError

    try:
        return weight_digests.files_id([weight_paths.resolve("vgg"), weight_paths.resolve("decoder")])
    except (UserError, OSError):
        return None


def export_refused(folder: Finding, place: ExportPlace | None, variable: str) -> Finding:
    """The engine cache's finding made a problem where the onnx engine runs, no export of the
    weights in use is cached and the cache cannot take one (read-only, full): `export --format onnx`
    fails, and so does `--engine onnx` in a folder a variable names. (Something in the export's
    place is a problem of its own, `export_in_the_way`.)"""
    if place is None or place.cached or place.refused is None or place.blocked or folder.level == "problem":
        return folder
    # (a read-only folder's note says why already; a full one's value shows the MB free)
    why = "" if folder.level == "note" else f"; an ONNX export needs up to {NEED}"
    fix = (f"free {NEED} there, or point ${variable} at a folder with room" if place.free is not None
           else f"point ${variable} at a writable folder")
    return Finding(folder.name, f"{folder.value}{why}; no ONNX export of these weights is cached, and none can be made there",
                   "problem", fix)


def export_in_the_way(cache) -> list[Finding]:
    """A folder, fifo or device where the ONNX export of the weights in use (or one of its
    sidecars) goes: `export --format onnx` refuses to replace it, so only a run's note said
    that export would make it again, and the report said "problems: none"."""
    weights_id = weights_in_use_id()
    if weights_id is None or importlib.util.find_spec("onnx") is None:
        return []
    from realtime_adain.engines.cache import in_the_way
    from realtime_adain.engines.onnx import onnx_components

    entry = cache.entry(onnx_components(weights_id), ".onnx")
    blocking = in_the_way(entry)
    return [Finding("onnx export", f"{path}: a folder, fifo or device is where the ONNX export of these weights goes; "
                    "`export --format onnx` cannot replace it", "problem", f"move {path} away") for path in blocking]
