"""Decoded frames' times where the file's own do not serve, as FFmpeg's tools time them: a bare
stream's frames timed from zero by their durations, a GIF's short delays as browsers show them, a
picture that starts before the timeline's zero shown from zero, a frame without a timestamp shown
after the one before (for the video reader)."""

from __future__ import annotations

from fractions import Fraction
from typing import Iterator

import av

from realtime_adain.notes import note
from realtime_adain.video.containers import GIF_DELAY_SHOWN, GIF_SHORTEST_SHOWN
from realtime_adain.video.probing import DECLARED_RATE_SLACK, has_no_timestamps
from realtime_adain.video.sequence import Sequence


def gif_delays_as_shown(items: Iterator[av.VideoFrame | av.Packet], name: str) -> Iterator[av.VideoFrame | av.Packet]:
    """A GIF's frames (time base 1/100 s) with a delay under `GIF_SHORTEST_SHOWN` centiseconds
    timed `GIF_DELAY_SHOWN`, as browsers show them (and FFmpeg 5's demuxer timed them); the later
    frames move on by the difference. FFmpeg 8 makes a delay of 0 the default 10 cs but keeps 1 cs:
    a GIF of 1 cs frames, which plays at 10 fps, came out at 100 fps."""
    shift = 0
    for item in items:
        if isinstance(item, av.VideoFrame) and item.pts is not None:
            item.pts += shift
            if item.duration is not None and 0 < item.duration < GIF_SHORTEST_SHOWN:
                note(f"{name}: frames with delays under {GIF_SHORTEST_SHOWN} centiseconds are shown for "
                     f"{GIF_DELAY_SHOWN}, as browsers show them", once=True)
                shift += GIF_DELAY_SHOWN - item.duration
                item.duration = GIF_DELAY_SHOWN
        yield item



def retimed(items: Iterator[av.VideoFrame | av.Packet], container: av.container.InputContainer,
            sequence: Sequence | None, name: str, frame_rate: Fraction | None,
            time_base: Fraction) -> Iterator[av.VideoFrame | av.Packet]:
    """`items`, with the frames of a stream that stores no timestamps (`has_no_timestamps`)
    timed from zero by their durations (the codec's frame rate, pulldown included), as
    `ffmpeg -i in.h264 out.mp4` times them; and a GIF's frames as browsers time them
    (`gif_delays_as_shown`). An image sequence's pictures keep their times: image2 flags no
    timestamps, but times each picture by its number, so one that does not decode leaves its
    place empty (numbered pictures out keep the input's numbers; a video holds the picture
    before longer, as `ffmpeg -i 'f_%04d.png' out.mp4` does). A frame without a duration, or
    one shorter than a frame at the stream's rate (beyond `DECLARED_RATE_SLACK`: the codec's
    rate `plausible_rate` set aside, as bare MPEG-4 Part 2 states it), lasts one frame."""
    if container.format.name == "gif":
        yield from gif_delays_as_shown(items, name)
        return
    if not has_no_timestamps(container) or sequence is not None:
        yield from items
        return
    clock, step = 0, one_frame(frame_rate, time_base)  # (a bare stream is decoded from its start: `decode_from`)
    for item in items:
        if isinstance(item, av.VideoFrame):
            if not item.duration or item.duration * DECLARED_RATE_SLACK < step:
                item.duration = step
            item.pts = clock
            clock += item.duration
        yield item


def one_frame(frame_rate: Fraction | None, time_base: Fraction) -> int:
    """One frame's duration at the stream's rate (25 fps if it has none), in video ticks."""
    return max(1, round(1 / ((frame_rate or Fraction(25)) * time_base)))


def from_zero(name: str, time_base: Fraction, pts: int, duration: int) -> tuple[int, int]:
    """(pts, duration) of a frame that starts before the timeline's zero, shown from zero
    instead, as `ffmpeg -i in out.mp4` shows it. The file's start time is where its first
    packets start; FFmpeg reads some files' start from their sound alone (ASF with B-frames:
    the pictures' own times are made up later), and the first picture came 40 ms before it:
    an MP4 hid it behind its edit list (one frame lost)."""
    note(f"{name}: a picture starts {float(-pts * time_base):.3f} s before the file's "
         "start time; it is shown from the start, as FFmpeg shows it", once=True)
    return 0, max(1, pts + (duration or 0))


def after_last(seen_end: Fraction | None, duration: int | None, frame_rate: Fraction | None,
               time_base: Fraction) -> tuple[int, int]:
    """(pts, duration) for a frame without a timestamp, in a format that stores them: shown
    when the frame before stops (`seen_end`, seconds; from zero if it is the first), for its own
    duration or one frame at the stream's rate, as FFmpeg's tools time it. A video whose packets
    carry none (an MPEG-TS's PES headers without them) made --frames fail with a traceback."""
    at = 0 if seen_end is None else round(seen_end / time_base)
    return at, duration or one_frame(frame_rate, time_base)
