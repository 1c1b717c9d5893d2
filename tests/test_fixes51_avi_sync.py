"""A `--start` segment into .avi keeps its sound in sync with its pictures. AVI plays sound from
the file's start, so the first sound packet, which starts before the segment does, played from
zero: 0.5 s PCM packets and `--start 0.75` put the sound 0.25 s late (the .mkv, .mov and .mp4 in
sync); 1024-sample PCM, AAC and re-encoded Opus 17 to 33 ms late. PCM and re-encoded sound are now
cut to the sample, compressed packets kept or dropped within half a packet. The pictures land on
AVI's frame slots, within half a frame of their time: the offset allowed."""

from __future__ import annotations

import subprocess
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from realtime_adain.video.job import output_format
from realtime_adain.video.reader import VideoReader
from test_video_io import copy_through

RATE = 12  # fps: half a frame is 42 ms
FLASH = 1.0  # s: a picture of another pattern and a 10 ms 1 kHz click, together


def flash_and_click(path: Path, *audio: str) -> Path:
    """3 s at 12 fps, 64x48: one picture (at 1 s) of another pattern, a click at the same time."""
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i", f"smptebars=s=64x48:r={RATE}:d=3",
                    "-f", "lavfi", "-i", f"testsrc=s=64x48:r={RATE}:d=3", "-f", "lavfi", "-i",
                    f"aevalsrc=if(between(t\\,{FLASH}\\,{FLASH + 0.01})\\,0.8*sin(2*PI*1000*t)\\,0):s=48000:d=3",
                    "-filter_complex", "[0][1]overlay=enable='between(t,1,1.05)'[v]", "-map", "[v]", "-map", "2:a",
                    "-c:v", "libx264", "-g", "6", "-bf", "0", *audio, str(path)], check=True)
    return path


def segment_to_avi(source: Path, out: Path, start: str, duration: str) -> None:
    """The segment written as `video` writes it, its pictures unstylized (the model changes no time)."""
    with VideoReader(source, start=Fraction(start), duration=Fraction(duration)) as reader:
        assert reader.first_frame is not None
        height, width = reader.first_frame.image.shape[:2]
        copy_through(reader, out, output_format(reader, width, height))


def click_and_flash(path: Path) -> tuple[float, float]:
    """Where the click sounds (counted in samples from the file's start, as AVI plays it) and
    where the picture most unlike the others shows (s)."""
    with av.open(str(path)) as container:
        rate = container.streams.audio[0].sample_rate
        sound = np.concatenate([frame.to_ndarray().reshape(frame.samples, -1)[:, 0].astype(np.float64)
                                for frame in container.decode(audio=0)])
    peak = np.abs(sound).max()
    click = int(np.nonzero(np.abs(sound) > peak / 4)[0][0]) / rate
    with av.open(str(path)) as container:  # (each picture shows in its decode-time slot: no B-frames in AVI)
        stream = container.streams.video[0]
        slots = [packet.dts * stream.time_base for packet in container.demux(video=0) if packet.size]
    with av.open(str(path)) as container:
        pictures = [frame.to_ndarray(format="gray").astype(np.float64) for frame in container.decode(video=0)]
    stack = np.stack(pictures)
    unlike = np.abs(stack - np.median(stack, axis=0)).mean(axis=(1, 2))
    return click, float(slots[int(np.argmax(unlike))])


@pytest.mark.parametrize("audio, start, duration, sound_within", [
    # PCM in 0.5 s packets, the one at 0.5 s overlapping the start: its first 0.25 s cut (was 0.25 s late).
    (("-af", "asetnsamples=n=24000", "-c:a", "pcm_s16le"), "0.75", "1.0", 0.001),
    # AAC (1024 samples a packet) kept or dropped, within half a packet (was 17 ms late).
    (("-c:a", "aac"), "0.55", "1.2", 512 / 48000),
    # Opus (not held in .avi), re-encoded to MP3: its first frame and the encoder's delay cut (was 33 ms late).
    (("-c:a", "libopus"), "0.55", "1.2", 0.008),
])
def test_an_avi_segments_sound_is_in_sync(tmp_path, audio, start, duration, sound_within):
    source = flash_and_click(tmp_path / ("in.mp4" if "aac" in audio else "in.mkv"), *audio)
    out = tmp_path / "out.avi"
    segment_to_avi(source, out, start, duration)
    click, flash = click_and_flash(out)
    expected = FLASH - float(start)
    assert abs(click - expected) <= sound_within, (click, expected)
    assert abs(flash - expected) <= 1 / (2 * RATE) + 1e-6, (flash, expected)
    assert abs(click - flash) <= 1 / (2 * RATE) + sound_within, (click, flash)
