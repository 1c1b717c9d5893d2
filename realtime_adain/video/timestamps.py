"""Input timestamps moved onto one timeline that starts at zero, as the FFmpeg CLI moves them.

Files rarely start at zero: MPEG-TS and program streams start at about 1.4 s (the muxer's delay),
broadcast and HLS captures at any hour, a cut Matroska file where it was cut. Copied as they are,
the output began with that much nothing (an MP4 "empty edit": 11 s of black before a 1 s clip).
And stream formats that allow it (MPEG-TS, MPEG-PS: FFmpeg's TS_DISCONT flag) jump: segments
concatenated from a playlist each carry their own clock, and a jump back reads as a 33-bit wrap,
so the muxer was asked for a 26-hour gap, or refused the packets. `TimestampShift` does what
`ffmpeg -i in out` does by default: subtract the file's start time from every stream, and in such
formats treat a jump of more than `JUMP_SECONDS` from where an audio or video stream was heading,
or back by more than `STEP_BACK`, as a splice, continuing from there. Streams keep their time
bases; every stream moves by the same amount, so sound stays in sync. A `Segment` (--start,
--duration, `segment.py`) then keeps a part of that timeline and moves it to zero, every stream alike.
Times a file stores wrong or not at all (sound without times, clocks that stand still, a damaged
Matroska cluster) are repaired before the shift (`clocks.py` and the modules it names).
"""

from __future__ import annotations

import math
from fractions import Fraction

import av

from realtime_adain.notes import note

# FFmpeg's -dts_delta_threshold: a decode timestamp this far from the predicted one is a splice;
# so is one that goes back by more than STEP_BACK (joined segments that each start near 1.4 s).
JUMP_SECONDS = 10
STEP_BACK = Fraction(1, 10)
# Streams whose timestamps tell a splice (as in FFmpeg): subtitles may be minutes apart.
SPLICED_TYPES = ("audio", "video")
MICROSECONDS = Fraction(1, 1_000_000)  # AV_TIME_BASE: container.start_time's unit


class Heading:
    """Where a stream was heading, in ticks of its time base `time_base` on the timeline of
    `offset` (one version of `TimestampShift.offset`, of splice `segment`): kept in ticks so that
    packets between splices are checked in integers (Fractions per packet were most of a read that
    decodes nothing)."""

    __slots__ = ("next", "last", "offset", "version", "segment", "time_base")

    def __init__(self, next_: int, last: int, offset: Fraction, version: int, segment: int,
                 time_base: Fraction) -> None:
        self.next, self.last, self.offset, self.version = next_, last, offset, version
        self.segment, self.time_base = segment, time_base

    def seconds(self, ticks: int) -> Fraction:
        return ticks * self.time_base + self.offset


