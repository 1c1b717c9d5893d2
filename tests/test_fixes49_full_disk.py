"""A video's bytes reach its file as they are muxed, so a disk that fills up stops the run then.

FFmpeg's file protocol holds up to 256 KiB of a seekable output before writing any: a small or
slow output (160 KB, stylized for minutes) wrote nothing until it was finished, and a full disk
was found only then, after all the work. The disk: a real tmpfs (root only, else skipped), as in
tests/test_full_disk.py.
"""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from realtime_adain.atomic import PendingOutput
from realtime_adain.video.encoder_settings import EncodeSettings
from realtime_adain.video.partial_outputs import discard
from realtime_adain.video.writer import VideoFormatOut, VideoWriter
from test_full_disk import FILLER, fill, tmpfs

FFMPEG_FILE_BUFFER = 256 * 1024  # what FFmpeg's file protocol holds before writing (a seekable file)
MP4_HEADER = 48  # ftyp, free and the mdat's header: the bytes on disk before any packet


def frames(count: int, spread: int) -> list[np.ndarray]:
    """64x48 frames of grey with noise of `spread` levels: the wider, the larger each packet."""
    rng = np.random.default_rng(0)
    return [(128 + rng.integers(-(spread // 2), spread // 2 + 1, (48, 64, 3))).clip(0, 255).astype(np.uint8)
            for _ in range(count)]


def mp4_writer(path: Path) -> VideoWriter:
    return VideoWriter(path, EncodeSettings(), VideoFormatOut(64, 48, Fraction(1, 24), Fraction(24)), [])


def test_a_small_video_s_packets_are_in_the_file_before_it_is_finished(tmp_path):
    out = tmp_path / "out.mp4"
    writer = mp4_writer(out)
    for pts, image in enumerate(frames(72, spread=16)):
        writer.write_frame(image, pts, 1)
    on_disk = os.path.getsize(out)
    writer.close()
    assert os.path.getsize(out) < FFMPEG_FILE_BUFFER  # (all of it fits in FFmpeg's buffer)
    assert on_disk > MP4_HEADER + 2000, on_disk  # (x264 holds its latest ~45 frames; the rest are in the file)


def test_a_disk_that_fills_up_mid_video_stops_the_writing_then(tmp_path):
    """60 KB free, a ~190 KB video: the frame whose packets do not fit fails, and nothing is left."""
    with tmpfs(tmp_path / "disk", "300k") as disk:
        fill(disk, leave=60_000)
        pending = PendingOutput(disk / "out.mp4")
        writer = mp4_writer(pending.path)
        with pytest.raises(OSError) as failed:
            for pts, image in enumerate(frames(96, spread=256)):
                writer.write_frame(image, pts, 1)
            writer.close()
        assert failed.value.errno == 28  # ENOSPC
        assert writer.frames_written < 96  # (found while writing the frames, not as the file was finished)
        discard(writer, pending)
        assert sorted(p.name for p in disk.iterdir()) == [FILLER]
