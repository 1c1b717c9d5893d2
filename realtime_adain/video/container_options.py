"""What the output's container is opened and labelled with, and facts of its formats: the muxer's
options (`muxer_options`: QuickTime metadata keys, each packet written as it is muxed), the input's
tags without those that describe its encoding (`content_tags`), which muxers keep chapters and a
timecode, and why a muxer may have refused a packet (`jump_hint`: a pause longer than AVI fills
with skipped frames, a timestamp jump of over a day).
"""

from __future__ import annotations

import math
from fractions import Fraction

import av

from realtime_adain.video.containers import MUXER_OPTIONS

# The muxers that keep chapters, and those that keep a timecode (MP4 and MOV write a tmcd track from
# the video's tag, Matroska a tag, AVI the file's tag as its ISMP chunk): MPEG-TS and GIF drop both,
# AVI its chapters, without a word.
CHAPTER_FORMATS = frozenset({"mp4", "mov", "matroska", "webm"})
TIMECODE_FORMATS = CHAPTER_FORMATS | {"avi"}
# The most empty frames FFmpeg's AVI muxer fills one pause with ("Too large number of skipped frames").
AVI_MAX_SKIPPED = 60000


# Tags that describe how a file was written, not what it holds: the muxer writes its own.
WRITER_TAGS = frozenset({"encoder", "duration", "number_of_frames", "number_of_bytes", "major_brand",
                         "minor_version", "compatible_brands"})


# MP4 and MOV muxers: what writes tags named as QuickTime metadata keys (reverse DNS).
KEYED_TAGS_OPTIONS = {"movflags": "use_metadata_tags"}
# Every muxer: each packet's bytes handed to the file as it is muxed. FFmpeg's file protocol holds
# up to 256 KiB of a seekable output before writing any (not AVIO's usual 32 KiB): a small or slow
# output (a 160 KB video, stylized for minutes) wrote nothing until the file was finished, so a full
# disk was found only then, after all the work. The bytes written are the same.
WRITE_AS_MUXED = {"flush_packets": "1"}


def muxer_options(fmt: str, tags: dict[str, str]) -> dict[str, str]:
    """The options `fmt`'s muxer opens with. A phone's location, make, model, capture date and
    slow-motion rate are QuickTime metadata keys (`com.apple.quicktime.location.ISO6709`,
    `com.android.capture.fps`), which FFmpeg's MP4/MOV muxer writes only with `use_metadata_tags`:
    without it they were dropped from .mp4 and .mov (and kept in .mkv). With it every tag, the
    title too, is written as such a key instead of a classic atom, so only where there are some.
    Each packet is written as it is muxed (`WRITE_AS_MUXED`): a full disk stops the run then."""
    options = {**MUXER_OPTIONS.get(fmt, {}), **WRITE_AS_MUXED}
    if fmt in ("mp4", "mov") and any("." in key for key in content_tags(tags)):
        options.update(KEYED_TAGS_OPTIONS)
    return options


def content_tags(tags: dict[str, str]) -> dict[str, str]:
    """`tags` without those that describe the input's encoding (FFmpeg drops them the same way)."""
    return {key: value for key, value in tags.items()
            if key.lower() not in WRITER_TAGS and not key.lower().startswith("_statistics")}


def jump_hint(stream: av.stream.Stream, at: tuple[int | None, Fraction | None, int | None],
              muxed_at: dict[int, tuple[int, Fraction, int | None]], fmt: str) -> str:
    """Why a muxer may have refused a packet at `at` (pts, time base, duration): a pause longer than AVI
    fills with empty frames, or a timestamp jump longer than a day (a damaged file: MP4 and
    MOV store the time between frames in 32 bits; Matroska takes it). Worked out only then:
    the packets muxed keep their raw timestamps (`muxed_at`: output stream index -> its latest muxed
    (pts, time base, duration); `fmt`: the container's format)."""
    previous = muxed_at.get(stream.index)
    if previous is None or None in at[:2] or None in previous[:2]:
        return ""
    jump = at[0] * at[1] - previous[0] * previous[1]
    empty = math.ceil(jump / stream.time_base) - 1 if stream.time_base else 0
    if fmt == "avi" and empty > AVI_MAX_SKIPPED:
        return (f"; a pause of {float(jump):.0f} s at {float(previous[0] * previous[1]):.2f} s: AVI fills a pause "
                f"with empty frames, at most {AVI_MAX_SKIPPED}, and this one needs {empty} (.mp4 or .mkv keep it)")
    if abs(jump) < 24 * 3600:
        return ""
    return f"; the timestamps jump by {float(jump):.0f} s there, damaged: .mkv takes such a jump"
