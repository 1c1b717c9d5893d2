"""Numbered pictures (a render's frames) as one clip: `video 'render/frame_%04d.png'`, as
`ffmpeg -i` reads them: from the lowest number found, at --framerate, a gap named."""

from __future__ import annotations

import subprocess
from fractions import Fraction
from pathlib import Path

import av
import pytest

from cli_support import one_error_line
from realtime_adain.errors import UserError
from realtime_adain.settings import VideoSettings
from realtime_adain.video.sequence import find_sequence, pattern_directive, stem
from test_video_realworld_inputs import stylize, style  # noqa: F401  (a fixture)
from video_corpus import FFMPEG


def pictures(folder: Path, name: str, count: int, start: int = 1, size: str = "64x48") -> Path:
    """`count` PNG frames of a moving test pattern named by `name` (a printf pattern) from `start`."""
    folder.mkdir(parents=True, exist_ok=True)
    subprocess.run([FFMPEG, "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i", f"testsrc2=size={size}:rate=25",
                    "-frames:v", str(count), "-start_number", str(start), str(folder / name)],
                   check=True, capture_output=True)
    return folder / name


def timing(path: Path) -> tuple[int, list[Fraction]]:
    """(frames, their presentation times in seconds) as decoded."""
    with av.open(str(path)) as container:
        times = [frame.time for frame in container.decode(video=0)]
    return len(times), [Fraction(t).limit_denominator(100000) for t in times]


def test_a_png_sequence_becomes_a_clip_at_the_frame_rate_asked(run_cli, weights_env, style, tmp_path):
    pattern = pictures(tmp_path / "render", "frame_%04d.png", 12)
    out = tmp_path / "out.mp4"
    stylize(run_cli, pattern, style, out, "--framerate", "24")
    count, times = timing(out)
    assert count == 12 and times == [Fraction(i, 24) for i in range(12)]


def test_ntsc_rates_are_kept_exactly(run_cli, weights_env, style, tmp_path):
    pattern = pictures(tmp_path, "%d.png", 3)
    out = tmp_path / "out.mkv"
    stylize(run_cli, pattern, style, out, "--framerate", "29.97")
    with av.open(str(out)) as container:
        assert container.streams.video[0].average_rate == Fraction(30000, 1001)


def test_numbers_past_ffmpegs_first_five_and_a_folder_output_named_without_the_number(run_cli, weights_env, style,
                                                                                      tmp_path):
    """FFmpeg alone looks for the first file among numbers 0-4: a render starting at frame 1001
    was "no such file"; the output in a folder is named after the pattern without its number."""
    pattern = pictures(tmp_path / "shot", "shot_%d.png", 4, start=1001)
    stylize(run_cli, pattern, style, tmp_path / "out")
    made = list((tmp_path / "out").iterdir())
    assert [p.name for p in made] == [f"shot_stylized_{style.stem}.mp4"]
    assert timing(made[0])[0] == 4


def test_a_gap_in_the_numbers_is_named(run_cli, weights_env, style, tmp_path):
    """A dropped render frame: FFmpeg stops at the gap; the note says where and what is left out."""
    pattern = pictures(tmp_path, "f%03d.png", 9)
    (tmp_path / "f006.png").unlink()
    out = tmp_path / "out.mp4"
    err = stylize(run_cli, pattern, style, out)
    assert timing(out)[0] == 5
    assert err.count("the sequence stops at f005.png (5 pictures): f006.png is missing, so 3 later file(s) are left out") == 1


@pytest.mark.slow
def test_a_literal_percent_and_a_file_whose_name_looks_like_a_pattern(run_cli, weights_env, style, tmp_path):
    pattern = pictures(tmp_path, "100%%_%02d.png", 3)
    assert (tmp_path / "100%_01.png").is_file()
    stylize(run_cli, pattern, style, tmp_path / "out.mp4")
    assert timing(tmp_path / "out.mp4")[0] == 3
    real = tmp_path / "clip%03d.mp4"  # an ordinary video file with such a name is that file
    subprocess.run([FFMPEG, "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=64x48:rate=10:duration=0.3",
                    str(real), "-y"], check=True)
    assert find_sequence(real) is None
    stylize(run_cli, real, style, tmp_path / "out2.mp4")
    assert timing(tmp_path / "out2.mp4")[0] == 3


@pytest.mark.parametrize("args, message", [
    (["nothing_%04d.png"], "no files match this image-sequence pattern in"),
    (["nofolder/f%04d.png"], "no such folder for the image sequence: nofolder"),
    (["{clip}", "--framerate", "24"], "--framerate is the frame rate of an image-sequence input"),
])
def test_sequences_that_cannot_be_a_clip_are_one_line(run_cli, weights_env, style, data_dir, tmp_path, monkeypatch,
                                                      args, message):
    monkeypatch.chdir(tmp_path)
    pictures(tmp_path, "one_%d.png", 1)
    args = [a.replace("{clip}", str(data_dir / "videos" / "cutBunny.mp4")) for a in args]
    code, _, err = run_cli("video", *args, "-s", style, "-o", tmp_path / "out.mp4")
    assert message in one_error_line(err, code) and not (tmp_path / "out.mp4").exists()


