"""One Stylizer shared by every client, on one worker thread, newest frame per client.

The asyncio loop only hands frames over (`submit`) and never waits for the network: the worker
takes each client's newest frame (older ones are dropped, so nothing queues up), brings it to
the processing size, and stylizes the frames that are ready together as one batch per frame
size. Each frame keeps its own client's style and alpha (`Engine.stylize_each`): the eager
engine takes per-sample statistics in one batch; the other engines take one style per call, so
there a batch holds the clients that share style and alpha. A client whose stabiliser smooths content statistics
(`stats`/`both`, eager only) runs alone: its smoothing state is its own. A failure loses only
the frames it concerns (one client's frame or style, or one batch), never the server.
Colour preservation's style encode (seconds at a large --style-size on a CPU) runs on its
client's own thread (`Recolouring`), never here: every client's frames waited for it.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from dataclasses import dataclass, replace
from typing import Callable

import numpy as np
from realtime_adain.adain import StyleStats
from realtime_adain.errors import is_out_of_memory
from realtime_adain.live.active_style import ActiveStyle
from realtime_adain.live.controller import LiveState
from realtime_adain.live.stability import Stability
from realtime_adain.picture_sizes import fit_short_side, resize
from realtime_adain.serve.control import Look
from realtime_adain.serve.styles import StyleRegistry
from realtime_adain.settings import STATS_MODES
from realtime_adain.stylizer import Stylizer
from realtime_adain.notes import write_line

# A frame the machine had no memory for, as serve's log says it (torch's allocator said it in 200 characters).
OUT_OF_MEMORY = "out of memory; lower --size or --max-resolution"

MAX_BATCH = 8  # frames per network call; more clients wait for the next call
MAX_ASPECT = 3.0  # work pixels are at most side² times this: wider frames are taken with a shorter short side


def work_size(height: int, width: int, side: int, limit: tuple[int, int]) -> tuple[int, int]:
    """(width, height) a frame is stylized at: shorter side `side` (0: as it comes), within
    `limit`, even sides (the video codecs' 4:2:0 chroma). With a side, at most side² × MAX_ASPECT
    pixels: a client's cheap 4800x100 frame would otherwise be stylized at 7680x160 (27 times a
    camera frame's work), every frame."""
    scale = side / min(height, width) if side else 1.0
    scale = min(scale, limit[0] / width, limit[1] / height)
    budget = side * side * MAX_ASPECT
    if side:
        scale = min(scale, (budget / (width * height)) ** 0.5)
    work = [max(16, round(width * scale) // 2 * 2), max(16, round(height * scale) // 2 * 2)]
    if side and work[0] * work[1] > budget:  # a strip's short side raised to the network's 16: its long side pays
        long = 0 if work[0] > work[1] else 1
        work[long] = max(16, int(budget / work[1 - long]) // 2 * 2)
    return work[0], work[1]


@dataclass(frozen=True)
class Delivery:
    """A finished frame for a client's outgoing track."""

    image: np.ndarray  # (H, W, 3) uint8 RGB, what the view shows
    pts: int | None
    time_base: object
    arrived: float  # time.monotonic() when the frame reached the server
    batch: int  # how many frames went through the network together with it


class Pipeline:
    """One client's share of the worker: its look, cached statistics and stabiliser (worker thread only,
    except `look`, an immutable value the event loop replaces)."""

    def __init__(self, styles: StyleRegistry, stylizer: Stylizer, look: Look, deliver: Callable[[Delivery], None],
                 strength: float) -> None:
        self.styles, self.stylizer, self.look, self.deliver = styles, stylizer, look, deliver
        self.stability = Stability(stylizer, strength)
        self.active = ActiveStyle(styles.library, self._style_event)  # the worker's: switches and mixes (free)
        self.recolouring = Recolouring(ActiveStyle(styles.library, self._style_event, stopped=lambda: self.closed))
        self.recoloured: tuple[tuple, StyleStats] | None = None  # the last recoloured statistics, by their style's key
        self.style_error: str | None = None  # the last style failure said (`_style_event`)
        self.dropped = 0  # frames replaced by a newer one before the worker took them
        self.taken = 0  # frames the worker took
        self.closed = False  # its client is gone (`Batcher.discard`): no frame is taken any more

    def _style_event(self, event: str, **fields: object) -> None:
        """`ActiveStyle`'s events: a failure (`color-reference-failed`: the style's own colours are
        used) said in one line, once until it changes (a client toggling colour preservation would
        repeat it each time); the others (timings) are not for the server's stderr."""
        if not event.endswith("-failed"):
            return
        reason = fields.pop("reason", "")
        line = f"{event}: {reason}" + "".join(f" ({key} {value})" for key, value in fields.items())
        if line != self.style_error:
            _say(line)
        self.style_error = line

    def style_stats(self, state: LiveState, content: np.ndarray) -> StyleStats:
        """The statistics for this frame: a switch or mix at once; with colour preservation the
        recoloured ones once `Recolouring` has them, until then the style's last recoloured ones,
        else its own colours (a switch stays instant)."""
        if not state.preserve_color:
            return self.active.stats(state, content)
        own = replace(state, preserve_color=False)
        style = self.active.choice(own)[1]
        stats = self.recolouring.stats(state, content)
        if stats is not None:
            self.recoloured = (style, stats)
        elif self.recoloured is not None and self.recoloured[0] == style:
            stats = self.recoloured[1]  # (a new reference being taken: the last one meanwhile)
        else:
            stats = self.active.stats(own, content)  # (a style switched to: at once, in its own colours)
        return stats

    def live_state(self, look: Look) -> LiveState:
        """The look as the live session's state, styles by their library names; StyleGone when an
        upload it names was dropped (its client left or chose another while the frame waited)."""
        def name(style_id: str) -> str:
            served = self.styles.get(style_id)
            if served is None:
                raise StyleGone(style_id)
            return served.name
        return look.live_state(name)

    @property
    def runs_alone(self) -> bool:
        return self.look.stabilize in STATS_MODES and self.stability.smooths_stats


class Recolouring:
    """One client's colour-preserving statistics, encoded on its own thread, one encode at a time
    and for the newest request only (a client toggling colour preservation 100 times a second
    gets one encode after another, never a queue, and no other client's frame waits for them)."""

    def __init__(self, active: ActiveStyle) -> None:
        self.active = active  # this thread's own (`choice` alone is read from the worker)
        self._lock = threading.Lock()
        self._wanted: tuple[tuple, LiveState, np.ndarray] | None = None  # (key, state, reference) not yet encoded
        self._running = False
        self._done: tuple[tuple, StyleStats | None] | None = None  # the last encode's key and statistics (None: failed)

    def stats(self, state: LiveState, frame: np.ndarray) -> StyleStats | None:
        """The recoloured statistics of `state` once encoded; None while they are (asked for here,
        with `frame` as the colour reference) or where their encode failed."""
        key = self.active.choice(state)[1]
        with self._lock:
            if self._done is not None and self._done[0] == key:
                return self._done[1]
            if self._wanted is None or self._wanted[0] != key:
                self._wanted = (key, state, frame.copy())
            if not self._running:
                self._running = True
                threading.Thread(target=self._run, name="serve-recolour", daemon=True).start()
        return None

    def _run(self) -> None:
        while True:
            with self._lock:
                if self._wanted is None:
                    self._running = False
                    return
                (key, state, frame), self._wanted = self._wanted, None
            try:
                stats: StyleStats | None = self.active.stats(state, frame)
            except Exception as exc:  # (out of memory, ...): the client keeps its current statistics
                _say(f"colour reference failed: {type(exc).__name__}: {exc}")
                stats = None
            with self._lock:
                self._done = (key, stats)


class StyleGone(LookupError):
    """A frame's look names an upload no longer held: the frame is dropped, nothing said."""


@dataclass
class _Job:
    pipeline: Pipeline
    frame: object  # av.VideoFrame (decoded on the worker) or (H, W, 3) uint8 RGB
    arrived: float


@dataclass
class _Ready:
    """A taken frame brought to the work size, with its look (as the live state, resolved once)
    and that look's statistics."""

    job: _Job
    look: Look
    state: LiveState
    content: np.ndarray
    style: StyleStats


class Batcher(threading.Thread):
    """The worker: newest frame per client in, stylized frames out through each pipeline's `deliver`."""

    def __init__(self, stylizer: Stylizer, side: int, max_resolution: tuple[int, int], max_batch: int = MAX_BATCH) -> None:
        super().__init__(name="serve-batcher", daemon=True)
        self.stylizer, self.side, self.max_resolution, self.max_batch = stylizer, side, max_resolution, max_batch
        self._pending: dict[Pipeline, _Job] = {}
        self._wake = threading.Condition()
        self._stopped = False
        self._running = False  # the worker is in `run`: it closes discarded pipelines (`_retired`)
        self._retired: list[Pipeline] = []
        self.batches = self.frames = 0
        self.error: str | None = None  # the last failure, said once on stderr

    def submit(self, pipeline: Pipeline, frame: object, arrived: float) -> None:
        """The client's newest frame; one still waiting is dropped (never a backlog)."""
        with self._wake:
            if pipeline.closed:  # a frame its track handed over while the client was closing
                return
            if pipeline in self._pending:
                if not pipeline.taken:  # the first frame is kept: receivers count pts from the first frame they get
                    return
                pipeline.dropped += 1
            self._pending[pipeline] = _Job(pipeline, frame, arrived)
            self._wake.notify()

    def discard(self, pipeline: Pipeline) -> None:
        """A closed client's pipeline: its waiting frame dropped, no frame taken after, and its
        stabiliser's motion thread stopped, by the worker between batches (the only thread that
        uses it) or here when no worker runs. Idempotent."""
        with self._wake:
            self._pending.pop(pipeline, None)
            if pipeline.closed:
                return
            pipeline.closed = True
            if self._running:
                self._retired.append(pipeline)
                self._wake.notify()
                return
        pipeline.stability.close()

    def stop(self) -> None:
        with self._wake:
            self._stopped = True
            self._wake.notify()

    def run(self) -> None:
        with self._wake:
            self._running = not self._stopped
        while self._turn():
            pass

    def _turn(self) -> bool:
        """One batch, or the retired pipelines alone; False once stopped. A function of its own: the
        last batch's jobs (or retired pipelines), left bound in the loop while it waited, kept the
        client that had left, its peer connection, codecs and frames, until the next frame came."""
        with self._wake:
            while not self._pending and not self._stopped and not self._retired:
                self._wake.wait()
            retired, self._retired = self._retired, []
            self._running = not self._stopped
            jobs = [] if self._stopped else list(self._pending.values())[:self.max_batch]
            for job in jobs:
                del self._pending[job.pipeline]
                job.pipeline.taken += 1
        for pipeline in retired:  # between batches: no frame of theirs is being stylized
            pipeline.stability.close()
        if not self._running:
            return False
        if jobs:  # (none: woken for the retired pipelines only)
            self._process(jobs)
        return True

    def _failed(self, exc: Exception) -> None:
        """A failure loses the frames it concerns, never the server: said once until it changes."""
        message = (OUT_OF_MEMORY if is_out_of_memory(exc)  # (torch's allocator's 200-character line)
                   else f"{type(exc).__name__}: {exc}")
        if message != self.error:
            _say(f"stylizing failed: {message}")
        self.error = message

    def _content(self, job: _Job) -> np.ndarray:
        frame = job.frame
        if not isinstance(frame, np.ndarray):
            # A decoded frame is scaled by FFmpeg as it is converted to RGB: whatever size a client
            # sends (VP8 goes to 16383 a side), no full-size RGB copy is made (4K: 2.6 ms, not 12 + resize).
            width, height = work_size(frame.height, frame.width, self.side, self.max_resolution)
            if (width, height) == (frame.width, frame.height):
                return frame.to_ndarray(format="rgb24")
            return frame.to_ndarray(width=width, height=height, format="rgb24", interpolation="AREA")
        image = frame
        size = work_size(*image.shape[:2], self.side, self.max_resolution)
        if image.shape[0] > 2 * size[1]:  # a huge frame: a cheap first step keeps INTER_AREA's cost down
            image = fit_short_side(image, 2 * min(size))
        return resize(image, size)

    def _process(self, jobs: list[_Job]) -> None:
        """Each frame readied on its own, then stylized in groups: a failure loses its client's
        frame or its group's frames only (one client's style replaced by a huge strip lost every
        client's frames)."""
        ready: list[_Ready] = []
        for job in jobs:
            pipeline, look = job.pipeline, job.pipeline.look  # each frame with the look at the moment it is taken
            try:
                state = pipeline.live_state(look)
                content = self._content(job)
                ready.append(_Ready(job, look, state, content, pipeline.style_stats(state, content)))
            except StyleGone:
                continue
            except Exception as exc:
                self._failed(exc)
        groups: dict[tuple, list[_Ready]] = defaultdict(list)
        for i, frame in enumerate(ready):
            groups[(frame.content.shape, i) if frame.job.pipeline.runs_alone else (frame.content.shape,)].append(frame)
        for group in groups.values():
            try:
                self._stylize(group)
            except Exception as exc:
                self._failed(exc)

    def _stylize(self, group: list[_Ready]) -> None:
        """One network call for frames of one size (one frame where its client runs alone); each delivered."""
        if len(group) == 1 and group[0].job.pipeline.runs_alone:
            frame, pipeline = group[0], group[0].job.pipeline
            outs = [pipeline.stability.stylize(frame.state, frame.content, frame.style)]
        else:
            batch = self.stylizer.engine.stylize_each(np.stack([frame.content for frame in group]),
                                                      [frame.style for frame in group], [frame.look.alpha for frame in group])
            outs = []
            for frame, out in zip(group, batch):
                stability = frame.job.pipeline.stability
                stability.follow(frame.state)
                outs.append(stability.blend(frame.content, out))
        self.batches += 1
        self.frames += len(group)
        for frame, out in zip(group, outs):
            job = frame.job
            view = _view(frame.look.view, frame.content, out)
            job.pipeline.deliver(Delivery(view, getattr(job.frame, "pts", None), getattr(job.frame, "time_base", None),
                                          job.arrived, len(group)))


def _say(line: str) -> None:
    """One line on stderr, after an upload's decode has stopped catching it (STDERR_LOCK)."""
    write_line(f"serve: {line}")


def _view(view: str, content: np.ndarray, stylized: np.ndarray) -> np.ndarray:
    if view == "original":
        return content
    if view == "side":
        return np.hstack([content, stylized])
    return stylized
