"""The writer: an MP4 of B-frames cut with `--start` inside a picture ended that much early (its
sample table timed from the shortened first picture's decode delay); a folder run's notes on what
the output cannot hold named no input, and the chapters' one was said for the first input only."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import pytest

from test_video_more_containers import SOUND, ffmpeg

STYLE = ("--size", "32", "--style-size", "64", "--stabilize", "off")


def video_track(path: Path) -> tuple[Fraction, int]:
    """The video track's length as its sample table says (s) and its pictures."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return stream.duration * stream.time_base, stream.frames


@pytest.mark.parametrize("bframes", [3, 0])
@pytest.mark.slow_cases('3', '0')  # (default run's time: 3 stays)
def test_a_start_inside_a_picture_keeps_the_video_to_the_inputs_end(run_cli, weights_env, data_dir, tmp_path,
                                                                    bframes):
    source = tmp_path / "clip.mp4"  # 2 s at 30 fps in 1/15360: a picture is 512 ticks
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=96x64:rate=30:duration=2", "-c:v", "libx264", "-bf", bframes, source,
           needs=("libx264",))
    out = tmp_path / "out.mp4"
    code, _, err = run_cli("video", source, "-s", data_dir / "style" / "mondrian.jpg", *STYLE, "--start", "0.51",
                           "-o", out)
    assert code == 0, err
    length, frames = video_track(out)
    # The picture at 0.5 s shown from zero for what is left of it, then 44 more; was 1.480078 s with B-frames
    # (the 10 ms cut off the first picture missing at the end).
    assert frames == 45 and abs(length - Fraction(149, 100)) <= Fraction(1, 15360), float(length)


@pytest.mark.slow
def test_a_folder_runs_notes_name_each_input(run_cli, weights_env, data_dir, tmp_path):
    meta = tmp_path / "chapters.txt"
    meta.write_text(";FFMETADATA1\n[CHAPTER]\nTIMEBASE=1/1000\nSTART=0\nEND=250\ntitle=one\n")
    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("a.mkv", "b.mkv"):
        ffmpeg("-f", "lavfi", "-i", "testsrc2=size=64x48:rate=12:duration=0.5", *SOUND, "-i", meta,
               "-map_metadata", "2", "-map", "0:v", "-map", "1:a", "-c:a", "flac", folder / name)
    code, _, err = run_cli("video", folder, "-s", data_dir / "style" / "mondrian.jpg", *STYLE, "-o",
                           tmp_path / "out", "--ext", "ts")
    assert code == 0, err
    notes = [line for line in err.splitlines() if "holds no chapters" in line or "cannot hold flac" in line]
    # (was the chapters' note for a.mkv alone, and neither naming its input)
    assert notes == [f"note: {name}: {said}" for name in ("a.mkv", "b.mkv")
                     for said in (".ts holds no chapters: the input's are dropped",
                                  ".ts cannot hold flac audio; re-encoding it to mp2")], err
