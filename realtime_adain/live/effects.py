"""What keys do beyond the controller's state, dispatched from a table by effect kind: window
changes, snapshots and recordings (written on their own threads), rescans, quitting."""

from __future__ import annotations

import contextlib
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Callable

from realtime_adain.errors import UserError, environment_failure
from realtime_adain.imageio import write_image
from realtime_adain.live.controller import UNCHANGED, Controller, Effect, LiveState
from realtime_adain.live.inference import Result
from realtime_adain.live.recorder import Recorder
from realtime_adain.live.sources import Latest
from realtime_adain.live.styles import StyleLibrary
from realtime_adain.live.window import Window
from realtime_adain.native_stderr import capturing_here
from realtime_adain.writable_folders import check_writable_dir

# They log their outcome, not the key ("styles": the rescan's line says the count).
LOGGED_BY_HANDLER = ("snapshot", "record", "rescan", "stabilize", "styles")
# How long `s` while paused waits for the held frame stylized again in the look just chosen.
SNAPSHOT_LOOK_WAIT = 10.0


def unwritable(folder: Path) -> str | None:
    """Why files cannot be written into `folder` (in the words of the start's note on it), or None.
    Left to the writing, a fifo or /dev/null there was "is a file, not a folder", after the note
    had said "a device, fifo or socket"."""
    try:
        check_writable_dir(folder, "folder")
    except UserError as exc:
        return str(exc)
    return None


def _stamp() -> str:
    return datetime.now().strftime("%Y%m%d-%H%M%S-%f")[:-3]


