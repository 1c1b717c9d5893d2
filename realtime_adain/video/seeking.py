"""Where the video reader starts reading a segment (`--start`): the keyframe before it, sought as
`ffmpeg -ss` before `-i` seeks, where the file's index can be trusted (by byte position in a long
MPEG-TS or MPEG-PS whose timeline runs on without a jump up to there); `SeekMissed` sends the
reader back to read the file from its beginning."""

from __future__ import annotations

import math
from fractions import Fraction
from typing import TYPE_CHECKING

import av

from realtime_adain.video.cluster_times import ClustersAtOneTime
from realtime_adain.video.landing import READ_THROUGH_BYTES, StreamLanding
from realtime_adain.video.opening import open_input
from realtime_adain.video.held_packets import CUT_TYPES
from realtime_adain.video.probing import has_no_timestamps, is_picture_format
from realtime_adain.video.sequence import ffmpeg_name
from realtime_adain.video.sound_clock import SoundClock
from realtime_adain.video.still_clocks import clock_stands_still, lands_in_still_sound

if TYPE_CHECKING:
    from realtime_adain.video.reader import VideoReader

# A segment (--start) is read from the keyframe before this much ahead of its start: sound a
# muxer stored before the pictures it plays under is read too.
SEEK_MARGIN = Fraction(1)
# Formats whose timestamps may jump (`TimestampShift`) that a late --start still seeks, by byte
# position where the timeline is found to run on without a jump up to there (`StreamLanding`):
# MPEG-TS (.ts, .m2ts, .mts) and MPEG-PS (.mpg, .vob).
BYTE_SEEKED_FORMATS = frozenset({"mpegts", "mpeg"})
# How much further before the start a TS or PS with subtitles or data is read from, when seeked
# (`seek_by_position`): a DVB subtitle shown at the start is stored when it begins.
LASTING_LEAD = Fraction(30)


class SeekMissed(Exception):
    """The first picture after a seek comes after the segment's start: the file's index cannot be
    trusted (an AVI without one, damage); the file is read again from its beginning."""


def seek_to_segment(reader: VideoReader) -> bool:
    """Jump to the keyframe `SEEK_MARGIN` before the segment's start (as `ffmpeg -ss` before
    `-i` does), where seeking can be trusted: a file (not a pipe) with timestamps (not a bare
    H.264 or MPEG-2 stream), not pictures; a format whose timestamps may jump (MPEG-TS,
    MPEG-PS: `TimestampShift` follows them from the start) only by byte position where they
    do not (`seek_by_position`). Whether it landed before the start is checked on the first
    picture (`SeekMissed`). Returns whether it seeked."""
    target = reader.segment.start - SEEK_MARGIN
    if (target <= 0 or reader.sequence is not None or is_picture_format(reader.container.format.name)
            or has_no_timestamps(reader.container) or reader.cover_art or not reader.path.is_file()):
        return False
    if reader.shift.splices:
        return seek_by_position(reader, target)
    if isinstance(reader.cluster_times, ClustersAtOneTime):
        return False  # (its index puts every cluster at one time: read from the start)
    sound = [s for s in reader.passthrough if s.type == "audio"]
    if reader.stuck_clock is not None and clock_stands_still(reader.container, [reader.stream, *sound]):
        raise SeekMissed  # (its index puts every picture, or every sound packet, at one time: read from the start)
    timestamp = math.floor((target - reader.shift.offset) / reader.stream.time_base)
    if sound and lands_in_still_sound(reader.path, reader.stream.index, [s.index for s in sound], timestamp):
        raise SeekMissed  # (its sound's clock stands still there: placed only by the sound before it)
    try:
        reader.container.seek(timestamp, backward=True, stream=reader.stream)
    except av.error.FFmpegError:
        raise SeekMissed from None
    return True


def seek_by_position(reader: VideoReader, target: Fraction) -> bool:
    """Seek an MPEG-TS or MPEG-PS (a broadcast's or camcorder's, hours long) to a keyframe
    before `target` by its byte position, where `StreamLanding` finds the timeline running on
    without a jump from the file's start to there: the timestamps there are then the ones a
    read from the start gives them. Elsewhere (another format whose timestamps jump, a
    splice before the start, a start near the beginning) the file is read through."""
    if reader.container.format.name not in BYTE_SEEKED_FORMATS or reader.deinterlace == "film":
        return False  # (inverse telecine reads its cadence from every frame: `VideoReader._decode_from`)
    rate = reader.container.bit_rate  # (bits a second, on average; 0: not known)
    if rate and rate * target < 8 * READ_THROUGH_BYTES:  # (`target`: seconds from the file's start)
        return False  # (near the start at that rate: not opened again to look)
    if any(s.type in CUT_TYPES for s in reader.passthrough):
        target -= LASTING_LEAD  # (a subtitle shown from before the start is stored before it)
    try:
        with open_input(ffmpeg_name(reader.path)) as probed:
            if SoundClock.untimed_in(probed, reader.passthrough):
                return False  # (its sound is timed from the file's start: read through)
            position = StreamLanding(probed, probed.streams[reader.stream.index], reader.shift.offset).find(target)
    except (av.error.FFmpegError, IndexError):
        return False
    if position is None:
        return False
    try:
        reader.container.seek(position, unsupported_byte_offset=True)
    except av.error.FFmpegError:
        raise SeekMissed from None
    return True
