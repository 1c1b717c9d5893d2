"""The live window (OpenCV HighGUI, main thread only): its loop, its keys and its picture."""

from __future__ import annotations

import ctypes
import os
import time
from dataclasses import dataclass
from typing import Callable, Protocol

import cv2
import numpy as np

from realtime_adain.live import hud
from realtime_adain.live.controller import Controller, Effect, LiveState
from realtime_adain.live.display_loss import DisplayLossWatch
from realtime_adain.live.inference import Result

WINDOW = "realtime-adain live"
MIN_SHORT_SIDE = 360  # a small camera (or processing) size is shown at least this big
# ... and a huge or very thin one at most this big: the picture is composed at this size for
# every frame (an 8000x8000 file made 192 MB pictures and 12 s of latency; the window scales).
MAX_DISPLAY = (3840, 2160)
SIZE_CHECK_S = 0.5  # how often the window's size is checked for one made huge from outside
# Qt's own warnings off, unless the user set QT_LOGGING_RULES: when the display went away Qt said
# "The X11 connection broke (error 1). Did the X11 server die?" before our line that says so.
QUIET_QT_RULES = "default.warning=false"


class Feed(Protocol):
    closed: bool

    def next(self, timeout: float) -> Result | None: ...


def picture(result: Result, state: LiveState, display: tuple[int, int], info: hud.HudInfo | None) -> np.ndarray:
    """The BGR picture for `result` in the state's view, with the HUD (`info`) or the help as the
    state says (the help's panel over the HUD let its lines show through the key table)."""
    image = hud.compose(result.frame.image, result.stylized, state.view, view_size(display, state.view))
    if state.help:
        hud.draw_help(image)
    elif state.hud and info is not None:
        hud.draw_hud(image, info)
    return image


def within_display(size: tuple[float, float], bound: tuple[int, int] = MAX_DISPLAY) -> tuple[int, int]:
    """`size` (width, height) scaled down, the aspect kept, to fit `bound`."""
    scale = min(1.0, bound[0] / size[0], bound[1] / size[1])
    return max(1, round(size[0] * scale)), max(1, round(size[1] * scale))


def fitted_back(window: tuple[int, int], shown: tuple[int, int], bound: tuple[int, int]) -> tuple[int, int]:
    """The size for a window of `window` made too big from outside: the picture (`shown`: its size)
    as Qt shows it in that window, its aspect kept, within `bound`. The window's own aspect made a
    16000x100 window a 1280x8 sliver, with the picture in it 14x8 instead of 178x100."""
    scale = min(window[0] / shown[0], window[1] / shown[1])
    return within_display((max(1.0, shown[0] * scale), max(1.0, shown[1] * scale)), bound)


def screen_size() -> tuple[int, int] | None:
    """The X screen's (width, height), where the window is on X11 (Qt's, as OpenCV's is built on
    Linux); None elsewhere (no DISPLAY, no libX11): OpenCV has no call that tells."""
    if not os.environ.get("DISPLAY"):
        return None
    try:
        x11 = ctypes.CDLL("libX11.so.6")
    except OSError:
        return None
    x11.XOpenDisplay.restype, x11.XOpenDisplay.argtypes = ctypes.c_void_p, [ctypes.c_char_p]
    x11.XDefaultScreenOfDisplay.restype, x11.XDefaultScreenOfDisplay.argtypes = ctypes.c_void_p, [ctypes.c_void_p]
    for name in ("XWidthOfScreen", "XHeightOfScreen", "XCloseDisplay"):
        getattr(x11, name).argtypes = [ctypes.c_void_p]
    display = x11.XOpenDisplay(None)
    if not display:
        return None
    try:
        screen = x11.XDefaultScreenOfDisplay(display)
        return x11.XWidthOfScreen(screen), x11.XHeightOfScreen(screen)
    finally:
        x11.XCloseDisplay(display)


def quiet_qt() -> None:
    """QT_LOGGING_RULES for this process, where the user set none: before Qt's first window, as
    Qt reads the rules once. (`doctor`'s window probe, in a child process, sets its own.)"""
    os.environ.setdefault("QT_LOGGING_RULES", QUIET_QT_RULES)


def display_size(shape: tuple[int, ...]) -> tuple[int, int]:
    """(width, height) a frame of `shape` is shown at: its shorter side at least MIN_SHORT_SIDE,
    the whole within MAX_DISPLAY, the aspect kept."""
    h, w = shape[:2]
    scale = max(1.0, MIN_SHORT_SIDE / min(h, w))
    return within_display((w * scale, h * scale))