class KeyEffects:
    """Carries out the controller's effects; `table` maps every kind the controller emits."""

    def __init__(
        self,
        log: Callable[..., None],
        stop_event: threading.Event,
        controller: Controller,
        library: StyleLibrary,
        snapshot_dir: Path,
        record_dir: Path,
        work_size: tuple[int, int],
        fps: float,
        failed: Callable[[Recorder], None] = lambda recorder: None,
        stabilize_caveat: Callable[[str], str] = lambda mode: "",
    ) -> None:
        self.log, self.stop_event, self.controller, self.library = log, stop_event, controller, library
        self.failed = failed  # told of a recording that failed (the session says it once, exits 1)
        self.stabilize_caveat = stabilize_caveat  # what a stabiliser mode cannot do here (`Stability.caveat`)
        self.snapshot_dir, self.record_dir = Path(snapshot_dir), Path(record_dir)
        self.work_size, self.fps = work_size, fps
        self.window: Window | None = None  # set once the window is open
        # Set once inference runs: its results, and the look (`ActiveStyle.look`) a state stylizes in.
        self.results: Latest[Result] | None = None
        self.look: Callable[[LiveState], tuple] = lambda state: state.look
        self.recorder: Recorder | None = None  # the `r` recording in progress
        self.recording_since = 0.0  # when it began: it takes frames captured from then on (`LiveSession._deliver`)
        self.workers: list[threading.Thread] = []  # writers the shutdown waits for
        self.rescanning = False
        self._rescan_thread: threading.Thread | None = None  # the latest rescan (the exit does not wait for it)
        self._rescan_stop_lock = threading.Lock()
        self._rescan_stop_said = False
        self._named: set[Path] = set()  # names given out this session (their files may not exist yet)
        logged: Callable[[Effect, Result | None], None] = lambda effect, last: None
        self.table: dict[str, Callable[[Effect, Result | None], None]] = {
            "style": logged, "alpha": logged, "mix": logged, "color": logged, "paused": logged, "help": logged,
            "hud": logged, "styles": logged, UNCHANGED: logged,
            "stabilize": self._stabilize,
            "quit": lambda effect, last: self.stop_event.set(),
            "fullscreen": self._fullscreen,
            "view": self._view,
            "snapshot": self._snapshot,
            "record": lambda effect, last: self.toggle_recording(),
            "rescan": lambda effect, last: self._rescan(),
        }

    def perform(self, effects: list[Effect], last: Result | None) -> None:
        for effect in effects:
            if effect.kind not in LOGGED_BY_HANDLER:
                self.log(effect.kind, **effect.detail)
            self.table[effect.kind](effect, last)

    def _stabilize(self, effect: Effect, _last: Result | None) -> None:
        """The mode, and what of it cannot run here (with ONNX the log said `mode=stats` alone)."""
        mode = effect.detail["mode"]
        caveat = self.stabilize_caveat(mode)
        self.log("stabilize", mode=mode, **({"note": caveat} if caveat else {}))

    def _fullscreen(self, effect: Effect, _last: Result | None) -> None:
        """Leaving fullscreen fits the window to the view: one chosen meanwhile was not (`_view`)."""
        if self.window is not None:
            self.window.set_fullscreen(effect.detail["on"])
            if not effect.detail["on"]:
                self.window.fit_to_view(self.controller.state.view)

    def _view(self, effect: Effect, _last: Result | None) -> None:
        if self.window is not None and not self.controller.state.fullscreen:
            self.window.fit_to_view(effect.detail["view"])

    def _background(self, work: Callable[[], None], name: str) -> threading.Thread | None:
        """Work on its own thread, which `still_running` (app.py) sees; the thread, None where the
        work was done here and now. Finished workers are let go here: a session pressing `s` and
        `r` for hours kept them all. Where no thread can start (`ulimit -u`, memory), the work is
        done at once: a recording stopped then was lost, and the session ended."""
        thread = threading.Thread(target=work, name=name, daemon=True)
        self.workers = [worker for worker in self.workers if worker.is_alive()]
        try:
            thread.start()
        except RuntimeError as exc:
            if environment_failure(exc) is None:
                raise
            work()
            return None
        self.workers.append(thread)
        return thread

    def _snapshot(self, _effect: Effect, result: Result | None) -> None:
        if result is None:
            self.log("snapshot-skipped", reason="no frame shown yet")
            return
        if (why := unwritable(self.snapshot_dir)) is not None:
            self.log("snapshot-failed", reason=why)
            return
        state = self.controller.state
        wanted = self.look(state) if state.paused else result.look  # (paused: what the HUD says)
        stylized, original = self._fresh(self.snapshot_dir, ("-stylized.png", "-original.png"))

        def write() -> None:
            nonlocal result
            if result.look != wanted and (result := self._stylized_in(wanted)) is None:
                self.log("snapshot-skipped", reason=self._not_stylized_why())
                return
            try:
                write_image(stylized, result.stylized)
                try:
                    write_image(original, result.frame.image)
                except UserError:  # a snapshot is both pictures or neither (a full disk left half a pair)
                    with contextlib.suppress(OSError):
                        stylized.unlink()
                    raise
                self.log("snapshot", stylized=stylized, original=original)
            except UserError as exc:
                self.log("snapshot-failed", reason=str(exc))

        self._background(write, "snapshot")

    def _stylized_in(self, look: tuple) -> Result | None:
        """The paused frame stylized in `look`, once inference has it (within SNAPSHOT_LOOK_WAIT s;
        None otherwise): `s` right after a key saved the picture still on screen, the old look."""
        deadline, seen = time.monotonic() + SNAPSHOT_LOOK_WAIT, 0
        while self.results is not None and not self.stop_event.is_set() and time.monotonic() < deadline:
            got = self.results.newer(seen, 0.1)
            if got is not None:
                seen, result = got
                if result.look == look:
                    return result
            elif self.results.closed:
                break
        return None

    def _not_stylized_why(self) -> str:
        """Why `_stylized_in` gave up: the session ending (a stop, or inference's results closed)
        was said as "not ... in time", although it was not past its wait."""
        if self.stop_event.is_set() or (self.results is not None and self.results.closed):
            return "the session ended before the paused frame was stylized again in the new look"
        return "the paused frame was not stylized again in the new look in time"

    def _fresh(self, directory: Path, endings: tuple[str, ...]) -> list[Path]:
        """live-DATE-TIME-MS + each ending, numbered (-2, -3, ...) when a name is taken: two keys
        in one millisecond or a clock set back must not overwrite an earlier snapshot or recording."""
        # A name is kept only until its file is there (then `exists` guards it): all of them piled up.
        self._named = {path for path in self._named if not path.exists()}
        stamp, number = f"live-{_stamp()}", 1
        while True:
            base = stamp if number == 1 else f"{stamp}-{number}"
            paths = [directory / (base + ending) for ending in endings]
            if not any(path in self._named or path.exists() for path in paths):
                self._named.update(paths)
                return paths
            number += 1

    def toggle_recording(self) -> None:
        """Start a recording, or finish the one in progress (in the background)."""
        if self.recorder is None:
            if (why := unwritable(self.record_dir)) is not None:
                self.log("record-failed", reason=why)
                return
            path, = self._fresh(self.record_dir, (".mp4",))
            self.recording_since = time.monotonic()
            try:
                self.recorder = Recorder(path, self.work_size, self.fps, self.log, replaces=False)
            except UserError as exc:
                self.log("record-failed", reason=str(exc))
                return
            self.log("record-start", path=path)
        else:
            recorder, self.recorder = self.recorder, None
            self._background(lambda: self._finish_recording(recorder), "record-finish")

    def _finish_recording(self, recorder: Recorder) -> None:
        path = recorder.close()
        # (nothing kept: the name it would have had, tied to its record-start line; was path="")
        kept = {} if path else {"kept": "none"}
        self.log("record-stop", path=path or recorder.path, frames=recorder.written, dropped=recorder.dropped, **kept)
        if recorder.error:  # e.g. the disk filled while the file was finalised: not a silent path=""
            self.failed(recorder)

    def _rescan(self) -> None:
        """In the background. Quitting stops it between styles, and the exit does not wait for the
        style being encoded (a 10000x10000 picture kept a quit waiting 15 s): `app.run` ends the
        process without the interpreter's teardown, which aborted under a rescan left running in
        torch ("terminate called without an active exception", exit status 134)."""
        if self.rescanning:  # pressed again meanwhile: said, so the key does not look dead
            self.log("rescan-busy")
            return
        self.rescanning = True
        self.log("rescan-start")  # at once: a rescan of many or large styles says its outcome seconds later

        def scan() -> None:
            try:
                with capturing_here():  # (the image libraries' lines said as ours, as the first scan says them)
                    added = self.library.rescan(stopped=self.stop_event.is_set)
                if self.stop_event.is_set():
                    self._rescan_stopped()
                    return
                if self.library.kept:  # (its `rescan-kept` line said so)
                    return
                effects = self.controller.set_styles(self.library.names, self.library.files)
                self.log("rescan", styles=len(self.library), added=",".join(added))
                self.perform(effects, None)  # a selection that moved is said (a `style` line), as after a key
            except Exception as exc:  # a failed rescan keeps the styles there are
                self.log("rescan-failed", reason=f"{type(exc).__name__}: {exc}")
            finally:
                self.rescanning = False

        self._rescan_thread = self._background(scan, "rescan")

    def _rescan_stopped(self) -> None:
        """Said once: by the rescan, or by the exit that does not wait for it (whichever is first)."""
        with self._rescan_stop_lock:
            said, self._rescan_stop_said = self._rescan_stop_said, True
        if not said:
            self.log("rescan-stopped", reason="the session is ending")

    def finish_recording(self) -> None:
        """At exit: the recording in progress is finished here and now."""
        if self.recorder is not None:
            self._finish_recording(self.recorder)
            self.recorder = None

    def join(self, timeout: float) -> None:
        """At exit: wait for the snapshot and recording writers and a rescan, at most `timeout` s
        in all; once the session is stopping, a rescan still running is abandoned (see `_rescan`)."""
        deadline = time.monotonic() + timeout
        for worker in self.workers:
            if worker is self._rescan_thread and self.stop_event.is_set():
                if worker.is_alive():
                    self._rescan_stopped()
                continue
            worker.join(max(0.0, deadline - time.monotonic()))
