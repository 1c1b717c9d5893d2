"""Session 51: two untrue or vague messages on damaged files. One 188-byte TS packet lost from a
keyframe's start: the decoder gave nothing for the 8 pictures after it (they refer to it), 63 of
72 pictures as FFmpeg plays it, a 0.42 s jump; the note said "1 picture lost (the video's packets
break off for 0.08 s at 1.40 s)". Now the pictures' own jump beside the damage is counted too. A
fragmented MP4 cut inside a fragment's header was "not a readable video (End of file)"; now the
error says the file ends inside its header, as the moov-less MP4's says why."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import av
import pytest

from realtime_adain.errors import UserError
from realtime_adain.video.reader import VideoReader
from test_fixes50_damage_notes import ffmpeg_frames, read

PICTURES = 72  # 3 s at 24 fps
TS_PACKET = 188


def ffmpeg(*arguments: str) -> None:
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", *arguments], check=True)


def damage_notes(err: str, name: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith(f"note: {name}:") and "decodes is stylized" in line]


def without_a_keyframes_first_packet(source: Path, target: Path) -> Path:
    """`source` (MPEG-TS) without the TS packet that begins the keyframe in its middle: the PES
    header and the keyframe's first bytes (a packet's `pos` is where its PES begins)."""
    with av.open(str(source)) as container:
        starts = [packet.pos for packet in container.demux(video=0) if packet.size and packet.is_keyframe]
    at = starts[len(starts) // 2]
    data = source.read_bytes()
    assert at % TS_PACKET == 0
    target.write_bytes(data[:at] + data[at + TS_PACKET:])
    return target


def test_pictures_a_lost_keyframe_takes_with_it_are_counted(tmp_path, capsys):
    source = tmp_path / "full.ts"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=s=128x96:r=24:d=3", "-f", "lavfi", "-i", "sine=d=3", "-c:v", "libx264",
           "-g", "12", "-c:a", "aac", str(source))
    damaged = without_a_keyframes_first_packet(source, tmp_path / "dropped.ts")
    frames = read(damaged)
    assert frames == ffmpeg_frames(damaged) == PICTURES - 9  # (all that decodes, as before)
    notes = damage_notes(capsys.readouterr().err, damaged.name)
    assert len(notes) == 1, notes
    lost = re.search(r"(\d+) pictures lost \(the video's packets break off for 0\.08 s at [\d.]+ s, and (\d+) more "
                     r"give no picture: the pictures jump 0\.42 s at [\d.]+ s\)", notes[0])
    assert lost and frames + int(lost.group(1)) == PICTURES and lost.group(2) == "8", notes


def test_a_rate_that_drops_where_mpeg_ts_files_are_joined_is_no_loss(tmp_path, capsys):
    """50 fps then 25 fps with B-frames, joined with `cat`: the demuxer flags the packet at the
    join corrupt, and the pictures' step doubles there; nothing is lost ("4 pictures lost" was
    said while the pictures' steps were measured across the join)."""
    parts = []
    for rate in (50, 25):
        part = tmp_path / f"{rate}.ts"
        ffmpeg("-f", "lavfi", "-i", f"testsrc2=s=64x48:r={rate}:d=1", "-c:v", "libx264", "-bf", "3", str(part))
        parts.append(part.read_bytes())
    joined = tmp_path / "joined.ts"
    joined.write_bytes(b"".join(parts))
    assert read(joined) == 75
    err = capsys.readouterr().err
    assert not damage_notes(err, joined.name), err


def test_a_fragmented_mp4_cut_inside_a_fragment_header_says_why(tmp_path):
    whole = tmp_path / "whole.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=s=96x64:r=24:d=3", "-f", "lavfi", "-i", "sine=f=440:d=3", "-c:v", "libx264",
           "-c:a", "aac", "-shortest", "-movflags", "frag_keyframe+empty_moov", str(whole))
    data = whole.read_bytes()
    cut = tmp_path / "cut.mp4"
    moof = data.index(b"moof") - 4
    for end in range(moof + 8, moof + int.from_bytes(data[moof:moof + 4], "big")):  # a cut FFmpeg refuses with EOF
        cut.write_bytes(data[:end])
        try:
            av.open(str(cut)).close()
        except av.error.EOFError:
            break
        except av.error.FFmpegError:
            continue
    else:
        pytest.fail("no cut inside the first fragment's header ends with FFmpeg's end-of-file error")
    with pytest.raises(UserError) as refused:
        VideoReader(cut)
    assert str(refused.value) == (f"{cut}: not a readable video: the file ends inside its header (a file cut short, "
                                  "or a recording still being written: try again when it is finished)")
