"""Today's changes attacked as a hostile user would (task h20): `--batch` within the pixel budget,
sound into .avi, WebM's track roles, the stuck and damaged clocks, a live recording onto a disk
that fills up, and the ONNX engine's temporary folder. Each test is one failure found (what held
has none), on real files and real runs."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from live_support import record_noise
from realtime_adain.benchmarks.video import upscaled_copy
from realtime_adain.live.recorder import Recorder
from realtime_adain.stale_temporaries import process_tag
from test_full_disk import disk, fill  # noqa: F401  (a fixture)
from test_video_timing19 import clip, frames_and_sound
from test_video_timing20 import cluster_timestamps, pictures_all_at_zero


def small_clip(path: Path, frames: int = 10, rate: int = 10) -> Path:
    subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                    f"testsrc=s=64x48:r={rate}", "-frames:v", str(frames), "-pix_fmt", "yuv420p", "-c:v", "libx264",
                    str(path)], check=True)
    return path


def picture_times(path: Path) -> list[Fraction]:
    """The times of the video's packets (s), in display order."""
    with av.open(str(path)) as container:
        return sorted(packet.pts * packet.time_base for packet in container.demux(video=0) if packet.size)


def test_a_recording_stopped_by_a_full_disk_counts_the_frames_it_kept(disk):  # noqa: F811
    """A recording that the disk stopped was reported with the frames handed to the encoder
    (`live: output path=NAME.partial.mp4 frames=140`) while the file kept 129: x264 holds about
    11 frames back, and those never reached it. The count is the frames the file holds."""
    fill(disk, leave=300_000)
    recorder = Recorder(disk / "rec.mp4", (160, 120), 24.0, log=lambda *args, **fields: None)
    record_noise(recorder, 120, 0.005)
    kept = recorder.close()
    assert recorder.error == "No space left on device" and kept == disk / "rec.partial.mp4"
    assert recorder.written == len(picture_times(kept)) > 0


def test_the_video_benchmarks_resized_copy_shows_its_frames_one_after_another(tmp_path):
    """`bench video --resolution` timed a copy whose frames were numbered in the source's time
    base (1/10240 here, 1/12288 for cutBunny): every picture at 0, a still that the reader now
    retimes with a note ("every picture has the same timestamp ... 200 fps"). Each frame is one
    frame after the one before, at the source's rate: 10 frames at 10 fps last 1 s."""
    copy = upscaled_copy(small_clip(tmp_path / "clip.mp4"), (32, 24), 0, tmp_path / "copy.mp4")
    assert picture_times(copy) == [Fraction(n, 10) for n in range(10)]


def test_a_temporary_engine_folder_left_by_a_killed_run_is_removed(tmp_path):
    """`--engine onnx` with a read-only or full home builds in a temporary folder removed at
    exit; a run killed too hard to exit (SIGKILL, the OOM killer during the export) left it, and
    its half-written export, in /tmp for good. The next run that needs one removes those whose
    process is gone (after a while, as hidden .part files are); a living run's stays."""
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    old = time.time() - 3600
    stale = tmp_path / f"realtime-adain-engines-{process_tag(dead.pid)}-abcd1234"
    living = tmp_path / f"realtime-adain-engines-{process_tag()}-abcd1234"
    for folder in (stale, living):
        (folder / ".build-1-abcd1234").mkdir(parents=True)
        (folder / ".build-1-abcd1234" / "model.onnx").write_bytes(b"half an export")
        os.utime(folder, (old, old))
    code = ("from realtime_adain.userdirs import temporary_cache; "
            "print(temporary_cache('engines', 'the home is full').parent)")
    done = subprocess.run([sys.executable, "-c", code], env={**os.environ, "TMPDIR": str(tmp_path)},
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.strip() == str(tmp_path), done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == [living.name]  # (and the run's own, removed at exit)


def matroska_with_clusters_back(path: Path, back_ms: int) -> Path:
    """4 s of 64x48 H.264 (a keyframe, so a cluster and a cue, each second) with AAC, each cluster
    after the first `back_ms` times its number further back (0 at the least)."""
    source = clip(path.with_name("source.mkv"), "libx264", "aac", "-preset", "ultrafast", "-bf", "2", "-g", "25",
                  "-t", "4")
    data = bytearray(source.read_bytes())
    for number, (at, length, value) in enumerate(cluster_timestamps(bytes(data))):
        data[at:at + length] = max(0, value - back_ms * number).to_bytes(length, "big")
    path.write_bytes(data)
    return path


def test_a_late_start_in_a_matroska_whose_clusters_all_say_zero_is_not_refused(tmp_path):
    """Every cluster's Timestamp 0: read through, the clusters go on one after another (4 s).
    `--start 2.5` seeked by the index (the true times) into a cluster whose packets say 0 to 1 s,
    found no frame after 2.5 s and refused the file: "--start 2.5 s is at or past the end of the
    video, which lasts 1.122 s". Such a file is read from its start: the last 1.5 s, as read through."""
    path = matroska_with_clusters_back(tmp_path / "zero.mkv", back_ms=10_000)
    everything, _ = frames_and_sound(path)
    late, _ = frames_and_sound(path, start=Fraction(5, 2))
    assert len(everything) == 100 and len(late) >= 37
    assert all(np.array_equal(a.image, b.image) for a, b in zip(late[::-1], everything[::-1]))


def test_a_late_start_in_a_matroska_whose_clusters_go_back_gives_the_frames_from_there(tmp_path):
    """Each cluster 0.3 s further back than the one before: `--start 2.5` landed where the index
    said, among packets whose times went back from there, and gave 31 frames from the wrong place
    (the last 1.5 s hold 38). Read from the start instead: the frames a read through gives."""
    path = matroska_with_clusters_back(tmp_path / "back.mkv", back_ms=300)
    everything, _ = frames_and_sound(path)
    late, _ = frames_and_sound(path, start=Fraction(5, 2))
    assert len(late) >= 37
    assert all(np.array_equal(a.image, b.image) for a, b in zip(late[::-1], everything[::-1]))


def test_pictures_at_one_time_are_not_timed_by_a_rate_that_cannot_time_them(tmp_path):
    """Every video tag at 0 and an onMetaData framerate of -25 or a million (FFmpeg makes the
    latter 1000 fps, one tick of the FLV's millisecond): the pictures were placed 1 ms apart, 50
    within 0.2 s under 2 s of sound, what the retiming was made to end; or 0.001 fps: 13.6 hours
    of pictures. Such a rate is passed over for the codec's own (H.264's timing, 25 fps): 40 ms apart."""
    source = clip(tmp_path / "clip.flv", "libx264", "aac", "-preset", "ultrafast", "-bf", "2")
    for rate in (-25.0, 1e6, 0.001):
        data = bytearray(pictures_all_at_zero(source.read_bytes()))
        at = data.find(b"framerate") + len(b"framerate") + 1  # (an AMF number: a type byte, then a double)
        data[at:at + 8] = struct.pack(">d", rate)
        path = tmp_path / "stated.flv"
        path.write_bytes(data)
        frames, _ = frames_and_sound(path)
        assert len(frames) == 50 and {b.pts - a.pts for a, b in zip(frames, frames[1:])} == {40}, rate
