"""Damaged and oddly joined video files: the reader keeps every frame the FFmpeg CLI keeps, with
increasing timestamps, and never stops with a traceback (docs/video.md, "Broken timestamps,
dropped frames, odd files"). Each file is made here, a few frames small."""

from __future__ import annotations

import random
import subprocess
from fractions import Fraction
from pathlib import Path

import av
import pytest

from realtime_adain.video.frames import Frame
from realtime_adain.video.reader import VideoReader
from video_samples import gradient_frames, write_video


def ffmpeg_frames(path: Path) -> int:
    """How many frames `ffprobe -count_frames` (FFmpeg's own decoding) gets from the video."""
    out = subprocess.run(["ffprobe", "-v", "quiet", "-count_frames", "-select_streams", "v:0", "-show_entries",
                          "stream=nb_read_frames", "-of", "csv=p=0", str(path)],
                         capture_output=True, text=True, check=True).stdout
    return int(out.split()[0].strip(","))


def ffmpeg_cli_frames(path: Path) -> int:
    """How many frames `ffmpeg -i PATH -f null -` decodes (where ffprobe 5.1 crashes)."""
    out = subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", str(path), "-map", "0:v:0", "-fps_mode", "passthrough",
                          "-f", "null", "-", "-progress", "pipe:1"], capture_output=True, text=True, check=True).stdout
    return int([line for line in out.splitlines() if line.startswith("frame=")][-1].split("=")[1])


def our_frames(path: Path) -> list[Frame]:
    with VideoReader(path) as reader:
        return [item for item in reader.items() if isinstance(item, Frame)]


def remux_damaged(source: Path, target: Path, garble: set[int] = frozenset(), drop: set[int] = frozenset()) -> Path:
    """`source` copied packet by packet into `target`, the video packets at the given decode
    positions (negative: from the end) garbled after their first bytes, or left out: damage
    inside a container that is itself intact."""
    with av.open(str(source)) as counting:
        total = sum(1 for packet in counting.demux(video=0) if packet.size)
    garble = {i % total for i in garble}
    drop = {i % total for i in drop}
    with av.open(str(source)) as inp, av.open(str(target), "w") as out:
        video = inp.streams.video[0]
        copy = out.add_stream_from_template(video)
        position = 0
        for packet in inp.demux(video):
            if not packet.size:
                continue
            here, position = position, position + 1
            if here in drop:
                continue
            if here in garble:
                data = bytearray(bytes(packet))
                rng = random.Random(here)
                for i in range(8, min(len(data), 60)):
                    data[i] ^= rng.randrange(1, 256)
                damaged = av.Packet(bytes(data))
                damaged.pts, damaged.dts, damaged.duration = packet.pts, packet.dts, packet.duration
                damaged.time_base, damaged.is_keyframe = packet.time_base, packet.is_keyframe
                packet = damaged
            packet.stream = copy
            out.mux(packet)
    return target


def assert_increasing(frames: list[Frame]) -> None:
    stamps = [frame.pts for frame in frames]
    assert None not in stamps and all(b > a for a, b in zip(stamps, stamps[1:])), stamps


@pytest.mark.parametrize("last", [1, 2])
def test_damage_in_the_last_packets_loses_no_frame_to_frame_threads(tmp_path, last):
    """Draining a frame-threaded decoder at the end of the file, FFmpeg reports a damaged packet
    among the last ones (one per thread) and PyAV stops draining there: the frames the other
    threads held were lost, and the file was refused ("truncated or corrupt: only 22 of 24 frames
    decode") where `ffmpeg` plays 23. They are decoded again without frame threads."""
    clean = write_video(tmp_path / "clean.mp4", gradient_frames(24, 64, 64), options={"bf": "3"})
    damaged = remux_damaged(clean, tmp_path / "damaged.mp4", garble={-last})
    frames = our_frames(damaged)
    assert len(frames) == ffmpeg_frames(damaged) >= 22
    assert_increasing(frames)


def test_hevc_keeps_the_frames_that_follow_a_damaged_one(tmp_path):
    """FFmpeg 8's HEVC decoder (PyAV's) drops every frame that refers to a damaged or missing one,
    up to the next keyframe, unless asked to output corrupt frames: a lost keyframe cost its whole
    GOP and the file was refused as truncated, where the `ffmpeg` CLI plays it concealed."""
    clean = write_video(tmp_path / "clean.mp4", gradient_frames(36, 64, 64), codec="libx265",
                        options={"x265-params": "log-level=error:keyint=12:min-keyint=12:scenecut=0:bframes=2"})
    with av.open(str(clean)) as container:
        keyframes = [i for i, p in enumerate(p for p in container.demux(video=0) if p.size) if p.is_keyframe]
    assert len(keyframes) == 3, keyframes
    damaged = remux_damaged(clean, tmp_path / "damaged.mp4", drop={keyframes[-1]})
    frames = our_frames(damaged)
    assert len(frames) == ffmpeg_frames(damaged) == 35
    assert_increasing(frames)