def view_size(display: tuple[int, int], view: str) -> tuple[int, int]:
    """One view's (width, height) in `view`: side by side, the two together within MAX_DISPLAY
    (at 7680x4320 they were composed at 7680x2160 for every frame)."""
    if view != "side-by-side":
        return display
    width, height = within_display((2 * display[0], display[1]))
    return max(1, width // 2), height


class Window:
    """The window, sized for the first frame; `view` and `fullscreen` keys reshape it."""

    def __init__(self, first_shape: tuple[int, ...], fullscreen: bool,
                 on_display_lost: Callable[[], int] | None = None) -> None:
        """`on_display_lost`: the session's shutdown (returning the exit status), run if the
        display goes away while the window is open (`DisplayLossWatch`)."""
        self.display = display_size(first_shape)
        screen = screen_size() or MAX_DISPLAY
        self.largest = min(screen[0], MAX_DISPLAY[0]), min(screen[1], MAX_DISPLAY[1])  # what `fit_to_view` gives
        # Larger than the screen and MAX_DISPLAY: only a resize from outside makes it (`_keep_bounded`).
        self.oversized = max(screen[0], MAX_DISPLAY[0]), max(screen[1], MAX_DISPLAY[1])
        self.fullscreen = False
        self.shown_size = self.display  # (width, height) of the last picture shown: its aspect is the window's
        self._size_checked_at = time.monotonic()
        quiet_qt()
        cv2.namedWindow(WINDOW, cv2.WINDOW_NORMAL | cv2.WINDOW_KEEPRATIO | cv2.WINDOW_GUI_NORMAL)
        self.display_watch = DisplayLossWatch(on_display_lost) if on_display_lost is not None else None
        if self.display_watch is not None:
            self.display_watch.arm()
        cv2.resizeWindow(WINDOW, *self.display)
        if fullscreen:
            self.set_fullscreen(True)

    def show(self, image: np.ndarray) -> None:
        self.shown_size = image.shape[1], image.shape[0]
        cv2.imshow(WINDOW, image)

    def key(self) -> int:
        """Paint, then the key pressed meanwhile (-1: none); waits 1 ms."""
        if self.display_watch is not None:
            self.display_watch.refresh()
        self._keep_bounded()
        return cv2.waitKeyEx(1)

    def _keep_bounded(self) -> None:
        """Every SIZE_CHECK_S, a window made larger than `oversized` from outside (`xdotool
        windowsize W 16000 16000`) is made `largest` at most again: Qt scales each picture to the
        window, and at 16000x16000 a key took 4-14 s to show, with 1 GB more memory. The picture's
        aspect is kept (`fitted_back`). Not in fullscreen, which is the screen's size (unknown off X11)."""
        now = time.monotonic()
        if self.fullscreen or now - self._size_checked_at < SIZE_CHECK_S:
            return
        self._size_checked_at = now
        try:
            x, y, width, height = cv2.getWindowImageRect(WINDOW)  # the picture, centred in the window
            size = width + 2 * x, height + 2 * y
            if size[0] > self.oversized[0] or size[1] > self.oversized[1]:
                cv2.resizeWindow(WINDOW, *fitted_back(size, self.shown_size, self.largest))
        except cv2.error:  # closed meanwhile: the loop's `visible` check ends the session
            pass

    @property
    def visible(self) -> bool:
        """False once the user closed the window (its close button: Qt then has no window left
        to ask, and says so with an error rather than 0)."""
        try:
            return cv2.getWindowProperty(WINDOW, cv2.WND_PROP_VISIBLE) >= 1
        except cv2.error:
            return False

    def set_fullscreen(self, on: bool) -> None:
        self.fullscreen = on
        try:
            cv2.setWindowProperty(WINDOW, cv2.WND_PROP_FULLSCREEN, cv2.WINDOW_FULLSCREEN if on else cv2.WINDOW_NORMAL)
        except cv2.error:  # closed meanwhile: the loop's `visible` check ends the session
            pass

    def fit_to_view(self, view: str) -> None:
        """Side by side is twice as wide: keep the window's height and the frames' aspect, not squeeze
        them, within MAX_DISPLAY and the screen (it went past a screen's edge)."""
        try:
            height = cv2.getWindowImageRect(WINDOW)[3]
            height = height if height > 0 else self.display[1]
            width = round(height * self.display[0] / self.display[1]) * (2 if view == "side-by-side" else 1)
            cv2.resizeWindow(WINDOW, *within_display((width, height), self.largest))
        except cv2.error:  # closed meanwhile, as above
            pass

    def close(self) -> None:
        cv2.destroyAllWindows()
        cv2.waitKey(1)
        if self.display_watch is not None:  # after the last Qt call: it too may meet a lost display
            self.display_watch.disarm()


@dataclass
class WindowLoop:
    """Show the newest picture, if there is one, and poll the keys.

    `waitKeyEx(1)` is where HighGUI paints, so the picture is on screen after it: that is the end
    of the latency measurement (`shown`). It is also the loop's wait (at least 1 ms), never the
    feed: HighGUI's Qt takes in all the window's events there but keeps only the last key of them,
    so keys that came while the loop waited for a picture elsewhere were lost (about half of 40
    typed 5 ms apart, with a 10 ms picture wait). Asking again (`waitKeyEx`, `pollKey`) gives -1,
    not the others, so keys that came within one turn of the loop merge (docs/live.md says so). A
    picture that comes meanwhile waits for the poll to end, about a millisecond.
    """

    window: Window
    feed: Feed
    controller: Controller
    done: Callable[[], bool]
    deliver: Callable[[Result], bool]  # to the outputs; whether it was a new camera frame (counted)
    shown: Callable[[float], None]  # the capture time of a frame now on screen
    perform: Callable[[list[Effect], Result | None], None]  # the keys' effects
    hud_info: Callable[[LiveState], hud.HudInfo]
    log: Callable[..., None]

    def _picture(self, result: Result) -> np.ndarray:
        state = self.controller.state
        return picture(result, state, self.window.display, self.hud_info(state) if state.hud else None)

    def run(self) -> None:
        last: Result | None = None
        first = True
        stale = False  # keys changed what the picture shows since it was drawn
        while not self.done():
            got = self.feed.next(timeout=0)
            fresh = False
            if got is not None:
                last = got
                fresh = self.deliver(last)
                self.window.show(self._picture(last))
                stale = False
                if first:
                    self.log("window", title=WINDOW, size="%dx%d" % self.window.display)
                    first = False
            elif self.feed.closed:
                break
            key = self.window.key()
            if fresh:
                self.shown(last.frame.captured)
            if key != -1:
                effects = self.controller.press(key)
                self.perform(effects, last)
                stale = stale or bool(effects)
            elif stale and last is not None:  # once the keys pause: drawn after each, it lost keys too
                self.window.show(self._picture(last))
                stale = False
            if not self.window.visible:
                self.log("window-closed")
                break
