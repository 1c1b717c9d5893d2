"""`Capture` reads an opened live source on its own thread and keeps only the newest frame
(`Latest`), so a slow consumer sees fresh frames instead of a backlog: latency stays one frame
deep. A source that drops is reopened with exponential back-off while `Capture.status` says what
is going on; a finite source (a file played once) ends the stream.
"""

from __future__ import annotations

import threading
import time
from contextlib import closing
from typing import Callable

from realtime_adain.live.pyav_source import PyAVSource
from realtime_adain.live.sources import Frame, Latest, Source, SourceError, SourceLost

# How often a pipe's read is looked at for a stall (`Capture._watch_stalls`).
STALL_CHECK_S = 0.5

# Reconnections to a recording URL (with --no-loop) that bring no new frame before it is given up:
# one cut at the same place each time was played again from its start for ever. A file, and a
# looped recording URL, is given up after as many reopenings whose passes fail the same way
# (`_failing_alike`).
FRUITLESS_RECONNECTS = 3


class Capture(threading.Thread):
    """Reads an opened source into `latest`; reconnects with back-off when it drops."""

    def __init__(
        self,
        source: Source,
        log: Callable[..., None] = lambda *args, **kwargs: None,
        backoff: tuple[float, float] = (0.5, 8.0),
    ) -> None:
        super().__init__(name="capture", daemon=True)
        self.source = source
        self.log = log
        self.backoff = backoff
        self.latest: Latest[Frame] = Latest()
        self.status = "live"
        self.ended = False  # a finite source reached its end
        self.error: str | None = None  # what ended capture unexpectedly (a bug, out of memory), for the one line
        self.lost: str | None = None  # why the source was last lost (a first frame that never came: its cause)
        self.unreadable: str | None = None  # why a source that never gave a frame cannot be decoded: no use retrying
        self._stop_event = threading.Event()
        self._failure: tuple[str, int] | None = None  # a file's last failure: why, and the frames since the one before
        self._failed_at = 0  # the frames read when it failed
        self._alike = 0  # the failures since, each as the one before it (`_failing_alike`)
        self._stall_lock = threading.Lock()
        self._stalled = False  # a pipe waited on past its timeout (`_watch_stalls`); "live" again when it goes on
        self._stalls = 0  # the pipe's stalls so far: the first is logged, later ones only shown (`_watch_stalls`)
        self._delivered = False  # a frame came (a stall is one after frames; the first frame's wait is the session's)
        self._finished = threading.Event()  # `run` is over
        if isinstance(source, PyAVSource):
            source.log = self._log  # (a URL's recording played again from its start is said)

    def _log(self, event: str, **fields: object) -> None:
        """A line of the log, none once stopping: retries were said after the session's last lines."""
        if not self._stop_event.is_set():
            self.log(event, **fields)

    def stop(self) -> None:
        self._stop_event.set()
        gate = getattr(self.source, "start_gate", None)
        if gate is not None:  # (a source held after its first picture)
            gate.set()

    def run(self) -> None:
        attempt, index, opened = 0, 0, True
        if not getattr(self.source, "reopenable", True):
            threading.Thread(target=self._watch_stalls, name="capture-stalls", daemon=True).start()
        try:
            while not self._stop_event.is_set():
                try:
                    if not opened:  # (said before it: an open can block for the source's timeout)
                        self.status = f"{self.lost}; reconnecting (attempt {attempt})"
                        self.source.open()
                        opened = True
                        self.status = "reopened, waiting for frames"
                    with closing(self.source.frames()) as frames:
                        for image in frames:
                            if self._stop_event.is_set():
                                return
                            self._going_on()
                            if attempt:  # reconnected once frames come, not on opening (it may give none)
                                self._log("source-reconnected", source=self.source.description, attempt=attempt)
                                self.status = "live"
                            # the back-off starts again once frames come (not on opening: a server that
                            # takes connections and stalls was retried every half second for ever)
                            attempt = 0
                            index += 1
                            self.latest.put(Frame(image, time.monotonic(), index))
                    self._end(index)
                    return
                except (SourceLost, SourceError) as exc:
                    self.source.close()
                    if index == 0 and isinstance(exc, SourceLost) and exc.undecodable:
                        # (a URL serving no video, e.g. a text file, was reopened until the first frame's
                        # 15 s ran out, "reconnected" each time; a file is refused as it opens)
                        self.unreadable, self.status = exc.reason, f"cannot read ({exc.reason})"
                        return
                    if self._failing_alike(exc, index):
                        again = "reopenings" if self.source.is_file else "reconnections"
                        reason = f"{self._alike} {again} failed the same way ({exc.reason})"
                        if index == 0:  # (said as the one line of a file that cannot be read)
                            self.unreadable, self.status = reason, f"cannot read ({reason})"
                        else:
                            self._end(index, reason)
                        return
                    self.lost = str(exc)
                    if not getattr(self.source, "reopenable", True):
                        # a pipe cannot be read again (it was reopened for ever, "ended without sending anything")
                        self._log("source-lost", reason=self.lost)
                        self._end(index)
                        return
                    opened = False
                    attempt += 1
                    if attempt > FRUITLESS_RECONNECTS and index and self._recording_played_once():
                        self._end(index, f"{attempt - 1} reconnections brought no new frame ({self._reason(exc)})")
                        return
                    delay = min(self.backoff[1], self.backoff[0] * 2 ** min(attempt - 1, 30))  # (2**1024: OverflowError)
                    self.status = f"{exc}; reconnecting in {delay:g} s"  # (0.5 s was "in 0 s")
                    self._log("source-lost", reason=str(exc), attempt=attempt, retry_in=round(delay, 2))
                    self._stop_event.wait(delay)
        except Exception as exc:  # reported by the session as the cause, not as a traceback
            self.error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            self.status = f"capture failed ({self.error})"
            self._log("source-error", source=self.source.description, reason=self.error)
        finally:
            self._finished.set()
            self.source.close()
            self.latest.close()

    def _watch_stalls(self) -> None:
        """A pipe whose writer pauses mid-stream, shown in the HUD at each pause and said in the log
        once a session (with its resumption): FFmpeg's read of it waits past any timeout (a pipe
        cannot be reopened, so it is not given up: a writer that goes on plays on), and nothing was
        said for as long as it waited. A camera stopping and a URL giving no picture for 5 s are
        sources lost; this is the same wait (`timeout`), said. (A pipe slower than a picture per
        `timeout` logged a stall and a resumption for every picture.)"""
        timeout = getattr(self.source, "timeout", 5.0)
        while not self._finished.wait(STALL_CHECK_S) and not self._stop_event.is_set():
            since = getattr(self.source, "awaiting_since", None)
            with self._stall_lock:
                if self._stalled or not self._delivered or since is None or time.monotonic() - since <= timeout:
                    continue
                self._stalled = True
                self.status = f"{self.source.description}: no picture for {timeout:.0f} s; waiting for the pipe to go on"
                self._stalls += 1
            if self._stalls == 1:
                self._log("source-stalled", source=self.source.description,
                          reason=f"no picture decoded for {timeout:.0f} s; waiting for the pipe to go on")

    def _going_on(self) -> None:
        """A frame came: a stall shown is over (`_watch_stalls`); the one logged is said over too."""
        with self._stall_lock:
            stalled, self._stalled, self._delivered = self._stalled, False, True
            if stalled:
                self.status = "live"
            said = stalled and self._stalls == 1
        if said:
            self._log("source-resumed", source=self.source.description)

    def _reason(self, exc: SourceLost | SourceError) -> str:
        """Why the source was lost, without its name: a reopen that fails raises a SourceError,
        whose line starts with it (its reconnections given up were an AttributeError)."""
        return exc.reason if isinstance(exc, SourceLost) else str(exc).removeprefix(f"{self.source.description}: ")

    def _failing_alike(self, exc: SourceLost | SourceError, index: int) -> bool:
        """Whether a file's passes failed the same way after each of its last `FRUITLESS_RECONNECTS`
        reopenings (the reason of the failure before, after no frame or as many frames as then: a
        file rewritten into one that decodes nothing, a read error at the same place), when it is
        given up: it was reopened for ever, looped or not. So is a looped recording URL (one cut at
        the same place each time: resumed there, it brought no new frame and was retried for ever,
        its picture frozen; with --no-loop, `_recording_played_once` gives it up). A file or URL that
        cannot be opened (deleted, being rewritten, the server gone) is retried, as before."""
        if not (isinstance(exc, SourceLost) and isinstance(self.source, PyAVSource)
                and (self.source.is_file or self.source.recording and self.source.loop)):
            return False
        frames = index - self._failed_at
        alike = self._failure is not None and exc.reason == self._failure[0] and frames in (0, self._failure[1])
        self._alike = self._alike + 1 if alike else 0
        self._failure, self._failed_at = (exc.reason, frames), index
        return self._alike >= FRUITLESS_RECONNECTS

    def _recording_played_once(self) -> bool:
        """Whether the source is a recording URL played once (--no-loop), which a drop may end."""
        return isinstance(self.source, PyAVSource) and self.source.recording and not self.source.loop

    def _end(self, frames: int, reason: str | None = None) -> None:
        """The source reached its end, after `frames` frames (`reason`: why it is given up before
        it): the session ends as it does at a file's end."""
        self.ended, self.status = True, "ended"
        self._log("source-ended", source=self.source.description, frames=frames, **({"reason": reason} if reason else {}))
