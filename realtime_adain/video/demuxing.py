"""The packets the video reader demuxes: the video's and the carried streams', read on where the
demuxer stumbles (bytes that hold no packets skipped, data it cannot read ending the file), an
image sequence cut at its first gap; and, past a preview's or segment's last picture, the sound
stored after later pictures read on for."""

from __future__ import annotations

from typing import Iterator

import av

from realtime_adain.notes import note
from realtime_adain.video.held_packets import HeldPackets
from realtime_adain.video.packets import flush_packet, within_run
from realtime_adain.video.probing import error_reason
from realtime_adain.video.segment import Segment
from realtime_adain.video.sequence import Sequence
from realtime_adain.video.timestamps import TimestampShift

# Packets of the other streams held until the video reaches them (`HeldPackets`), at most this
# many bytes in a whole run: a file whose sound is stored far ahead of its pictures lets the
# oldest go early (a --frames preview holds them all: what starts after its end is dropped).
HELD_BYTES = 32 << 20
# Packets of the other streams read one after another go on together, as a list (a run) of at
# most this many as read (those a frame lets go of, as one): a GoPro's telemetry is a million
# packets of a few bytes, and a step through each generator for each was most of a read over it.
RUN_PACKETS = 256
# How far past a preview's or segment's end (in video packets' decode time, seconds; and at most
# `HELD_BYTES` read) the file is read on for the sound of its last pictures, which a muxer may
# store after later pictures (MPEG-PS: 0.7 s later; `stored_later`).
LATE_SOUND_SECONDS = 10


def demuxed(container: av.container.InputContainer, stream: av.video.stream.VideoStream,
            passthrough: list[av.stream.Stream], sequence: Sequence | None, name: str) -> Iterator[av.Packet]:
    """The packets of the video and pass-through streams (PyAV's demux, with its empty packet
    per stream at the end, which flushes the decoder). A stream that appears mid-file (MPEG-TS:
    a new PID in a damaged program table) made PyAV's end-of-file loop fail with an IndexError
    (a traceback, the output lost) after the flush packets of the streams asked for: that ends
    the file as it would have ended. An image sequence ends at the first missing number: its
    demuxer would fail on the gap (`within_run`). Data the
    demuxer cannot read (InvalidDataError) or does not implement (PatchWelcomeError) ends the
    file too, as FFmpeg's tools end it there and keep what came before, with a note: an SMJPEG's
    end tag, a recording's garbled tail, a chained Ogg's second part (a file cut short of its
    declared frames is still refused, see `items`)."""
    packets = container.demux([stream, *passthrough])
    if sequence:
        packets = within_run(packets, stream, sequence.run)
    last: av.Packet | None = None
    while True:
        try:
            packet = next(packets)
        except (StopIteration, IndexError):  # (only PyAV's code runs inside `next`)
            return
        except av.error.BlockingIOError:
            if sequence:
                raise
            # MPEG-TS: 64 KB without a sync byte (a stretch of zeros: a disk's hole, a capture's
            # lost signal) is EAGAIN, said as threads FFmpeg could not start; FFmpeg's tools read
            # on from there. Each costs 64 KB of the file: bounded by its size.
            note(f"{name}: bytes that hold no packets were skipped, as FFmpeg skips them", once=True)
            packets = container.demux([stream, *passthrough])
            continue
        except (av.error.InvalidDataError, av.error.PatchWelcomeError) as exc:
            at = (f" at {float(last.pts * last.time_base):.2f} s" if last is not None and last.pts is not None
                  and last.time_base else "")
            note(f"{name}: data it cannot read ends the file{at} ({error_reason(exc)}); the pictures "
                 "and sound before it are kept, as FFmpeg keeps them", once=True)
            yield flush_packet(stream)
            return
        last = packet if packet.size else last
        yield packet


def stored_later(source: Iterator[av.Packet], stream: av.video.stream.VideoStream, passthrough: list[av.stream.Stream],
                 shift: TimestampShift, held: HeldPackets, segment: Segment, end: int) -> Iterator[av.Packet]:
    """Read on past the last picture kept (which stops showing at `end`, video ticks on the
    file's timeline) for the sound that plays under it but is stored after later pictures, into
    `held`; gives what `held` lets go early (over its limit), moved onto the segment's timeline.
    An MPEG-PS stores its MP2 sound 0.7 s after the pictures: `--frames 13` (0.44 s) kept 0.12 s
    of it. Stops once every sound stream has a packet from `end` on, or the video's packets
    are `LATE_SOUND_SECONDS` past it (the sound ended early), or `HELD_BYTES` were read; video
    packets are not decoded."""
    end_seconds = end * stream.time_base
    waiting = {s.index for s in passthrough if s.type == "audio"}
    if not waiting:
        return
    read = 0
    for packet in source:
        read += packet.size
        if read > HELD_BYTES:
            return
        shift.apply(packet)
        at = packet.pts if packet.pts is not None else packet.dts
        if at is None or not packet.time_base or not packet.size:
            continue
        if packet.stream is stream:
            if (packet.dts if packet.dts is not None else at) * packet.time_base > end_seconds + LATE_SOUND_SECONDS:
                return
            continue
        if at * packet.time_base >= end_seconds:
            waiting.discard(packet.stream.index)
            if not waiting:
                return
            continue
        if not packet.is_discard:
            yield from segment.packets(held.add(packet))
