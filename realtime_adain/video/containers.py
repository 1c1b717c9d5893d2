"""The output containers: which one a file's extension names (`CONTAINER_FORMATS`,
`container_format`), their muxers' options, GIF's frame delays, and short MPEG-TS files padded so
that they are read as MPEG-TS (`pad_short_ts`). What each container holds is stream_copy.py's and
encoder_check.py's; the encoders' settings are encoder_settings.py's.
"""

from __future__ import annotations

from pathlib import Path

from realtime_adain.errors import UserError

# Output containers by file extension (explicit, so an unknown extension is a clear error).
CONTAINER_FORMATS = {
    ".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska", ".webm": "webm",
    ".avi": "avi", ".ts": "mpegts", ".m2ts": "mpegts", ".mts": "mpegts",  # (.m2ts: Blu-ray's 192-byte packets)
    ".gif": "gif",
}
# Options of a container's muxer: a GIF loops forever, as people expect one shared to do (FFmpeg's
# default too; said here, not left to it). An AVI's timestamps are not moved by FFmpeg: its video's
# decode times are its display times, none before zero (no B-frames: `IN_DISPLAY_ORDER`), and a
# shift taken from the sound would move the pictures a slot on after the first one (copied AAC's
# priming before zero).
MUXER_OPTIONS = {"gif": {"loop": "0"}, "avi": {"avoid_negative_ts": "disabled"}}
# Browsers show a GIF frame of a shorter delay (centiseconds) for `GIF_DELAY_SHOWN` cs: a 60 fps
# clip, its delays 2, 1, 2, 2, 1, 2 cs, plays 2.8 times slower there. An input GIF's such frames
# are read so (video/frame_times.py `gif_delays_as_shown`).
GIF_SHORTEST_SHOWN = 2
GIF_DELAY_SHOWN = 10
# A GIF frame's longest delay: 16 bits of centiseconds (655.35 s). FFmpeg's muxer cuts a longer gap
# to it (every later frame early) and wraps a longer last frame (800 s played 144.64 s).
GIF_LONGEST_DELAY = 65535
# A longer time is the frame shown again every longest delay, up to a day of repeats in a file (131
# frames): a damaged timestamp years ahead wrote 152,000 (256 MB at 32x24). Past that, cut as FFmpeg cuts it.
GIF_MOST_REPEATS = 24 * 3600 * 100 // GIF_LONGEST_DELAY


def container_format(path: Path) -> str:
    try:
        return CONTAINER_FORMATS[path.suffix.lower()]
    except KeyError:
        # (the words `-o x.png` gets; `--ext png` too, less the numbered pictures, which hold one result)
        raise UserError(f"{path}: unknown video format '{path.suffix}' (written: {' '.join(CONTAINER_FORMATS)})") from None


# FFmpeg tells MPEG-TS by its content, and took a file of 5 to 10 packets (a few frames of MPEG-2 or
# MPEG-4 Part 2, a few pixels wide or flat: a 2x2 clip of 2 to 5 frames, 16x16 of 1 to 3) for an
# MPEG program stream: "could not find codec parameters" (`ffmpeg` writes such files too). A
# shorter file is padded to this many with null packets (PID 0x1FFF, which demuxers skip).
TS_LEAST_PACKETS = 11
TS_PACKET_SIZE = 188
TS_NULL_PACKET = bytes((0x47, 0x1F, 0xFF, 0x10)) + b"\xff" * (TS_PACKET_SIZE - 4)


def pad_short_ts(path: Path) -> None:
    """Pad a finished MPEG-TS file of fewer than `TS_LEAST_PACKETS` packets with null packets, so
    that it is read as MPEG-TS. (.m2ts's 192-byte packets come 32 at a time: never that short.)"""
    if CONTAINER_FORMATS.get(path.suffix.lower()) != "mpegts":
        return
    size = path.stat().st_size
    if size % TS_PACKET_SIZE == 0 and size < TS_LEAST_PACKETS * TS_PACKET_SIZE:
        with path.open("ab") as file:
            file.write(TS_NULL_PACKET * (TS_LEAST_PACKETS - size // TS_PACKET_SIZE))
