"""A late --start in a file that is not seeked (MPEG-TS/PS, whose timestamps may jump: broadcast
recordings, camcorders' .mts/.m2ts, DVD VOBs; image sequences): the video packets before it are
read but not decoded (`BeforeStart`), and the frames, their times and the sound are exactly those
a decode from the start gives, across splices, a 33-bit wrap, and a start at 10 h."""

from __future__ import annotations

import subprocess
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from realtime_adain.errors import UserError
from realtime_adain.video.frames import Frame
from realtime_adain.video.reader import VideoReader
from realtime_adain.video.segment import Segment

GOP = 25  # frames between keyframes (1 s at 25 fps)


def ffmpeg(*args: str | Path) -> None:
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", *map(str, args)], check=True)


def clip(path: Path, seconds: int = 12, *output: str) -> Path:
    """`seconds` of 64x48 testsrc (a frame counter) at 25 fps with a sine, H.264 with B-frames and
    AAC unless `output` says otherwise."""
    codecs = output or ("-c:v", "libx264", "-preset", "ultrafast", "-bf", "2", "-c:a", "aac")
    ffmpeg("-f", "lavfi", "-i", "testsrc=size=64x48:rate=25", "-f", "lavfi", "-i", "sine=sample_rate=48000",
           "-t", str(seconds), "-g", str(GOP), *codecs, path)
    return path


def read(path: Path, **options) -> tuple[list[tuple[Fraction, np.ndarray]], list[tuple[bytes, Fraction]], VideoReader]:
    """([(frame start, picture)], [(sound packet's bytes, start)], the reader), seconds on the output's timeline."""
    with VideoReader(path, **options) as reader:
        reader.video_time_base = reader.time_base  # (for after it is closed)
        frames, sound = [], []
        for item in reader.items():
            if isinstance(item, Frame):
                frames.append((item.pts * reader.time_base, item.image))
            elif item.stream.type == "audio":
                sound.append((bytes(item), item.pts * item.time_base))
    return frames, sound, reader


def assert_as_from_the_start(path: Path, start: Fraction, duration: Fraction) -> VideoReader:
    """The segment's frames, times and sound against the whole file's, cut by the same rules."""
    whole_frames, whole_sound, whole = read(path)
    frames, sound, reader = read(path, start=start, duration=duration)
    cut = Segment(whole.video_time_base, start, duration)
    wanted = [(at, image) for at, image in whole_frames
              if at + Fraction(1, 50) > start and at < start + duration]  # (half a frame: `Segment.ends_before`)
    assert len(frames) == len(wanted) > 0
    assert all(np.array_equal(a, b) for (_, a), (_, b) in zip(frames, wanted))
    assert frames[0][0] == 0 and [at for at, _ in frames[1:]] == [at - cut.shift for at, _ in wanted[1:]]
    heard = [(data, at - cut.shift) for data, at in whole_sound
             if at + Fraction(1024, 48000) > start and at < start + duration]
    assert [(data, at) for data, at in sound if any(data == d for d, _ in heard)] == heard
    return reader


def assert_decoded_little(reader: VideoReader, start: Fraction) -> None:
    """Only the GOPs just before the start were decoded: the others were passed over."""
    assert reader.skipped >= start * 25 - 3 * GOP  # (the pictures before it, passed or decoded)
    assert 0 < reader.skipped - reader.passed_over <= 3 * GOP


@pytest.mark.parametrize("kind", ["ts", "m2ts", "mts-ac3", "vob", "wrap", "10h"])
def test_a_late_start_decodes_only_the_last_gops_and_gives_the_same_frames(kind, tmp_path):
    """MPEG-TS (and its Blu-ray/AVCHD kin with AC-3), a DVD VOB (MPEG-2 with open GOPs and MP2),
    a TS whose 33-bit clock wraps (from 95440 s: at 95443.7 s), and one starting at 10 h."""
    if kind == "ts":
        source = clip(tmp_path / "in.ts")
    elif kind == "m2ts":
        ffmpeg("-i", clip(tmp_path / "in.ts"), "-c", "copy", source := tmp_path / "in.m2ts")
    elif kind == "mts-ac3":
        ffmpeg("-i", clip(tmp_path / "in.ts"), "-c:v", "copy", "-c:a", "ac3", "-mpegts_m2ts_mode", "1",
               source := tmp_path / "in.mts")
    elif kind == "vob":
        source = clip(tmp_path / "in.vob", 12, "-c:v", "mpeg2video", "-bf", "2", "-c:a", "mp2", "-f", "vob")
    else:
        offset = "95440" if kind == "wrap" else "36000"
        ffmpeg("-i", clip(tmp_path / "in.ts"), "-c", "copy", "-output_ts_offset", offset, source := tmp_path / "o.ts")
    start = Fraction(9) + Fraction(1, 100)  # (past the wrap: 95440 + 1.4 + 9 > 95443.7)
    reader = assert_as_from_the_start(source, start, Fraction(2))
    assert_decoded_little(reader, start)
    assert not reader.seeked


def test_joined_segments_keep_their_timeline(tmp_path, capsys):
    """Two recordings joined (each clock from 1.4 s): the second's frames continue the timeline,
    as a read from the start puts them, with the packets before the start never decoded."""
    first, second = clip(tmp_path / "a.ts", 6), clip(tmp_path / "b.ts", 6)
    joined = tmp_path / "joined.ts"
    joined.write_bytes(first.read_bytes() + second.read_bytes())
    reader = assert_as_from_the_start(joined, Fraction(9), Fraction(1))
    assert_decoded_little(reader, Fraction(9))
    assert "the timestamps jump" in capsys.readouterr().err


def test_a_numbered_sequence_passes_over_its_pictures_keeping_their_numbers(tmp_path):
    """PNGs before the start are read but not decoded; the segment's pictures, their times and
    numbers are those a decode from the start gives (the first kept is 0076.png)."""
    (tmp_path / "seq").mkdir()
    ffmpeg("-f", "lavfi", "-i", "testsrc=size=64x48:rate=25", "-t", "4", "-start_number", "1",
           tmp_path / "seq" / "%04d.png")
    pattern = tmp_path / "seq" / "%04d.png"
    whole, _, _ = read(pattern, framerate=Fraction(25))
    frames, _, reader = read(pattern, framerate=Fraction(25), start=Fraction(3), duration=Fraction(1, 5))
    assert len(frames) == 5 and all(np.array_equal(a, b) for (_, a), (_, b) in zip(frames, whole[75:80]))
    assert [at for at, _ in frames] == [Fraction(i, 25) for i in range(5)]
    assert reader.skipped == 75 and reader.passed_over == 48  # (decoded from 0049.png)


def test_a_start_past_the_end_of_a_ts_names_its_length(tmp_path):
    """The file's last GOPs are decoded after all: its last picture tells the length (the same
    as a decode from the start finds: the AAC's priming runs the TS 21 ms on)."""
    source = clip(tmp_path / "in.ts", 6)
    with pytest.raises(UserError, match=r"past the end of the video, which lasts 6\.021 s"):
        VideoReader(source, start=Fraction(7))
