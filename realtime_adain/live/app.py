"""Wiring of a live session: capture thread -> inference thread -> UI (or headless) loop.

Each stage hands the next only its newest item (`Latest`), so when stylizing is slower than the
camera, frames are dropped rather than queued and latency stays one frame deep. The main thread
owns the window and the keys (HighGUI must run there); writes (snapshots, recordings, streams)
happen on their own threads. SIGINT/SIGTERM, `q`, closing the window, `--max-frames` or the end
of a finite source all take the same way out: stop capture, finish inference, finalise outputs,
print the session summary.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import sys
import threading
import time
from collections import deque
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Callable, Iterator

import cv2
import numpy as np

from realtime_adain.commands import common
from realtime_adain.errors import UserError
from realtime_adain.stylizer import Stylizer
from realtime_adain.imageio import fit_short_side, resize, write_image
from realtime_adain.live import hud
from realtime_adain.live.controller import Controller, Effect
from realtime_adain.live.outputs import Recorder, Streamer, VirtualCamera
from realtime_adain.live.sources import Capture, Frame, Latest, open_source
from realtime_adain.live.styles import ActiveStyle, StyleLibrary, default_cache_dir

WINDOW = "realtime-adain live"
FIRST_FRAME_TIMEOUT = 15.0
INFERENCE_JOIN_TIMEOUT = 10.0  # one frame (or one colour-reference encoding) at worst
WORKER_JOIN_TIMEOUT = 40.0  # snapshots, finishing a recording (itself limited to 30 s)
FPS_WINDOW = 30  # frames the HUD's fps is averaged over
LATENCY_WINDOW = 10  # frames the HUD's latency is the median of
RECORDING_SUFFIXES = (".mp4", ".m4v", ".mov")
MAX_RESOLUTION = (7680, 4320)  # 8K UHD: beyond it a frame is gigabytes, no camera delivers it


class EventLog:
    """One parseable line per event, `live: EVENT key=value ...`, to stderr and optionally a file."""

    def __init__(self, path: str | os.PathLike | None = None) -> None:
        self._lock = threading.Lock()
        self._file = open(path, "a", encoding="utf-8") if path else None

    @staticmethod
    def _value(value: object) -> str:
        text = f"{value:.4g}" if isinstance(value, float) else str(value)
        quoted = not text or any(c in text for c in ' "=\n')
        return json.dumps(text, ensure_ascii=False) if quoted else text  # "été.mp4", not "\u00e9t\u00e9.mp4"

    def __call__(self, event: str, **fields: object) -> None:
        line = " ".join([f"live: {event}"] + [f"{k}={self._value(v)}" for k, v in fields.items()])
        with self._lock:
            print(line, file=sys.stderr, flush=True)
            if self._file:
                self._file.write(line + "\n")
                self._file.flush()

    def close(self) -> None:
        if self._file:
            self._file.close()


@dataclass(frozen=True)
class Result:
    frame: Frame  # as captured (full size): the "original" view and snapshot
    stylized: np.ndarray  # RGB at the processing size


# A CPU runs the network at this shorter side at interactive rates; a GPU runs the camera's own size.
DEFAULT_CPU_SIZE = 160
DEFAULT_SIZE_TEXT = f"{DEFAULT_CPU_SIZE} on a CPU, native on a GPU"


def processing_size(asked: int | None, stylizer: Stylizer) -> int:
    """`--size` as given, else the device's default (0 = native)."""
    if asked is not None:
        return asked
    return 0 if stylizer.device.type == "cuda" else DEFAULT_CPU_SIZE


