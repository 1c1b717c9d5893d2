"""Wiring of a live session: capture thread -> inference thread -> UI (or headless) loop.

Each stage hands the next only its newest item (`Latest`), so when stylizing is slower than the
camera, frames are dropped rather than queued and latency stays one frame deep. The main thread
owns the window and the keys (HighGUI must run there); writes (snapshots, recordings, streams)
happen on their own threads. SIGINT/SIGTERM, `q`, closing the window, `max_frames` or the end
of a finite source all take the same way out: stop capture, finish inference, finalise outputs,
print the session summary. The settings come checked (`LiveSettings.check`, done by the command).
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Callable, Iterator

from realtime_adain import interrupts
from realtime_adain.errors import UserError
from realtime_adain.live import hud
from realtime_adain.live.active_style import ActiveStyle
from realtime_adain.live.capture import Capture
from realtime_adain.live.controller import Controller
from realtime_adain.live.effects import KeyEffects, unwritable
from realtime_adain.live.events import EventLog, HeldLines
from realtime_adain.live.feed import CarriedFeed, StylizedFeed
from realtime_adain.live.inference import Inference, Result, processing_size
from realtime_adain.live.outputs import Output
from realtime_adain.live.pyav_source import PyAVSource
from realtime_adain.live.recorder import Recorder
from realtime_adain.live.source_opening import open_source
from realtime_adain.live.sources import Frame, Source
from realtime_adain.live.stability import Stability
from realtime_adain.live.stats import SessionStats
from realtime_adain.live.streamer import Streamer
from realtime_adain.live.style_cache import run_cache_dir
from realtime_adain.live.styles import StyleLibrary
from realtime_adain.live.virtual_camera import VirtualCamera
from realtime_adain.live.window import Window, WindowLoop
from realtime_adain.descriptors import STANDARD_INPUT
from realtime_adain.picture_sizes import MAX_SIDE, short_side_size
from realtime_adain.settings import MAX_RESOLUTION, LiveSettings
from realtime_adain.stylizer import Stylizer

FIRST_FRAME_TIMEOUT = 15.0
INFERENCE_JOIN_TIMEOUT = 10.0  # one frame at worst (a colour reference being encoded is not waited for)
WORKER_JOIN_TIMEOUT = 40.0  # snapshots, finishing a recording (itself limited to 30 s)
MAX_WORK_PIXELS = MAX_RESOLUTION[0] * MAX_RESOLUTION[1]  # what --resolution allows: 8K at native size
RECORDING_STOPPED = "recording stopped: "  # the HUD notice of a recording a failure stopped


class LiveSession:
    """One run of a live session, from opened source to session summary."""

    def __init__(self, settings: LiveSettings, before_window: Callable[[], None] | None = None) -> None:
        """`before_window`: run just before the window opens; raises a UserError where it would not."""
        self.settings = settings
        self.before_window = before_window
        self.window: Window | None = None
        self.log = EventLog(settings.log)
        self.source_log = HeldLines(self.log)  # the capture's lines, said once the session's `start` is
        self.stop_event = threading.Event()
        self.stats = SessionStats()
        self.source: Source | None = None
        self.stylizer: Stylizer | None = None
        self.library: StyleLibrary | None = None
        self.capture: Capture | None = None
        self.controller: Controller | None = None
        self.stability: Stability | None = None
        self.inference: Inference | None = None
        self.effects: KeyEffects | None = None
        self.outputs: list[Output] = []
        self.failed_outputs: set[Output] = set()  # outputs whose failure was said
        self.last_delivered = float("-inf")  # the capture time of the last frame sent to the outputs
        self.notice = ""  # the latest of those failures, in words, for the HUD
        self._failed_lock = threading.Lock()
        self.capture_resolution = self.work_size = (0, 0)
        self.fps = 0.0
        self.device_label = self.engine_label = ""
        self.exit_code = 0
        self.signal_name: str | None = None
        self.building = False  # (the engine's build under way: a signal raised, `_signals_stop`)
        self.display_lost = False

    # ---- setup -------------------------------------------------------------------------------

    def run(self) -> int:
        """The whole session; returns the exit status (1 when an output, capture or inference failed)."""
        settings = self.settings
        try:
            self.source = open_source(settings.source, settings.resolution, settings.fps, loop=settings.loop)  # fail fast
            try:
                # a file holds after its first picture until the session takes frames (a pipe: as a camera)
                self.source.start_gate = threading.Event() if (
                    getattr(self.source, "paced", False) and getattr(self.source, "reopenable", True)) else None
                if isinstance(self.source, PyAVSource) and not self.source.is_file:
                    # a pipe or URL is read from now on, as a camera is: not drained while the model and
                    # styles loaded, a pipe's writer blocked, and a live URL's backlog came in one burst,
                    # taken for a recording's: the session ran seconds behind either throughout
                    self.capture = Capture(self.source, self.source_log)
                    self.capture.start()
                self.stylizer = Stylizer.for_command(settings.engine_model)
                return self._run_opened()
            finally:
                if self.capture is not None:
                    self.capture.stop()  # (already, where the session ended; else the start failed)
                if self.capture is None or not self.capture.is_alive():
                    self.source.close()  # else the capture thread, stuck in a read, owns it (and is a daemon)
        except UserError as exc:  # the command says it on stderr, its one line; the log file was left empty
            self.source_log.release()  # (before it: the source's lines say how it came to it)
            self.log.to_file_only("error", reason=str(exc))
            raise
        finally:
            self.source_log.release()
            self.log.close()

    def _run_opened(self) -> int:
        settings = self.settings
        self.library = StyleLibrary(list(settings.styles), self.stylizer, settings.style_size,
                                    settings.style_cache or run_cache_dir(), self.log).load()
        self.capture = self.capture or Capture(self.source, self.source_log)
        gate = self.source.start_gate
        # From here on a signal ends the session the normal way; one more during the (bounded)
        # shutdown changes nothing: it must not cut short the finishing of a recording.
        with self._signals_stop():
            if self.capture.ident is None:  # (not begun already, as a pipe's or URL's is)
                self.capture.start()
            try:
                first = self._first_frame()
                if first is None:  # stopped by a signal during start-up
                    return self.exit_code
                self._start(first)
                if gate is not None:  # a file plays from its first frame on, now that frames are taken:
                    # that frame again, timed from now (the outputs skip its warm-up copy: a gap of a second)
                    self.last_delivered = first.captured
                    self.capture.latest.put(replace(first, captured=time.monotonic()))
                    gate.set()
                if settings.window:
                    self._window_loop()
                else:
                    self._headless_loop()
            finally:
                self._shutdown()
        return self.exit_code

    def _start(self, first: Frame) -> None:
        """Open the session (a signal while the engine is built raised, as `_signals_stop` says)."""
        settings = self.settings
        self.capture_resolution = first.image.shape[1::-1]
        self.work_size = self._work_size(first)
        self.fps = float(self.source.fps or settings.fps or 30.0)
        # A signal while the engine is built (minutes of torch.compile or a TensorRT build, before
        # any `live:` line) stops the build, raised as any command's is (`terminated`, 143): only
        # flagged, the build went on to its end. (Its compiler's error, where the signal reached
        # the process group, is the signal: `Stylizer.prepare`.)
        self.building = True
        try:
            self.stylizer.prepare(1, *self.work_size[::-1])
        finally:
            self.building = False
        if settings.window:
            self._open_window(first)
        self._open_outputs()  # before the first log line: a missing virtual camera is the one line said
        if settings.window:
            self._note_unwritable_key_folders()
        self.log("styles", count=len(self.library), computed=self.library.computed, cached=self.library.reused)
        self.controller = Controller(self.library.names, alpha=settings.alpha, preserve_color=settings.preserve_color,
                                     fullscreen=settings.fullscreen, stabilize=settings.stabilize,
                                     style_files=self.library.files)
        self.stability = Stability(self.stylizer, settings.stabilize_strength)
        self.effects = KeyEffects(self.log, self.stop_event, self.controller, self.library, settings.snapshot_dir,
                                  settings.record_dir, self.work_size, self.fps, failed=self._output_failed,
                                  stabilize_caveat=self.stability.caveat)
        dtype = str(self.stylizer.dtype).replace("torch.", "")
        self.device_label, self.engine_label = f"{self.stylizer.device} {dtype}", self.stylizer.engine_name
        caveat = self.stability.caveat(settings.stabilize)
        self.log("start", source=self.source.label, resolution="%dx%d" % self.capture_resolution,
                 size="%dx%d" % self.work_size, device=self.device_label, engine=self.engine_label,
                 stabilize=settings.stabilize, **({"stabilize_note": caveat} if caveat else {}),
                 carry_motion=settings.carry_motion)
        self.source_log.release()
        inference = Inference(self.capture.latest, self.stylizer, self.controller,
                              ActiveStyle(self.library, self.log, stopped=self.stop_event.is_set,
                                          current=lambda: self.controller.state), self.work_size,
                              self.stability, log=self.log)
        inference.start()  # (kept only once started: the shutdown joined one `ulimit -u` left unstarted, a traceback)
        self.inference = inference
        self.effects.results, self.effects.look = inference.results, inference.active.look  # (`s` while paused)

    def _note_unwritable_key_folders(self) -> None:
        """Say at the start where `s` and `r` will fail (a file, a read-only folder): not an error,
        they may never be pressed, but found only on the key press it was a surprise mid-session."""
        from realtime_adain.notes import note

        for key, option, folder in (("s", "--snapshot-dir", self.settings.snapshot_dir),
                                    ("r", "--record-dir", self.settings.record_dir)):
            if (why := unwritable(Path(folder))) is not None:
                note(f"{option} {why}; the {key} key will fail", once=True)

    def _work_size(self, first: Frame) -> tuple[int, int]:
        """The processing size (width, height) for frames like `first`, refused when a thin strip
        (a 4000x2 file) would become a huge picture: 64000x32 at --size 32 took 8 GB and a minute a frame."""
        size = processing_size(self.settings.size, self.stylizer)
        height, width = first.image.shape[:2]
        work = short_side_size(height, width, size)
        if max(work) > MAX_SIDE or work[0] * work[1] > MAX_WORK_PIXELS:
            raise UserError(f"{self.source.label}: {width}x{height} frames at --size {size} are %dx%d, more than live "
                            f"processes (at most {MAX_SIDE} pixels a side, %dx%d in all): lower --size"
                            % (*work, *MAX_RESOLUTION))
        return work

    def _first_frame(self) -> Frame | None:
        """The source's first frame, or None when a signal stops the wait."""
        deadline = time.monotonic() + FIRST_FRAME_TIMEOUT
        # (standard input not as "-", a URL without its secrets)
        name = self.source.label if self.settings.source in STANDARD_INPUT or "://" in self.settings.source else self.settings.source
        while not self.stop_event.is_set():
            got = self.capture.latest.newer(0, 0.1)
            if got is not None:
                return got[1]
            if self.capture.error:  # the real cause, not "no frames arrived"
                raise UserError(f"{name}: capture failed ({self.capture.error})")
            if self.capture.unreadable:  # (as a file that cannot be decoded is refused when it opens)
                raise UserError(f"{name}: cannot read ({self.capture.unreadable})")
            if self.capture.ended:  # a finite source (a URL: not checked at open) played out without a picture
                got = self.capture.latest.newer(0, 0)  # (one put just before it ended)
                if got is not None:
                    return got[1]
                raise UserError(f"{name}: the source ended before its first picture")
            if time.monotonic() > deadline:
                lost = self.capture.lost  # (an MP4 over HTTP that cannot be streamed: "Input/output error" each try)
                raise UserError(f"{name}: no frames arrived within {FIRST_FRAME_TIMEOUT:.0f} s"
                                + (f" (the source was lost and reopened: {lost})" if lost else ""))
        return None

    def _open_window(self, first: Frame) -> None:
        """Before the outputs: where the window cannot open (the display went away since the start-up
        check, which `before_window` makes again), Qt aborts the process, and a -o file was left
        half-written; and the display-loss watch, armed with the window, then covers every output."""
        if self.before_window is not None:
            self.before_window()
        self.window = Window(first.image.shape, self.settings.fullscreen, on_display_lost=self._display_lost)

    def _open_outputs(self) -> None:
        settings = self.settings
        if settings.output:
            self.outputs.append(Recorder(settings.output, self.work_size, self.fps, self.log))
        if settings.stream:
            self.outputs.append(Streamer(settings.stream, self.work_size, self.fps, self.log))
        if settings.virtual_cam:
            self.outputs.append(VirtualCamera(self.work_size, self.fps))

    @contextmanager
    def _signals_stop(self) -> Iterator[None]:
        """SIGINT/SIGTERM/SIGHUP set the stop flag, so every loop ends the normal way (main thread
        only; an ignored signal stays ignored). The first one is the one logged. While the engine
        is built (`building`) the first is raised instead: a build holds the main thread for minutes."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def handle(signum: int, _frame: object) -> None:  # no logging here: the log's lock may be held
            if self.building:  # (once: one more as the build unwinds ends the session as here)
                self.building = False
                interrupts.raise_received(signum)
            self.signal_name = self.signal_name or signal.Signals(signum).name
            self.stop_event.set()

        previous = {sig: signal.signal(sig, handle) for sig in interrupts.SIGNALS if signal.getsignal(sig) != signal.SIG_IGN}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    # ---- loops -------------------------------------------------------------------------------

    def _feed(self) -> StylizedFeed | CarriedFeed:
        if self.settings.carry_motion:
            return CarriedFeed(self.inference.results, self.capture.latest, lambda: self.controller.state.paused)
        return StylizedFeed(self.inference.results, self.stats)

    def _watch_outputs(self) -> None:
        """An output that stopped working (a full disk, a peer gone) is said once, with its path,
        and makes the exit status 1; with no window and no output left, the session ends rather
        than stylizing for nobody."""
        recorder = self.effects.recorder if self.effects else None
        for output in [*self.outputs, recorder]:
            if output is None or output.error is None or not self._output_failed(output):
                continue
            if output is recorder:
                self.effects.toggle_recording()  # finishes it: what was written stays if it plays
        if not self.settings.window and self.outputs and not self.stop_event.is_set() and all(
                output in self.failed_outputs for output in self.outputs):
            self.log("error", reason="no working output left (see output-failed above)")
            self.stop_event.set()

    def _output_failed(self, output: Output) -> bool:
        """Say an output's failure once (also from a recording's finishing thread); the exit
        status becomes 1. Whether it was new."""
        with self._failed_lock:
            if output in self.failed_outputs:
                return False
            self.failed_outputs.add(output)
        self.exit_code = 1
        # (settled before its error shows; "none" as in the `output` and `record-stop` lines)
        kept = {"kept": output.outcome or "none"} if isinstance(output, Recorder) else {}
        self.log("output-failed", **{output.key: output.label}, reason=output.error, **kept)
        if kept:
            what = f"kept {Path(output.outcome).name}" if output.outcome else "nothing could be kept"
            self.notice = f"{RECORDING_STOPPED}{output.error}; {what}"
        else:
            self.notice = f"{output.label}: {output.error}"
        return True

    def _deliver(self, result: Result) -> bool:
        """Send a shown picture to the outputs; whether it was a new camera frame (what is counted).
        A camera frame already sent (a newer stylized frame carried onto it by --carry-motion, or a
        file's first frame stylized during the warm-up) is shown but neither sent nor counted:
        outputs are timed by capture, each repeat took the next slot, and a 12 s session recorded
        23 s of slow motion at twice the camera's fps. A frame captured before the `r` recording
        began is not sent to it: `r` pressed just after `space` recorded the frame still being
        stylized at the pause, and a recording begun and ended within that pause kept that frame."""
        self._watch_outputs()
        if result.frame.captured <= self.last_delivered:
            return False
        self.last_delivered = result.frame.captured
        recorder = self.effects.recorder
        if recorder is not None and result.frame.captured < self.effects.recording_since:
            recorder = None
        for output in [*self.outputs, *([recorder] if recorder is not None else [])]:
            output.submit(result.stylized, result.frame.captured)
        return True

    def _done(self) -> bool:
        limit = self.settings.max_frames
        return self.stop_event.is_set() or bool(limit and self.stats.frames >= limit)

    def _headless_loop(self) -> None:
        feed = self._feed()
        while not self._done():
            result = feed.next(timeout=0.1)
            if result is None:
                if feed.closed:
                    break
                continue
            if self._deliver(result):
                self.stats.shown(result.frame.captured)

    def _window_loop(self) -> None:
        self.effects.window = self.window
        WindowLoop(self.window, self._feed(), self.controller, done=self._done, deliver=self._deliver,
                   shown=self.stats.shown, perform=self.effects.perform, hud_info=self._hud_info, log=self.log).run()

    def _hud_info(self, state) -> hud.HudInfo:
        style = self.library[min(state.style, len(self.library) - 1)]
        mix = f"+ {round(state.mix * 100)} % {state.style_names[state.next_style]}" if state.mix else ""
        caveat = self.stability.caveat(state.stabilize)
        stabilize = f"{state.stabilize} ({caveat})" if caveat else state.stabilize
        return hud.HudInfo(
            style=f"{state.style + 1}/{len(state.style_names)} {state.style_name}", thumbnail=style.thumbnail,
            alpha=state.alpha, mix=mix, preserve_color=state.preserve_color, fps=self.stats.fps,
            latency_ms=self.stats.latency_ms, size="%dx%d" % self.work_size, device=self.device_label,
            engine=self.engine_label, source=self.capture.status, recording=self.effects.recorder is not None,
            paused=state.paused, view=state.view, stabilize=stabilize,
            # (a stopped recording's notice gives way once a new recording is on)
            notice="" if self.effects.recorder is not None and self.notice.startswith(RECORDING_STOPPED) else self.notice,
        )

    # ---- shutdown ----------------------------------------------------------------------------

    def _display_lost(self) -> int:
        """The window's display went away (Qt is ending the process from the main thread): the
        usual shutdown, run from the watcher thread, so the recording and outputs are finished."""
        self.display_lost = True
        self.stop_event.set()
        self.log("error", reason="the window's display went away (its X11 connection broke)")
        self._shutdown()
        self.log.close()
        print("error: the window's display went away (its X11 connection broke); the session ended, "
              "its recording and outputs finished", file=sys.stderr)
        return 1

    @staticmethod
    def _join_inference(inference: Inference) -> bool:
        """Wait for the frame in progress, at most INFERENCE_JOIN_TIMEOUT; whether it was left
        encoding a colour reference, which no frame would use now and which takes seconds at a
        large --style-size on a CPU (`run` then ends the process without the interpreter's teardown)."""
        deadline = time.monotonic() + INFERENCE_JOIN_TIMEOUT
        while inference.is_alive() and time.monotonic() < deadline:
            if inference.active.encoding:
                return True
            inference.join(0.05)
        return False

    def still_running(self) -> bool:
        """Whether a thread the exit gave up waiting for still runs: inference (a colour reference
        being encoded, a frame past its time), a rescan, a recording's finishing."""
        workers = self.effects.workers if self.effects is not None else []
        return any(thread.is_alive() for thread in [self.inference, *workers] if thread is not None)

    def _shutdown(self) -> None:
        """Every wait is bounded: a stalled camera, model or network peer cannot hang the exit."""
        self.stop_event.set()  # (however the session ended: a window closed, --max-frames: a rescan stops too)
        if self.window is not None and not self.display_lost:  # (else Qt holds the main thread, ending the process)
            self.window.close()  # first, as a closed window is the end (also where an output failed to open after it)
        if self.signal_name:
            self.log("signal", name=self.signal_name)
        self.capture.stop()
        inference = self.inference
        if inference is not None:
            inference.stop()
            if self._join_inference(inference):
                self.log("color-reference-stopped", reason="the session is ending")
            elif inference.is_alive():
                self.log("error", reason=f"inference did not finish its frame within {INFERENCE_JOIN_TIMEOUT:.0f} s")
                self.exit_code = 1
            elif inference.error and not self.display_lost:  # (else torn down under it by the exit Qt began)
                self.log("error", reason=inference.error)
                self.exit_code = 1
        if self.effects is not None:
            self.effects.finish_recording()
        for output in self.outputs:
            output.close()
            if inference is not None:  # else the session never ran: the error is the one line said
                kept = {} if output.outcome else {"kept": "none"}  # (nothing kept: its name, not path="")
                self.log("output", **{output.key: output.outcome or output.label}, frames=output.written,
                         dropped=output.dropped, **kept)
        self._watch_outputs()  # failures while finishing (the last frames, the file's index)
        if self.capture.error:
            self.log("error", reason=f"capture failed: {self.capture.error}")
            self.exit_code = 1
        if self.effects is not None:
            self.effects.join(WORKER_JOIN_TIMEOUT)
        self.capture.join(timeout=2.0)
        if inference is not None:
            self.log("session", **self.stats.summary(inference.dropped))
        if self.log.error:  # said when it happened ("log-failed")
            self.exit_code = 1


def run(settings: LiveSettings, before_window: Callable[[], None] | None = None) -> int:
    """A live session with checked `settings` (`before_window`: as `LiveSession` takes it); the exit
    status. Where a thread the exit gave up waiting for still runs in torch, the process ends here,
    its session finished: the interpreter's teardown under it aborted ("terminate called without an
    active exception", exit status 134)."""
    session = LiveSession(settings, before_window)
    code = session.run()
    if session.still_running():
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError, ValueError):
                stream.flush()
        os._exit(code)
    return code
