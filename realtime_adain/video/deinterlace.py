"""Interlaced pictures made whole before they are stylized.

Camcorders (AVCHD), DV, DVDs and broadcast captures store each picture as two fields taken 1/50
or 1/60 s apart. Shown as one frame, anything that moves is combed: every other line is from
the other field. The network sees the comb as texture and stylizes it into stripes that flicker,
and the flow stabiliser's motion is wrong across it. FFmpeg's `bwdif` deinterlacer (what
`ffmpeg -vf bwdif` and HandBrake-like tools use) rebuilds each frame from its first field and its
neighbours, one picture per frame (`send_frame`): the frame count and every timestamp stay as
they are. In `auto`, only frames the decoder flags interlaced are touched, and a progressive file
never enters the filter at all.

NTSC film on DVD or broadcast is telecined: 24000/1001 film frames spread over 30000/1001
interlaced frames by 3:2 pulldown, 2 frames in 5 woven from two film frames. bwdif makes those
two of one field each (a judder the stabiliser reads as motion); `film` inverse-telecines instead
(`fieldmatch` pairs the fields back, `yadif` mends what no field matches, `decimate` drops the
repeated frame of each cycle of 5), giving the film's own frames, fewer than came in, timed on
the same timeline. `auto` says when its first frames look telecined (`idet` finds repeated fields).
"""

from __future__ import annotations

from collections import deque
from fractions import Fraction
from typing import Iterator

import av

from realtime_adain import limits
from realtime_adain.notes import note

MODES = ("auto", "on", "off", "film")
UNTIMED = Fraction(1, 1000)  # the filter's time base for frames that have none (made from arrays)
# Each mode's filters, in order. bwdif's send_frame: one picture per frame, not per field; parity
# from the frame's own flag. `film`: FFmpeg's inverse telecine (`pullup` is GPL, not in PyAV's
# FFmpeg); decimate's `mixed` keeps the parts of the clip that are not film (video shot at
# 30000/1001, titles) at their own rate: without it 1 frame in 5 of them was dropped too. With
# `mixed` a frame goes only if it is a near copy of the one before (under 1.1% in its most changed
# block), and MPEG-2 codes the repeated field twice, with noise above that: 2 cycles of 9 were
# taken in a DVD-like VOB. So decimate measures a blurred copy (`ppsrc`: input 0 measured, input 1's
# frames kept untouched): the noise goes, motion stays (repeats at 0.8% or less, video's least
# changed frame 1.4% or more; unblurred 2.4% and 2.5%). A link's third item is that copy's filter.
MEASURED_ON = ("gblur", "sigma=1.5")
CHAINS = {"auto": (("bwdif", "mode=send_frame:parity=auto:deint=interlaced"),),
          "on": (("bwdif", "mode=send_frame:parity=auto:deint=all"),),
          "film": (("fieldmatch", ""), ("yadif", "deint=interlaced"), ("decimate", "mixed=1:ppsrc=1", MEASURED_ON))}
# `film` runs on frame numbers (pts n, one frame a tick: decimate needs a constant rate), and each
# frame out is put back on the input's own timeline between the frames it falls between.
FRAME_CLOCK = Fraction(1)
# The frames `auto` looks at for telecine (`TelecineCheck`), and the share of them that must repeat
# a field: 3:2 pulldown repeats one in 2 of every 5 frames (idet counts 11 in 29), a camcorder's
# interlaced video none.
TELECINE_SAMPLE = 30
# The frame rates 3:2 pulldown makes from film (NTSC; fields counted as frames by some muxers).
# At any other rate `film` pairs fields but drops nothing: decimate took 13 frames of 240 from a
# progressive 24 fps clip (its near-still frames looked like pulldown's repeated ones).
TELECINE_RATES = (Fraction(30000, 1001), Fraction(30), Fraction(60000, 1001), Fraction(60))
TELECINE_SHARE = Fraction(1, 4)
# Off those rates, frames at film's own pace are film frames already: soft telecine (MPEG-2's
# repeat-field flags: the decoder gives each film frame, lasting 3 fields then 2; its stream's
# average rate came out 29.58 and 29 fps) or progressive film. The first frames' durations tell.
FILM_PACE = Fraction(1001, 24000)
PACE_SAMPLE = 4  # (a whole 3:2 cycle: 2 frames of 3 fields, 2 of 2)
# bwdif refuses a plane narrower than 3 columns or shorter than 4 lines: 3x4 pictures, 6x8 in 4:2:0.
MIN_PLANE = (3, 4)
# What the interlace note offers instead, by default (`video`'s option).
OFF_HINT = "--deinterlace off stylizes the fields as they are"


