"""The doctor's `cameras` and `display` sections: probes that could hang or abort (opening a
camera, opening an OpenCV window, which Qt ends the process over) run in a child Python with a
timeout. `live` asks the same window probe before its model loads (`window_failure`,
`qt_platform_that_works`).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from realtime_adain.doctor.libraries import opencv_gui
from realtime_adain.doctor.report import Finding

PROBE_TIMEOUT_S = 10.0
CAMERA_INDICES = range(4)


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
