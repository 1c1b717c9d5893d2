"""Numbered pictures in and out (`video 'render/f_%04d.png' -o 'out/g_%04d.png'`) against what a
user's folders hold: folders named like pictures, an earlier longer run's pictures, long sequences."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from cli_support import one_error_line
from realtime_adain.errors import UserError
from realtime_adain.video import sequence
from realtime_adain.video.picture_output import PictureOutput
from test_video_realworld_inputs import stylize, style  # noqa: F401  (a fixture)
from test_video_sequences import pictures

FRAME = np.zeros((8, 8, 3), np.uint8)


def written(pattern: Path, frames: int, start: int = 1) -> PictureOutput:
    """A picture output with `frames` frames encoded, not yet published."""
    output = PictureOutput(pattern, start, None)
    for _ in range(frames):
        output.write_frame(FRAME, None, 1)
    return output


@pytest.mark.slow  # (default run's time: 4 s)
def test_a_folder_named_like_a_picture_is_refused_before_any_work(run_cli, weights_env, style, tmp_path):
    """`-o 'out/g_%04d.png'` where out/g_0003.png is a folder: the run stylized every frame, renamed
    g_0001 and g_0002 over an earlier run's, then failed on the folder ("Is a directory")."""
    source = pictures(tmp_path / "render", "f_%04d.png", 4)
    out = tmp_path / "out"
    (out / "g_0003.png").mkdir(parents=True)
    (out / "g_0001.png").write_bytes(b"an earlier run's picture")
    code, _, err = run_cli("video", source, "-s", style, "--size", "32", "--stabilize", "off", "-o", out / "g_%04d.png")
    assert f"{out / 'g_0003.png'}: a folder where picture 3 of" in one_error_line(err, code)
    assert (out / "g_0001.png").read_bytes() == b"an earlier run's picture"
    assert sorted(p.name for p in out.iterdir()) == ["g_0001.png", "g_0003.png"]  # no hidden folder left


def test_a_folder_made_during_the_run_fails_the_publishing_before_any_rename(tmp_path):
    pattern = tmp_path / "g_%04d.png"
    (tmp_path / "g_0001.png").write_bytes(b"an earlier run's picture")
    output = written(pattern, 3)
    (tmp_path / "g_0003.png").mkdir()
    with pytest.raises(UserError, match="g_0003.png: a folder where picture 3 of"):
        output.publish()
    assert (tmp_path / "g_0001.png").read_bytes() == b"an earlier run's picture"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g_0001.png", "g_0003.png"]


def test_a_link_named_like_a_picture_is_replaced_not_written_through(tmp_path):
    """A link in the output folder to another picture (an input's) is replaced by the new picture,
    as renaming does: the file it leads to stays as it was."""
    elsewhere = tmp_path / "input.png"
    elsewhere.write_bytes(b"not to be touched")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "g_0001.png").symlink_to(elsewhere)
    written(tmp_path / "out" / "g_%04d.png", 1).publish()
    assert not (tmp_path / "out" / "g_0001.png").is_symlink() and elsewhere.read_bytes() == b"not to be touched"


def test_an_earlier_longer_runs_pictures_after_the_last_one_are_named(tmp_path, capsys):
    """A 3-frame run into a folder holding an 8-frame run's pictures left g_0004..g_0008 without a
    word: the folder then plays as one 8-frame sequence, two runs mixed. They stay (a --frames
    preview of a finished render must not delete it), said in a note; a gap ends what is named."""
    for number in (*range(1, 9), 10):
        (tmp_path / f"g_{number:04d}.png").write_bytes(b"earlier")
    written(tmp_path / "g_%04d.png", 3).publish()
    err = capsys.readouterr().err
    assert "5 picture(s) of an earlier run follow the last one written (g_0004.png to g_0008.png)" in err
    assert (tmp_path / "g_0008.png").read_bytes() == b"earlier" and (tmp_path / "g_0003.png").read_bytes() != b"earlier"
    written(tmp_path / "h_%04d.png", 3).publish()  # nothing follows: nothing said
    assert "earlier run" not in capsys.readouterr().err


