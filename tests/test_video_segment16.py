"""Segments and previews against hostile files: a closing hold in an MP4 with B-frames, sound stored
after later pictures (MPEG-PS), and --start/--duration at the edges (see test_video_trim16.py)."""

from __future__ import annotations

import subprocess
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from realtime_adain.video.frames import Frame
from realtime_adain.video.reader import VideoReader
from test_video_trim16 import RATE, numbered_clip, segment_numbers


def ffmpeg(*args: str | Path) -> None:
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", *map(str, args)], check=True)


@pytest.fixture
def style(data_dir):
    return data_dir / "style" / "brushstrokes.jpg"


def held_gif(path: Path) -> Path:
    """30 frames 40 ms apart of a block moving right, the last held 2 s: 3.16 s in all."""
    frames = []
    for i in range(30):
        image = np.zeros((48, 64, 3), np.uint8)
        image[12:36, i * 2:i * 2 + 12] = (40, 80, 220)
        frames.append(Image.fromarray(image))
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=[40] * 29 + [2000], loop=0)
    return path


@pytest.mark.parametrize("suffix", [".mp4", ".mov"])
@pytest.mark.slow_cases('.mov')  # (default run's time: 2 s)
def test_a_closing_hold_lasts_to_the_end_of_an_mp4_with_b_frames(suffix, run_cli, weights_env, style, tmp_path,
                                                                 one_thread):
    """The last picture shown is not the last packet in decode order: its 2 s hold was the final
    packet's 40 ms, and FFmpeg read the file as 1.2 s long (MKV kept it)."""
    out = tmp_path / f"out{suffix}"
    code, _, err = run_cli("video", held_gif(tmp_path / "hold.gif"), "-s", style, "--size", "32", "--style-size", "64",
                           "--engine", "eager", "--threads", "1", "-o", out)
    assert code == 0, err
    with av.open(str(out)) as container:
        assert container.duration == 3_160_000
        packets = [p for p in container.demux(video=0) if p.size]
        assert any(p.pts > p.dts for p in packets)  # (B-frames: reordered)
    with VideoReader(out) as reader:  # read back, the last frame keeps its hold
        frames = [item for item in reader.items() if isinstance(item, Frame)]
        assert len(frames) == 30
        assert frames[-1].pts * reader.time_base == Fraction(116, 100)
        assert (frames[-1].pts + frames[-1].duration) * reader.time_base == Fraction(316, 100)


def program_stream(path: Path) -> Path:
    """2 s of MPEG-2 video (29.97 fps) and MP2 sound as a DVD's VOB stores them: the sound 0.7 s
    after the pictures it plays under."""
    ffmpeg("-f", "lavfi", "-i", "testsrc=size=64x48:rate=30000/1001", "-f", "lavfi", "-i", "sine=sample_rate=48000",
           "-t", "2", "-c:v", "mpeg2video", "-c:a", "mp2", "-f", "vob", path)
    return path


def sound_and_pictures(path: Path, **options) -> tuple[Fraction, Fraction, Fraction]:
    """(where the pictures end, the first sound packet's start, where the sound ends): seconds on
    the output's timeline."""
    with VideoReader(path, **options) as reader:
        items = list(reader.items())
        frames = [item for item in items if isinstance(item, Frame)]
        pictures_end = (frames[-1].pts + frames[-1].duration) * reader.time_base
        sound = [(p.pts * p.time_base, (p.pts + p.duration) * p.time_base) for p in items
                 if isinstance(p, av.Packet) and p.stream.type == "audio"]  # (while the file is open)
    return pictures_end, min(at for at, _ in sound), max(end for _, end in sound)


@pytest.mark.parametrize("options", [{"max_frames": 13}, {"duration": Fraction(44, 100)},
                                     {"start": Fraction(1, 2), "duration": Fraction(3, 10)},
                                     {"start": Fraction(1, 2), "max_frames": 5}])
def test_the_sound_of_the_last_pictures_is_kept_where_it_is_stored_later(options, tmp_path):
    """`--frames 13` of an MPEG-PS kept 0.12 s of sound for 0.44 s of pictures: the rest is stored
    after later pictures, which the preview never read."""
    pictures_end, sound_start, sound_end = sound_and_pictures(program_stream(tmp_path / "dvd.mpg"), **options)
    assert sound_start <= 0 and sound_end >= pictures_end
    assert sound_end - pictures_end < Fraction(1, 20)  # (one MP2 frame is 24 ms)


@pytest.mark.parametrize("offset", [Fraction(-1, 10**9), Fraction(0), Fraction(1, 10**9), Fraction(-1, 10**4)])
def test_a_start_a_hair_either_side_of_a_frame_begins_with_that_frame(offset, run_cli, weights_env, style, tmp_path,
                                                                        one_thread):
    """A start 1 ns (or 0.1 ms) before frame 45 kept frame 44 for one tick of the input's 1/15360
    s as the first frame: in a .mkv (milliseconds) it and frame 45 were both at 0 ms."""
    source = numbered_clip(tmp_path / "v.mp4")
    start = Fraction(45, RATE) + offset
    numbers, times, _ = segment_numbers(source, start, Fraction(1, 10))
    # (a start after frame 45's keeps frame 48 until its end, a tick: as `ffmpeg -t` keeps it)
    assert numbers == [45, 46, 47] + [48] * (offset > 0) and times[0] == 0
    assert all(abs(at - Fraction(i, RATE) + offset) <= Fraction(1, 15360) for i, at in enumerate(times[1:], 1))
    out = tmp_path / "out.mkv"
    code, _, err = run_cli("video", source, "-s", style, "--size", "32", "--style-size", "64", "--engine", "eager",
                           "--threads", "1", "--start", f"{float(start):.10f}", "--duration", "0.1", "-o", out)
    assert code == 0, err
    with av.open(str(out)) as container:
        shown = sorted(p.pts for p in container.demux(video=0) if p.size)
    assert len(shown) == len(numbers) and shown[0] == 0 and len(set(shown)) == len(shown)
