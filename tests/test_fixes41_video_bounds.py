"""The picture size a video may decode to (session 41): a 1 KB GIF whose logical screen states
16000x16000 was decoded whole and converted (7.3 GB, 90 s) before a budget refused it, and was
stylized at --size 64; a later picture larger than the stream states was decoded and converted
whole. The stated size is now checked before the first picture is decoded, and FFmpeg refuses a
larger later picture before allocating it; thin clips and 8K video read as before."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
import time
import zlib
from fractions import Fraction
from pathlib import Path

import av
import pytest
from PIL import Image

from cli_support import one_error_line
from live_support import cli_env
from realtime_adain.video.frames import Frame
from realtime_adain.video.reader import VideoReader
from video_corpus import FFMPEG
from video_fuzz_support import rss_mb

MEMORY_MB = 2000  # a run past this is killed: the refusal must come with modest memory


def gif_stating(path: Path, width: int, height: int) -> Path:
    """A 2-frame 16x16 GIF whose logical screen (bytes 6-9) states `width`x`height`."""
    frames = [Image.new("RGB", (16, 16), colour) for colour in ("red", "blue")]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100)
    data = bytearray(path.read_bytes())
    data[6:10] = struct.pack("<HH", width, height)
    path.write_bytes(data)
    return path


def run_watched(command: list[str | os.PathLike], env: dict[str, str]) -> tuple[int, str, float, float]:
    """Run `command`: (exit status, stderr, peak RSS in MB, seconds); killed (status -9) past
    `MEMORY_MB`. The peak is the polled high-water mark of the command's own memory: wait4's
    ru_maxrss keeps the forking process's (a pytest worker's 2 GB) across exec."""
    started, peak = time.monotonic(), 0.0
    process = subprocess.Popen([str(part) for part in command], env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE)
    with process:
        while True:
            done, status, _usage = os.wait4(process.pid, os.WNOHANG)
            if done:
                break
            if rss_mb(process.pid) > MEMORY_MB:
                process.kill()
            peak = max(peak, rss_mb(process.pid, "VmHWM:"))
            time.sleep(0.05)
        process.returncode = os.waitstatus_to_exitcode(status)
        err = process.stderr.read().decode()
    return process.returncode, err, peak, time.monotonic() - started


@pytest.mark.slow_cases('16000x16000-', "16000x16000-size64", "16384x8193-")
@pytest.mark.parametrize("screen, options", [("16000x16000", ""), ("16000x16000", "--size 64 --frames 2"),
                                             ("16384x8193", "")], ids=["16000x16000-", "16000x16000-size64",
                                                                       "16384x8193-"])
def test_a_gif_stating_a_huge_screen_is_refused_before_it_is_decoded(tmp_path, data_dir, published_weights,
                                                                     screen, options):
    """Refused with a budget error after 90 s at 7.3 GB peak (at --size 64 accepted, 9.6 GB): now
    in one line naming the stated size and the limit, at the memory any refusal takes. 16384x8193
    is one line past 16384x8192, the most a picture may have."""
    width, height = map(int, screen.split("x"))
    gif = gif_stating(tmp_path / "screen.gif", width, height)
    code, err, peak_mb, seconds = run_watched(
        [sys.executable, "-m", "realtime_adain", "video", gif, "-s", data_dir / "style" / "antimonocromatismo.jpg",
         "-o", tmp_path / "out.mp4", *options.split()], cli_env(published_weights, tmp_path / "home"))
    assert peak_mb < 1500, f"{peak_mb:.0f} MB peak, {seconds:.0f} s: {err}"
    assert one_error_line(err, code) == (
        f"error: {gif}: its video states {screen} pictures: at 8 bytes a pixel, more than the 1 GiB of samples a "
        "picture may decode to (134217728 pixels, 16384x8192)")
    assert not (tmp_path / "out.mp4").exists()


def png_picture(width: int, height: int) -> bytes:
    """A black 1-bit grey PNG of `width`x`height` (16000x16000 is 32 MB of samples, 31 KB stored)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = zlib.compress(bytes(height * (1 + (width + 7) // 8)), 1)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0))
            + chunk(b"IDAT", rows) + chunk(b"IEND", b""))


def growing_mov(path: Path) -> Path:
    """A MOV stating 16x16 PNG pictures whose second is 16000x16000, then 20 more of 16x16."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream("png", rate=5)
        stream.width, stream.height, stream.pix_fmt = 16, 16, "monob"
        for index, size in enumerate([16, 16000, *[16] * 20]):
            packet = av.Packet(png_picture(size, size))
            packet.stream, packet.pts, packet.dts, packet.duration = stream, index, index, 1
            packet.time_base = Fraction(1, 5)
            out.mux(packet)
    return path


def test_a_later_picture_larger_than_the_stream_states_is_skipped_not_decoded(tmp_path, capsys):
    """A MOV of 16x16 PNG pictures (as its header states) with a 16000x16000 one second: it was
    decoded and converted whole (768 MB as RGB; a 16-bit RGBA one 2 GB decoded), a frame of its
    own; FFmpeg now refuses it before allocating it, and it is skipped as a damaged packet. (20
    pictures after it: frame threads report a rejected packet late, and one near the end loses
    those after it, as any damaged packet there does.)"""
    path = growing_mov(tmp_path / "grows.mov")
    with VideoReader(path) as reader:
        shapes = [item.image.shape for item in reader.items() if isinstance(item, Frame)]
    assert shapes == [(16, 16, 3)] * 21
    assert "grows.mov: 1 damaged video packet skipped" in capsys.readouterr().err


@pytest.mark.slow_cases("7680x4320")
@pytest.mark.parametrize("size", ["16384x16", "16x16384", "7680x4320"])
def test_thin_and_8k_clips_still_read(tmp_path, size):
    """Within the bound: a side of 16384 pixels (the longest processed) and 8K video."""
    path = tmp_path / "clip.mp4"
    subprocess.run([FFMPEG, "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i", f"color=c=red:size={size}:rate=5",
                    "-frames:v", "2", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", path],
                   check=True, capture_output=True)
    width, height = map(int, size.split("x"))
    with VideoReader(path) as reader:
        shapes = [item.image.shape for item in reader.items() if isinstance(item, Frame)]
    assert shapes == [(height, width, 3)] * 2
