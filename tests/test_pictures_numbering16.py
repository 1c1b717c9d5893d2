"""Numbered pictures out of numbered pictures keep the input's numbers (a damaged picture's too),
and what an interrupted run keeps (NAME.partial.EXT) is an output that may replace no input."""

from __future__ import annotations

import subprocess
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from cli_support import one_error_line
from realtime_adain.errors import UserError
from realtime_adain.video.picture_output import PictureOutput
from test_video_realworld_inputs import stylize, style  # noqa: F401  (a fixture)
from test_video_sequences import pictures
from video_corpus import FFMPEG


def frame(value: int) -> np.ndarray:
    return np.full((8, 8, 3), value, np.uint8)


def damaged(folder: Path, first: int, count: int, broken: int) -> Path:
    """`count` PNG frames f_NNNN.png from `first`, picture `broken` cut to its first 300 bytes (not
    empty: FFmpeg reads it and the decoder rejects it)."""
    pattern = pictures(folder, "f_%04d.png", count, start=first)
    picture = folder / f"f_{broken:04d}.png"
    picture.write_bytes(picture.read_bytes()[:300])
    return pattern


def names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


# PictureOutput on its own: numbers from timestamps

def test_timed_pictures_are_numbered_by_their_timestamps_and_a_gap_repeats_the_one_before(tmp_path, capsys):
    """Frames at ticks 0, 1, 3 of a 25 fps sequence from 1001 (tick 2 did not decode): 1001, 1002,
    1003 (a copy of 1002), 1004; numbered one after another the last was 1003, from picture 1004."""
    output = PictureOutput(tmp_path / "g_%04d.png", 1001, Fraction(25), Fraction(1, 25))
    for pts, value in ((0, 10), (1, 20), (3, 40)):
        output.write_frame(frame(value), pts, 1)
    output.publish()
    assert names(tmp_path) == ["g_1001.png", "g_1002.png", "g_1003.png", "g_1004.png"]
    assert (tmp_path / "g_1003.png").read_bytes() == (tmp_path / "g_1002.png").read_bytes()
    assert (tmp_path / "g_1004.png").read_bytes() != (tmp_path / "g_1002.png").read_bytes()
    assert output.frames_written == 4
    err = capsys.readouterr().err
    assert "the input's pictures for g_1003.png did not decode" in err and err.count("did not decode") == 1


def test_ticks_finer_than_a_picture_and_a_leading_gap(tmp_path, capsys):
    """A millisecond time base at 25 fps: 40 ticks a picture. The first frame two pictures late
    (pictures 1 and 2 did not decode) fills them with itself: numbering starts at the input's first."""
    output = PictureOutput(tmp_path / "g_%d.png", 1, Fraction(25), Fraction(1, 1000))
    for pts, value in ((80, 30), (120, 40), (240, 70)):
        output.write_frame(frame(value), pts, 40)
    output.publish()
    assert names(tmp_path) == [f"g_{n}.png" for n in range(1, 8)]
    same = [(tmp_path / f"g_{n}.png").read_bytes() for n in (1, 2, 3)]
    assert same[0] == same[1] == same[2] and (tmp_path / "g_6.png").read_bytes() == (tmp_path / "g_5.png").read_bytes()
    assert "g_1.png to g_2.png, g_5.png to g_6.png did not decode" in capsys.readouterr().err


def test_untimed_pictures_are_numbered_one_after_another(tmp_path):
    """A video file's frames (any rate, variable too): 1, 2, 3, whatever their timestamps."""
    output = PictureOutput(tmp_path / "g_%04d.png", 1, Fraction(30))
    for pts in (0, 7, 8, 30):
        output.write_frame(frame(pts), pts, 1)
    output.publish()
    assert names(tmp_path) == [f"g_{n:04d}.png" for n in range(1, 5)]


def test_an_interrupted_run_keeps_the_gap_filled_under_partial_names(tmp_path):
    output = PictureOutput(tmp_path / "g_%04d.png", 1, Fraction(25), Fraction(1, 25))
    for pts in (0, 2):
        output.write_frame(frame(pts), pts, 1)
    output.publish(tmp_path / "g_%04d.partial.png")
    assert names(tmp_path) == ["g_0001.partial.png", "g_0002.partial.png", "g_0003.partial.png"]


# The command: a damaged picture in a render

def test_a_damaged_picture_keeps_its_number_in_the_output(run_cli, weights_env, style, tmp_path):
    """f_1004.png damaged in f_1001..f_1008: FFmpeg skips it, and g_1004..g_1007 were made of
    f_1005..f_1008 (a compositor lined them up one frame off); g_1004 now repeats g_1003."""
    source = damaged(tmp_path / "render", 1001, 8, broken=1004)
    out = tmp_path / "out"
    err = stylize(run_cli, source, style, out / "g_%04d.png")
    assert names(out) == [f"g_{n}.png" for n in range(1001, 1009)]
    read = {n: (out / f"g_{n}.png").read_bytes() for n in range(1001, 1009)}
    assert read[1004] == read[1003] and read[1005] != read[1004]
    assert "the input's pictures for g_1004.png did not decode" in err