def test_a_stream_cut_mid_gop_starts_at_its_first_whole_picture(tmp_path):
    """The decoder outputs corrupt frames (previous test), but not those before the first clean
    one: an MPEG-TS cut at an arbitrary byte starts with pictures whose references are missing,
    which FFmpeg does not show either."""
    clean = tmp_path / "clean.ts"
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=64x64:rate=25:duration=2",
                    "-c:v", "libx264", "-g", "25", "-bf", "2", str(clean)], check=True)
    data = clean.read_bytes()
    cut = tmp_path / "cut.ts"
    cut.write_bytes(data[len(data) // 4 + 17:])
    frames = our_frames(cut)
    assert len(frames) == ffmpeg_frames(cut) == 25
    assert_increasing(frames)


def mpeg_crc32(data: bytes) -> int:
    """The CRC of MPEG-TS tables (CRC-32/MPEG-2)."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte << 24
        for _ in range(8):
            crc = ((crc << 1) ^ 0x04C11DB7 if crc & 0x80000000 else crc << 1) & 0xFFFFFFFF
    return crc


def announce_a_stream(ts: bytes, start: float, stop: float, pid: int = 0x300) -> bytes:
    """`ts` with its program tables between `start` and `stop` (fractions of the file) announcing
    one more stream, as a new table version: the demuxer adds a stream when it reads them."""
    out = bytearray(ts)
    for at in range(int(len(ts) * start) // 188 * 188, int(len(ts) * stop) - 187, 188):
        if out[at] != 0x47 or not out[at + 1] & 0x40 or out[at + 5] != 0x02:  # no PMT section starts here
            continue
        length = ((out[at + 6] & 0x0F) << 8) | out[at + 7]
        table = bytearray(out[at + 5:at + 8 + length - 4])  # without its CRC
        table += bytes([0x0F, 0xE0 | pid >> 8, pid & 0xFF, 0xF0, 0x00])  # AAC at `pid`, no descriptors
        length += 5
        table[1], table[2] = (table[1] & 0xF0) | length >> 8, length & 0xFF
        table[5] = (table[5] & 0xC1) | ((table[5] >> 1) + 1) % 32 << 1  # the next version
        table += mpeg_crc32(bytes(table)).to_bytes(4, "big")
        out[at + 5:at + 5 + len(table)] = table
    return bytes(out)


def test_a_stream_that_appears_mid_file_ends_the_file_without_a_traceback(tmp_path):
    """MPEG-TS can announce a new stream mid-file (a damaged or updated program table): PyAV's
    end-of-file loop then failed with an IndexError (a traceback, the output lost). The table
    changes after FFmpeg's 5 s of probing and before the end it reads for the duration."""
    clean = tmp_path / "clean.ts"
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=160x120:rate=25:duration=10",
                    "-f", "lavfi", "-i", "sine=duration=10", "-c:v", "mpeg2video", "-q:v", "1", "-c:a", "mp2",
                    str(clean)], check=True)
    changed = tmp_path / "changed.ts"
    changed.write_bytes(announce_a_stream(clean.read_bytes(), 0.6, 0.7))
    with av.open(str(changed)) as container:
        assert len(container.streams) == 2  # the third appears as the file is read
    frames = our_frames(changed)
    assert len(frames) == ffmpeg_cli_frames(changed) == 250  # (ffprobe 5.1 crashes on it)
    assert_increasing(frames)


def test_a_frame_lasts_until_the_next_one_shows(tmp_path):
    """The decoder's frame durations follow decode order (an MP4's are its decode-time steps): with
    B-frames, the frame after a 10-minute pause was said to last 10 minutes too, and the output
    MP4 of a 601 s clip lasted 1199 s."""
    pts = list(range(12)) + [15000 + i for i in range(12)]  # 1/25 s: half a second, 10 minutes of nothing, half a second
    source = write_video(tmp_path / "gap.mp4", gradient_frames(24, 64, 48), pts, Fraction(1, 25), options={"bf": "3"})
    frames = our_frames(source)
    assert len(frames) == 24
    assert_increasing(frames)
    assert [f.duration for f in frames[:-1]] == [b.pts - a.pts for a, b in zip(frames, frames[1:])]
    assert frames[-1].duration == frames[0].duration  # the last keeps its own: one frame at 25 fps


def test_a_pixel_shape_change_mid_stream_is_noted(tmp_path, capsys):
    """Clips joined into one MPEG-TS may change the sample aspect ratio: every frame keeps the first
    frame's geometry, as `ffmpeg` keeps it, and a note says so."""
    parts = []
    for sar in ("1", "4/3"):
        part = tmp_path / f"sar{len(parts)}.ts"
        subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-f", "lavfi", "-i",
                        "testsrc2=size=64x48:rate=25:duration=0.4", "-vf", f"setsar={sar}", "-c:v", "libx264",
                        str(part)], check=True)
        parts.append(part.read_bytes())
    joined = tmp_path / "joined.ts"
    joined.write_bytes(b"".join(parts))
    frames = our_frames(joined)
    assert len(frames) == ffmpeg_frames(joined) == 20
    assert {frame.image.shape for frame in frames} == {(48, 64, 3)}
    assert "joined.ts: the pixel shape (sample aspect ratio) changes mid-stream, from 1:1 to 4:3" in capsys.readouterr().err


def test_the_command_writes_every_frame_of_a_damaged_file(run_cli, weights_env, data_dir, tmp_path):
    """End to end: a file whose last packets are damaged is stylized whole (it was refused as
    truncated), with one note counting the damaged packet, and no traceback."""
    clean = write_video(tmp_path / "clean.mp4", gradient_frames(24, 64, 64), options={"bf": "3"})
    damaged = remux_damaged(clean, tmp_path / "damaged.mp4", garble={-2})
    out = tmp_path / "out.mp4"
    code, _, err = run_cli("video", damaged, "-s", data_dir / "style" / "brushstrokes.jpg", "--size", "32",
                           "--style-size", "64", "--stabilize", "off", "--threads", "1", "-o", out)
    assert code == 0, err
    assert "damaged.mp4: 1 damaged video packet skipped" in err and "Traceback" not in err
    assert ffmpeg_frames(out) == ffmpeg_frames(damaged) == 23