class TimestampShift:
    """Shifts every packet's timestamps in place (`apply`), before decoding or copying.

    Splices are found on one stream at a time, and a muxer interleaves by its own clock: in `cat
    a.ts a.ts` the second file's sound came before the first file's last pictures (and its KLV
    among them). So each stream keeps the offset of the segment it is reading until its own
    packets leave it (`_still_before`); moved by the newest offset, the first file's last pictures
    went 3 s ahead, and the second file's first ones then read as another splice (video 9 s
    long instead of 6, with a 3 s hole, as the FFmpeg 5 CLI also gives)."""

    def __init__(self, container: av.container.InputContainer, name: str) -> None:
        self.name = name  # the file's, for the note
        # (and FLV, whose demuxer does not say so: a live stream recorded across a reconnect starts
        # its clock again, and the pictures after it were shown among those before, 50 in 1.2 s)
        self.splices = (bool(container.format.flags & av.format.Flags.ts_discont.value)
                        or container.format.name == "flv")
        self.offset = -Fraction(container.start_time or 0) * MICROSECONDS  # seconds added to every time
        self.start_offset = self.offset  # before any splice: what moves the file's own start (chapters, duration)
        self.version = 0  # counts the changes of `offset`
        self.segment = 0  # counts the splices: `offset` belongs to this one
        self._offsets: dict[int, Fraction] = {0: self.offset}  # segment -> its offset (the latest, once it ended)
        self._heading: dict[int, Heading] = {}  # audio or video stream index -> where its next dts is expected
        # another stream's index -> (the segment its latest packet was in, that packet's decode time,
        # the offset that placed it: its segment's may move since, `_move`)
        self._sparse: dict[int, tuple[int, int, Fraction]] = {}
        # stream index -> where its latest picture stops showing: (ticks, on the timeline of this offset, its version)
        self._shown: dict[int, tuple[int, Fraction, int]] = {}
        self._limits: dict[int, tuple[int, int]] = {}  # stream index -> (`_within` JUMP_SECONDS, STEP_BACK)
        self._shifts: dict[int, int] = {}  # stream index -> `offset` in its time base's ticks (this version)
        self.jumps = 0  # splices found (a stream each: audio and video may jump at different packets)
        self._guessed = False  # whether the current segment was begun by a data stream, no sound or picture in it yet
        # (stream index, its heading, the offset and segment) before the latest splice, while that
        # splice is one packet old (`_lone_jump`)
        self._before_splice: tuple[int, Heading, Fraction, int] | None = None

    def note_jumps(self) -> None:
        """Say that the timeline was joined across splices (once, when the whole file was read)."""
        if self.jumps:
            note(f"{self.name}: the timestamps jump (segments joined together); "
                 "the timeline continues across them, as FFmpeg does in MPEG-TS and MPEG-PS")

    def ticks(self, time_base: Fraction) -> int:
        """The current offset in ticks of `time_base`."""
        return round(self.offset / time_base)

    def start_ticks(self, time_base: Fraction) -> int:
        """The offset before any splice in ticks of `time_base`: where the file's start went."""
        return round(self.start_offset / time_base)

    def _within(self, index: int, tb: Fraction) -> tuple[int, int]:
        """The most whole ticks of stream `index`'s time base `tb` that `JUMP_SECONDS` and
        `STEP_BACK` hold: a difference of d ticks exceeds one exactly when d exceeds its count.
        (Kept per stream: hashing a Fraction costs more than the check.)"""
        limits = self._limits.get(index)
        if limits is None:
            limits = self._limits[index] = (math.floor(JUMP_SECONDS / tb), math.floor(STEP_BACK / tb))
        return limits

    def _move(self, by: Fraction, splice: bool = False) -> None:
        """Move the current segment's offset by `by` seconds, or (`splice`) begin a new segment there."""
        if splice:
            self.segment += 1
            self.jumps += 1
            # (only the segments a stream is still reading are kept: a file can splice at every packet)
            reading = {h.segment for h in self._heading.values()} | {s[0] for s in self._sparse.values()}
            self._offsets = {n: o for n, o in self._offsets.items() if n in reading}
        self.offset += by
        self._offsets[self.segment] = self.offset
        self.version += 1
        self._shifts = {}

    def _after_shown(self, packet: av.Packet, tb: Fraction) -> None:
        """Move the timeline on, after a splice, so that `packet` (the new segment's first) is shown
        no earlier than the segment before it stops showing. Continuing decode times alone gives
        the new segment the old one's reorder delay: 25 fps joined to 50 fps with B-frames put the
        first 50 fps picture at the last 25 fps one's time (two frames at one time: the muxer
        moved one a tick, and `ffmpeg -i out.mp4` then said "non monotonically increasing dts")."""
        shown = self._shown.get(packet.stream.index)
        if packet.pts is not None and shown is not None:
            until = shown[0] * tb + shown[1]
            if packet.pts * tb + self.offset < until:
                self._move(until - (packet.pts * tb + self.offset))

    def _jumped(self, heading: Heading, at: int, has_dts: bool, tb: Fraction, limits: tuple[int, int],
                offset: Fraction | None = None) -> bool:
        """As FFmpeg: far from where the stream was heading, or back by more than a tenth of a
        second (a decode time: pts alone may reorder); moved by `offset` (None: the current one)."""
        if offset is None and heading.version == self.version:  # (the same timeline: in ticks)
            jump, back = limits
            return abs(at - heading.next) > jump or (has_dts and heading.last - at > back)
        now = at * tb + (self.offset if offset is None else offset)
        return (abs(now - heading.seconds(heading.next)) > JUMP_SECONDS
                or (has_dts and now + STEP_BACK < heading.seconds(heading.last)))

    def _still_before(self, packet: av.Packet, at: int, tb: Fraction, segment: int,
                      heading: Heading | None, limits: tuple[int, int]) -> bool:
        """Whether `packet` (decode time `at`) belongs to `segment`, one its stream was reading
        before the latest splice (found on another stream, or this one a packet ago): sound and
        pictures go on from where their stream was heading there; other packets (subtitles, data:
        seconds or minutes apart) are placed where they land nearer the sound and pictures read
        last, as muxers interleave them, and no further from them than `JUMP_SECONDS` (a KLV
        packet at a random time, nearer there than on the newest offset, went 22 hours on)."""
        before = self._offsets[segment]
        if heading is not None:
            return not self._jumped(heading, at, packet.dts is not None, tb, limits, before)
        if not self._heading:
            return False
        now, there = at * tb, self._there()
        return abs(now + before - there) < min(abs(now + self.offset - there), JUMP_SECONDS)

    def _lone_jump(self, packet: av.Packet, dts: int, tb: Fraction, limits: tuple[int, int]) -> None:
        """Undo the splice the packet before `packet` (of its stream) began, where `packet` goes on
        from before it and no other stream has reached the new segment: that one timestamp was
        damaged (it was placed where its stream was heading, which is right). One PTS 0.8 s back
        in a TS moved every picture after it 0.88 s past its sound, for good (FFmpeg moves all
        streams: a gap in each)."""
        index, heading, offset, segment = self._before_splice
        self._before_splice = None
        if (self._jumped(heading, dts, packet.dts is not None, tb, limits, offset)
                or any(h.segment == self.segment for i, h in self._heading.items() if i != index)
                or any(s[0] == self.segment for s in self._sparse.values())):
            return
        self._offsets.pop(self.segment, None)
        self.segment, self.jumps = segment, self.jumps - 1
        self._move(offset - self.offset)
        self._heading[index] = heading

    def _there(self) -> Fraction:
        """Where the sound and pictures read last are (seconds: the latest of their decode times)."""
        return max(h.seconds(h.last) for h in self._heading.values())

    def _joined(self, heading: Heading, at: int, packet: av.Packet, tb: Fraction, limits: tuple[int, int]) -> int | None:
        """The segment, begun since this sound or picture stream's own (`heading`'s) and before the
        newest, that another sound or picture stream is reading and that its packet at `at` goes
        on in without a jump (None: none): the second file's sound began it, then a KLV packet at
        a random time began the newest; the pictures went on that one's offset, 27 ms off the
        sound at every join."""
        reading = {h.segment for h in self._heading.values()} - {heading.segment, self.segment}
        for segment in sorted(reading, reverse=True):
            if not self._jumped(heading, at, packet.dts is not None, tb, limits, self._offsets[segment]):
                return segment
        return None

    def _reached(self, at: Fraction | None = None) -> Fraction:
        """The furthest the timeline was read to: `at` (seconds), or where a sound or picture
        stream was heading."""
        return max([*([] if at is None else [at]), *(h.seconds(h.next) for h in self._heading.values())])

    def _sparse_jumped(self, sparse: tuple[int, int, Fraction] | None, at: int, tb: Fraction, limits: tuple[int, int],
                       leaving: bool = False) -> bool:
        """Whether a packet of a stream that is not sound or pictures (KLV, ID3, subtitles: they
        may be minutes apart, but go forward), read while sound and pictures are, at decode time
        `at`, begins a new segment: back by more than STEP_BACK from its stream's latest packet
        (`sparse`: its segment and decode time), or more than JUMP_SECONDS ahead of where sound
        and pictures are heading (a file joined to one that starts 26 hours later, at a 33-bit
        wrap's end, put its first KLV packet 26 hours on). One `leaving` an older segment (that it
        does not fit, `_still_before`) begins one where the newest offset puts it more than
        JUMP_SECONDS from the sound and pictures, either way (random times put KLV hours away)."""
        if not self._heading:
            return False
        if leaving:
            return abs(at * tb + self.offset - self._there()) > JUMP_SECONDS
        if sparse is not None and sparse[1] - at > limits[1]:
            return True
        return at * tb + self.offset - self._reached() > JUMP_SECONDS

    def apply(self, packet: av.Packet) -> None:
        index = packet.stream.index
        shift = self._shifts.get(index)
        if shift is None or self.splices:  # (a file that cannot splice: one look-up a packet, no Fraction)
            time_base = packet.time_base
            if not time_base:
                return
            tb = time_base if isinstance(time_base, Fraction) else Fraction(time_base)
            older = self._follow(packet, index, tb) if self.splices else None
            if older is not None:
                shift = round(older / tb)
            else:
                shift = self._shifts.get(index)
                if shift is None:
                    shift = self._shifts[index] = self.ticks(tb)
        if shift:
            if packet.dts is not None:
                packet.dts += shift
            if packet.pts is not None:
                packet.pts += shift

    def _follow(self, packet: av.Packet, index: int, tb: Fraction) -> Fraction | None:
        """Find splices at `packet` (a stream whose format allows them); returns the offset of the
        segment before the latest splice where `packet` is still in it (None: the current one)."""
        limits = self._within(index, tb)
        if packet.pts is not None and packet.dts is not None and abs(packet.pts - packet.dts) > limits[0]:
            # MPEG-PS gives a segment's last packet the next segment's clock as its pts: keep its dts only.
            packet.pts = None if packet.stream.type == "video" else packet.dts
        dts = packet.dts if packet.dts is not None else packet.pts
        if dts is None:
            return None
        spliced = packet.stream.type in SPLICED_TYPES
        if spliced and self._before_splice is not None and self._before_splice[0] == index:
            self._lone_jump(packet, dts, tb, limits)
        heading = self._heading.get(index) if spliced else None
        sparse = None if spliced else self._sparse.get(index)
        segment = heading.segment if heading is not None else sparse[0] if sparse is not None else self.segment
        if spliced and heading is None:
            # A sound or picture stream's first packet, read after a data stream began a segment
            # (KLV at random times): placed as data is, nearer the others' segment or the newest
            # one; it went on the KLV's offset, 7 hours from the sound.
            reading = {h.segment for h in self._heading.values()} - {self.segment}
            segment = max(reading, default=self.segment)
        older = None
        if segment != self.segment and self._still_before(packet, dts, tb, segment, heading, limits):
            older = self._offsets[segment]
        elif heading is not None and segment != self.segment and (between := self._joined(heading, dts, packet, tb,
                                                                                            limits)) is not None:
            segment, older = between, self._offsets[between]
        elif not spliced and self._sparse_jumped(sparse, dts, tb, limits, leaving=segment != self.segment):
            # The next segment's first packet, before its sound and pictures (a second file without
            # sound, whose KLV comes first): it goes on from the furthest point read; so do they,
            # as each of them reaches the new segment.
            self._move(self._reached(sparse[1] * tb + sparse[2] if sparse else None) - (dts * tb + self.offset),
                       splice=True)
            self._guessed = True
        entering = older is None and heading is not None and heading.segment != self.segment
        segment = segment if older is not None else self.segment
        if not spliced:
            self._sparse[index] = (segment, dts, self.offset if older is None else older)
            return older
        jumped = older is None and heading is not None and self._jumped(heading, dts, packet.dts is not None, tb,
                                                                        limits)
        if jumped and entering and self._guessed:
            # The first sound or picture of a segment a data stream began, and far from where it
            # was heading: the segment goes on from there (the data's packets placed so far were
            # ahead of it), rather than a splice of its own a packet later.
            self._move(heading.seconds(heading.next) - (dts * tb + self.offset))
        elif jumped:
            # Continue where the stream was heading; the other streams jump with it as they reach
            # the new segment, and with the new offset their packets land where they were heading too.
            self._before_splice = (index, heading, self.offset, self.segment)
            self._move(heading.seconds(heading.next) - (dts * tb + self.offset), splice=True)
        if older is None:
            self._guessed = False
            segment = self.segment
        offset = self.offset if older is None else older
        version = self.version if older is None else -1  # (-1: compared in seconds)
        self._heading[index] = Heading(dts + (packet.duration or 0), dts, offset, version, segment, tb)
        if jumped:
            self._after_shown(packet, tb)
            offset, version = self.offset, self.version
            self._heading[index].offset, self._heading[index].version = offset, version
        if packet.pts is not None:
            shown = packet.pts + (packet.duration or 0)
            before = self._shown.get(index)
            if before is None or (before[0] < shown if before[2] == version >= 0
                                  else before[0] * tb + before[1] < shown * tb + offset):
                self._shown[index] = (shown, offset, version)
        return older
