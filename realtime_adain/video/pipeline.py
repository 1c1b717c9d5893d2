"""Decode -> stylize -> stabilize -> encode, overlapped in threads joined by bounded queues.

The decoder thread demuxes and decodes (and resizes to the processing size) and hands each
frame's content to the stabiliser's motion workers (optical flow on CPU threads) as it is decoded,
so the flow runs while the frame waits in the queues (begun only as its batch went to the network,
the on-GPU blend waited for it right after the step was queued: on an H200, 46 -> 33 fps at 720p
with `flow`); the calling thread runs the network on batches of frames; the stabilize thread (only
when a stabiliser is on) warps and blends each frame in display order, unless that runs on the GPU
inside the stylize stream (`device_blend`); with two passes it holds a window of frames, and the
packets between them, for the backward pass; the encoder thread resizes back, encodes and muxes.
Bounded queues keep memory flat and let a long video run at the speed of its slowest stage.
Items stay in file order, so pass-through packets (audio) stay interleaved with the frames around
them. Packets travel in runs (`Packets`): a GoPro's telemetry comes in hundreds of
thousands of packets of a few bytes, and a queue hop each (three threads taking turns) was most
of the run; and no stage holds more than `HELD_PACKETS` of them waiting for frames (a file can
claim any number between two pictures): then every packet it holds goes on, in the order read,
ahead of the frames still being worked on, which the muxer puts back in place (it interleaves
by time).

Ctrl-C reaches the calling thread only: it stops the decoder, lets the later stages write every
frame already stylized (with the sound that plays under it), and re-raises, so the caller can close
a playable partial file; it waits while a batch is handed on and counted.
"""

from __future__ import annotations

import os
import queue
import threading
from collections import deque
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator

import numpy as np

from realtime_adain import interrupts, library_signals
from realtime_adain.engines.base import frames_within
from realtime_adain.temporal import MotionAhead, Stabilizer
from realtime_adain.temporal.device_blend import DeviceBlend
from realtime_adain.temporal.two_pass import TwoPassStabilizer, forward_pass
from realtime_adain import notes
from realtime_adain.video.demuxing import RUN_PACKETS
from realtime_adain.video.frames import Frame

Images = Callable[[np.ndarray], np.ndarray]
Stream = Callable[[Iterable[np.ndarray]], Iterable[np.ndarray]]
_END = object()
_POLL_S = 0.1
HELD_PACKETS = 1 << 16  # packets a stage holds waiting for frames, at most


class Packets(list):
    """Packets of the other streams that came one after another (between two frames), as one item."""


@dataclass
class _Failed:
    error: BaseException


class _Stage(threading.Thread):
    """A pipeline thread that says when its work is over (`done`), whatever ended it."""

    def __init__(self, work: Callable[[], None], name: str) -> None:
        super().__init__(name=name, daemon=True)
        self.work, self.done = work, threading.Event()
        self.wording = notes.wording()  # (the API's words for its notes, from the thread that runs the pipeline)

    def run(self) -> None:
        try:
            with notes.worded(self.wording):
                self.work()
        finally:
            self.done.set()


