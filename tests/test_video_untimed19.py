"""A video whose packets carry no timestamps in a format that stores them (an MPEG-TS whose PES
headers leave them out): its frames are shown one after another from the start, as FFmpeg's tools
time them. `--frames` failed with a TypeError traceback, and `--start 1` of a 3 s clip gave 1 s."""

from __future__ import annotations

import subprocess
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from realtime_adain.video.frames import Frame
from realtime_adain.video.reader import VideoReader
from test_attack_ts18 import TS_PACKET, pid_of
from test_video_realworld_inputs import stylize, style  # noqa: F401  (a fixture)


def without_video_timestamps(data: bytes, pid: int) -> bytes:
    """`data` (MPEG-TS) with the PTS/DTS flags of each PES of `pid` cleared (the header keeps its
    length: the demuxer skips the bytes)."""
    out = bytearray(data)
    for at in range(0, len(out) - TS_PACKET + 1, TS_PACKET):
        if out[at] != 0x47 or not out[at + 1] & 0x40 or pid_of(out[at:at + 3]) != pid:
            continue
        start = at + 4 + (1 + out[at + 4] if out[at + 3] & 0x20 else 0)
        if out[start:start + 3] == b"\0\0\1":
            out[start + 7] &= 0x3F
    return bytes(out)


@pytest.fixture(scope="module")
def untimed(tmp_path_factory) -> Path:
    """2 s of 64x48 H.264 (B-frames) at 25 fps with AAC, the video's timestamps cleared."""
    folder = tmp_path_factory.mktemp("untimed")
    timed = folder / "timed.ts"
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-f", "lavfi", "-i", "testsrc=size=64x48:rate=25",
                    "-f", "lavfi", "-i", "sine=sample_rate=48000", "-t", "2", "-c:v", "libx264", "-preset",
                    "ultrafast", "-bf", "2", "-g", "10", "-c:a", "aac", str(timed)], check=True)
    with av.open(str(timed)) as container:
        pid = container.streams.video[0].id
    path = folder / "untimed.ts"
    path.write_bytes(without_video_timestamps(timed.read_bytes(), pid))
    with av.open(str(path)) as container:
        assert all(p.pts is None and p.dts is None for p in container.demux(video=0) if p.size)
    return path


def read(path: Path) -> tuple[list[av.VideoFrame], float]:
    """The output's pictures and its sound's length (s)."""
    with av.open(str(path)) as container:
        pictures = list(container.decode(video=0))
    with av.open(str(path)) as container:
        sound = container.streams.audio[0]
        samples = sum(f.samples for f in container.decode(sound))
        return pictures, samples / sound.rate


def test_a_preview_of_an_untimed_video_keeps_its_sound_under_it(run_cli, weights_env, style, untimed, tmp_path):
    stylize(run_cli, untimed, style, tmp_path / "p.mp4", "--frames", "5")
    pictures, sound = read(tmp_path / "p.mp4")
    assert len(pictures) == 5
    assert 0.18 <= sound <= 0.25, sound


def test_a_late_start_in_an_untimed_video_starts_at_its_picture(untimed):
    """--start 1 is the 26th picture of 50 (at 1.00 s), shown from zero; its times follow on."""
    with VideoReader(untimed) as reader:
        whole = [item for item in reader.items() if isinstance(item, Frame)]
    with VideoReader(untimed, start=Fraction(1)) as reader:
        late = [item for item in reader.items() if isinstance(item, Frame)]
    assert [f.pts for f in whole] == [n * 3600 for n in range(50)]
    assert [f.pts for f in late] == [n * 3600 for n in range(25)]
    assert all(np.array_equal(a.image, b.image) for a, b in zip(late, whole[25:]))


@pytest.mark.slow  # (default run's time, 2026-12-07: a rarer variant; the corpus and `-m slow` runs keep it)
def test_a_late_start_keeps_the_sound_from_there(run_cli, weights_env, style, untimed, tmp_path):
    stylize(run_cli, untimed, style, tmp_path / "late.mp4", "--start", "1")
    pictures, sound = read(tmp_path / "late.mp4")
    assert len(pictures) == 25
    assert abs(sound - 1) < 0.05, sound