def check_mode(mode: str) -> str:
    """`mode` if it is one of `MODES`, else a ValueError naming them."""
    if mode not in MODES:
        raise ValueError(f"deinterlace must be one of {', '.join(MODES)}, got {mode!r}")
    return mode


# (graph, source, sink): the graph must be held; its filters are freed with it
Chain = tuple[av.filter.Graph, av.filter.context.FilterContext, av.filter.context.FilterContext]


def graph_threads(graph: av.filter.Graph) -> None:
    """One thread where `ulimit -u` leaves no room for slice threads."""
    if limits.pools_reduced:
        graph.threads = 1


def build_chain(frame: av.VideoFrame, links: tuple[tuple[str, ...], ...], numbered: bool = False) -> Chain:
    """A filter graph for pictures shaped like `frame` through `links` ((filter, options), in
    order; a third item, (filter, options), makes the copy a `ppsrc` filter measures, its frames
    taken from its second input as they are); `numbered`: frames are pushed as numbers 0, 1, 2 at
    one a tick (`film`: decimate needs the source's frame rate, which `add_buffer` does not set)."""
    graph = av.filter.Graph()
    graph_threads(graph)
    if numbered:
        source = graph.add("buffer", f"video_size={frame.width}x{frame.height}:pix_fmt={frame.format.name}:"
                                     f"time_base={FRAME_CLOCK}:frame_rate={1 / FRAME_CLOCK}:pixel_aspect=1/1:"
                                     f"colorspace={frame.colorspace}:range={frame.color_range}")
    else:
        source = graph.add_buffer(width=frame.width, height=frame.height, format=frame.format.name,
                                  time_base=frame.time_base or UNTIMED)
    last = source
    for name, options, *measured_on in links:
        link = graph.add(name, options)
        if measured_on:
            split, copy = graph.add("split", "2"), graph.add(*measured_on[0])
            last.link_to(split)
            split.link_to(copy, 0, 0)
            copy.link_to(link, 0, 0)
            split.link_to(link, 1, 1)
        else:
            last.link_to(link)
        last = link
    sink = graph.add("buffersink")
    last.link_to(sink)
    graph.configure()  # converts pixel formats the filters do not take (scale is inserted)
    return graph, source, sink


