"""Times a file stores wrong or not at all, repaired before `TimestampShift` moves them onto one
timeline (the file's own timeline, in each stream's ticks): what the repairs share.

`sound_clock.SoundClock` times sound whose packets carry no times, or whose clock stands still, by
their lengths; `stuck_clock.StuckClock` places pictures whose clock stands still (an FLV's tags all
at 0, an MP4's `stts` all zero, a recorder frozen mid-file) at the stated rate, or within the time up
to the next picture (a muxer's repeats); `cluster_times.ClusterTimes` puts back a Matroska cluster
whose damaged timestamp sent it back among earlier ones, `cluster_times.ClustersAtOneTime` places
one after another the clusters of a Matroska whose clusters all carry one timestamp. FFmpeg takes
all of these as they are (its CLI keeps 3 of 50 pictures at one time). `slot_times.SlotTimes` times
an AVI's H.264 pictures, and any its decoder holds, by their slots, with the sound; `still_clocks` tells a seek that its index
cannot place a clock that stands still.

Here: the run of packets at one time that tells a clock standing still (`STILL_PICTURES`), a packet's
time, the first times of a file's streams, the rate a stream states, a discarded packet's copy, and
`SeekedIntoStill`.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Iterable

import av

# Pictures at one decode time at the start of a file that tell a clock standing still (`StuckClock`),
# and the most packets held at its start to tell it.
STILL_PICTURES = 3
STILL_HELD = 1024
# The slowest stated frame rate taken to time pictures whose clock stands still (a slide a second).
SLOWEST_STATED = 1


def undiscarded(packet: av.Packet) -> av.Packet:
    """A copy of `packet` without its discard flag (its data, times and keyframe flag)."""
    copy = av.Packet(bytes(packet))
    copy.stream, copy.time_base = packet.stream, packet.time_base
    copy.pts, copy.dts, copy.duration = packet.pts, packet.dts, packet.duration
    copy.is_keyframe = packet.is_keyframe
    return copy


class SeekedIntoStill(Exception):
    """The pictures or the sound stand still where a seek landed: where they belong is told only
    by those before them (the file is read again from its start)."""


def first_times(container: av.container.InputContainer, streams: Iterable[av.stream.Stream], count: int,
                limit: int = 8 << 20) -> dict[int, list[int | None]]:
    """Stream index -> the decode times (else presentation; None: none stored) of the first `count`
    packets with data of each of `streams`, `container` read from its start, at most `limit` bytes."""
    streams = list(streams)
    times: dict[int, list[int | None]] = {s.index: [] for s in streams}
    waiting, read = set(times), 0
    for packet in container.demux(*streams) if waiting else ():
        read += packet.size
        got = times.get(packet.stream.index)
        if packet.size and got is not None and len(got) < count:
            got.append(packet_time(packet))
            if len(got) == count:
                waiting.discard(packet.stream.index)
        if not waiting or read > limit:
            break
    return times


def packet_time(packet: av.Packet) -> int | None:
    """A packet's decode time, else its presentation time (None: neither stored)."""
    return packet.dts if packet.dts is not None else packet.pts


def stated_rate(stream: av.stream.Stream) -> Fraction | None:
    """The first rate `stream` states that can time pictures (its average: an FLV's onMetaData,
    an MP4's frames over its duration, a Matroska track's default duration; else its codec's):
    at least `SLOWEST_STATED`, and under one frame a tick (an FLV's onMetaData may say -25 or
    1000 fps, FFmpeg's most, one frame a tick of 1 ms or less: 50 pictures within 50 ms; or
    0.001 fps, 2 s of sound under 13.6 hours of pictures)."""
    tick = Fraction(stream.time_base) if stream.time_base else None
    return next((Fraction(rate) for rate in (stream.average_rate, stream.codec_context.framerate)
                 if rate and rate >= SLOWEST_STATED and (tick is None or rate * tick < 1)), None)