def test_a_segment_after_a_damaged_picture_starts_at_its_own_number(run_cli, weights_env, style, tmp_path):
    """--start 0.12 at 25 fps is the fourth picture, f_0004, whatever did not decode before it (the
    first number was the count of frames decoded before the start: f_0003 after a damaged f_0002)."""
    source = damaged(tmp_path / "render", 1, 6, broken=2)
    out = tmp_path / "out"
    stylize(run_cli, source, style, out / "g_%04d.png", "--start", "0.12")
    assert names(out) == ["g_0004.png", "g_0005.png", "g_0006.png"]


def test_a_missing_picture_ends_the_sequence_so_no_gap_is_filled(run_cli, weights_env, style, tmp_path):
    """A missing number is no gap to fill: the sequence ends there (as FFmpeg's image2 ends it), said."""
    source = pictures(tmp_path / "render", "f_%04d.png", 5)
    (tmp_path / "render" / "f_0003.png").unlink()
    out = tmp_path / "out"
    err = stylize(run_cli, source, style, out / "g_%04d.png")
    assert names(out) == ["g_0001.png", "g_0002.png"]
    assert "the sequence stops at f_0002.png" in err and "did not decode" not in err


def test_a_variable_rate_video_gets_one_picture_a_frame(run_cli, weights_env, style, tmp_path):
    """Frames 40, 80 and 200 ms apart: numbered 1, 2, 3 ..., none added for the longer waits."""
    clip = tmp_path / "vfr.mkv"
    subprocess.run([FFMPEG, "-nostdin", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=64x48:rate=25",
                    "-frames:v", "9", "-vf", "setpts='N*0.04/TB+if(gte(N,4),0.16/TB,0)+if(gte(N,7),0.4/TB,0)'",
                    "-fps_mode", "passthrough", "-c:v", "ffv1", str(clip)], check=True, capture_output=True)
    with av.open(str(clip)) as container:
        times = [f.time for f in container.decode(video=0)]
    assert len(times) == 9 and times[-1] > 0.8  # the gaps are in the file
    out = tmp_path / "out"
    stylize(run_cli, clip, style, out / "g_%04d.png")
    assert names(out) == [f"g_{n:04d}.png" for n in range(1, 10)]


# What an interrupted run keeps is an output too

def test_an_input_named_as_the_partial_video_is_refused(run_cli, weights_env, style, tmp_path):
    """`video out.partial.mp4 -o out.mp4`: Ctrl-C replaced the input with the frames made so far."""
    source = tmp_path / "out.partial.mp4"
    subprocess.run([FFMPEG, "-nostdin", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=64x48:rate=25",
                    "-frames:v", "3", str(source)], check=True, capture_output=True)
    before = source.read_bytes()
    code, _, err = run_cli("video", source, "-s", style, "--size", "32", "--stabilize", "off",
                           "-o", tmp_path / "out.mp4")
    line = one_error_line(err, code)
    assert f"an interrupted run keeps its frames as {source}" in line and "overwrite an input" in line
    assert source.read_bytes() == before and names(tmp_path) == ["out.partial.mp4"]


@pytest.mark.parametrize("output, said", [("g_%04d.png", "output would overwrite an input"),
                                          ("g_%4d.png", "its numbered pictures would overwrite an input")])
def test_partial_pictures_named_as_an_inputs_are_refused(run_cli, weights_env, style, tmp_path, output, said):
    """`video 'g_%04d.partial.png' -o 'g_%04d.png'`: Ctrl-C wrote g_0001.partial.png ... over the input."""
    source = pictures(tmp_path, "g_%04d.partial.png", 3)
    code, _, err = run_cli("video", source, "-s", style, "--size", "32", "--stabilize", "off", "-o", tmp_path / output)
    line = one_error_line(err, code)
    assert "an interrupted run keeps its frames as" in line and said in line
    assert names(tmp_path) == [f"g_{n:04d}.partial.png" for n in (1, 2, 3)]


def test_the_api_refuses_a_partial_name_over_its_source(stylizer, tmp_path):
    import realtime_adain as ra

    source = pictures(tmp_path, "g_%04d.partial.png", 2)
    with pytest.raises(UserError, match="an interrupted run keeps its frames as"):
        ra.stylize_video(source, tmp_path / "g_%04d.png", style=np.zeros((16, 16, 3), np.uint8), size=32,
                         stabilize="off", stylizer=stylizer)
    assert names(tmp_path) == ["g_0001.partial.png", "g_0002.partial.png"]


# --ext names the files of a folder -o; elsewhere it does nothing and is refused

@pytest.mark.parametrize("output", ["g_%04d.png", "one.mkv"])
def test_ext_with_an_output_that_is_not_a_folder_is_refused(run_cli, weights_env, style, tmp_path, output):
    source = pictures(tmp_path / "render", "f_%04d.png", 2)
    code, _, err = run_cli("video", source, "-s", style, "--ext", "mkv", "-o", tmp_path / output)
    assert "--ext applies to a folder -o" in one_error_line(err, code)
    assert names(tmp_path) == ["render"]