class TelecineCheck:
    """Whether a clip's first interlaced frames are telecined film, told once (`auto` only: its
    pictures are not changed). FFmpeg's `idet` counts the frames that repeat a field; it rewrites
    the frames' interlace flags, so it runs on a graph of its own, never before bwdif."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._graph: Chain | None = None
        self._seen = 0
        self._last: av.VideoFrame | None = None  # idet's latest frame: its metadata holds the running counts

    def push(self, frame: av.VideoFrame) -> None:
        if self._seen >= TELECINE_SAMPLE:
            return
        try:
            if self._graph is None:
                self._graph = build_chain(frame, (("idet", ""),))
            self._graph[1].push(frame)
            while True:
                try:
                    self._last = self._graph[2].pull()
                except (av.error.BlockingIOError, av.error.EOFError):
                    break
        except av.error.FFmpegError:  # (a new picture size mid-sample) nothing to say, nothing changed
            self._seen = TELECINE_SAMPLE
        else:
            self._seen += 1
        if self._seen >= TELECINE_SAMPLE:
            self._tell()

    def _tell(self) -> None:
        """The note, if the frames looked at repeat fields as pulldown does; the graph let go."""
        self._graph, last, self._last = None, self._last, None
        if last is None:
            return
        try:
            counts = {kind: float(last.metadata.get(f"lavfi.idet.repeated.{kind}", 0))
                      for kind in ("neither", "top", "bottom")}
        except ValueError:
            return
        repeated, looked = counts["top"] + counts["bottom"], sum(counts.values())
        if looked and repeated >= TELECINE_SHARE * looked:
            note(f"{self.name}: the video looks like telecined film ({round(repeated)} of its first {round(looked)} "
                 "frames repeat a field, as 3:2 pulldown does); `realtime-adain video --deinterlace film` gives back "
                 "the film's own frames instead of deinterlacing the woven ones", once=True)


def _shape(frame: av.VideoFrame) -> tuple[int, int, str]:
    return frame.width, frame.height, frame.format.name


def too_small(frame: av.VideoFrame) -> bool:
    """Whether bwdif refuses `frame` for its size (`MIN_PLANE`, its chroma planes too)."""
    fmt = frame.format
    return (min(frame.width, fmt.chroma_width(frame.width)) < MIN_PLANE[0]
            or min(frame.height, fmt.chroma_height(frame.height)) < MIN_PLANE[1])


def drops_pulldown(rate: Fraction | None) -> bool:
    """Whether `film` drops 3:2 pulldown's repeated frames at this frame rate (None: unknown, as
    if it were 29.97): only at the rates pulldown makes (`TELECINE_RATES`)."""
    return rate is None or any(abs(rate - r) < Fraction(1, 100) for r in TELECINE_RATES)


def film_rate(rate: Fraction | None) -> Fraction | None:
    """The frame rate of `film`'s frames from a stream at `rate`: 4 in every 5 where it drops
    pulldown's repeats (24000/1001 from 30000/1001; video parts kept whole run faster), else the same."""
    return rate * Fraction(4, 5) if rate is not None and drops_pulldown(rate) else rate