def test_interrupted_pictures_after_earlier_partial_ones_are_named(tmp_path, capsys):
    for number in range(1, 6):
        (tmp_path / f"g_{number:04d}.partial.png").write_bytes(b"earlier")
    written(tmp_path / "g_%04d.png", 2).publish(tmp_path / "g_%04d.partial.png")
    assert "3 picture(s) of an earlier run follow the last one written (g_0003.partial.png to g_0005.partial.png)" \
        in capsys.readouterr().err


def test_a_long_sequence_parses_its_pattern_once_a_pass(tmp_path, monkeypatch):
    """Each pass over a sequence (several a run: the inputs, the output check, each opening) parsed
    the pattern once a picture, and `names_a_picture` also resolved both folders with `realpath`
    for each: at 100 000 pictures about 3 s a pass and 3 s for the check (now about 0.6 and 1)."""
    folder = tmp_path / "render"
    folder.mkdir()
    for number in range(1, 2001):
        (folder / f"f_{number:05d}.png").write_bytes(b"x")
    pattern = folder / "f_%05d.png"
    parsed = []
    sequence.numbered(pattern.name, 1)  # (parsed before, as the run's earlier passes do)
    original = sequence.pattern_directive
    monkeypatch.setattr(sequence, "pattern_directive", lambda name: parsed.append(name) or original(name))
    resolved, realpath = [], os.path.realpath
    monkeypatch.setattr(os.path, "realpath", lambda path, **kw: resolved.append(path) or realpath(path, **kw))
    files = sequence.files_of([pattern])
    assert len(files) == 2000 and sequence.find_sequence(pattern).run == 2000
    assert not any(sequence.names_a_picture(tmp_path / "styled" / "f_%05d.png", file) for file in files)
    assert sequence.names_a_picture(folder / ".." / "render" / "f_%05d.png", files[-1])  # the same folder
    assert sequence.names_a_picture(tmp_path / "new" / ".." / "render" / "f_%05d.png", files[-1])  # once made
    monkeypatch.undo()
    assert len(parsed) < 10 and len(resolved) < 10, (len(parsed), len(resolved))


def test_live_plays_the_pictures_a_render_added_since_the_last_loop(tmp_path):
    """`live --source 'render/f_%04d.png'` beside a render still writing: the pictures found when
    the session began were looped for ever (a render's later frames never showed, however long it
    ran); each loop now plays the sequence as it stands."""
    import itertools

    import cv2

    from realtime_adain.live.source_opening import open_source

    pattern = pictures(tmp_path / "render", "f_%04d.png", 3)
    source = open_source(str(pattern), fps=200, loop=True)
    try:
        frames = source.frames()
        assert len(list(itertools.islice(frames, 3))) == 3
        pictures(tmp_path / "more", "f_%04d.png", 5)  # the render's frames 4 and 5
        for number in (4, 5):
            os.rename(tmp_path / "more" / f"f_{number:04d}.png", tmp_path / "render" / f"f_{number:04d}.png")
        second_loop = list(itertools.islice(frames, 5))
    finally:
        source.close()
    fifth = cv2.cvtColor(cv2.imread(str(tmp_path / "render" / "f_0005.png")), cv2.COLOR_BGR2RGB)
    assert np.array_equal(second_loop[4], fifth)


def test_live_says_so_in_one_line_when_a_looping_sequence_is_gone(tmp_path):
    """The render's folder emptied (a new render begins) while the sequence loops: the source is
    lost (the session retries), said as the sequence's own error, not a traceback."""
    from realtime_adain.live.source_opening import open_source
    from realtime_adain.live.sources import SourceError

    pattern = pictures(tmp_path / "render", "f_%04d.png", 2)
    source = open_source(str(pattern), fps=200, loop=True)
    try:
        frames = source.frames()
        next(frames), next(frames)
        for picture in (tmp_path / "render").iterdir():
            picture.unlink()
        with pytest.raises(SourceError, match="no files match this image-sequence pattern"):
            next(frames)
    finally:
        source.close()


