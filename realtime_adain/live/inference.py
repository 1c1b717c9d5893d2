"""The inference stage: the newest captured frame, stylized with the controller's current choice
and steadied by the temporal stage, never a backlog."""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

from realtime_adain.errors import environment_failure
from realtime_adain.imageio import resize
from realtime_adain.live.controller import Controller
from realtime_adain.live.sources import Frame, Latest
from realtime_adain.live.stability import Stability
from realtime_adain.live.styles import ActiveStyle
from realtime_adain.settings import LIVE_CPU_SIZE
from realtime_adain.stylizer import Stylizer

def processing_size(asked: int | None, stylizer: Stylizer) -> int:
    """`--size` as given, else the device's default (0 = native)."""
    if asked is not None:
        return asked
    return 0 if stylizer.device.type == "cuda" else LIVE_CPU_SIZE


@dataclass(frozen=True)
class Result:
    frame: Frame  # as captured (full size): the "original" view and snapshot
    content: np.ndarray  # RGB at the processing size: what was stylized (motion is followed on it)
    stylized: np.ndarray  # RGB at the processing size


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
    ) -> None:
        super().__init__(name="inference", daemon=True)
        self.frames, self.stylizer, self.controller, self.active = frames, stylizer, controller, active
        self.work_size = work_size
        self.stability = stability or Stability(stylizer)
        self.results: Latest[Result] = Latest()
        self.dropped = 0
        self.stylized = 0  # frames through the network (fewer than shown when motion is carried)
        self.error: str | None = None
        self._stop_event = threading.Event()

    def stop(self) -> None:
        self._stop_event.set()

    def run(self) -> None:
        seen = 0
        try:
            while not self._stop_event.is_set():
                got = self.frames.newer(seen, timeout=0.1)
                if got is None:
                    if self.frames.closed:
                        break
                    continue
                seq, frame = got
                state = self.controller.state
                if state.paused:  # frames passing while paused are not "dropped"
                    seen = seq
                    continue
                if seen:
                    self.dropped += seq - seen - 1
                seen = seq
                small = resize(frame.image, self.work_size)
                stylized = self.stability.stylize(state, small, self.active.stats(state, small))
                self.results.put(Result(frame, small, stylized))
                self.stylized += 1
        except Exception as exc:  # reported by the main thread as one line, the session still ends cleanly
            self.error = environment_failure(exc) or f"{type(exc).__name__}: {exc}"  # (`ulimit -u`: named)
        finally:
            self.stability.close()
            self.results.close()
