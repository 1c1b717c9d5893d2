"""The doctor's `versions` section: this package, Python and the libraries it uses, each found
without importing it where its version is enough; one that fails to import is a finding, as is
a PyAV too old for `video`.
"""

from __future__ import annotations

import importlib
import importlib.util
import platform
import sys
from dataclasses import replace
from pathlib import Path

from realtime_adain import __version__
from realtime_adain.doctor.report import Finding, guarded
from realtime_adain.errors import installed_version, too_old_pyav


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
    found = guarded("av", _pyav)
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
    package = Path(__file__).resolve().parents[1]  # (realtime_adain, above this doctor package)
    return [
        Finding("realtime-adain", f"{__version__} ({package})"),
        Finding("python", f"{platform.python_version()} ({sys.executable}; {platform.platform()})"),
        guarded("torch", _torch),
        guarded("torchvision", lambda: _distribution("torchvision")),
        guarded("numpy", lambda: _distribution("numpy")),
        _pyav_finding(),
        guarded("opencv", _opencv),
        guarded("onnxruntime", _onnxruntime),
        guarded("torch-tensorrt", _tensorrt),
        guarded("aiortc", _serve, absent='not installed (`serve` needs it: pip install "realtime-adain[serve]")'),
    ]
