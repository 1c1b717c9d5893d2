"""Session 61's `live` fixes.

A file whose last video packet is cut short: FFmpeg and `video` read every picture before it,
but `live`'s frame threads, draining past the damaged packet, lost the pictures they still held
(`live` played 39 of the 41 pictures). They are decoded again, as `video` decodes them."""

from __future__ import annotations

import subprocess
from pathlib import Path

import av
import numpy as np

from realtime_adain.live.capture import Capture
from realtime_adain.live.pyav_source import PyAVSource
from test_fixes52_live_file_end import run_capture
DAMAGE_NOTE = "cut.mp4: damaged video packets are skipped"


def write_cut(path: Path) -> Path:
    """An H.264 MP4 (its index first) cut in the middle of a video packet two thirds in: the
    demuxer gives that packet partial, and the decoder rejects it (Invalid data)."""
    whole = path.with_name("whole.mp4")
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=96x64:rate=25", "-frames:v",
                    "30", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-movflags", "+faststart", str(whole)], check=True)
    with av.open(str(whole)) as container:
        packets = [(packet.pos, packet.size) for packet in container.demux(video=0) if packet.size]
    pos, size = packets[len(packets) * 2 // 3]
    path.write_bytes(whole.read_bytes()[:pos + size // 2])
    return path


def ffmpeg_frames(path: Path) -> int:
    """The pictures FFmpeg decodes from `path`."""
    counted = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v", "-count_frames", "-show_entries",
                              "stream=nb_read_frames", "-of", "csv=p=0", str(path)],
                             capture_output=True, text=True, check=True)
    return int(counted.stdout.strip())


def test_a_file_cut_inside_its_last_packet_plays_every_picture_ffmpeg_reads(tmp_path, capsys):
    clip = write_cut(tmp_path / "cut.mp4")
    expected = ffmpeg_frames(clip)
    assert expected == 20
    source = PyAVSource(str(clip), is_file=True, loop=False)
    source.open()
    lines = []
    capture = Capture(source, log=lambda event, **fields: lines.append((event, fields)))
    run_capture(capture)
    assert capture.ended and capture.unreadable is None
    assert lines == [("source-ended", {"source": "cut.mp4", "frames": expected})]
    assert capsys.readouterr().err.count(DAMAGE_NOTE) == 1


def test_a_file_cut_inside_its_last_packet_loops_whole(tmp_path, capsys):
    clip = write_cut(tmp_path / "cut.mp4")
    count = ffmpeg_frames(clip)
    source = PyAVSource(str(clip), is_file=True, loop=True)
    source.open()
    frames = source.frames()
    try:
        images = [next(frames) for _ in range(2 * count + 1)]  # two whole passes, and the third's first picture
    finally:
        frames.close()
        source.close()
    assert all(np.array_equal(images[i], images[i + count]) for i in range(count + 1))
    assert not any(np.array_equal(images[0], images[i]) for i in range(1, count))
    assert capsys.readouterr().err.count(DAMAGE_NOTE) == 1  # said once, not on every pass
