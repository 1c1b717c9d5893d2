"""Interlaced pictures made whole before they are stylized.

Camcorders (AVCHD), DV, DVDs and broadcast captures store each picture as two fields taken 1/50
or 1/60 s apart. Shown as one frame, anything that moves is combed: every other line is from
the other field. The network sees the comb as texture and stylizes it into stripes that flicker,
and the flow stabiliser's motion is wrong across it. FFmpeg's `bwdif` deinterlacer (what
`ffmpeg -vf bwdif` and HandBrake-like tools use) rebuilds each frame from its first field and its
neighbours, one picture per frame (`send_frame`): the frame count and every timestamp stay as
they are. In `auto`, only frames the decoder flags interlaced are touched, and a progressive file
never enters the filter at all.
"""

from __future__ import annotations

from collections import deque
from fractions import Fraction
from typing import Iterator

import av

from realtime_adain import limits
from realtime_adain.video.notes import note

MODES = ("auto", "on", "off")
UNTIMED = Fraction(1, 1000)  # the filter's time base for frames that have none (made from arrays)
FILTER = "bwdif"
# send_frame: one picture per frame, not per field; parity from the frame's own flag.
OPTIONS = {"auto": "mode=send_frame:parity=auto:deint=interlaced", "on": "mode=send_frame:parity=auto:deint=all"}
# bwdif refuses a plane narrower than 3 columns or shorter than 4 lines: 3x4 pictures, 6x8 in 4:2:0.
MIN_PLANE = (3, 4)
# What the interlace note offers instead, by default (`video`'s option).
OFF_HINT = "--deinterlace off stylizes the fields as they are"


def check_mode(mode: str) -> str:
    """`mode` if it is one of `MODES`, else a ValueError naming them."""
    if mode not in MODES:
        raise ValueError(f"deinterlace must be one of {', '.join(MODES)}, got {mode!r}")
    return mode


def _shape(frame: av.VideoFrame) -> tuple[int, int, str]:
    return frame.width, frame.height, frame.format.name


def too_small(frame: av.VideoFrame) -> bool:
    """Whether bwdif refuses `frame` for its size (`MIN_PLANE`, its chroma planes too)."""
    fmt = frame.format
    return (min(frame.width, fmt.chroma_width(frame.width)) < MIN_PLANE[0]
            or min(frame.height, fmt.chroma_height(frame.height)) < MIN_PLANE[1])


class Deinterlacer:
    """Video frames in display order in, the same frames deinterlaced out, in order, each with its
    own timestamp, duration and time base (bwdif halves the time base: the times are put back).

    The filter holds one frame (it looks at the next), so a frame comes out one `push` late and
    `flush` gives the last. A new picture size or pixel format starts a new filter after the old
    one is drained. Should FFmpeg refuse a frame, the frames still inside come out as they were and
    the rest of the clip is not deinterlaced (said once): no frame is ever lost to this stage.
    Pictures too small for bwdif (`too_small`) pass as they are, said once, without that refusal
    ending the deinterlacing of larger pictures after them."""

    def __init__(self, mode: str, name: str, hint: str = OFF_HINT) -> None:
        """`hint`: the interlace note's last words, what the caller offers instead (`live` has no
        --deinterlace option, so it must not point at one)."""
        self.mode = check_mode(mode)
        self.name = name  # the file's, for the notes
        self.hint = hint
        # (graph, source, sink): the graph must be held; its filters are freed with it
        self._graph: tuple[av.filter.Graph, av.filter.context.FilterContext, av.filter.context.FilterContext] | None = None
        self._shape: tuple[int, int, str] | None = None
        self._inside: deque[av.VideoFrame] = deque()  # frames pushed and not yet out, as they came in
        self._failed = mode == "off"

    def push(self, frame: av.VideoFrame) -> Iterator[av.VideoFrame]:
        """The frames ready after `frame` (none, one, or after a size change several)."""
        if self._failed or (self._graph is None and self.mode == "auto" and not frame.interlaced_frame):
            yield frame
            return
        if self._graph is not None and _shape(frame) != self._shape:
            yield from self.flush()
        if self._graph is None and too_small(frame):  # passed as it is; a larger picture later is deinterlaced again
            note(f"{self.name}: {frame.width}x{frame.height} pictures ({frame.format.name}) are too small for "
                 f"FFmpeg's bwdif ({MIN_PLANE[0]} columns and {MIN_PLANE[1]} lines in every plane); they are "
                 "stylized as they are", once=True)
            yield frame
            return
        self._inside.append(frame)  # before anything can fail: given back as it is if it does
        try:
            if self._graph is None:  # (once a picture size: not per frame)
                if self.mode == "auto":
                    note(f"{self.name}: the video is interlaced; its frames are deinterlaced (bwdif, one picture "
                         f"per frame){'; ' + self.hint if self.hint else ''}", once=True)
                self._graph, self._shape = self._build(frame), _shape(frame)
            self._graph[1].push(frame)
            yield from self._pull()
        except av.error.FFmpegError as exc:
            yield from self._give_up(exc)

    def flush(self) -> Iterator[av.VideoFrame]:
        """The frames still inside the filter; the next `push` starts a new one."""
        if self._graph is None:
            return
        try:
            self._graph[1].push(None)
            yield from self._pull()
        except av.error.FFmpegError as exc:
            yield from self._give_up(exc)
        yield from self._release()

    def _build(self, frame: av.VideoFrame) -> tuple[av.filter.Graph, av.filter.context.FilterContext,
                                                     av.filter.context.FilterContext]:
        graph = av.filter.Graph()
        if limits.pools_reduced:  # `ulimit -u` leaves no room for slice threads
            graph.threads = 1
        source = graph.add_buffer(width=frame.width, height=frame.height, format=frame.format.name,
                                  time_base=frame.time_base or UNTIMED)
        deinterlace = graph.add(FILTER, OPTIONS[self.mode])
        sink = graph.add("buffersink")
        source.link_to(deinterlace)
        deinterlace.link_to(sink)
        graph.configure()  # converts pixel formats bwdif does not take (scale is inserted)
        return graph, source, sink

    def _pull(self) -> Iterator[av.VideoFrame]:
        while self._inside:
            try:
                picture = self._graph[2].pull()
            except (av.error.BlockingIOError, av.error.EOFError):
                return
            original = self._inside.popleft()
            picture.pts, picture.duration = original.pts, original.duration
            if original.time_base is not None:  # (a frame made from an array has none)
                picture.time_base = original.time_base
            yield picture

    def _give_up(self, exc: av.error.FFmpegError) -> Iterator[av.VideoFrame]:
        note(f"{self.name}: the frames could not be deinterlaced from here on "
             f"({exc.strerror or type(exc).__name__}); they are stylized as they are", once=True)
        self._failed = True
        yield from self._release()

    def _release(self) -> Iterator[av.VideoFrame]:
        """The frames the filter kept (as they came in), and the filter let go."""
        self._graph = self._shape = None
        while self._inside:
            yield self._inside.popleft()


def deinterlaced(items: Iterator[av.VideoFrame | av.Packet], mode: str, name: str,
                 hint: str = OFF_HINT) -> Iterator[av.VideoFrame | av.Packet]:
    """`items` (decoded frames in display order and pass-through packets), with the frames
    deinterlaced as `mode` says (`Deinterlacer`, `hint` for its note); packets pass at once."""
    deinterlacer = Deinterlacer(mode, name, hint)
    for item in items:
        if isinstance(item, av.VideoFrame):
            yield from deinterlacer.push(item)
        else:
            yield item
    yield from deinterlacer.flush()
