"""Pictures whose clock stands still for a run of pictures and then runs on (session 48): a
Matroska file whose every 8th picture is stored three times at one time (a muxer's repeats). Each
run of pictures at one time was placed a frame apart and every later picture kept that shift for
good: each run put the rest of the video 2 frames later, 1.25 s behind its sound in 5 s, and even
a 3 s gap did not take it back. A run now fits within the time up to the next picture, and the
pictures after it keep their own times; a clock that never runs again is as before."""

from __future__ import annotations

import subprocess
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from realtime_adain.video.frames import Frame
from realtime_adain.video.reader import VideoReader
from test_video_realworld_inputs import stylize, style  # noqa: F401  (a fixture)


def repeated_times(path: Path, times: list[int], sound: bool = False) -> Path:
    """H.264 (no B-frames) in Matroska, one distinct 64x48 picture at each of `times` (ms, pts =
    dts, repeats kept as stored), with `sound`: Opus under the whole span."""
    pictures = []
    with av.open(str(path), "w", format="matroska") as out:
        video = out.add_stream("libx264", rate=30)
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        video.options = {"bf": "0", "preset": "ultrafast"}
        video.time_base = Fraction(1, 1000)
        audio = out.add_stream("libopus", rate=48000, layout="mono") if sound else None
        for n, _ in enumerate(times):
            image = np.full((48, 64, 3), (n * 5) % 256, np.uint8)
            image[:, n % 64] = 255
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts, frame.time_base = n, Fraction(1, 1000)
            pictures += video.encode(frame)
        pictures += video.encode()
        for packet, at in zip(pictures, times):
            packet.pts = packet.dts = at
            packet.duration = 33
            packet.time_base = Fraction(1, 1000)
            out.mux(packet)
        if audio is not None:
            samples = 960
            for n in range((times[-1] + 33) * 48 // samples + 1):
                frame = av.AudioFrame.from_ndarray(np.zeros((1, samples), np.int16), format="s16", layout="mono")
                frame.sample_rate, frame.pts, frame.time_base = 48000, n * samples, Fraction(1, 48000)
                out.mux(audio.encode(frame))
            out.mux(audio.encode())
    return path


def thirty_fps_with_runs(count: int) -> list[int]:
    """`count` pictures at 30 fps (ms, as FFmpeg rounds them), every 8th (n % 8 == 4) stored 3 times."""
    times = []
    for n in range(count):
        times += [round(n * 1000 / 30)] * (3 if n % 8 == 4 else 1)
    return times


def pictures_at(path: Path) -> list[int]:
    """The times (ms) of the pictures a reader gives (the file's start is 0)."""
    with VideoReader(path) as reader:
        return [item.pts for item in reader.items() if isinstance(item, Frame)]


def test_pictures_after_a_run_at_one_time_keep_their_own_times(tmp_path, capsys):
    """30 fps, every 8th picture stored 3 times (40 pictures, 5 runs): the pictures after each
    run came 2 frames later per run (the last, at 1.267 s, at 1.6 s). Each run is spread over
    the time up to the next picture; every other picture is at its own time."""
    times = thirty_fps_with_runs(32)
    got = pictures_at(repeated_times(tmp_path / "runs.mkv", times))
    assert len(got) == len(times) and got == sorted(got) and len(set(got)) == len(got)
    alone = [n for n, at in enumerate(times) if times.count(at) == 1]
    assert [got[n] for n in alone] == [times[n] for n in alone]
    first = times.index(133)
    assert got[first:first + 4] == [133, 144, 155, 167]
    assert "each run is spread evenly over that time, and the pictures after it keep their own times" in \
        capsys.readouterr().err


def test_a_gap_after_a_run_is_kept(tmp_path):
    """A run of 3 at 100 ms, then pictures at 133 ms and, after a 3 s pause, from 3.133 s (a
    pair at one time among them): 3.133 s came out at 3.199 s. The pictures keep their own times
    around each run; the pair is spread as the runs are."""
    times = [0, 33, 66, 100, 100, 100, 133, 3133, 3150, 3150, 3200, 3233]
    got = pictures_at(repeated_times(tmp_path / "gap.mkv", times))
    assert got == [0, 33, 66, 100, 111, 122, 133, 3133, 3150, 3175, 3200, 3233]


@pytest.mark.slow  # (the reader's tests above check the times; this one the output's sync with its sound)
def test_the_output_of_a_file_with_runs_keeps_its_pictures_with_their_sound(run_cli, weights_env, style, tmp_path):
    """`video` of 1.6 s with a run every 8 pictures (in 5 s: the output's last picture was at
    6.214 s over 5 s of sound). Every picture outside a run is within a frame of its input time."""
    times = thirty_fps_with_runs(48)
    source = repeated_times(tmp_path / "runs.mkv", times, sound=True)
    out = tmp_path / "out.mkv"
    stylize(run_cli, source, style, out)
    shown = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
                            "frame=best_effort_timestamp_time", "-of", "csv=p=0", str(out)],
                           capture_output=True, text=True, check=True).stdout.split()
    got = [float(at.strip(",")) for at in shown]
    assert len(got) == len(times)
    alone = [n for n, at in enumerate(times) if times.count(at) == 1]
    assert all(abs(got[n] - times[n] / 1000) < 1 / 30 for n in alone)
