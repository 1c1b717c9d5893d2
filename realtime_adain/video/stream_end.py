"""Where a video stream says it ends, weighed against where its decoded pictures end: its declared
duration (`stated_end`), a Matroska's per-track DURATION tag (`tagged_end`), and whether the
pictures stop early (`ends_early`): what the video reader's note on a file cut short goes by."""

from __future__ import annotations

from fractions import Fraction

import av

from realtime_adain.errors import UserError
from realtime_adain.video.cluster_times import ClusterTimes, ClustersAtOneTime
from realtime_adain.video.timestamps import TimestampShift


def ends_early(stream: av.video.stream.VideoStream, shift: TimestampShift, frame_rate: Fraction | None,
               end: int | None, seeked: bool = False) -> bool:
    """Whether the frames that decoded stop before the stream's declared end. AVI files count
    dropped frames (empty chunks: the previous picture stays) in their index, so fewer frames
    than declared is not enough: a file is truncated only when its pictures end early. After a
    seek (`seeked`) the frames before it were not counted: only their times tell."""
    stated = stated_end(stream, shift)
    if end is None or stated is None:
        return not seeked  # nothing but the frame count to go by
    one_frame = 1 / (frame_rate * stream.time_base) if frame_rate else 1
    return end + one_frame < stated


def stated_end(stream: av.video.stream.VideoStream, shift: TimestampShift) -> int | None:
    """Where the stream's declared duration ends (ticks, where the shift put its start); None: not declared."""
    if not stream.duration:
        return None
    return (stream.start_time or 0) + shift.start_ticks(stream.time_base) + stream.duration


def tagged_end(container: av.container.InputContainer, stream: av.video.stream.VideoStream, shift: TimestampShift,
               cluster_times: ClusterTimes | ClustersAtOneTime | None) -> int | None:
    """Where a Matroska's video track ends (ticks, on the shifted timeline), from the DURATION
    tag FFmpeg's and mkvmerge's muxers write per track: Matroska states no track duration or
    frame count, and a file cut short (a download stopped) gave a shorter output without a
    word. FFmpeg writes the track's end (10:00:01 for a second starting at 10 h); a muxer that
    wrote the length instead only under-states it. None elsewhere, or for a tag unread or 0
    (a recording never finished holds its placeholder). Only a note comes of it: a tag is no
    index, and another tool may have left a stale one."""
    from realtime_adain.times import check_time

    if ("matroska" not in container.format.name or shift.jumps
            or not isinstance(cluster_times, ClusterTimes) or cluster_times.stretches):
        return None  # (times repaired or joined: the pictures' end is no longer the file's)
    try:
        seconds = check_time(str(stream.metadata.get("DURATION", "")), "DURATION", positive=True)
    except (UserError, ValueError):  # (a tag is the file's text: anything)
        return None
    return round(seconds / stream.time_base) + shift.start_ticks(stream.time_base)
