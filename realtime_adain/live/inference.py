"""The inference stage: the newest captured frame, stylized with the controller's current choice
and steadied by the temporal stage, never a backlog."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from fractions import Fraction
from typing import Callable

import numpy as np

from realtime_adain.errors import environment_failure
from realtime_adain.live.active_style import ActiveStyle
from realtime_adain.live.controller import Controller, LiveState
from realtime_adain.live.sources import Frame, Latest
from realtime_adain.live.stability import Stability
from realtime_adain.picture_sizes import resize
from realtime_adain.settings import LIVE_CPU_SIZE
from realtime_adain.stylizer import Stylizer
from realtime_adain.video.framing import Framing

def processing_size(asked: int | None, stylizer: Stylizer) -> int:
    """`--size` as given, else the device's default (0 = native)."""
    if asked is not None:
        return asked
    return 0 if stylizer.device.type == "cuda" else LIVE_CPU_SIZE


def work_framing(shape: tuple[int, int], size: tuple[int, int]) -> Framing | None:
    """How a picture of `shape` (height, width) goes into the session's processing `size` (width,
    height): None where it has that shape but for a pixel of rounding (scaled to fill it), else
    scaled at its own shape, black bars filling the rest, as `video` frames pictures for a
    fixed-size encoder. A source whose picture changes shape mid-stream (clips joined, a phone
    turned) so keeps its shape: a 54x96 frame in a 96x54 session was stretched to 57x32."""
    height, width = shape
    scale = min(size[0] / width, size[1] / height)
    inner = min(size[0], max(1, round(width * scale))), min(size[1], max(1, round(height * scale)))
    if size[0] - inner[0] <= 1 and size[1] - inner[1] <= 1:
        return None
    return Framing(size, inner, Fraction(1), "")


def at_work_size(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """`image` (RGB) at the processing `size`, framed by `work_framing`."""
    framing = work_framing(image.shape[:2], size)
    return resize(image, size) if framing is None else framing.fit(image)


def bars_black(stylized: np.ndarray, framing: Framing) -> np.ndarray:
    """A stylized frame with `framing`'s bars black again: the network paints texture on black."""
    (width, height), (inner_width, inner_height) = framing.size, framing.inner
    top, left = (height - inner_height) // 2, (width - inner_width) // 2  # (where `Framing.fit` put it)
    return framing.fit(stylized[top:top + inner_height, left:left + inner_width])


@dataclass(frozen=True)
class Result:
    frame: Frame  # as captured (full size): the "original" view and snapshot
    content: np.ndarray  # RGB at the processing size: what was stylized (motion is followed on it)
    stylized: np.ndarray  # RGB at the processing size
    look: tuple = ()  # the `ActiveStyle.look` it was stylized in (a frame carried onto another: none)


class Inference(threading.Thread):
    """Stylizes the newest captured frame with the controller's current choice, never a backlog."""

    def __init__(
        self,
        frames: Latest[Frame],
        stylizer: Stylizer,
        controller: Controller,
        active: ActiveStyle,
        work_size: tuple[int, int],
        stability: Stability | None = None,
        log: Callable[..., None] = lambda *args, **kwargs: None,
    ) -> None:
        super().__init__(name="inference", daemon=True)
        self.frames, self.stylizer, self.controller, self.active = frames, stylizer, controller, active
        self.work_size = work_size
        self.stability = stability or Stability(stylizer)
        self.log = log
        self._first_shape: tuple[int, int] | None = None  # the source's picture (height, width)
        self._resize_said = False
        self.results: Latest[Result] = Latest()
        self.dropped = 0
        self.stylized = 0  # frames through the network (fewer than shown when motion is carried)
        self.error: str | None = None
        self._stop_event = threading.Event()

    def stop(self) -> None:
        self._stop_event.set()

    def run(self) -> None:
        seen = 0
        held: Frame | None = None  # the last frame stylized (what a pause holds), and its look
        look: tuple = ()
        try:
            while not self._stop_event.is_set():
                got = self.frames.newer(seen, timeout=0.1)
                if got is None and self.frames.closed:
                    break
                state = self.controller.state
                if state.paused:  # frames passing while paused are not "dropped"
                    seen = got[0] if got is not None else seen
                    if held is not None and look != self.active.look(state):  # a key or a rescan changed it
                        look = self._stylize(state, held)
                    continue
                if got is None:
                    continue
                seq, frame = got
                # (from the first frame captured: a stream's first second, read in a burst while the
                # session started, was neither shown nor counted)
                self.dropped += seq - seen - 1
                seen = seq
                self._note_shape(frame.image.shape[:2])
                held, look = frame, self._stylize(state, frame)
        except Exception as exc:  # reported by the main thread as one line, the session still ends cleanly
            # (`ulimit -u`: named; frames too large for the memory left: by how much, and what to lower)
            self.error = environment_failure(exc, "lower --size") or f"{type(exc).__name__}: {exc}"
        finally:
            self.stability.close()
            self.results.close()

    def _stylize(self, state: LiveState, frame: Frame) -> tuple:
        """`frame` stylized in `state`'s look, handed on; returns that look (`ActiveStyle.look`).
        While paused, the held frame again: keys changed the HUD and the log but not the picture,
        and `s` saved the old look."""
        framing = work_framing(frame.image.shape[:2], self.work_size)
        small = resize(frame.image, self.work_size) if framing is None else framing.fit(frame.image)
        look = self.active.look(state)
        stylized = self.stability.stylize(state, small, self.active.stats(state, small), look)
        if framing is not None:
            stylized = bars_black(stylized, framing)
        self.results.put(Result(frame, small, stylized, look))
        self.stylized += 1
        return look

    def _note_shape(self, shape: tuple[int, int]) -> None:
        """Say once that the source's picture changed size (its frames are fitted, not stretched)."""
        if self._first_shape is None:
            self._first_shape = shape
        elif shape != self._first_shape and not self._resize_said:
            self._resize_said = True
            self.log("source-resized", was="%dx%d" % self._first_shape[::-1], now="%dx%d" % shape[::-1],
                     size="%dx%d" % self.work_size)