@pytest.mark.parametrize("rate", ["0", "-24", "nan", "inf", "1/0", "1001", "0.0001", "24fps", ""])
def test_bad_frame_rates_are_refused_before_any_work(run_cli, tmp_path, rate):
    code, _, err = run_cli("video", "f%04d.png", "-s", "s.jpg", "-o", tmp_path / "o.mp4", "--framerate", rate)
    assert code == 2 and "argument --framerate" in one_error_line(err)


def test_the_settings_and_pattern_rules():
    with pytest.raises(UserError, match=r"--framerate 0: give more than 1/2002 frames per second "
                                        r"\(a frame every 2002 s\), at most 1000"):
        VideoSettings(framerate=Fraction(0)).check_for_command()
    assert [bool(pattern_directive(n)) for n in ("f%04d.png", "f%d.png", "a%%b%3d.png", "x%s%d.png", "%d_%d.png",
                                                  "100%.png", "f%10d.png")] == [True, True, True] + [False] * 4
    assert stem(Path("/r/%04d.exr")) == "r" and stem(Path("/r/shot.%04d.exr")) == "shot"


def test_tiff_frames_carrying_side_data_pyav_does_not_know(run_cli, weights_env, style, tmp_path):
    """FFmpeg 8's TIFF decoder attaches side data of a kind (31) PyAV 18's enum lacks: reading
    the display matrix raised ValueError, a traceback from `video` and "capture failed" in `live`."""
    pattern = pictures(tmp_path, "scan_%03d.tiff", 3)
    stylize(run_cli, pattern, style, tmp_path / "out.mp4")
    assert timing(tmp_path / "out.mp4")[0] == 3


def test_the_python_api_reads_a_sequence_at_its_frame_rate(weights_env, data_dir, tmp_path):
    import realtime_adain as ra

    pattern = pictures(tmp_path, "f%03d.png", 3)
    style_path = data_dir / "style" / "trial.jpg"
    out = ra.stylize_video(pattern, tmp_path / "out.mkv", style=style_path, size=32, style_size=64,
                           stabilize="off", framerate=24000 / 1001)
    with av.open(str(out)) as container:
        assert container.streams.video[0].average_rate == Fraction(24000, 1001)
    for bad in (0, -1, float("nan"), 5000):
        with pytest.raises(ValueError, match=r"framerate .*: give more than 1/2002 frames per second "
                                             r"\(a frame every 2002 s\), at most 1000"):
            ra.stylize_video(pattern, tmp_path / "bad.mp4", style=style_path, framerate=bad)
    for bad in ("24", True):  # (a TypeError, as every argument of the wrong kind)
        with pytest.raises(TypeError, match="framerate must be a number, got"):
            ra.stylize_video(pattern, tmp_path / "bad.mp4", style=style_path, framerate=bad)
    with pytest.raises(ValueError, match="deinterlace yes: use one of auto, on, off"):
        ra.stylize_video(pattern, tmp_path / "bad.mp4", style=style_path, deinterlace="yes")
    with pytest.raises(TypeError, match="deinterlace must be str"):
        ra.stylize_video(pattern, tmp_path / "bad.mp4", style=style_path, deinterlace=1)
    assert not (tmp_path / "bad.mp4").exists()


def test_a_pattern_of_video_files_says_to_name_them(run_cli, weights_env, style, data_dir, tmp_path):
    for number in (1, 2):
        (tmp_path / f"clip{number:02d}.mp4").write_bytes((data_dir / "videos" / "cutBunny.mp4").read_bytes())
    code, _, err = run_cli("video", tmp_path / "clip%02d.mp4", "-s", style, "-o", tmp_path / "out.mp4")
    assert "not video files: give the videos themselves, or their folder" in one_error_line(err, code)


def test_live_plays_a_sequence_as_video_reads_it_and_loops_it(tmp_path, capsys):
    """`live --source 'shot/f_%d.png'`: a render from frame 1001 was "no such file" (FFmpeg looks
    at 0-4), and a gap ended the session as a lost source; now the run before the gap plays, at
    --fps, and loops."""
    import itertools
    import time

    from realtime_adain.live.source_opening import open_source

    pattern = pictures(tmp_path / "shot", "f_%d.png", 6, start=1001)
    (tmp_path / "shot" / "f_1005.png").unlink()
    once = open_source(str(pattern), fps=50, loop=False)
    started = time.monotonic()
    assert len(list(once.frames())) == 4
    assert 0.05 <= time.monotonic() - started < 1.0  # paced at 50 fps, not 25
    once.close()
    assert "f_1005.png is missing" in capsys.readouterr().err
    looping = open_source(str(pattern), fps=200, loop=True)
    assert len(list(itertools.islice(looping.frames(), 10))) == 10
    looping.close()


@pytest.mark.parametrize("fps", ["5000", "1e-9"])
def test_live_refuses_a_sequence_rate_out_of_range_in_its_own_words(run_cli, weights_env, style, tmp_path, fps):
    pattern = pictures(tmp_path, "f_%d.png", 3)
    code, _, err = run_cli("live", "--source", pattern, "-s", style, "--no-window", "-o", tmp_path / "o.mp4",
                           "--max-frames", "2", "--fps", fps)
    says = "give more than 1/2002 frames per second (a frame every 2002 s), at most 1000"
    assert "--fps" in one_error_line(err, code) and says in err
