"""The doctor's `weights` and `caches` sections: the weights files a command would load (checked
as it loads them, with how to fetch them), the weights, engine and style folders (writable, what
they hold) and the engine cache's room for an ONNX export.
"""

from __future__ import annotations

import os
from pathlib import Path

from realtime_adain.doctor.onnx_export import export_in_the_way, export_place, export_refused
from realtime_adain.doctor.report import Finding
from realtime_adain.errors import UserError
from realtime_adain.output_paths import name_too_long

DOWNLOAD = "run `realtime-adain weights download`"
# Where the weights folder cannot be written (read-only), the download must go elsewhere.
DOWNLOAD_ELSEWHERE = ("run `realtime-adain weights download --dir DIR` into a writable DIR and point "
                      "$REALTIME_ADAIN_VGG and $REALTIME_ADAIN_DECODER at its files, or set $REALTIME_ADAIN_HOME "
                      "to a writable folder and run `realtime-adain weights download`")


def _weights_source(kind: str) -> str:
    from realtime_adain import weight_paths

    variable = weight_paths.ENV_VAR[kind]
    return f"${variable}" if os.environ.get(variable) else "the weights directory"


def _check_weights_file(kind: str, fetch: str = DOWNLOAD) -> Finding:
    """The `kind` weights a command would load; `fetch`: how to download them (where the
    weights folder is read-only, elsewhere). The VGG is checked as the encoder the decoder in use
    was trained against (`weight_paths.paired_encoder_kind`), as commands load it."""
    from realtime_adain import download, weight_digests, weight_paths, weights
    from realtime_adain.encoders import NORMALISED_VGG, TORCHVISION_VGG19
    from realtime_adain.errors import UserError

    source = _weights_source(kind)
    encoder = weight_paths.paired_encoder_kind() if kind == "vgg" else NORMALISED_VGG
    if encoder == TORCHVISION_VGG19:  # (a download fetches the normalised VGG)
        fetch = (f"point ${weight_paths.ENV_VAR[kind]} at torchvision's VGG-19 weights (vgg19-dcbb9e9d.pth): the decoder in "
                 "use was trained against them")
    try:
        path = weight_paths.resolve(kind, encoder=encoder)
    except UserError as exc:
        if source == "the weights directory":
            try:
                expected = weight_paths.weights_dir() / weight_paths.DEFAULT_FILENAME[kind]
            except UserError:  # no home folder, which `exc` says
                return Finding(kind, str(exc), "problem", fetch if encoder == TORCHVISION_VGG19 else
                               f"point ${weight_paths.ENV_VAR[kind]} at a weights file, or set ${weight_paths.HOME_ENV_VAR} to a "
                               f"folder and {DOWNLOAD}")
            if expected.exists():  # a folder, FIFO or device where the file goes: a download would refuse it
                return Finding(kind, str(exc).partition("; move it away")[0], "problem", f"move {expected} away, then {fetch}")
            return Finding(kind, f"no {kind} weights (looked for {expected})", "problem", fetch)
        if os.path.exists(os.path.expanduser(os.environ[weight_paths.ENV_VAR[kind]])):  # a folder or fifo is there
            return Finding(kind, f"not a regular file: {exc}", "problem", f"point {source} at a weights file, or unset it")
        if name_too_long(Path(os.path.expanduser(os.environ[weight_paths.ENV_VAR[kind]]))):  # (no file can be named so)
            return Finding(kind, f"not usable: {exc}", "problem", f"point {source} at a weights file, or unset it")
        return Finding(kind, f"missing: {exc}", "problem", f"point {source} at an existing file, or unset it")
    published = download.PUBLISHED[kind]
    where = f"{path} (from {source}, {path.stat().st_size:,} bytes)"
    try:
        if encoder != TORCHVISION_VGG19 and weight_digests.weights_sha256(path) == published.sha256:  # (the published VGG is the normalised one)
            return Finding(kind, f"{where}: the published v0.0.0 file, SHA-256 verified")
        if kind == "vgg":
            weights.load_encoder(path, encoder)
        else:
            weights.load_decoder(path)
    except UserError as exc:
        # (no --force: a download replaces a file that is not the published one anyway)
        fix = fetch if source == "the weights directory" or encoder == TORCHVISION_VGG19 else f"point {source} at a sound file"
        return Finding(kind, f"{where}: not usable: {str(exc).removeprefix(f'{path}: ')}", "problem", fix)
    return Finding(kind, f"{where}: loads and checks out (not the published release file)")