class Inference(threading.Thread):
    """Stylizes the newest captured frame with the controller's current choice, never a backlog."""

    def __init__(
        self,
        frames: Latest[Frame],
        stylizer: Stylizer,
        controller: Controller,
        active: ActiveStyle,
        work_size: tuple[int, int],
    ) -> None:
        super().__init__(name="inference", daemon=True)
        self.frames, self.stylizer, self.controller, self.active = frames, stylizer, controller, active
        self.work_size = work_size
        self.results: Latest[Result] = Latest()
        self.dropped = 0
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
                stylized = self.stylizer.stylize(small, self.active.stats(state, small), state.alpha)
                self.results.put(Result(frame, stylized))
        except Exception as exc:  # reported by the main thread as one line, the session still ends cleanly
            self.error = f"{type(exc).__name__}: {exc}"
        finally:
            self.results.close()


class LatencyHistogram:
    """Latencies counted in log-spaced bins: fixed memory however long the session runs.

    Bins are 0.2 % wide from 0.1 ms to 100 s (values outside are counted in the end bins), so a
    percentile, taken like numpy's (linear between order statistics) with each order statistic at
    its bin's geometric centre, is within 0.1 % of the exact one.
    """

    LOW_S, HIGH_S, GROWTH = 1e-4, 100.0, 1.002
    BINS = math.ceil(math.log(HIGH_S / LOW_S) / math.log(GROWTH))

    def __init__(self) -> None:
        self.counts = np.zeros(self.BINS, dtype=np.int64)

    def add(self, seconds: float) -> None:
        index = math.floor(math.log(max(seconds, self.LOW_S) / self.LOW_S) / math.log(self.GROWTH))
        self.counts[min(index, self.BINS - 1)] += 1

    def percentile(self, q: float) -> float:
        """The q-th percentile in seconds (0.0 when empty)."""
        total = int(self.counts.sum())
        if total == 0:
            return 0.0
        rank = q / 100 * (total - 1)
        below, above = math.floor(rank), math.ceil(rank)
        bins = np.searchsorted(np.cumsum(self.counts), [below, above], side="right")  # order statistic k's bin
        low, high = self.LOW_S * self.GROWTH ** (bins + 0.5)
        return float(low + (rank - below) * (high - low))


class SessionStats:
    """Frames shown, their capture-to-display latency and the display rate, in fixed memory.

    An exact frame count, the last few frames for the HUD's fps and latency, and a histogram for
    the session's median and 95th percentile: an 8-hour session costs what a minute does.
    """

    def __init__(self) -> None:
        self.frames = 0
        self.first_shown = self.last_shown = 0.0
        self.recent_shown: deque[float] = deque(maxlen=FPS_WINDOW)
        self.recent_latencies: deque[float] = deque(maxlen=LATENCY_WINDOW)
        self.latencies = LatencyHistogram()
        self.skipped = 0

    def shown(self, captured: float, now: float | None = None) -> None:
        """A frame captured at `captured` is on screen at `now` (default: this instant, monotonic)."""
        now = time.monotonic() if now is None else now
        if not self.frames:
            self.first_shown = now
        self.frames += 1
        self.last_shown = now
        self.recent_shown.append(now)
        self.recent_latencies.append(now - captured)
        self.latencies.add(now - captured)

    @property
    def fps(self) -> float:
        recent = self.recent_shown
        if len(recent) < 2:
            return 0.0
        return (len(recent) - 1) / max(1e-6, recent[-1] - recent[0])

    @property
    def latency_ms(self) -> float:
        return 1000 * float(np.median(self.recent_latencies)) if self.recent_latencies else 0.0

    def summary(self, dropped: int) -> dict[str, float | int]:
        span = self.last_shown - self.first_shown
        return {
            "frames_shown": self.frames,
            "dropped": dropped + self.skipped,
            "latency_median_ms": round(1000 * self.latencies.percentile(50), 1),
            "latency_p95_ms": round(1000 * self.latencies.percentile(95), 1),
            "mean_fps": round((self.frames - 1) / span, 2) if span > 0 else 0.0,
        }


def _stamp() -> str:
    return datetime.now().strftime("%Y%m%d-%H%M%S-%f")[:-3]


