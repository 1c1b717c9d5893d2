"""A live PyAV source's frames as they are handed on (`Pacing`, which `PyAVSource` is): a file or a
recording paced at its timestamps (a restart or a splice in them followed), a live stream taken for
a recording when it runs ahead of the clock, the wait for the next picture timed, and a loop's end
handed to `_rewind`.
"""

from __future__ import annotations

import time
from typing import Iterator

import numpy as np

from realtime_adain.live.photos import repeated
from realtime_adain.live.sources import SourceLost
from realtime_adain.video.timestamps import JUMP_SECONDS

# How far ahead of the clock a URL's frames may arrive before it is taken for a recording: more
# than the backlog FFmpeg's probing at open leaves (under a second for a usual keyframe interval).
AHEAD_S = 3.0
# How far (in frame periods) a frame's timestamp may fall behind the latest one before the
# timestamps are taken to start again: an AVI's H.264 with B-frames steps back a few periods in
# decoding order (a restart on every such step played it at less than half its rate).
RESTART_PERIODS = 8


class Pacing:
    """`PyAVSource.frames`: its pictures paced, looped and timed (the state is `PyAVSource`'s)."""

    def frames(self) -> Iterator[np.ndarray]:
        """Files and recordings behind a URL are paced by their frames' timestamps, as they play
        (a variable frame rate too; by the frame rate where a frame has none), sleeping only when
        early; live streams pace themselves."""
        period = 1.0 / self.fps
        if self._photo is not None:
            yield from repeated(self._photo, period, self.loop)
            return
        start, shown, first, previous = time.monotonic(), 0, None, None
        while True:
            got_any = False
            for image, stamp in self._awaited(self._decoded()):
                got_any = True
                if self._resume_after is not None and stamp is not None and stamp <= self._resume_after:
                    continue  # shown before the recording dropped
                self._resume_after = None
                if not (self.paced or self.live_protocol) and shown > self.fps * (time.monotonic() - start + AHEAD_S):
                    # a live stream cannot run ahead of the clock: a recording with no duration (a .ts over HTTP)
                    self.paced = True
                    start, shown, first = time.monotonic(), 0, None
                if self.paced:
                    if stamp is not None and previous is not None and (
                            stamp < previous - RESTART_PERIODS * period or self._jumped_ahead(stamp, previous + period)):
                        # timestamps start again (MPEG-TS files joined with cat): a period after the
                        # last frame; within a second of it they were played at once (3x the rate)
                        start, shown, first, previous = time.monotonic() + period, 0, stamp, None
                    first = stamp if first is None else first
                    previous = stamp if previous is None or (stamp is not None and stamp > previous) else previous
                    offset = stamp - first if stamp is not None and first is not None else shown * period
                    delay = start + offset - time.monotonic()
                    if delay > 0:
                        time.sleep(delay)
                    elif delay < -1.0:  # far behind (a stall, a timestamp gone back): restart the clock, no burst
                        start, shown, first = time.monotonic(), 0, stamp
                yield image
                shown, self._shown_at = shown + 1, stamp
                if shown == 1 and self.paced and self.start_gate is not None and not self.start_gate.is_set():
                    self.start_gate.wait()
                    start = time.monotonic()  # the clock starts with the session (frame 2 a period on)
            if not self.recording and self.reopenable:  # (a live playlist that stops: reconnected, said)
                raise SourceLost(f"{self.description}: the stream ended")
            if self.loop and not got_any and self._pictures_found:  # (a file that gave pictures before)
                raise SourceLost(f"{self.description}: no picture when played again (emptied or being rewritten?)")
            if not (self.loop and got_any):
                return
            self._rewind()
            start, shown, first, previous = time.monotonic() + period, 0, None, None  # the last frame is shown for its period

    def _awaited(self, pictures: Iterator[tuple[np.ndarray, float | None]]
                 ) -> Iterator[tuple[np.ndarray, float | None]]:
        """`pictures`, with `awaiting_since` set while the next one is read (not while one is
        paced or handed on)."""
        try:
            while True:
                self.awaiting_since = time.monotonic()
                picture = next(pictures, None)
                self.awaiting_since = None
                if picture is None:
                    return
                yield picture
        finally:
            self.awaiting_since = None

    def _jumped_ahead(self, stamp: float, expected: float) -> bool:
        """Whether the timestamps jump forward at `stamp` where a frame at `expected` was due, as
        `video` tells a splice (`TimestampShift`: by more than JUMP_SECONDS, in MPEG-TS, MPEG-PS or
        FLV), said once. The gap froze one frame for all of it (117 s); a long still in an MP4 is
        no jump and is shown for its time."""
        if not (self._timeline.splices and stamp - expected > JUMP_SECONDS):
            return False
        if not self._timeline.jumps:
            self._timeline.jumps = 1
            self._timeline.note_jumps()
        return True
