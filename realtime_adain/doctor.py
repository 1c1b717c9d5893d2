"""What this installation can do, as typed findings a user can paste into a bug report.

Each check looks at one thing (versions, devices, engines, weights, caches, cameras, display) and
returns findings; `run_checks` runs them all and turns a check that raises into a finding of its
own, so a broken install (a library that fails to import, a damaged file) is reported, never a
crash. Probes that could hang (opening a camera or a window) run in a subprocess with a timeout.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import platform
import shutil
import subprocess
import sys
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Callable, Literal

from realtime_adain import __version__
from realtime_adain.errors import UserError, imported_library, installed_version, missing_system_library, too_old_pyav
from realtime_adain.notes import collected

Level = Literal["ok", "note", "problem"]
PROBE_TIMEOUT_S = 10.0
CAMERA_INDICES = range(4)
DOWNLOAD = "run `realtime-adain weights download`"
# Where the weights folder cannot be written (read-only), the download must go elsewhere.
DOWNLOAD_ELSEWHERE = ("run `realtime-adain weights download --dir DIR` into a writable DIR and point "
                      "$REALTIME_ADAIN_VGG and $REALTIME_ADAIN_DECODER at its files, or set $REALTIME_ADAIN_HOME "
                      "to a writable folder and run `realtime-adain weights download`")
MPS_NOTE = "Apple GPUs (MPS): supported in code, untested on real hardware"
# The room an ONNX export takes in the engine cache: the encoder up to relu4_1 and the decoder in
# fp32 (14.0 MB of parameters each, the skip-concat decoder 14.8 MB) and about 0.1 MB of graph, one
# file (28.2 MB for the published weights), then two sidecars of a few hundred bytes. 32 MB bounds
# it for every decoder architecture.
ONNX_EXPORT_BYTES = 32_000_000
NEED = f"{ONNX_EXPORT_BYTES / 1e6:.0f} MB"


@dataclass(frozen=True)
class Finding:
    """One line of the report: `level` 'note' is a limitation, 'problem' needs action (`fix`)."""

    name: str
    value: str
    level: Level = "ok"
    fix: str | None = None


@dataclass(frozen=True)
class Section:
    title: str
    findings: list[Finding] = field(default_factory=list)


@dataclass(frozen=True)
class Report:
    version: str
    sections: list[Section]

    def problems(self) -> list[tuple[str, Finding]]:
        return [(s.title, f) for s in self.sections for f in s.findings if f.level == "problem"]

    def to_json(self) -> dict:
        return {
            "realtime_adain": self.version,
            "sections": {s.title: [asdict(f) for f in s.findings] for s in self.sections},
            "problems": [{"section": title, **asdict(f)} for title, f in self.problems()],
        }


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0][:200]}" if text else type(exc).__name__


def _guarded(name: str, probe: Callable[[], str | None], absent: str = "not installed") -> Finding:
    """`probe()` as a finding: None means not installed, an exception is reported as such."""
    try:
        value = probe()
    except Exception as exc:
        return Finding(name, f"installed but broken: {_first_line(exc)}", "problem", _load_fix(exc, name))
    return Finding(name, absent, "note") if value is None else Finding(name, value)


def _load_fix(exc: BaseException, name: str) -> str:
    """How to make a library that fails to import load: install the system library it lacks (the
    package's files are all there), else reinstall it."""
    missing = isinstance(exc, ImportError) and missing_system_library(imported_library(exc), str(exc))
    return missing or f"reinstall {name} in this environment"


def _distribution(*names: str) -> str | None:
    """The installed version of the first of these distributions, without importing anything."""
    return next(filter(None, map(installed_version, names)), None)


def _module(name: str):
    """The imported module, or None when it is not installed (import errors propagate)."""
    if importlib.util.find_spec(name) is None:
        return None
    return importlib.import_module(name)


def opencv_gui(build_information: str) -> str:
    """The GUI backend named in cv2.getBuildInformation() ('NONE' for headless builds)."""
    for line in build_information.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "GUI":
            return value.strip() or "NONE"
    return "unknown"


def _torch() -> str | None:
    torch = _module("torch")
    if torch is None:
        return None
    cuda = f"CUDA {torch.version.cuda}" if torch.version.cuda else "no CUDA"
    return f"{torch.__version__} (built with {cuda})"


def _pyav() -> str | None:
    av = _module("av")
    if av is None:
        return None
    libs = ", ".join(f"{lib} {'.'.join(map(str, v))}" for lib, v in sorted(av.library_versions.items()))
    ffmpeg = getattr(av, "ffmpeg_version_info", None)
    return f"{av.__version__} (FFmpeg {ffmpeg}: {libs})" if ffmpeg else f"{av.__version__} ({libs})"


def _pyav_finding() -> Finding:
    """A PyAV older than this package needs is a problem: 17.0 imports, then every `video` run fails."""
    found = _guarded("av", _pyav)
    too_old = too_old_pyav(_distribution("av"))
    return replace(found, level="problem", fix=too_old) if found.level == "ok" and too_old else found


def _opencv() -> str | None:
    cv2 = _module("cv2")
    if cv2 is None:
        return None
    return f"{cv2.__version__} (GUI: {opencv_gui(cv2.getBuildInformation())})"


def _onnxruntime() -> str | None:
    ort = _module("onnxruntime")
    if ort is None:
        return None
    return f"{ort.__version__} (providers: {', '.join(ort.get_available_providers())})"


def _tensorrt() -> str | None:
    # Versions only: importing torch-tensorrt takes seconds and can fail; the engines section says
    # whether it loads.
    versions = [f"{dist} {v}" for dist in ("torch-tensorrt", "tensorrt") if (v := _distribution(dist))]
    return ", ".join(versions) or None


def _serve() -> str | None:
    # Versions only (the optional extra `serve`); importing aiortc would load its codecs.
    found = {dist: _distribution(dist) for dist in ("aiortc", "aiohttp")}
    if not found["aiortc"]:
        return None
    return found["aiortc"] + (f" (aiohttp {found['aiohttp']})" if found["aiohttp"] else " (aiohttp missing)")


def versions() -> list[Finding]:
    package = Path(__file__).resolve().parent
    return [
        Finding("realtime-adain", f"{__version__} ({package})"),
        Finding("python", f"{platform.python_version()} ({sys.executable}; {platform.platform()})"),
        _guarded("torch", _torch),
        _guarded("torchvision", lambda: _distribution("torchvision")),
        _guarded("numpy", lambda: _distribution("numpy")),
        _pyav_finding(),
        _guarded("opencv", _opencv),
        _guarded("onnxruntime", _onnxruntime),
        _guarded("torch-tensorrt", _tensorrt),
        _guarded("aiortc", _serve, absent='not installed (`serve` needs it: pip install "realtime-adain[serve]")'),
    ]


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
    weights_id = _weights_id()
    for device, dtype in places:
        for name in engines.ENGINES:
            reason = engines.unavailable(name, device, dtype)
            if name == "onnx" and reason is None:
                found.append(_onnx_runs(f"{name} on {device.type}"))
                continue
            found.append(Finding(f"{name} on {device.type}", "runs" if reason is None else f"no: {reason}",
                                 "ok" if reason is None else "note"))
        with collected():  # (what 'auto' notes of a damaged export, the report says in its own line)
            auto = engines.resolve("auto", device, dtype, weights_id)
        found.append(Finding(f"auto on {device.type}", auto))
    return found


@dataclass(frozen=True)
class ExportPlace:
    """The engine cache as the ONNX export of the weights in use sees it: whether a usable export is
    there, why none can be made there (None: one can), the bytes free there (None: not known), and
    whether what stops it is something in its place (which no temporary folder avoids)."""

    cached: bool
    refused: str | None
    free: int | None
    blocked: bool = False


def _export_place(cache) -> ExportPlace | None:
    """Where `--engine onnx` and `export --format onnx` put the export, None where the onnx engine
    does not run here. The checks `EngineCache.store` makes, and the free space against
    ONNX_EXPORT_BYTES: a read-only or full cache let doctor say "onnx runs", "problems: none"."""
    import torch

    from realtime_adain import engines
    from realtime_adain.engines.cache import in_the_way
    from realtime_adain.writable_folders import check_writable_dir

    if engines.unavailable("onnx", torch.device("cpu"), torch.float32) is not None:
        return None
    from realtime_adain.engines.onnx import onnx_components

    weights_id = _weights_id()
    entry = cache.entry(onnx_components(weights_id), ".onnx") if weights_id else None
    if entry is not None and (blocking := in_the_way(entry)):
        return ExportPlace(False, f"{blocking[0]} is a folder, fifo or device in its place", None, blocked=True)
    cached = entry is not None and cache.matches_build(entry)
    try:
        check_writable_dir(cache.directory, "it")
    except UserError as exc:
        return ExportPlace(cached, str(exc).removeprefix(f"{cache.directory}: "), None)
    existing = next(p for p in (cache.directory, *cache.directory.parents) if p.is_dir())
    free = shutil.disk_usage(existing).free
    room = None if free >= ONNX_EXPORT_BYTES else f"only {free / 1e6:.1f} MB free, and an export needs up to {NEED}"
    return ExportPlace(cached, room, free)


def _onnx_runs(name: str) -> Finding:
    """'runs', unless no export of the weights in use is cached and the engine cache cannot take
    one: then a run makes it in a temporary folder each time (the default cache), or fails (a cache
    $REALTIME_ADAIN_ENGINES or $REALTIME_ADAIN_HOME names, or something in the export's place)."""
    from realtime_adain.engines.cache import EngineCache, cache_is_named

    try:
        cache = EngineCache()
    except UserError:  # no home folder: runs export into a temporary folder (the weights section says why)
        return Finding(name, "runs")
    place = _export_place(cache)
    if place is None or place.cached or place.refused is None:
        return Finding(name, "runs")
    why = f"the engine cache {cache.directory} holds no export of these weights and cannot take one: {place.refused}"
    if place.blocked or cache_is_named():
        return Finding(name, f"no: {why}", "note")
    return Finding(name, f"runs, exporting into a temporary folder each run: {why}", "note")


def _weights_id() -> str | None:
    """The engine-cache key of the weights a command would load (on the CPU 'auto' is onnx once
    those weights have an export), None where they are not found or not readable."""
    from realtime_adain import weights
    from realtime_adain.errors import UserError

    try:
        return weights.files_id([weights.resolve("vgg"), weights.resolve("decoder")])
    except (UserError, OSError):
        return None


def _weights_source(kind: str) -> str:
    from realtime_adain import weights

    variable = weights.ENV_VAR[kind]
    return f"${variable}" if os.environ.get(variable) else "the weights directory"


def _check_weights_file(kind: str, fetch: str = DOWNLOAD) -> Finding:
    """The `kind` weights a command would load; `fetch`: how to download them (where the
    weights folder is read-only, elsewhere). The VGG is checked as the encoder the decoder in use
    was trained against (`weights.paired_encoder_kind`), as commands load it."""
    from realtime_adain import download, weights
    from realtime_adain.encoders import NORMALISED_VGG, TORCHVISION_VGG19
    from realtime_adain.errors import UserError

    source = _weights_source(kind)
    encoder = weights.paired_encoder_kind() if kind == "vgg" else NORMALISED_VGG
    if encoder == TORCHVISION_VGG19:  # (a download fetches the normalised VGG)
        fetch = (f"point ${weights.ENV_VAR[kind]} at torchvision's VGG-19 weights (vgg19-dcbb9e9d.pth): the decoder in "
                 "use was trained against them")
    try:
        path = weights.resolve(kind, encoder=encoder)
    except UserError as exc:
        if source == "the weights directory":
            try:
                expected = weights.weights_dir() / weights.DEFAULT_FILENAME[kind]
            except UserError:  # no home folder, which `exc` says
                return Finding(kind, str(exc), "problem", fetch if encoder == TORCHVISION_VGG19 else
                               f"point ${weights.ENV_VAR[kind]} at a weights file, or set ${weights.HOME_ENV_VAR} to a "
                               f"folder and {DOWNLOAD}")
            if expected.exists():  # a folder, FIFO or device where the file goes: a download would refuse it
                return Finding(kind, str(exc).partition("; move it away")[0], "problem", f"move {expected} away, then {fetch}")
            return Finding(kind, f"no {kind} weights (looked for {expected})", "problem", fetch)
        if os.path.exists(os.path.expanduser(os.environ[weights.ENV_VAR[kind]])):  # a folder or fifo is there
            return Finding(kind, f"not a regular file: {exc}", "problem", f"point {source} at a weights file, or unset it")
        return Finding(kind, f"missing: {exc}", "problem", f"point {source} at an existing file, or unset it")
    published = download.PUBLISHED[kind]
    where = f"{path} (from {source}, {path.stat().st_size:,} bytes)"
    try:
        if encoder != TORCHVISION_VGG19 and weights.weights_sha256(path) == published.sha256:  # (the published VGG is the normalised one)
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
    to nowhere stands where it goes (a mistyped variable), a note when it cannot be written
    (read-only: `use` fails)."""
    from realtime_adain.errors import UserError
    from realtime_adain.writable_folders import check_writable_dir

    try:
        check_writable_dir(directory, "the folder")
    except UserError as exc:
        why = str(exc).removeprefix(f"{directory}: ")
        fix = f"point ${variable} at a writable folder"
        misplaced = "not a folder" in why or "which does not exist" in why  # (a mistyped path or link, not a read-only folder)
        return Finding(name, f"{value}; {why}", "problem" if misplaced else "note", fix if misplaced else f"{use}; {fix}")
    return Finding(name, value)


def weight_files() -> list[Finding]:
    from realtime_adain import download, weights

    try:
        directory = weights.weights_dir()
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
    place = _export_place(cache)
    free = f", {place.free / 1e6:.1f} MB free" if place and place.free is not None else ""
    variable = ENGINES_ENV_VAR if os.environ.get(ENGINES_ENV_VAR) else "REALTIME_ADAIN_HOME"
    folder = _folder("engines", cache.directory, f"{cache.directory}: {engines}, {size / 1e6:.1f} MB{free}"
                     + ("  (`realtime-adain engines list` shows them)" if entries else ""),
                     "ONNX exports and TensorRT builds cannot be kept", variable)
    return [_export_refused(folder, place, variable), *_export_in_the_way(cache), style_note]


def _export_refused(folder: Finding, place: ExportPlace | None, variable: str) -> Finding:
    """The engine cache's finding made a problem where the onnx engine runs, no export of the
    weights in use is cached and the cache cannot take one (read-only, full): `export --format onnx`
    fails, and so does `--engine onnx` in a folder a variable names. (Something in the export's
    place is a problem of its own, `_export_in_the_way`.)"""
    if place is None or place.cached or place.refused is None or place.blocked or folder.level == "problem":
        return folder
    # (a read-only folder's note says why already; a full one's value shows the MB free)
    why = "" if folder.level == "note" else f"; an ONNX export needs up to {NEED}"
    fix = (f"free {NEED} there, or point ${variable} at a folder with room" if place.free is not None
           else f"point ${variable} at a writable folder")
    return Finding(folder.name, f"{folder.value}{why}; no ONNX export of these weights is cached, and none can be made there",
                   "problem", fix)


def _export_in_the_way(cache) -> list[Finding]:
    """A folder, fifo or device where the ONNX export of the weights in use (or one of its
    sidecars) goes: `export --format onnx` refuses to replace it, so only a run's note said
    that export would make it again, and the report said "problems: none"."""
    weights_id = _weights_id()
    if weights_id is None or importlib.util.find_spec("onnx") is None:
        return []
    from realtime_adain.engines.cache import in_the_way
    from realtime_adain.engines.onnx import onnx_components

    entry = cache.entry(onnx_components(weights_id), ".onnx")
    blocking = in_the_way(entry)
    return [Finding("onnx export", f"{path}: a folder, fifo or device is where the ONNX export of these weights goes; "
                    "`export --format onnx` cannot replace it", "problem", f"move {path} away") for path in blocking]


def _probe(code: str, *args: str, env: dict[str, str] | None = None) -> tuple[str, str | None]:
    """Run `code` in a fresh Python with a timeout (and `env` over this environment): (stdout so
    far, why it failed or None)."""
    env = {**os.environ, "OPENCV_LOG_LEVEL": "SILENT", "QT_LOGGING_RULES": "*=false", **(env or {})}
    try:
        done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                              timeout=PROBE_TIMEOUT_S, env=env, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else exc.stdout or ""
        return out, f"no answer within {PROBE_TIMEOUT_S:.0f} s"
    if done.returncode != 0:
        lines = (done.stderr.strip() or f"exit status {done.returncode}").splitlines()
        return done.stdout, lines[-1][:200]
    return done.stdout, None


CAMERA_PROBE = """
import sys, cv2
cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
backend = cv2.CAP_V4L2 if sys.platform.startswith("linux") else cv2.CAP_ANY
for index in sys.argv[1:]:
    cap = cv2.VideoCapture(int(index), backend)
    if cap.isOpened():
        ok, frame = cap.read()
        size = f"{frame.shape[1]}x{frame.shape[0]}" if ok and frame is not None else "no frame"
        print(index, size, flush=True)
    cap.release()
"""

NO_CAMERA = "the `live` command can read a video file or URL instead (--source FILE)"


def cameras() -> list[Finding]:
    """Cameras 0..3: on Linux only the /dev/video* nodes present are opened (each probe is bounded)."""
    indices = [str(i) for i in CAMERA_INDICES]
    if sys.platform.startswith("linux"):
        indices = [i for i in indices if Path(f"/dev/video{i}").exists()]
        if not indices:
            return [Finding("cameras", "none (no /dev/video0..3)", "note", NO_CAMERA)]
    out, failure = _probe(CAMERA_PROBE, *indices)
    found = [Finding(f"camera {index}", f"opens, first frame {size}")
             for index, size in (line.split(" ", 1) for line in out.splitlines() if " " in line)]
    if failure:
        found.append(Finding("camera probe", f"stopped: {failure}", "note", NO_CAMERA))
    elif not found:
        found.append(Finding("cameras", f"none of {', '.join(indices)} opens", "note", NO_CAMERA))
    return found


WINDOW_PROBE = """
import cv2
cv2.namedWindow("realtime-adain doctor", cv2.WINDOW_NORMAL)
cv2.waitKey(1)
cv2.destroyAllWindows()
"""

HEADLESS = "`live` then needs --no-window with -o FILE, --stream URL or --virtual-cam"
QT_FALLBACK = "xcb"  # the one platform plugin opencv-python's Qt has (X11; XWayland on a Wayland desktop)


def window_failure(qt_platform: str | None = None) -> str | None:
    """Why an OpenCV window cannot open here, or None: probed in a child process, since Qt aborts
    the whole process when it cannot reach the display (a stale DISPLAY, Wayland without XWayland,
    QT_QPA_PLATFORM naming a plugin OpenCV's Qt lacks). `qt_platform` overrides QT_QPA_PLATFORM."""
    _, failure = _probe(WINDOW_PROBE, env={"QT_QPA_PLATFORM": qt_platform} if qt_platform else None)
    if failure and "platform plugin" in failure:  # Qt's last words: "Available platform plugins are: xcb."
        platform = qt_platform or os.environ.get("QT_QPA_PLATFORM") or QT_FALLBACK
        has = [name.strip() for name in failure.partition("plugins are:")[2].strip(" .").split(",") if name.strip()]
        if has and platform.partition(":")[0] not in has:  # (QT_QPA_PLATFORM=xcb:OPTIONS names xcb)
            return f"QT_QPA_PLATFORM={platform} is not a platform OpenCV's Qt has"  # (`live` says so too)
        return f"OpenCV's Qt cannot reach a display through its {platform!r} platform plugin"
    return failure


def qt_platform_that_works() -> str | None:
    """Where the window does not open as set up but opens with QT_QPA_PLATFORM=xcb (a Wayland
    desktop's QT_QPA_PLATFORM=wayland, XWayland running): xcb; None otherwise."""
    given = os.environ.get("QT_QPA_PLATFORM")
    if given and given != QT_FALLBACK and os.environ.get("DISPLAY") and window_failure(QT_FALLBACK) is None:
        return QT_FALLBACK
    return None


def display() -> list[Finding]:
    """Whether `live` can show its window: a display, an OpenCV GUI backend, and a window that opens."""
    import cv2

    gui = opencv_gui(cv2.getBuildInformation())
    if gui in ("NONE", "unknown"):
        return [Finding("window", f"OpenCV has no GUI backend (GUI: {gui}; opencv-python-headless?)", "note",
                        f"pip install opencv-python for windows; {HEADLESS}")]
    names = ("DISPLAY", "WAYLAND_DISPLAY")
    if sys.platform.startswith("linux") and not any(os.environ.get(n) for n in names):
        return [Finding("window", f"no display (DISPLAY and WAYLAND_DISPLAY unset; OpenCV GUI: {gui})", "note",
                        HEADLESS)]
    shown = ", ".join(f"{n}={os.environ[n]}" for n in (*names, "QT_QPA_PLATFORM") if os.environ.get(n))
    failure = window_failure()
    if failure and qt_platform_that_works():
        return [Finding("window", f"opens with QT_QPA_PLATFORM={QT_FALLBACK}, not as set ({failure}; {shown}; "
                                  f"OpenCV GUI: {gui})",
                        "note", f"`live` switches to {QT_FALLBACK} itself")]
    if failure:
        return [Finding("window", f"does not open ({failure}; {shown or 'no DISPLAY needed'}, OpenCV GUI: {gui})",
                        "problem", f"check the display and OpenCV install; {HEADLESS}")]
    return [Finding("window", f"opens ({shown or sys.platform}, OpenCV GUI: {gui})")]


CHECKS: dict[str, Callable[[], list[Finding]]] = {
    "versions": versions,
    "devices": devices,
    "engines": engine_support,
    "weights": weight_files,
    "caches": caches,
    "cameras": cameras,
    "display": display,
}


def run_checks(checks: dict[str, Callable[[], list[Finding]]] | None = None) -> Report:
    """Every check; one that raises becomes a problem finding instead of ending the report."""
    sections = []
    for title, check in (CHECKS if checks is None else checks).items():
        try:
            findings = list(check())
        except UserError as exc:  # the setup, not a bug: no home folder (`docker run --user 1234`)
            findings = [Finding("check failed", str(exc), "problem", "fix the setting it names")]
        except OSError as exc:  # the file system refused (a folder this user cannot read): the setup, not a bug
            where = f"{exc.filename}: " if exc.filename else ""
            why = exc.strerror.lower() if exc.strerror else _first_line(exc)
            findings = [Finding("check failed", f"{where}{why}", "problem",
                                "make it readable and writable for this user, or point the setting that names it elsewhere")]
        except ImportError as exc:  # a library that cannot load (OpenCV without libGL.so.1): the install, not a bug
            library = imported_library(exc)
            findings = [Finding("check failed", f"needs {library}, which cannot load: {_first_line(exc)}", "problem",
                                _load_fix(exc, library))]
        except Exception as exc:
            findings = [Finding("check failed", _first_line(exc), "problem",
                                "this is a bug or a broken install: include this report in an issue")]
        sections.append(Section(title, findings))
    return Report(__version__, sections)
