"""What reading an HDR picture costs: the tone map to SDR (`realtime_adain.video.hdr`) side by
side with the plain 8-bit RGB conversion every other picture gets (docs/BENCHMARKS.md, "HDR
video").

    python3 tools/bench_tone_map.py --sizes 1280x720 1920x1080 --repeats 15

Each size is made once (FFmpeg's zscale: --photo, by default one of the test material, as PQ and
as HLG, 10-bit HEVC) and its first picture decoded; then, in one process and one thread, alternately: the
plain conversion (`rgb24`), `PictureConverter.rgb` (16-bit conversion plus tone map) as it runs
(`hdr.STRIP_PIXELS` at a time), and the same with the whole picture as one strip (as it ran
before: the same output, checked). The medians are printed as a table, with the ratio of the
tone-mapped to the plain conversion.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import av
import cv2

from realtime_adain.benchmarks.setup import check_input_files, material_file, run_tool
from realtime_adain.commands.argtypes import frame_resolution, int_between
from realtime_adain.errors import UserError
from realtime_adain.video import hdr
from realtime_adain.video.pictures import PictureConverter

TRANSFERS = {"PQ": "smpte2084", "HLG": "arib-std-b67"}
MAX_REPEATS = 1000
repeats = int_between(1, MAX_REPEATS, "repeats")  # (0 was statistics' error on no data)


def even_size(text: str) -> str:
    """argparse type for --sizes: WxH (16 to 4096 a side; 0x0 went on to FFmpeg) with even sides,
    as 10-bit 4:2:0 HEVC holds them; kept as the text FFmpeg's scale and the file name take."""
    width, height = frame_resolution(text)
    if width % 2 or height % 2:
        raise argparse.ArgumentTypeError(f"{text!r}: 4:2:0 needs even sides, e.g. {width + width % 2}x{height + height % 2}")
    return f"{width}x{height}"


def hdr_picture(photo: Path, folder: Path, size: str, transfer: str) -> av.VideoFrame:
    """The photo as a 10-bit HEVC picture with `transfer`; FFmpeg's failure (a photo it cannot
    read, a build without zscale or libx265) is a UserError with its first words (the cause; the
    last are "Error marking filters as finished"), not a traceback."""
    width, height = size.split("x")
    path = folder / f"{transfer}_{size}.mp4"
    made = subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(photo), "-frames:v", "1", "-vf",
                    f"scale={width}:{height},setsar=1,format=gbrpf32le,zscale=tin=709:t=linear,"
                    f"zscale=pin=709:p=2020:t={transfer}:m=2020_ncl:r=tv:npl=203,format=yuv420p10le",
                    "-c:v", "libx265", "-x265-params", "log-level=error", "-color_primaries", "bt2020",
                    "-color_trc", transfer, "-colorspace", "bt2020nc", str(path)], capture_output=True, text=True)
    if made.returncode:
        said = made.stderr.strip().splitlines()
        raise UserError(f"FFmpeg could not make the {size} picture from {photo} (exit status {made.returncode}"
                        f"{': ' + said[0] if said else ''})")
    with av.open(str(path)) as container:
        return next(container.decode(video=0))


def timed(work, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def main() -> int:
    return run_tool(measure_all)


def measure_all() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", nargs="+", type=even_size, default=["1280x720", "1920x1080"],
                        help="WxH, even sides from 16 to 4096 (default 1280x720 1920x1080)")
    parser.add_argument("--repeats", type=repeats, default=15, help=f"timings of each, 1 to {MAX_REPEATS} (default 15)")
    parser.add_argument("--photo", type=Path, default=material_file("photo"),
                        help="the picture made HDR (default: golden_gate.jpg of the test material, "
                             "$REALTIME_ADAIN_TEST_DATA or ../shared/data beside the checkout)")
    args = parser.parse_args()
    check_input_files((args.photo, "--photo"))
    cv2.setNumThreads(1)
    print("| size | transfer | plain rgb24 | tone-mapped | ratio | tone-mapped whole (before) |")
    print("|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as folder:
        for size in args.sizes:
            for name, transfer in TRANSFERS.items():
                frame = hdr_picture(args.photo, Path(folder), size, transfer)
                plain, converter = av.video.reformatter.VideoReformatter(), PictureConverter(f"{size} {name}")
                converter.rgb(frame, None, None, False)  # (the tables are built once per stream)
                strips = hdr.STRIP_PIXELS
                plain_ms = tone_ms = whole_ms = 0.0
                for _ in range(2):  # alternated, so none gets a quieter moment of the machine
                    plain_ms = timed(lambda: plain.reformat(frame, format="rgb24").to_ndarray(), args.repeats)
                    tone_ms = timed(lambda: converter.rgb(frame, None, None, False), args.repeats)
                    hdr.STRIP_PIXELS = frame.width * frame.height
                    whole_ms = timed(lambda: converter.rgb(frame, None, None, False), args.repeats)
                    whole = converter.rgb(frame, None, None, False)
                    hdr.STRIP_PIXELS = strips
                assert (whole == converter.rgb(frame, None, None, False)).all(), "strips changed the output"
                print(f"| {size} | {name} | {plain_ms:.1f} ms | {tone_ms:.1f} ms | {tone_ms / plain_ms:.1f}x | "
                      f"{whole_ms:.1f} ms |")


if __name__ == "__main__":
    sys.exit(main())
