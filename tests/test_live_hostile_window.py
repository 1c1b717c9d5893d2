"""The live window handled roughly, under Xvfb: keys spammed (bound, unbound, non-ASCII), resized
to 1x1 and huge, then closed as a window manager's close button does (WM_DELETE_WINDOW)."""

from __future__ import annotations

import ctypes
import subprocess
import time

import pytest

from live_support import FAST, cli_env, copy_styles, live_command, read_video, start
from realtime_adain.live.window import MAX_DISPLAY, MIN_SHORT_SIDE, display_size
from test_live_window import TITLE, display, wait_for  # noqa: F401  (fixture)


@pytest.mark.parametrize("shape, shown", [
    ((360, 640, 3), (640, 360)),
    ((1, 1, 3), (MIN_SHORT_SIDE, MIN_SHORT_SIDE)),
    ((8000, 8000, 3), (2160, 2160)),  # was 8000x8000: 192 MB composed per frame, 12 s of latency
    ((2, 4000, 3), (3840, 2)),  # was 720000x360
])
def test_the_window_picture_stays_between_readable_and_screen_sized(shape, shown):
    assert display_size(shape) == shown
    assert shown[0] <= MAX_DISPLAY[0] and shown[1] <= MAX_DISPLAY[1]


def close_like_a_window_manager(display_name: str, window: int) -> None:
    """Send WM_DELETE_WINDOW, what a window manager sends on its close button (Xvfb has no window
    manager, and this xdotool has no `windowclose`)."""
    x11 = ctypes.CDLL("libX11.so.6")
    x11.XOpenDisplay.restype = ctypes.c_void_p
    x11.XOpenDisplay.argtypes = [ctypes.c_char_p]
    x11.XInternAtom.restype = ctypes.c_ulong
    x11.XInternAtom.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]
    x11.XSendEvent.argtypes = [ctypes.c_void_p, ctypes.c_ulong, ctypes.c_int, ctypes.c_long, ctypes.c_void_p]
    x11.XFlush.argtypes = x11.XCloseDisplay.argtypes = [ctypes.c_void_p]

    class ClientMessage(ctypes.Structure):
        _fields_ = [("type", ctypes.c_int), ("serial", ctypes.c_ulong), ("send_event", ctypes.c_int),
                    ("display", ctypes.c_void_p), ("window", ctypes.c_ulong), ("message_type", ctypes.c_ulong),
                    ("format", ctypes.c_int), ("data", ctypes.c_long * 5)]

    class Event(ctypes.Union):
        _fields_ = [("xclient", ClientMessage), ("pad", ctypes.c_long * 24)]

    connection = x11.XOpenDisplay(display_name.encode())
    assert connection, f"cannot open display {display_name}"
    event = Event()
    event.xclient.type, event.xclient.window, event.xclient.format = 33, window, 32  # ClientMessage
    event.xclient.message_type = x11.XInternAtom(connection, b"WM_PROTOCOLS", 0)
    event.xclient.data[0] = x11.XInternAtom(connection, b"WM_DELETE_WINDOW", 0)
    x11.XSendEvent(connection, window, 0, 0, ctypes.byref(event))
    x11.XFlush(connection)
    x11.XCloseDisplay(connection)


@pytest.mark.slow  # (a live window under Xvfb (8-16 s); test_live_window drives keys by default)
def test_a_window_spammed_resized_and_closed_by_the_window_manager(display, published_weights, data_dir, tmp_path):
    """Closing the window with its close button ended in a traceback (`cv2.error: ... NULL
    guiReceiver (please create a window)` from getWindowProperty) and exit status 1."""
    log, stderr, records = tmp_path / "live.log", tmp_path / "stderr.txt", tmp_path / "records"
    styles = copy_styles(data_dir, tmp_path / "styles")
    env = cli_env(published_weights, tmp_path / "home") | {"DISPLAY": display}
    process = start(live_command("--source", data_dir / "videos" / "cutBunny.mp4", "--styles", styles, "--log", log,
                                 "--snapshot-dir", tmp_path / "snaps", "--record-dir", records, *FAST),
                    env, tmp_path, stderr)

    def xdotool(*args: str) -> str:
        return subprocess.run(["xdotool", *args], env=env, capture_output=True, text=True, timeout=30).stdout

    try:
        wait_for(lambda: log.exists() and "live: window " in log.read_text(), "the first picture", process, stderr)
        window = wait_for(lambda: xdotool("search", "--name", TITLE).split(), "the window", process, stderr)[0]
        xdotool("key", "--window", window, "r")
        wait_for(lambda: "live: record-start " in log.read_text(), "the recording", process, stderr)
        bound = "1 2 3 9 n Right p Left plus Up minus Down m c t o space i h".split()  # not q, s, r, l, f
        unbound = "F1 F11 Tab BackSpace Return Delete Home Page_Down Shift_L Control_L a z 0 KP_Add".split()
        xdotool("key", "--window", window, "--delay", "2", *(bound + unbound) * 4)
        xdotool("type", "--window", window, "--delay", "2", "héllo 漢字 🙂")
        for width, height in (("1", "1"), ("16000", "16000"), ("1", "4000"), ("640", "360")):
            xdotool("windowsize", window, width, height)
            time.sleep(0.3)
        assert process.poll() is None, stderr.read_text()
        close_like_a_window_manager(display, int(window))
        code = process.wait(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    err = stderr.read_text()
    assert code == 0 and "Traceback" not in err and "cv2.error" not in err, err
    assert "live: window-closed" in log.read_text()
    recording, = records.glob("*.mp4")
    assert read_video(recording)[0] > 0 and not list(records.glob(".*"))