class LiveSession:
    """One run of `realtime-adain live`, from opened source to session summary."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.log = EventLog(args.log)
        self.stop_event = threading.Event()
        self.stats = SessionStats()
        self.capture: Capture | None = None
        self.inference: Inference | None = None
        self.recorder: Recorder | None = None
        self.outputs: list[Recorder | Streamer | VirtualCamera] = []
        self.workers: list[threading.Thread] = []  # writers the shutdown waits for
        self.rescanning = False
        self.exit_code = 0
        self.signal_name: str | None = None
        self.failed_outputs: set[int] = set()  # ids of outputs whose failure was said

    # ---- setup -------------------------------------------------------------------------------

    def check_args(self) -> None:
        args = self.args
        if args.resolution and (args.resolution[0] > MAX_RESOLUTION[0] or args.resolution[1] > MAX_RESOLUTION[1]):
            raise UserError("--resolution %dx%d: at most %dx%d" % (*args.resolution, *MAX_RESOLUTION))
        if args.output:
            out = Path(args.output)
            if out.suffix.lower() not in RECORDING_SUFFIXES:
                raise UserError(f"{out}: -o writes MP4; use a .mp4, .m4v or .mov name")
            if os.path.exists(args.source) and out.resolve() == Path(args.source).resolve():
                raise UserError(f"{out}: output would overwrite the input")
        if not args.window and not (args.output or args.stream or args.virtual_cam):
            raise UserError("--no-window needs somewhere to send frames: -o FILE, --stream URL or --virtual-cam")
        if args.stream:
            Streamer.scheme(args.stream)
        if args.virtual_cam:
            VirtualCamera.check_available()
        if args.window and sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
            raise UserError("no display to open a window on: use --no-window with -o FILE or --stream URL")

    def run(self, check: bool = True) -> int:
        """The whole session; `check=False` lets the benchmark run headless with no output at all."""
        args = self.args
        if check:
            self.check_args()
        self.source = open_source(args.source, args.resolution, args.fps, loop=args.loop)  # fail fast
        try:
            self.stylizer = Stylizer.from_settings(common.model_settings(args))
            return self._run_opened()
        finally:
            if self.capture is None or not self.capture.is_alive():
                self.source.close()  # else the capture thread, stuck in a read, owns it (and is a daemon)
            self.log.close()

    def _run_opened(self) -> int:
        args = self.args
        self.library = StyleLibrary(args.styles, self.stylizer, args.style_size, args.style_cache or default_cache_dir(), self.log).load()
        self.capture = Capture(self.source, self.log)
        self.capture.start()
        try:
            with self._signals_stop():  # from here on, a signal ends the session the normal way
                first = self._first_frame()
                if first is None:  # stopped by a signal during start-up
                    return self.exit_code
                self.capture_resolution = first.image.shape[1::-1]
                self.work_size = fit_short_side(first.image, processing_size(args.size, self.stylizer)).shape[1::-1]
                self.fps = float(getattr(self.source, "fps", 0) or args.fps or 30.0)
                self.stylizer.prepare(1, *self.work_size[::-1])
                self._open_outputs()  # before the first log line: a missing virtual camera is the one line said
                self.log("styles", count=len(self.library), computed=self.library.computed, cached=self.library.reused)
                self.controller = Controller(self.library.names, alpha=args.alpha, preserve_color=args.preserve_color,
                                             fullscreen=args.fullscreen)
                self.device_label, self.engine_label = self._device(), self._engine()
                self.log("start", source=self.source.description, resolution="%dx%d" % self.capture_resolution,
                         size="%dx%d" % self.work_size, device=self.device_label, engine=self.engine_label)
                self.inference = Inference(self.capture.latest, self.stylizer, self.controller,
                                           ActiveStyle(self.library, self.log), self.work_size)
                self.inference.start()
                if args.window:
                    self._window_loop(first.image.shape)
                else:
                    self._headless_loop()
        finally:
            self._shutdown()
        return self.exit_code

    def _first_frame(self):
        """The source's first frame, or None when a signal stops the wait."""
        deadline = time.monotonic() + FIRST_FRAME_TIMEOUT
        while not self.stop_event.is_set():
            got = self.capture.latest.newer(0, 0.1)
            if got is not None:
                return got[1]
            if self.capture.error:  # the real cause, not "no frames arrived"
                raise UserError(f"{self.args.source}: capture failed ({self.capture.error})")
            if time.monotonic() > deadline:
                raise UserError(f"{self.args.source}: no frames arrived within {FIRST_FRAME_TIMEOUT:.0f} s")
        return None

    def _open_outputs(self) -> None:
        if self.args.output:
            self.outputs.append(Recorder(self.args.output, self.work_size, self.fps, self.log))
        if self.args.stream:
            self.outputs.append(Streamer(self.args.stream, self.work_size, self.fps, self.log))
        if self.args.virtual_cam:
            self.outputs.append(VirtualCamera(self.work_size, self.fps))

    def _device(self) -> str:
        dtype = str(self.stylizer.dtype).replace("torch.", "")
        return f"{self.stylizer.device} {dtype}"

    def _engine(self) -> str:
        """The engine that runs, as the stylizer resolved it (else as asked for)."""
        engine = getattr(self.stylizer, "engine", None) or getattr(self.args, "engine", None) or "eager"
        return str(getattr(engine, "name", engine))

    @contextmanager
    def _signals_stop(self) -> Iterator[None]:
        """SIGINT/SIGTERM set the stop flag, so every loop ends the normal way (main thread only)."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def handle(signum: int, _frame: object) -> None:
            self.signal_name = signal.Signals(signum).name
            self.stop_event.set()

        previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    # ---- loops -------------------------------------------------------------------------------

    @staticmethod
    def _where(output: Recorder | Streamer | VirtualCamera) -> dict[str, object]:
        if isinstance(output, Recorder):
            return {"path": output.path}
        return {"target": getattr(output, "url", "virtual-camera")}

    def _watch_outputs(self) -> None:
        """An output that stopped working (a full disk, a peer gone) is said once, with its path,
        and makes the exit status 1; with no window and no output left, the session ends rather
        than stylizing for nobody."""
        for output in [*self.outputs, self.recorder]:
            error = getattr(output, "error", None)
            if error is None or id(output) in self.failed_outputs:
                continue
            self.failed_outputs.add(id(output))
            self.exit_code = 1
            self.log("output-failed", **self._where(output), reason=error)
            if output is self.recorder:
                self._toggle_recording()  # finishes it: what was written stays if it plays
        if not self.args.window and self.outputs and not self.stop_event.is_set() and all(
                id(output) in self.failed_outputs for output in self.outputs):
            self.log("error", reason="no working output left (see output-failed above)")
            self.stop_event.set()

    def _deliver(self, result: Result) -> None:
        self._watch_outputs()
        for output in self.outputs:
            output.submit(result.stylized, result.frame.captured)
        if self.recorder is not None:
            self.recorder.submit(result.stylized, result.frame.captured)

    def _done(self) -> bool:
        limit = self.args.max_frames
        return self.stop_event.is_set() or bool(limit and self.stats.frames >= limit)

    def _next_result(self, seen: int, timeout: float) -> tuple[int, Result] | None:
        got = self.inference.results.newer(seen, timeout)
        if got is not None and seen and got[0] > seen + 1:
            self.stats.skipped += got[0] - seen - 1
        return got

    def _headless_loop(self) -> None:
        seen = 0
        while not self._done():
            got = self._next_result(seen, timeout=0.1)
            if got is None:
                if self.inference.results.closed:
                    break
                continue
            seen, result = got
            self._deliver(result)
            self.stats.shown(result.frame.captured)

    def _window_loop(self, first_shape: tuple[int, ...]) -> None:
        """Wait briefly for a result (woken at once when one comes), show it, poll the keys.

        `waitKeyEx(1)` is where HighGUI paints, so the picture is on screen after it: that is the
        end of the latency measurement. A key waits at most the 10 ms result wait plus 1 ms.
        """
        h, w = first_shape[:2]
        grow = max(1.0, 360 / min(h, w))
        self.display = (round(w * grow), round(h * grow))
        cv2.namedWindow(WINDOW, cv2.WINDOW_NORMAL | cv2.WINDOW_KEEPRATIO | cv2.WINDOW_GUI_NORMAL)
        cv2.resizeWindow(WINDOW, *self.display)
        if self.controller.state.fullscreen:
            cv2.setWindowProperty(WINDOW, cv2.WND_PROP_FULLSCREEN, cv2.WINDOW_FULLSCREEN)
        seen, last = 0, None
        try:
            while not self._done():
                got = self._next_result(seen, timeout=0.01)
                if got is not None:
                    seen, last = got
                    self._deliver(last)
                    cv2.imshow(WINDOW, self._picture(last))
                    if not self.stats.frames:
                        self.log("window", title=WINDOW, size="%dx%d" % self.display)
                elif self.inference.results.closed:
                    break
                key = cv2.waitKeyEx(1)
                if got is not None:
                    self.stats.shown(last.frame.captured)
                if key != -1:
                    effects = self.controller.press(key)
                    self._perform(effects, last)
                    if effects and last is not None:
                        cv2.imshow(WINDOW, self._picture(last))
                if cv2.getWindowProperty(WINDOW, cv2.WND_PROP_VISIBLE) < 1:
                    self.log("window-closed")
                    break
        finally:
            cv2.destroyAllWindows()
            cv2.waitKey(1)

    def _picture(self, result: Result) -> np.ndarray:
        state = self.controller.state
        picture = hud.compose(result.frame.image, result.stylized, state.view, self.display)
        if state.hud:
            style = self.library[min(state.style, len(self.library) - 1)]
            mix = f"+ {round(state.mix * 100)} % {state.style_names[state.next_style]}" if state.mix else ""
            hud.draw_hud(picture, hud.HudInfo(
                style=f"{state.style + 1}/{len(state.style_names)} {state.style_name}", thumbnail=style.thumbnail,
                alpha=state.alpha, mix=mix, preserve_color=state.preserve_color, fps=self.stats.fps,
                latency_ms=self.stats.latency_ms, size="%dx%d" % self.work_size, device=self.device_label,
                engine=self.engine_label, source=self.capture.status, recording=self.recorder is not None,
                paused=state.paused, view=state.view,
            ))
        if state.help:
            hud.draw_help(picture)
        return picture

    # ---- effects of keys ---------------------------------------------------------------------

    def _perform(self, effects: list[Effect], last: Result | None) -> None:
        for effect in effects:
            if effect.kind not in ("snapshot", "record", "rescan"):
                self.log(effect.kind, **effect.detail)
            if effect.kind == "quit":
                self.stop_event.set()
            elif effect.kind == "fullscreen":
                mode = cv2.WINDOW_FULLSCREEN if effect.detail["on"] else cv2.WINDOW_NORMAL
                cv2.setWindowProperty(WINDOW, cv2.WND_PROP_FULLSCREEN, mode)
            elif effect.kind == "view" and not self.controller.state.fullscreen:
                self._fit_window_to_view(effect.detail["view"])
            elif effect.kind == "snapshot":
                if last is None:
                    self.log("snapshot-skipped", reason="no frame shown yet")
                else:
                    self._snapshot(last)
            elif effect.kind == "record":
                self._toggle_recording()
            elif effect.kind == "rescan":
                self._rescan()

    def _fit_window_to_view(self, view: str) -> None:
        """Side by side is twice as wide: keep the window's height and the frames' aspect, not squeeze them."""
        height = cv2.getWindowImageRect(WINDOW)[3]
        height = height if height > 0 else self.display[1]
        width = round(height * self.display[0] / self.display[1]) * (2 if view == "side-by-side" else 1)
        cv2.resizeWindow(WINDOW, width, height)

    def _background(self, work: Callable[[], None], name: str, wait_at_exit: bool = True) -> None:
        thread = threading.Thread(target=work, name=name, daemon=True)
        if wait_at_exit:
            self.workers.append(thread)
        thread.start()

    def _snapshot(self, result: Result) -> None:
        base = Path(self.args.snapshot_dir) / f"live-{_stamp()}"
        stylized, original = base.with_name(base.name + "-stylized.png"), base.with_name(base.name + "-original.png")

        def write() -> None:
            try:
                write_image(stylized, result.stylized)
                write_image(original, result.frame.image)
                self.log("snapshot", stylized=stylized, original=original)
            except UserError as exc:
                self.log("snapshot-failed", reason=str(exc))

        self._background(write, "snapshot")

    def _toggle_recording(self) -> None:
        if self.recorder is None:
            path = Path(self.args.record_dir) / f"live-{_stamp()}.mp4"
            try:
                self.recorder = Recorder(path, self.work_size, self.fps, self.log)
            except UserError as exc:
                self.log("record-failed", reason=str(exc))
                return
            self.log("record-start", path=path)
        else:
            recorder, self.recorder = self.recorder, None
            self._background(lambda: self._finish_recording(recorder), "record-finish")

    def _finish_recording(self, recorder: Recorder) -> None:
        path = recorder.close()
        self.log("record-stop", path=path or "", frames=recorder.written, dropped=recorder.dropped)

    def _rescan(self) -> None:
        """In the background; not waited for at exit (it may be encoding many new styles)."""
        if self.rescanning:
            return
        self.rescanning = True

        def scan() -> None:
            try:
                added = self.library.rescan()
                self.controller.set_styles(self.library.names)
                self.log("rescan", styles=len(self.library), added=",".join(added))
            except Exception as exc:  # a failed rescan keeps the styles there are
                self.log("rescan-failed", reason=f"{type(exc).__name__}: {exc}")
            finally:
                self.rescanning = False

        self._background(scan, "rescan", wait_at_exit=False)

    # ---- shutdown ----------------------------------------------------------------------------

    def _shutdown(self) -> None:
        """Every wait is bounded: a stalled camera, model or network peer cannot hang the exit."""
        if self.signal_name:
            self.log("signal", name=self.signal_name)
        self.capture.stop()
        inference = self.inference
        if inference is not None:
            inference.stop()
            inference.join(INFERENCE_JOIN_TIMEOUT)
            if inference.is_alive():
                self.log("error", reason=f"inference did not finish its frame within {INFERENCE_JOIN_TIMEOUT:.0f} s")
                self.exit_code = 1
            elif inference.error:
                self.log("error", reason=inference.error)
                self.exit_code = 1
        if self.recorder is not None:
            self._finish_recording(self.recorder)
            self.recorder = None
        for output in self.outputs:
            path = output.close()
            if inference is not None:  # else the session never ran: the error is the one line said
                where = {"path": path or ""} if isinstance(output, Recorder) else self._where(output)
                self.log("output", **where, frames=output.written, dropped=output.dropped)
        self._watch_outputs()  # failures while finishing (the last frames, the file's index)
        if self.capture.error:
            self.log("error", reason=f"capture failed: {self.capture.error}")
            self.exit_code = 1
        deadline = time.monotonic() + WORKER_JOIN_TIMEOUT
        for worker in self.workers:
            worker.join(max(0.0, deadline - time.monotonic()))
        self.capture.join(timeout=2.0)
        if inference is not None:
            self.log("session", **self.stats.summary(inference.dropped))


def run(args: argparse.Namespace) -> int:
    return LiveSession(args).run()