def _folder(name: str, directory: Path, value: str, use: str, variable: str = "REALTIME_ADAIN_HOME") -> Finding:
    """A per-user folder (under $`variable`, else the platform's): a problem when a file or a link
    to nowhere (a loop of links too) stands where it goes (a mistyped variable), a note when it cannot be written
    (read-only: `use` fails)."""
    from realtime_adain.errors import UserError
    from realtime_adain.writable_folders import check_writable_dir, dead_link

    try:
        check_writable_dir(directory, "the folder")
    except UserError as exc:
        why = str(exc).removeprefix(f"{directory}: ")
        fix = f"point ${variable} at a writable folder"
        # (a mistyped path or a link to nowhere, a loop too, not a read-only folder)
        misplaced = "not a folder" in why or dead_link(directory) is not None
        return Finding(name, f"{value}; {why}", "problem" if misplaced else "note", fix if misplaced else f"{use}; {fix}")
    return Finding(name, value)


def weight_files() -> list[Finding]:
    from realtime_adain import download, weight_paths

    try:
        directory = weight_paths.weights_dir()
    except UserError as exc:  # no home folder: a problem only for weights looked for there (said below)
        return [Finding("directory", f"none: {exc}", "note"), *(_check_weights_file(k) for k in download.KINDS)]
    folder = _folder("directory", directory, str(directory), "`weights download` cannot save there")
    fetch = DOWNLOAD if folder.level == "ok" else DOWNLOAD_ELSEWHERE
    return [folder, *(_check_weights_file(k, fetch) for k in download.KINDS)]


def _tree_size(directory: Path) -> tuple[int, int]:
    """(files, bytes) under a directory; (0, 0) when it does not exist."""
    files = [p for p in directory.rglob("*") if p.is_file()] if directory.is_dir() else []
    return len(files), sum(p.stat().st_size for p in files)


def caches() -> list[Finding]:
    from realtime_adain.engines.cache import ENGINES_ENV_VAR, EngineCache
    from realtime_adain.live.style_cache import default_cache_dir

    cache = EngineCache()
    entries = cache.entries()
    size = sum(e.size for e in entries)  # (on disk, as `engines list` says each)
    usable = sum(cache.matches_build(e) for e in entries)  # (the others are rebuilt when needed, as `engines list` says)
    try:
        styles = default_cache_dir()
    except UserError as exc:  # no home folder: `live` keeps no statistics, nothing else is amiss
        style_note = Finding("styles", f"none: {exc}", "note")
    else:
        count, style_bytes = _tree_size(styles)
        style_note = _folder("styles", styles, f"{styles}: {count} files, {style_bytes / 1e6:.1f} MB",
                             "`live` cannot keep style statistics")
    engines = f"{len(entries)} engine{'s' if len(entries) != 1 else ''}"
    engines += f" ({usable} usable)" if usable < len(entries) else ""
    place = export_place(cache)
    free = f", {place.free / 1e6:.1f} MB free" if place and place.free is not None else ""
    variable = ENGINES_ENV_VAR if os.environ.get(ENGINES_ENV_VAR) else "REALTIME_ADAIN_HOME"
    folder = _folder("engines", cache.directory, f"{cache.directory}: {engines}, {size / 1e6:.1f} MB{free}"
                     + ("  (`realtime-adain engines list` shows them)" if entries else ""),
                     "ONNX exports and TensorRT builds cannot be kept", variable)
    return [export_refused(folder, place, variable), *export_in_the_way(cache), style_note]
