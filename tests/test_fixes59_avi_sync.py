"""An AVI's H.264 pictures in sync with its sound (session 59). An AVI stores only a decode slot
per picture, and FFmpeg's AVI muxer moves a video with B-frames on by its decode delay (its first
decode time would be negative) while the sound, played from the file's start, stays: the first
picture belongs at slot 0 with the sound. Read by libavformat's guess (the next packet's slot) and
by the slot that releases each picture, the pictures came one slot late without B-frames and two
with x264's B-pyramid (0.4 s at 5 fps); a video starting after the sound keeps its release slots."""

from __future__ import annotations

import subprocess
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from realtime_adain.video.frames import Frame
from realtime_adain.video.reader import VideoReader
from test_video_io import copy_through

RATE = 12
FLASH = 1.0  # s: one picture of another pattern and a 10 ms click, together in the source


def flash_and_click(path: Path, *video: str, offset: float = 0) -> Path:
    """2 s at 12 fps in H.264 and PCM: the picture at 1 s (from the video's start, `offset` s
    after the sound's) of another pattern; a click at the same time."""
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-itsoffset", str(offset), "-f", "lavfi", "-i",
                    f"smptebars=s=64x48:r={RATE}:d=2", "-itsoffset", str(offset), "-f", "lavfi", "-i",
                    f"testsrc=s=64x48:r={RATE}:d=2", "-f", "lavfi", "-i",
                    f"aevalsrc=if(between(t\\,{FLASH + offset}\\,{FLASH + offset + 0.01})\\,0.8*sin(2*PI*1000*t)\\,0)"
                    f":s=48000:d={2 + offset}", "-filter_complex", f"[0][1]overlay=enable='between(t,{FLASH + offset},{FLASH + offset + 0.05})'[v]",
                    "-map", "[v]", "-map", "2:a", "-c:v", "libx264", *video, "-c:a", "pcm_s16le", str(path)],
                   check=True)
    return path


def click(path: Path) -> float:
    """Where the click sounds, counted in samples from the file's start (as AVI plays it)."""
    with av.open(str(path)) as container:
        sound = np.concatenate([frame.to_ndarray().reshape(frame.samples, -1)[:, 0].astype(np.float64)
                                for frame in container.decode(audio=0)])
    return int(np.nonzero(np.abs(sound) > np.abs(sound).max() / 4)[0][0]) / 48000


def picture_times(path: Path) -> tuple[list[Fraction], Fraction]:
    """The reader's picture times (s) and that of the picture most unlike the others."""
    with VideoReader(path) as reader:
        frames = [item for item in reader.items() if isinstance(item, Frame)]
        tick = reader.time_base
    times = [frame.pts * tick for frame in frames]
    stack = np.stack([frame.image.astype(np.float64) for frame in frames])
    unlike = np.abs(stack - np.median(stack, axis=0)).mean(axis=(1, 2, 3))
    return times, times[int(np.argmax(unlike))]


@pytest.mark.parametrize("video", [(), ("-bf", "0"), ("-bf", "1", "-x264-params", "b-pyramid=0")],
                         ids=["b-pyramid", "no-b-frames", "one-b-frame"])
def test_an_avi_h264_picture_shows_with_its_sound(tmp_path, video):
    """The flash at 1 s with the click; the first picture at 0 (was 1/12 s late, 2/12 with a B-pyramid)."""
    source = flash_and_click(tmp_path / "in.avi", *video)
    times, flash = picture_times(source)
    assert times[0] == 0 and times == [Fraction(k, RATE) for k in range(len(times))], times[:4]
    assert abs(float(flash) - click(source)) < 0.001, (flash, click(source))


def test_an_avi_h264_video_starting_after_its_sound_keeps_its_time(tmp_path):
    """Pictures from 0.5 s, the sound from 0: not moved by the muxer, they keep their release slots."""
    source = flash_and_click(tmp_path / "in.avi", offset=0.5)
    times, flash = picture_times(source)
    assert times[0] == Fraction(1, 2), times[:4]
    assert abs(float(flash) - click(source)) < 0.001, (flash, click(source))


def test_an_avi_output_keeps_each_picture_in_its_slot(tmp_path):
    """Into .avi: a picture a slot from slot 0 (at 5 fps the first held three slots, each after it two late)."""
    source = tmp_path / "in.avi"
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=s=64x36:r=5:d=2",
                    "-f", "lavfi", "-i", "sine=r=48000:d=2", "-c:v", "libx264", "-pix_fmt", "yuv420p",
                    "-c:a", "pcm_s16le", str(source)], check=True)
    out = tmp_path / "out.avi"
    with VideoReader(source) as reader:
        copy_through(reader, out)
    with av.open(str(out)) as container:
        slots = [packet.dts for packet in container.demux(video=0) if packet.size]
    assert slots == list(range(10)), slots