class Pipeline:
    """One run over `items` (frames, packets, and lists of packets that came one after another:
    `VideoReader.runs`); `stylize_stream` maps (N, H, W, 3) uint8 batches to results, in order.

    `prepare` (decoder thread) and `finish` (encoder thread) map single frames; `write_frame` and
    `write_packet` are the sink, called from the encoder thread only. `stabilizer` (if active)
    gets its motion estimated on `motion_workers` threads and applied on a thread of its own; a
    `TwoPassStabilizer` holds frames there (and the items between them) until they are final.
    """

    def __init__(
        self,
        items: Iterable[Frame | object],
        stylize_stream: Stream,
        write_frame: Callable[[Frame], None],
        write_packet: Callable[[object], None],
        prepare: Images = lambda image: image,
        finish: Images = lambda image: image,
        batch_size: int = 1,
        batch_pixels: int | None = None,
        queue_frames: int = 8,
        stabilizer: Stabilizer | TwoPassStabilizer | None = None,
        motion_workers: int = max(1, min(4, (os.cpu_count() or 2) // 2)),
        device_blend: DeviceBlend | None = None,
        fill_short_batches: bool = True,
        on_stylized: Callable[[int], None] = lambda count: None,
    ) -> None:
        """`fill_short_batches`: give the stream every batch at one size (see `_stylize_all`); off
        when the network keeps state across frames (smoothed statistics), which copies would skew.
        `on_stylized(count)`: called on the calling thread as each batch of frames leaves the network,
        once it is handed on (signals wait for both: a progress bar's update is not cut midway).
        `batch_pixels`: the most pixels one batch holds; a batch of larger frames is cut short (a
        stream that grows mid-way must not stack `batch_size` of its largest frames)."""
        self.items, self.stylize_stream, self.prepare, self.finish = items, stylize_stream, prepare, finish
        self.fill_short_batches, self.on_stylized = fill_short_batches, on_stylized
        self.write_frame, self.write_packet = write_frame, write_packet
        self.stabilizer = stabilizer if stabilizer is not None and stabilizer.active else None
        self.two_pass = self.stabilizer if isinstance(self.stabilizer, TwoPassStabilizer) else None
        self.motion_workers = motion_workers
        self.ahead: MotionAhead | None = None
        # With `device_blend` (the stylize stream's engine calls it after each step) the warp and
        # blend run on the GPU before download and the stabilize thread is not needed (with two
        # passes it runs the backward one).
        self.device_blend = device_blend if self.stabilizer is not None else None
        self.stabilize_thread = self.stabilizer is not None and (self.device_blend is None or self.two_pass is not None)
        self.batch_size = max(1, batch_size)
        self.batch_pixels = batch_pixels
        # Frames between decoder and encoder: a batch being filled, one held back by the stream's
        # double buffering, one on its way out. Packets of other streams travel in the same queues
        # but are small, so the queues allow plenty of items while frames are counted apart.
        # Neither the semaphore nor the queues allocate up front: a huge --batch costs memory only
        # for the frames that really are in flight (a short clip's all, never more).
        self.depth = max(queue_frames, 3 * self.batch_size) + (self.two_pass.most_held if self.two_pass else 0)
        self.frame_slots = threading.BoundedSemaphore(self.depth)
        self.decoded: queue.Queue = queue.Queue(maxsize=self.depth * 8)
        self.stylized: queue.Queue = queue.Queue(maxsize=self.depth * 8)
        # What the encoder reads: the stabilize thread's output, or the stylized items directly.
        self.to_encode: queue.Queue = queue.Queue(maxsize=self.depth * 8) if self.stabilize_thread else self.stylized
        self.stop = threading.Event()
        self.downstream_error: BaseException | None = None  # the first failure of the stabilize or encoder thread
        self._packets_waiting = 0  # in the calling thread: packets held for batches not yet written (`_groups`)
        self._handed_on = self._wound_down = False  # every item read went on; every stage ended (`written_whole`)
        self._read_to_end = False  # the decoder's last item was taken (`_groups`)

    def run(self) -> None:
        threads = [_Stage(self._decode, "video-decode"), _Stage(self._encode, "video-encode")]
        if self.stabilizer is not None:
            self.stabilizer.reset()
            self.ahead = MotionAhead(forward_pass(self.stabilizer), self.motion_workers, reverse=self.two_pass is not None)
            if self.device_blend is not None:
                self.device_blend.reset()
            if self.stabilize_thread:
                threads.append(_Stage(self._stabilize, "video-stabilize"))
        started: list[_Stage] = []
        try:
            for thread in threads:
                thread.start()
                started.append(thread)
            self._stylize_all()
        except BaseException as exc:
            if len(started) < len(threads):  # one could not start (`ulimit -u`): the started ones must stop,
                self._fail(exc)  # or the process ended with the decoder inside FFmpeg (a segfault at exit)
            raise
        finally:
            interrupted = self._wind_down(started)
            if interrupted is not None:
                try:
                    raise interrupted
                finally:  # (a local holding it, and its traceback this frame: see `_wind_down`)
                    del interrupted
        if self.downstream_error is not None:
            raise self.downstream_error

    @property
    def written_whole(self) -> bool:
        """Whether `run`, even ended by a Ctrl-C, wrote every item to the input's end (or the end
        it was given): the signal came once the last frame was stylized, and the output is as an
        uninterrupted run's, no partial one."""
        return self._handed_on and self._wound_down and self.downstream_error is None

    def _wind_down(self, stages: list[_Stage]) -> KeyboardInterrupt | None:
        """Stop the decoder, let the later stages write every frame already stylized, and wait for
        all of them. A Ctrl-C meanwhile is held and returned: the caller closes the file next, so
        no thread may still be writing to it (with two passes the held window is written only now).
        Stages are waited for on events, not `Thread.join`: an interrupted join marks a running
        thread as stopped in CPython 3.11 (bpo-45274's fix), and a second join returns at once.
        The Ctrl-C is no local once returned: held in one of a frame its traceback holds, the two
        kept each other, and the first Ctrl-C's traceback (its context: the engine's frames, their
        activations, 98 MB at 640x480), until a cyclic GC, after `stylize_video` was interrupted twice."""
        interrupted, ended = None, False
        try:
            while True:
                try:
                    self.stop.set()  # the decoder gives up its pending put within _POLL_S
                    if not ended:
                        self._put_downstream(self.stylized, _END, wait_always=True)
                        ended = True  # (interrupted just before this line, _END goes twice: the second is never read)
                    for stage in stages:
                        stage.done.wait()
                    if self.ahead is not None:
                        self.ahead.close()
                    self._wound_down = True
                    return interrupted
                except KeyboardInterrupt as exc:
                    interrupted = exc
        finally:
            del interrupted

    # -- decoder thread ------------------------------------------------------------------------
    def _decode(self) -> None:
        try:
            run = Packets()
            for item in self.items:
                if not isinstance(item, Frame):
                    if isinstance(item, list):  # a run of them (`VideoReader.runs`)
                        run.extend(item)
                    else:
                        run.append(item)
                    if len(run) < RUN_PACKETS:
                        continue
                    item, run = run, Packets()
                elif run:
                    if not self._put(self.decoded, run):
                        return
                    run = Packets()
                if isinstance(item, Frame):
                    item.image = self.prepare(item.image)
                    if not self._take_frame_slot():
                        return
                    if self.ahead is not None:  # its flow starts now, while the frame waits its turn
                        item.motion = self.ahead.submit(item.image)
                if not self._put(self.decoded, item):
                    return
            if run and not self._put(self.decoded, run):
                return
            self._put(self.decoded, _END)
        except BaseException as exc:  # handed to the calling thread, which raises it
            self._put(self.decoded, _Failed(exc))

    def _take_frame_slot(self) -> bool:
        """Wait until fewer than `depth` frames are in flight (memory stays flat at any size)."""
        while not self.stop.is_set():
            if self.frame_slots.acquire(timeout=_POLL_S):
                return True
        return False

    def _put(self, target: queue.Queue, item: object) -> bool:
        while not self.stop.is_set():
            try:
                target.put(item, timeout=_POLL_S)
                return True
            except queue.Full:
                continue
        return False

    # -- calling thread ------------------------------------------------------------------------
    def _stylize_all(self) -> None:
        """Feed batches to the stylizer's stream and pass each result on with the packets that
        came between its frames (the stream may hold one batch back while copies overlap)."""
        groups: deque[tuple[list[object], list[Frame]]] = deque()
        tail: list[object] = []

        def batches() -> Iterator[np.ndarray]:
            largest: dict[tuple[int, ...], int] = {}  # the most frames a batch of each shape held
            for pending, frames in self._groups(tail, groups):
                groups.append((pending, frames))
                if self.device_blend is not None:
                    self.device_blend.expect([frame.motion for frame in frames], frames[0].image.shape[:2])
                    if not self.stabilize_thread:  # (else the backward pass after the GPU's reads them)
                        for frame in frames:
                            frame.motion = None
                # A short last batch is filled up with its last frame (those results are dropped):
                # every batch keeps one shape, so no graph is compiled or engine built for the tail.
                # Only up to the batches already sent: a clip shorter than --batch is one batch of
                # its own size (--batch 100000 on 12 frames must not stack 100000 copies).
                shape = frames[0].image.shape
                largest[shape] = max(largest.get(shape, 0), len(frames))
                filler = [frames[-1].image] * (largest[shape] - len(frames)) if self.fill_short_batches else []
                yield np.stack([f.image for f in frames] + filler)

        for results in self.stylize_stream(batches()):
            # A signal waits until the batch is handed on and counted: raised inside the progress
            # bar's drawing it left tqdm's lock taken (a note from the encoder thread then waited for
            # it for ever), and raised between the two it lost a batch already counted.
            with interrupts.SignalGuard(None, hold=True):
                pending, frames = groups.popleft()
                for frame, result in zip(frames, results):  # a filled-up batch has extra results
                    frame.image = result
                for item in pending:
                    self._packets_waiting -= len(item) if isinstance(item, Packets) else 0
                    self._put_downstream(self.stylized, item)
                self.on_stylized(len(frames))
                # the last batch (its group came once every item was read): a signal from here on
                # stops a run that is whole
                self._handed_on = self._read_to_end and not groups
            library_signals.raise_kept()  # (a signal a callback swallowed stops the run here)
        for item in tail:
            self._put_downstream(self.stylized, item)
        self._handed_on = True  # (the later stages write all of it: `_wind_down` waits for them)

    def _groups(self, tail: list[object], groups: deque[tuple[list[object], list[Frame]]]
                ) -> Iterator[tuple[list[object], list[Frame]]]:
        """Decoded items cut into batches of frames of one shape, each with the items read up to
        the frame after its last one: the reader puts the sound that plays under a frame after it,
        and an interrupted run, which writes whole batches, kept the last frame without it (a
        `.partial` file's sound stopped short of its last picture). Packets with no frame at all
        are left in `tail`. A stream whose picture size changes (a new resolution mid-stream)
        ends a batch there. Past `HELD_PACKETS` waiting, the packets of the batches still in the
        stream (`groups`) and of this one go on."""
        pending: list[object] = []
        frames: list[Frame] = []
        while True:
            item = self._next_decoded()
            if isinstance(item, _Failed):
                raise item.error
            if item is _END:
                self._read_to_end = True
                break
            if isinstance(item, Frame) and frames and (
                    len(frames) == frames_within(self.batch_size, frames[0].image.shape, self.batch_pixels)
                    or item.image.shape != frames[0].image.shape):
                yield pending, frames
                pending, frames = [], []
            pending.append(item)
            if isinstance(item, Packets):
                self._packets_waiting += len(item)
                if self._packets_waiting > HELD_PACKETS:
                    self._send_ahead(self.stylized, [*(group[0] for group in groups), pending])
                    self._packets_waiting = 0
            if isinstance(item, Frame):
                frames.append(item)
        if frames:
            yield pending, frames
        else:
            tail.extend(pending)

    def _send_ahead(self, target: queue.Queue, held: list[list[object] | deque[object]]) -> None:
        """Put every packet in `held` (lists of items, oldest first) on `target`, in order, and take
        them out of those lists: the frames stay."""
        for items in held:
            frames = [item for item in items if not isinstance(item, Packets)]
            for item in items:
                if isinstance(item, Packets):
                    self._put_downstream(target, item)
            items.clear()
            items.extend(frames)

    def _next_decoded(self) -> object:
        while True:
            if self.downstream_error is not None:
                raise self.downstream_error
            try:
                return self.decoded.get(timeout=_POLL_S)
            except queue.Empty:
                continue

    def _put_downstream(self, target: queue.Queue, item: object, wait_always: bool = False) -> None:
        """Put `item` on a queue read by the stabilize or encoder thread; if one of those failed,
        raise its error (or, with `wait_always`, give up quietly)."""
        while True:
            if self.downstream_error is not None:
                if wait_always:
                    return
                raise self.downstream_error
            try:
                target.put(item, timeout=_POLL_S)
                return
            except queue.Full:
                continue

    def _get_downstream(self, source: queue.Queue) -> object:
        """The next item for a later stage; _END once the run ends or a later stage failed."""
        while True:
            try:
                return source.get(timeout=_POLL_S)
            except queue.Empty:
                if self.downstream_error is not None:
                    return _END

    def _fail(self, exc: BaseException) -> None:
        if self.downstream_error is None:
            self.downstream_error = exc
        self.stop.set()

    # -- stabilize thread ----------------------------------------------------------------------
    def _stabilize(self) -> None:
        held: deque[object] = deque()  # with two passes: items from the oldest frame not yet final on
        waiting: deque[Frame] = deque()  # those frames, oldest first
        packets = 0  # in `held` (more go ahead, as in `_groups`)
        try:
            while (item := self._get_downstream(self.stylized)) is not _END:
                if isinstance(item, Packets) and held:
                    packets += len(item)
                    if packets > HELD_PACKETS:
                        self._send_ahead(self.to_encode, [held, [item]])
                        packets = 0
                        continue
                if isinstance(item, Frame) and item.motion is not None:
                    motion, item.motion = item.motion.result(), None
                    if self.two_pass is None:
                        item.image = self.stabilizer.apply(motion, item.image)
                    else:
                        push = self.two_pass.push_forwarded if self.device_blend is not None else self.two_pass.push_motion
                        held.append(item)
                        waiting.append(item)
                        packets -= self._pass_final(held, waiting, push(motion, item.image))
                        continue
                if held:
                    held.append(item)
                else:
                    self._put_downstream(self.to_encode, item)
            if self.two_pass is not None:
                self._pass_final(held, waiting, self.two_pass.flush())
        except BaseException as exc:
            self._fail(exc)
        finally:
            self._put_downstream(self.to_encode, _END, wait_always=True)

    def _pass_final(self, held: deque[object], waiting: deque[Frame], finals: list[np.ndarray]) -> int:
        """Give the oldest waiting frames their final images and pass on every held item up to
        the first frame still waiting (packets keep their place between frames); returns how
        many packets went."""
        for image in finals:
            waiting.popleft().image = image
        passed = 0
        while held and not (waiting and held[0] is waiting[0]):
            item = held.popleft()
            passed += len(item) if isinstance(item, Packets) else 0
            self._put_downstream(self.to_encode, item)
        return passed

    # -- encoder thread ------------------------------------------------------------------------
    def _encode(self) -> None:
        try:
            while (item := self._get_downstream(self.to_encode)) is not _END:
                if isinstance(item, Frame):
                    item.image = self.finish(item.image)
                    self.write_frame(item)
                    self.frame_slots.release()
                elif isinstance(item, Packets):
                    for packet in item:
                        self.write_packet(packet)
                else:
                    self.write_packet(item)
        except BaseException as exc:
            self._fail(exc)