class Deinterlacer:
    """Video frames in display order in, the same frames deinterlaced out, in order, each with its
    own timestamp, duration and time base (bwdif halves the time base: the times are put back).

    The filter holds one frame (it looks at the next), so a frame comes out one `push` late and
    `flush` gives the last. A new picture size or pixel format starts a new filter after the old
    one is drained. Should FFmpeg refuse a frame, the frames still inside come out as they were and
    the rest of the clip is not deinterlaced (said once): no frame is ever lost to this stage.
    Pictures too small for bwdif (`too_small`) pass as they are, said once, without that refusal
    ending the deinterlacing of larger pictures after them.

    `film` gives fewer frames than it takes, each timed between the input frames it falls between
    (`_film_times`); every frame goes in, whatever its flag: hard-telecined pictures are often
    stored progressive, and frames that already are film (soft telecine: MPEG-2's repeat-field
    flags, decoded as film frames) come out as they went in."""

    def __init__(self, mode: str, name: str, hint: str = OFF_HINT, rate: Fraction | None = None) -> None:
        """`hint`: the interlace note's last words, what the caller offers instead (`live` has no
        --deinterlace option, so it must not point at one); `rate`: the stream's frame rate (None:
        unknown), which tells `film` whether to drop pulldown's repeated frames (`TELECINE_RATES`)."""
        self.mode = check_mode(mode)
        self._chain = CHAINS.get(self.mode, ())  # (off: none)
        # `film` off pulldown's rates: no decimate, and the durations of the first frames, for its note
        self._paces: list[Fraction] | None = None
        if self.mode == "film" and not drops_pulldown(rate):
            self._chain = tuple(link for link in self._chain if link[0] != "decimate")
            self._paces = []
        self.rate = rate
        self.name = name  # the file's, for the notes
        self.hint = hint
        self._graph: Chain | None = None
        self._shape: tuple[int, int, str] | None = None
        self._inside: deque[av.VideoFrame] = deque()  # frames pushed and not yet out, as they came in
        self._failed = mode == "off"
        self._telecine = TelecineCheck(name) if mode == "auto" else None
        # `film`: frames pushed into this filter; (pts, duration, time base) by frame number, from
        # the latest frame out's on (`_film_times`); frames in and out of the whole clip (for its note).
        self._clock = 0
        self._times: dict[int, tuple[int | None, int, Fraction | None]] = {}
        self._counts = [0, 0]  # (in, out)

    def push(self, frame: av.VideoFrame) -> Iterator[av.VideoFrame]:
        """The frames ready after `frame` (none, one, or after a size change several)."""
        if self._failed or (self._graph is None and self.mode == "auto" and not frame.interlaced_frame):
            yield frame
            return
        if self._graph is not None and _shape(frame) != self._shape:
            yield from self.flush()
        if self._graph is None and too_small(frame):  # passed as it is; a larger picture later is deinterlaced again
            note(f"{self.name}: {frame.width}x{frame.height} pictures ({frame.format.name}) are too small for "
                 f"FFmpeg's {self._chain[0][0]} ({MIN_PLANE[0]} columns and {MIN_PLANE[1]} lines in every "
                 "plane); they are stylized as they are", once=True)
            yield frame
            return
        if self._paces is not None:
            self._pace_note(frame)
        self._inside.append(frame)  # before anything can fail: given back as it is if it does
        try:
            if self._graph is None:  # (once a picture size: not per frame)
                if self.mode == "auto":
                    note(f"{self.name}: the video is interlaced; its frames are deinterlaced (bwdif, one picture "
                         f"per frame){'; ' + self.hint if self.hint else ''}", once=True)
                self._graph, self._shape = self._build(frame), _shape(frame)
            if self._telecine is not None:
                self._telecine.push(frame)
            if self.mode == "film":
                self._push_numbered(frame)
            else:
                self._graph[1].push(frame)
            yield from self._pull()
        except av.error.FFmpegError as exc:
            yield from self._give_up(exc)

    def flush(self) -> Iterator[av.VideoFrame]:
        """The frames still inside the filter; the next `push` starts a new one."""
        if self._paces is not None:
            self._pace_note(None)
        if self._graph is None:
            return
        try:
            self._graph[1].push(None)
            yield from self._pull()
            if self.mode == "film":  # every frame is in the pictures that came out, fewer than went in
                self._inside.clear()
            if self.mode == "film" and self._chain == CHAINS["film"]:
                note(f"{self.name}: inverse telecine (fieldmatch, decimate): {self._counts[0]} frames in, "
                     f"{self._counts[1]} film frames out, on the same timeline", once=True)
        except av.error.FFmpegError as exc:
            yield from self._give_up(exc)
        yield from self._release()

    def _pace_note(self, frame: av.VideoFrame | None) -> None:
        """Why `film` drops nothing here, once `PACE_SAMPLE` frames (or all, at the end: `frame`
        None) tell film's own frames from fields woven at another rate (PAL's 25)."""
        if frame is not None and frame.duration and frame.time_base:
            self._paces.append(frame.duration * frame.time_base)
        if frame is not None and len(self._paces) < PACE_SAMPLE:
            return
        paces, self._paces = self._paces, None
        if paces and abs(sum(paces) / len(paces) - FILM_PACE) < FILM_PACE / 100:
            note(f"{self.name}: --deinterlace film: the frames are film's own already (one each 1001/24000 s: "
                 "soft telecine, whose repeat-field flags the decoder reads, or progressive film), so no frame is "
                 "dropped here; they are passed as they are", once=True)
        else:
            note(f"{self.name}: --deinterlace film at {float(self.rate):.4g} fps: 3:2 pulldown makes 29.97 fps from film, so "
                 "no frame is dropped here; only the fields are paired back up (fieldmatch)", once=True)

    def _build(self, frame: av.VideoFrame) -> Chain:
        if self.mode == "film":
            self._clock = 0
            self._times.clear()
        return build_chain(frame, self._chain, numbered=self.mode == "film")

    def _push_numbered(self, frame: av.VideoFrame) -> None:
        """`frame` into the `film` filter as frame number `_clock` (its own times kept aside and
        put back on it: the filter keeps a copy of them, the caller's frame stays as it was)."""
        pts, duration, time_base = frame.pts, frame.duration, frame.time_base
        self._times[self._clock] = pts, duration, time_base
        # One frame lasts one tick of the clock: its duration in the input's ticks came out of
        # fieldmatch alone (no decimate: 25 fps) as that many frames (a 1 s clip's last frame 144 s).
        frame.pts, frame.duration, frame.time_base = self._clock, 1, FRAME_CLOCK
        try:
            self._graph[1].push(frame)
        finally:
            frame.pts, frame.duration = pts, duration
            if time_base is not None:
                frame.time_base = time_base
        self._clock += 1
        self._counts[0] += 1

    def _film_times(self, picture: av.VideoFrame) -> tuple[int | None, int, Fraction | None, Fraction]:
        """(pts, duration, time base) on the input's timeline for a picture out of the `film`
        filter, and where it falls in frame numbers: decimate times 4 frames out over the 5 in
        (1.25 apart), so a picture at 2.5 starts halfway between frames 2 and 3. One input frame
        lasts until the next starts (its own duration for the last, or across a jump in time)."""
        at = Fraction(picture.pts or 0) * picture.time_base / FRAME_CLOCK
        number = min(max(int(at), 0), max(self._times))  # (a number whose times were kept)
        pts, duration, time_base = self._times[number]
        following = self._times.get(number + 1, (None,))[0]
        step = following - pts if pts is not None and following is not None and following > pts else duration
        for old in [n for n in self._times if n < number]:  # (the next picture falls later)
            del self._times[old]
        if not step:  # (no time to share out: a frame made from an array)
            return pts, duration, time_base, at
        length = Fraction(picture.duration or 0) * picture.time_base / FRAME_CLOCK or Fraction(1)
        start = None if pts is None else pts + round((at - number) * step)
        return start, max(1, round(length * step)), time_base, at

    def _pull(self) -> Iterator[av.VideoFrame]:
        while self._inside or self.mode == "film":  # (film: a picture out stands for several in)
            try:
                picture = self._graph[2].pull()
            except (av.error.BlockingIOError, av.error.EOFError):
                return
            if self.mode == "film":
                pts, duration, time_base, at = self._film_times(picture)
                self._counts[1] += 1
                while self._inside and self._clock - len(self._inside) <= at:  # (what is given back on failure)
                    self._inside.popleft()
            else:
                original = self._inside.popleft()
                pts, duration, time_base = original.pts, original.duration, original.time_base
            picture.pts, picture.duration = pts, duration
            if time_base is not None:  # (a frame made from an array has none)
                picture.time_base = time_base
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
                 hint: str = OFF_HINT, rate: Fraction | None = None) -> Iterator[av.VideoFrame | av.Packet]:
    """`items` (decoded frames in display order and pass-through packets), with the frames
    deinterlaced as `mode` says (`Deinterlacer`, `hint` for its note, `rate` the stream's frame
    rate); packets pass at once."""
    deinterlacer = Deinterlacer(mode, name, hint, rate)
    for item in items:
        if isinstance(item, av.VideoFrame):
            yield from deinterlacer.push(item)
        else:
            yield item
    yield from deinterlacer.flush()
