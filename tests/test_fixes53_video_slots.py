"""Video timing after `--start` (session 53). A 24 fps .mkv cut with `-c copy` (milliseconds, B-frames)
and `--start 1.5 --duration 1` into .avi kept 11 of its 15 frames (slots 0 1 2 4 5 7 8 ...): the
slots were counted from the first frame's time as written, zero, where it is shown from, its own
time 21 ms earlier. A `--start` inside the last picture's sliver was "at or past the end of the
video, which lasts 3.022 s" for 3.005 s; a timestamp moved on was named in bare ticks ("at 295")."""

from __future__ import annotations

import subprocess
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from realtime_adain.errors import UserError
from realtime_adain.video.encoder_settings import EncodeSettings
from realtime_adain.video.reader import VideoReader
from realtime_adain.video.writer import VideoFormatOut, VideoWriter
from test_video_io import copy_through

FFMPEG = ["ffmpeg", "-nostdin", "-v", "error", "-y"]


def cut_copy_mkv(tmp_path: Path) -> Path:
    """24 fps H.264 with a B-pyramid and AAC, cut at 1.3 s with `-c copy` into Matroska: times in
    milliseconds, the video starting at 0.104 s."""
    whole, cut = tmp_path / "bpyr.mp4", tmp_path / "cutcopy.mkv"
    subprocess.run([*FFMPEG, "-f", "lavfi", "-i", "testsrc2=size=64x48:rate=24:duration=3", "-f", "lavfi", "-i",
                    "sine=frequency=440:sample_rate=48000:duration=3", "-c:v", "libx264", "-x264-params",
                    "bframes=3:b-pyramid=normal:keyint=24", "-c:a", "aac", str(whole)], check=True)
    subprocess.run([*FFMPEG, "-ss", "1.3", "-i", str(whole), "-c", "copy", str(cut)], check=True)
    return cut


@pytest.mark.slow  # (about 4 s; the next test checks the slots' count alone)
def test_a_segment_into_avi_keeps_every_frame_in_consecutive_slots(tmp_path, capsys):
    """Was 11 frames in slots 0 1 2 4 5 7 8 10 11 13 14 and "the video runs faster than the output's
    24 fps in places": the frames after the first sat at 0.504, 1.488, 2.496 slots from zero, two
    now and then in one. `ffmpeg -ss 1.5 -t 1` keeps 15 as .mp4, 14 as .avi."""
    out = tmp_path / "cut.avi"
    with VideoReader(cut_copy_mkv(tmp_path), start=Fraction(3, 2), duration=Fraction(1)) as reader:
        copy_through(reader, out)
    with av.open(str(out)) as container:
        slots = [packet.dts for packet in container.demux(video=0) if packet.size]
    assert slots == list(range(15))
    assert "faster than the output" not in capsys.readouterr().err


def test_a_first_frame_with_half_its_time_left_still_leaves_the_next_a_slot(tmp_path, capsys):
    """The slots are counted from where the first frame ends, a slot after its own at least: a
    first frame of 1/24 s shown from zero for 20 ms (its end at 0.48 slot) put the next frame in
    its slot, and every later one a slot on (two in one slot, one dropped)."""
    out = tmp_path / "half.avi"
    spec = VideoFormatOut(32, 32, Fraction(1, 1000), Fraction(24), base_rate=Fraction(24))
    writer = VideoWriter(out, EncodeSettings(), spec, [])
    times = [0, 20, 62, 104, 145, 187, 229, 270]  # ms: 24 fps from -21.7 ms, the first shown from zero
    for index, (pts, following) in enumerate(zip(times, times[1:] + [312])):
        writer.write_frame(np.full((32, 32, 3), index * 20, np.uint8), pts, following - pts)
    writer.close()
    with av.open(str(out)) as container:
        slots = [packet.dts for packet in container.demux(video=0) if packet.size]
    assert slots == list(range(len(times)))
    assert "faster than the output" not in capsys.readouterr().err


def offset_clip(tmp_path: Path) -> Path:
    """1 s at 24 fps with AAC, its timestamps from 10 s: on the timeline from zero (the sound's
    priming first) the last picture shows from 0.980 to 1.022 s."""
    path = tmp_path / "off10.mp4"
    subprocess.run([*FFMPEG, "-f", "lavfi", "-i", "testsrc2=size=64x48:rate=24:duration=1", "-f", "lavfi", "-i",
                    "sine=frequency=440:sample_rate=48000:duration=1", "-c:v", "libx264", "-c:a", "aac",
                    "-output_ts_offset", "10", str(path)], check=True)
    return path


def test_a_start_in_the_last_pictures_sliver_says_so(tmp_path):
    """Was "--start 3.005 s is at or past the end of the video, which lasts 3.022 s" for a 3 s clip
    (3.005 < 3.022): the last picture would show for 17 ms of its 42, under half its time, so none
    is kept. And a start in the last millisecond was said rounded, as the video's length."""
    clip = offset_clip(tmp_path)
    with pytest.raises(UserError) as refused:
        VideoReader(clip, start=Fraction("1.005"))
    assert str(refused.value) == (f"{clip}: --start 1.005 s leaves only 0.017 s of the last picture (the video lasts "
                                  "1.022 s), under half its time: too little to keep; give an earlier --start")
    with pytest.raises(UserError) as refused:
        VideoReader(clip, start=Fraction("1.0219"))  # (the user's digits, not "1.022 s")
    assert str(refused.value) == (f"{clip}: --start 1.0219 s leaves under 1 ms of the last picture (the video "
                                  "lasts 1.022 s): too little to keep; give an earlier --start")
    with pytest.raises(UserError) as refused:
        VideoReader(clip, start=Fraction("1.0304"))
    assert str(refused.value) == f"{clip}: --start 1.0304 s is at or past the end of the video, which lasts 1.022 s"


def test_a_timestamp_moved_on_is_named_in_seconds(tmp_path, capsys):
    """Was "frame timestamps that do not increase (at 295); moving them one tick later": ticks of
    the output's time base, which the user never sees."""
    out = tmp_path / "moved.mkv"
    writer = VideoWriter(out, EncodeSettings(), VideoFormatOut(32, 32, Fraction(1, 1000), Fraction(24)), [])
    for index, pts in enumerate([0, 42, 83, 83, 167]):
        writer.write_frame(np.full((32, 32, 3), index * 40, np.uint8), pts, 42)
    writer.close()
    err = capsys.readouterr().err
    assert "frame timestamps that do not increase (at 0.083 s in the output); moving them one tick later" in err
