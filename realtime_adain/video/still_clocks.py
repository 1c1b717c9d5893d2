"""Whether a seek can be trusted where a file's clock stands still: a file whose pictures or sound
stand still from its start (`clock_stands_still`), and a seek that would land in sound whose clock
stands still (`lands_in_still_sound`); such a file is read from its start, where `SoundClock` and
`StuckClock` place those packets."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Iterable

import av

from realtime_adain.video.clocks import STILL_HELD, STILL_PICTURES, first_times, packet_time
from realtime_adain.video.opening import open_input
from realtime_adain.video.sequence import ffmpeg_name
from realtime_adain.video.timestamps import STEP_BACK

def clock_stands_still(container: av.container.InputContainer, streams: Iterable[av.stream.Stream]) -> bool:
    """Whether one of `streams` (pictures or sound) has its first `STILL_PICTURES` packets at one
    decode time (`container` read from its start): an index of such times seeks anywhere (an MP4's
    pictures all at one time; its sound all at one time: a seek left one packet of it)."""
    return any(len(times) == STILL_PICTURES and None not in times and len(set(times)) == 1
               for times in first_times(container, streams, STILL_PICTURES).values())


def lands_in_still_sound(path: Path, video: int, sound: Iterable[int], timestamp: int, limit: int = 8 << 20) -> bool:
    """Whether a seek of `path`'s video stream (index `video`) to `timestamp` (its ticks, backward,
    as `seeking.seek_to_segment` seeks) lands one of the `sound` streams in a stretch whose clock stands
    still: an MP4's index puts every sound sample after the freeze at the time it froze, so the
    seek gave the sound only the last of them, ended long before the pictures it landed at (the
    rest was dropped as before --start: the output had no sound). Told where a sound stream's
    first packet there ends more than `STEP_BACK` before the first picture, and `STILL_PICTURES`
    packets in a row stand at its time (sound that ended early does not). Such a file is read
    from its start, where `SoundClock` places those packets."""
    try:
        with open_input(ffmpeg_name(path)) as probe:
            picture = probe.streams[video]
            probe.seek(timestamp, backward=True, stream=picture)
            landed = _first_packets(probe, [picture, *(probe.streams[i] for i in sound)], limit)
            first = landed.pop(video, None)
            if first is None:
                return False
            pictures_at = packet_time(first) * Fraction(first.time_base)
            behind = [(index, packet_time(packet)) for index, packet in landed.items()
                      if _ends(packet) < pictures_at - STEP_BACK]
            return any(_stands_still_at(probe, probe.streams[index], at) for index, at in behind)
    except (av.error.FFmpegError, IndexError):
        return False


def _first_packets(container: av.container.InputContainer, streams: list[av.stream.Stream],
                  limit: int) -> dict[int, av.Packet]:
    """Stream index -> the first timed packet with data of each of `streams`, read from where
    `container` is, at most `limit` bytes."""
    found: dict[int, av.Packet] = {}
    read = 0
    for packet in container.demux(*streams):
        read += packet.size
        if packet.size and packet.stream.index not in found and packet_time(packet) is not None and packet.time_base:
            found[packet.stream.index] = packet
            if len(found) == len(streams):
                break
        if read > limit:
            break
    return found


def _stands_still_at(container: av.container.InputContainer, stream: av.stream.Stream, at: int) -> bool:
    """Whether `STILL_PICTURES` packets of `stream` in a row stand at decode time `at` (its ticks),
    read from the packet before them (`STILL_HELD` packets at most)."""
    container.seek(at - 1, backward=True, stream=stream)
    run = 0
    for count, packet in enumerate(container.demux(stream)):
        time = packet_time(packet)
        if count > STILL_HELD or (time is not None and time > at):
            return False
        if packet.size:
            run = run + 1 if time == at else 0
            if run >= STILL_PICTURES:
                return True
    return False


def _ends(packet: av.Packet) -> Fraction:
    """Where a (timed) packet stops playing (s)."""
    return (packet_time(packet) + (packet.duration or 0)) * Fraction(packet.time_base)
