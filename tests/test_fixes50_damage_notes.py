"""Session 50: damage in the middle of a Matroska or MPEG-TS file was passed on without a word.
The Matroska demuxer resyncs past garbage to the next cluster (a 0.5 s hole, 61 of 72 frames) and
MPEG-TS's flags a packet corrupt and loses the next ones (70 of 72, a picture concealed): the run
kept what decodes, as FFmpeg does, but said nothing, where an MP4 with the same damage got a note.
Now one note says what was lost; clean files, a pause in variable-rate video and MPEG-TS files
joined with `cat` (whose join the demuxer flags corrupt) get none."""

from __future__ import annotations

import random
import re
import subprocess
from fractions import Fraction
from pathlib import Path

import av
import pytest

from realtime_adain.video.frames import Frame
from realtime_adain.video.reader import VideoReader

PICTURES = 72  # 3 s at 24 fps


def clip(path: Path) -> Path:
    """The issue's clip: 3 s of 128x96 H.264 (a keyframe every 12 pictures) with AAC sound."""
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-f", "lavfi", "-i", "testsrc2=s=128x96:r=24:d=3", "-f",
                    "lavfi", "-i", "sine=d=3", "-c:v", "libx264", "-g", "12", "-c:a", "aac", str(path)], check=True)
    return path


def garbled(source: Path, target: Path, where: float = 0.5, count: int = 3000) -> Path:
    """`source` with `count` fixed garbage bytes written over it `where` into it (the issue's
    `dd if=/dev/urandom ... seek=$((sz/2)) count=3000 conv=notrunc`)."""
    data = bytearray(source.read_bytes())
    at = int(len(data) * where)
    data[at:at + count] = random.Random(50).randbytes(count)
    target.write_bytes(bytes(data))
    return target


def ffmpeg_frames(path: Path) -> int:
    """How many pictures FFmpeg's own decoding (ffprobe -count_frames) gets."""
    out = subprocess.run(["ffprobe", "-v", "quiet", "-count_frames", "-select_streams", "v:0", "-show_entries",
                          "stream=nb_read_frames", "-of", "csv=p=0", str(path)], capture_output=True, text=True,
                         check=True).stdout
    return int(out.split()[0].strip(","))


def read(path: Path) -> int:
    with VideoReader(path) as reader:
        return sum(1 for item in reader.items() if isinstance(item, Frame))


@pytest.mark.parametrize("ext", ["mkv", "ts"])
def test_damage_mid_file_is_said_in_one_note(tmp_path, capsys, ext):
    damaged = garbled(clip(tmp_path / f"full.{ext}"), tmp_path / f"corrupt_mid.{ext}")
    frames = read(damaged)
    assert frames == ffmpeg_frames(damaged) < PICTURES  # (all that decodes, as before)
    notes = [line for line in capsys.readouterr().err.splitlines() if line.startswith(f"note: {damaged.name}:")]
    assert len(notes) == 1, notes
    lost = re.search(r"(\d+) pictures? lost \(the video's packets break off for [\d.]+ s at [\d.]+ s\)", notes[0])
    assert lost and frames + int(lost.group(1)) == PICTURES, notes
    assert "1 picture decoded with errors concealed" in notes[0], notes
    assert "what decodes is stylized" in notes[0]


def test_a_matroska_stretch_lost_beside_no_concealed_picture_is_said(tmp_path, capsys):
    """Garbage over block headers: every block read decodes clean, and the demuxer passed over
    the rest of the cluster; the bytes it passed over tell the damage."""
    damaged = garbled(clip(tmp_path / "full.mkv"), tmp_path / "lost.mkv", where=0.2, count=1000)
    frames = read(damaged)
    assert frames == ffmpeg_frames(damaged) < PICTURES
    err = capsys.readouterr().err
    lost = re.search(r"lost.mkv: (\d+) pictures? lost", err)
    assert lost and frames + int(lost.group(1)) == PICTURES and "concealed" not in err, err


def test_the_matroska_hole_is_said_with_its_length(tmp_path, capsys):
    damaged = garbled(clip(tmp_path / "full.mkv"), tmp_path / "corrupt_mid.mkv")
    assert read(damaged) == 61
    assert ("corrupt_mid.mkv: 11 pictures lost (the video's packets break off for 0.50 s at 1.52 s)"
            in capsys.readouterr().err)


def flat_ts(path: Path, rate: int) -> bytes:
    """0.4 s of a flat colour at `rate` fps, H.264 in MPEG-TS."""
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-f", "lavfi", "-i",
                    f"color=c=0xC03020:size=64x48:rate={rate}:duration=0.4", "-c:v", "libx264", str(path)], check=True)
    return path.read_bytes()


def paused_mkv(path: Path) -> Path:
    """Variable-rate H.264 in Matroska: 48 pictures at 24 fps with a one-second pause mid-way."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=24)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        stream.time_base = stream.codec_context.time_base = Fraction(1, 1000)
        for index in range(48):
            frame = av.VideoFrame(64, 48, "yuv420p")
            for plane in frame.planes:
                plane.update(bytes([index * 5 % 256]) * plane.buffer_size)
            frame.pts = index * 42 + (1000 if index >= 24 else 0)
            frame.time_base = stream.time_base
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


def no_damage_said(err: str) -> bool:
    return "lost" not in err and "concealed" not in err and "damaged" not in err


def test_mpeg_ts_files_joined_with_cat_get_no_damage_note(tmp_path, capsys):
    """25 fps then 50 fps, joined with `cat`: the demuxer flags the packet at the join corrupt,
    nothing is lost, and the timeline is continued across the join with a step of its own
    ("1 picture lost" was said)."""
    joined = tmp_path / "joined.ts"
    joined.write_bytes(flat_ts(tmp_path / "a.ts", 25) + flat_ts(tmp_path / "b.ts", 50))
    with av.open(str(joined)) as container:
        assert any(packet.is_corrupt for packet in container.demux(video=0))
    assert read(joined) == 30
    err = capsys.readouterr().err
    assert no_damage_said(err), err


def test_a_pause_in_matroska_gets_no_damage_note(tmp_path, capsys):
    """A variable-rate clip's pause is no loss, nor are the bytes of a track left unread beside it."""
    paused = paused_mkv(tmp_path / "paused.mkv")
    two = tmp_path / "paused_and_another.mkv"
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", str(paused), "-f", "lavfi", "-i",
                    "testsrc2=s=48x32:r=24:d=2", "-map", "0:v", "-map", "1:v", "-c:v:0", "copy", "-c:v:1", "libx264",
                    "-g", "12", str(two)], check=True)
    assert (read(paused), read(two)) == (48, 48)
    err = capsys.readouterr().err
    assert no_damage_said(err), err