@pytest.mark.parametrize("name, said", [
    ("f_%010d.png", "this name has %010d"), ("f_%x.png", "this name has %x"), ("f_%-4d.png", "this name has %-4d"),
    ("f_%04d_%04d.png", "this name has 2 numbers (%04d, %04d)"),
])
def test_a_number_ffmpeg_does_not_take_is_said_of_an_input_pattern(run_cli, tmp_path, name, said):
    """`video 'render/f_%010d.png'` was "no such input file or directory"."""
    code, _, err = run_cli("video", tmp_path / name, "-s", tmp_path / "style.jpg", "-o", tmp_path / "o.mp4")
    line = one_error_line(err, code)
    assert "an image-sequence pattern holds one %d or %0Nd (N at most 9)" in line and said in line


def test_a_pattern_of_the_wrong_width_names_the_one_that_fits(run_cli, tmp_path):
    pattern = pictures(tmp_path / "render", "f_%04d.png", 2)
    code, _, err = run_cli("video", pattern.parent / "f_%d.png", "-s", tmp_path / "style.jpg", "-o", tmp_path / "o.mp4")
    assert one_error_line(err, code).endswith("(f_0001.png is there: f_%04d.png names it)")


def test_a_name_with_a_lone_percent_is_still_a_missing_file(run_cli, tmp_path):
    code, _, err = run_cli("video", tmp_path / "50% done.mp4", "-s", tmp_path / "style.jpg", "-o", tmp_path / "o.mp4")
    assert "no such input file" in one_error_line(err, code)


def test_an_output_pattern_ffmpeg_does_not_take_is_said_so():
    from realtime_adain.video.picture_output import picture_pattern_mistake

    assert "this name has %010d" in picture_pattern_mistake(Path("out/g_%010d.png"))
    assert picture_pattern_mistake(Path("out/g_%04d.png")) is None and picture_pattern_mistake(Path("out/g_%x.mp4")) is None


@pytest.mark.parametrize("name, said", [("g_%010d.png", "this name has %010d"), ("g_%x.jpg", "this name has %x"),
                                        ("g_%04d_%04d.png", "this name has 2 numbers (%04d, %04d)")])
def test_an_output_pattern_ffmpeg_does_not_take_is_said_in_its_words(run_cli, weights_env, style, tmp_path, name, said):
    """`-o 'out/g_%010d.png'` was "unknown video format '.png' (written: .mp4 ...)"."""
    source = pictures(tmp_path / "render", "f_%04d.png", 2)
    code, _, err = run_cli("video", source, "-s", style, "-o", tmp_path / "out" / name)
    line = one_error_line(err, code)
    assert "an image-sequence pattern holds one %d or %0Nd" in line and said in line
    assert not (tmp_path / "out").exists()


def test_the_python_api_says_the_same_of_an_output_pattern(weights_env, data_dir, tmp_path):
    import realtime_adain as ra

    source = pictures(tmp_path / "render", "f_%04d.png", 2)
    with pytest.raises(ValueError, match="this name has %010d"):
        ra.stylize_video(source, tmp_path / "g_%010d.png", style=data_dir / "style" / "trial.jpg", size=32)


def test_a_damaged_picture_before_the_last_loses_only_itself(run_cli, weights_env, style, tmp_path):
    """A JPEG saved as f_1003.png before the last picture of a render from 1001 at 10 fps: the frame
    threads reported its damage as they drained, and the last picture (f_1004) was lost too: the
    re-decoding of the end (`_lost_at_end`) took the damage for the last picture's and opened the
    pattern without its start number and rate. FFmpeg keeps the last one."""
    import shutil
    import subprocess

    from video_corpus import FFMPEG

    render = pictures(tmp_path / "render", "f_%04d.png", 4, start=1001)
    subprocess.run([FFMPEG, "-nostdin", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=64x48", "-frames:v", "1",
                    str(tmp_path / "photo.jpg")], check=True)
    shutil.copy(tmp_path / "photo.jpg", render.with_name("f_1003.png"))
    err = stylize(run_cli, render, style, tmp_path / "out.mp4", "--framerate", "10")
    assert "1 damaged video packet skipped" in err
    import av
    with av.open(str(tmp_path / "out.mp4")) as container:
        assert sum(1 for _ in container.decode(video=0)) == 3  # 1001, 1002 and 1004
