"""How long `video --start T` takes to reach its first frame in a long recording, side by side
with decoding every frame up to T (what the reader did before it passed over packets) and with
`ffmpeg -ss T` (docs/BENCHMARKS.md, "A late --start").

    python3 tools/bench_segment_start.py --minutes 20 --formats ts m2ts vob

Each file is made once in --folder (FFmpeg: 160x90 testsrc2 at 25 fps with sound, a keyframe
every 2 s), then timed --repeats times; the medians are printed as a table.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import av

from realtime_adain.benchmarks.setup import run_tool
from realtime_adain.commands.argtypes import int_between, positive_float
from realtime_adain.video.frames import Frame
from realtime_adain.video.reader import VideoReader

# Blu-ray and AVCHD files are BDAV: 192-byte packets, a timecode before each TS packet. FFmpeg's
# mpegts muxer writes them only when asked, or for a name ending .m2ts (not NAME.m2ts.part, nor .mts).
BDAV = ("-f", "mpegts", "-mpegts_m2ts_mode", "1")
# container -> (video codec, audio codec, muxer options)
FORMATS = {"ts": ("libx264", "aac", ("-f", "mpegts")), "m2ts": ("libx264", "aac", BDAV),
           "mts": ("libx264", "ac3", BDAV), "vob": ("mpeg2video", "mp2", ("-f", "vob")),
           "mpg": ("mpeg2video", "mp2", ("-f", "mpeg"))}
FRAMES = 5
BEFORE_END = 50  # seconds between --start and the end of the file
MAX_MINUTES, MAX_REPEATS = 24 * 60, 1000  # (each file is made once, then read --repeats times)
repeats = int_between(1, MAX_REPEATS, "repeats")


def minutes(text: str) -> float:
    """argparse type for --minutes: long enough that the start, BEFORE_END seconds before the end,
    is after the beginning (0.5 timed a negative start), and finite (nan was a ValueError)."""
    value = positive_float(text)
    if not 1 <= value <= MAX_MINUTES:
        raise argparse.ArgumentTypeError(f"{value:g} is outside 1..{MAX_MINUTES} minutes (the start is {BEFORE_END} s "
                                         "before the end)")
    return value


def make(folder: Path, extension: str, minutes: float) -> Path:
    """The file, made once: FFmpeg writes NAME.part, renamed when it finishes (one cut short by a
    Ctrl-C was reused at the final name and timed a shorter file, or failed the next run)."""
    path = folder / f"long_{minutes:g}min.{extension}"
    if not path.exists():
        video, audio, muxer = FORMATS[extension]
        seconds = str(minutes * 60)
        part = path.with_name(path.name + ".part")
        try:
            subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i",
                            f"testsrc2=size=160x90:rate=25:duration={seconds}", "-f", "lavfi", "-i",
                            f"sine=sample_rate=48000:duration={seconds}", "-c:v", video, "-g", "50",
                            *(["-preset", "ultrafast"] if video == "libx264" else []), "-c:a", audio,
                            *muxer, str(part)], check=True)
            part.replace(path)
        finally:
            part.unlink(missing_ok=True)
    return path


def reader_seconds(path: Path, start: Fraction) -> float:
    """`video`'s reader: FRAMES frames from `start`."""
    began = time.perf_counter()
    with VideoReader(path, FRAMES, start=start) as reader:
        frames = [item for item in reader.items() if isinstance(item, Frame)]
    assert len(frames) == FRAMES, (path, len(frames))
    return time.perf_counter() - began


def decode_all_seconds(path: Path, start: Fraction) -> float:
    """Every frame decoded up to `start` (as the reader read these files before)."""
    began = time.perf_counter()
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        first = stream.start_time or 0
        for frame in container.decode(stream):
            if frame.pts is not None and (frame.pts - first) * stream.time_base >= start:
                break
    return time.perf_counter() - began


def ffmpeg_seconds(path: Path, start: Fraction) -> float:
    began = time.perf_counter()
    subprocess.run(["ffmpeg", "-nostdin", "-v", "fatal", "-ss", str(float(start)), "-i", str(path),
                    "-frames:v", str(FRAMES), "-f", "null", "-"], check=True)
    return time.perf_counter() - began


def main() -> int:
    return run_tool(measure_all)


def measure_all() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=minutes, default=20.0, help=f"length of each file, 1 to {MAX_MINUTES} (default 20)")
    parser.add_argument("--formats", nargs="+", default=list(FORMATS), choices=list(FORMATS))
    parser.add_argument("--repeats", type=repeats, default=3, help=f"timings of each file, 1 to {MAX_REPEATS} (default 3)")
    parser.add_argument("--folder", type=Path, default=Path(tempfile.gettempdir()) / "bench_segment_start")
    args = parser.parse_args()
    args.folder.mkdir(parents=True, exist_ok=True)
    start = Fraction(round(args.minutes * 60 - BEFORE_END))
    print(f"--start {start} s in {args.minutes:g} min, {FRAMES} frames; medians of {args.repeats} (s)")
    print(f"{'file':>8} {'reader':>8} {'decode to T':>12} {'ratio':>6} {'ffmpeg -ss':>11}")
    for extension in args.formats:
        path = make(args.folder, extension, args.minutes)
        times = [[measure(path, start) for measure in (reader_seconds, decode_all_seconds, ffmpeg_seconds)]
                 for _ in range(args.repeats)]
        ours, decoded, ffmpeg = (statistics.median(column) for column in zip(*times))
        print(f"{extension:>8} {ours:8.2f} {decoded:12.2f} {decoded / ours:5.1f}x {ffmpeg:11.2f}")


if __name__ == "__main__":
    sys.exit(main())
