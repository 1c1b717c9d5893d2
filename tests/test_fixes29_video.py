"""Fixes of hostile round 29 (video): signals at the end of an output, partial pictures, one line for
every bad input, and numbered names of video files.

Found: an output finished while a signal was being handled got no stdout line or `--json` record;
a signal once every frame was written still named the whole output `.partial`; a second
interrupted run to numbered pictures overwrote the first run's `.partial` pictures; after SIGTERM
the kept frames were said `interrupted:`; a missing input hid every other bad one from the one
error line, and a bad file given as content and style was named twice; `-o 'f_%04d.mp4'` wrote
one video literally named so.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from cli_support import one_error_line
from live_support import cli_env
from realtime_adain.video.picture_output import PictureOutput
from video_corpus import FFMPEG

# Loaded before the command (PYTHONPATH): holds one moment open for a few seconds, announced on
# stderr, so that a signal can be sent inside it. HOLD_RENAME: the rename that publishes the output
# of that name; HOLD_END: the moment after the last frame left the network (`Pipeline._stylize_all`).
HOOK = """
import importlib.abc, importlib.util, os, sys, time

_replace = os.replace

def replace(src, dst, *args, **kwargs):
    if os.path.basename(os.fsdecode(dst)) == os.environ.get("HOLD_RENAME"):
        os.write(2, b"renaming\\n")
        time.sleep(4)
    return _replace(src, dst, *args, **kwargs)

os.replace = replace


class HoldEnd(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name != "realtime_adain.video.pipeline" or not os.environ.get("HOLD_END"):
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        load = spec.loader.exec_module

        def exec_module(module):
            load(module)
            stylize_all = module.Pipeline._stylize_all

            def held(self):
                stylize_all(self)
                os.write(2, b"stylized all\\n")
                time.sleep(4)

            module.Pipeline._stylize_all = held

        spec.loader.exec_module = exec_module
        return spec


sys.meta_path.insert(0, HoldEnd())
"""


@pytest.fixture
def env(published_weights, tmp_path):
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(HOOK)
    env = cli_env(published_weights, tmp_path / "home")
    env["PYTHONPATH"] = os.pathsep.join((str(hook), env["PYTHONPATH"]))
    return env


@pytest.fixture
def style(data_dir):
    return data_dir / "style" / "brushstrokes.jpg"


def cut(data_dir: Path, path: Path, seconds: str = "0.5") -> Path:
    """The first `seconds` of cutBunny (with its sound), copied as they are."""
    subprocess.run([FFMPEG, "-nostdin", "-v", "error", "-y", "-i", data_dir / "videos" / "cutBunny.mp4", "-t", seconds,
                    "-c", "copy", path], check=True)
    return path


def start(env: dict[str, str], cwd: Path, *args: str | os.PathLike) -> subprocess.Popen:
    """`realtime-adain video ARGS --size 32 --style-size 64`, with Ctrl-C as from a terminal."""
    command = [sys.executable, "-m", "realtime_adain", "video", *map(str, args), "--size", "32", "--style-size", "64",
               "--threads", "1"]
    return subprocess.Popen(command, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def signal_at(process: subprocess.Popen, line: str, sig: int) -> tuple[str, str]:
    """Send `sig` once the command says `line` on stderr; (stdout, stderr) once it ended."""
    said = []
    while (got := process.stderr.readline()) and got != line + "\n":
        said.append(got)
    assert got, "".join(said)
    process.send_signal(sig)
    out, err = process.communicate(timeout=60)
    return out, "".join(said) + err


@pytest.mark.parametrize("sig, code, json_records", [  # (10-21 s each: SIGTERM runs by default)
    (signal.SIGTERM, 143, True), pytest.param(signal.SIGINT, 130, False, marks=pytest.mark.slow),
    pytest.param(signal.SIGHUP, 129, True, marks=pytest.mark.slow)])
@pytest.mark.slow_cases('15-143-True')
def test_an_output_finished_while_a_signal_waits_is_reported(env, data_dir, style, tmp_path, sig, code, json_records):
    """A signal while the second of three outputs is renamed into place: it waits for the file,
    and the file is published; its stdout line (its `--json` record) was never written."""
    for name in "abc":
        cut(data_dir, tmp_path / f"{name}.mp4")
    env["HOLD_RENAME"] = "b_stylized_brushstrokes.mp4"
    process = start(env, tmp_path, "a.mp4", "b.mp4", "c.mp4", "-s", style, "-o", "od/",
                    *(["--json"] if json_records else []))
    out, err = signal_at(process, "renaming", sig)
    assert process.returncode == code, err
    assert "finished od/b_stylized_brushstrokes.mp4; stopping there" in err and "Traceback" not in err
    published = ["od/a_stylized_brushstrokes.mp4", "od/b_stylized_brushstrokes.mp4"]
    assert sorted(p.name for p in (tmp_path / "od").iterdir()) == [Path(p).name for p in published]
    if json_records:
        records = [json.loads(line) for line in out.splitlines()]
        assert [r["output"] for r in records] == published and records[1]["frames"] > 0
    else:
        assert out.splitlines() == published
    assert err.splitlines()[-1] == ("interrupted" if sig == signal.SIGINT else "terminated")


@pytest.mark.slow  # (10-23 s of timed signals; the [15-143] case of the next test runs by default)
def test_a_signal_once_every_frame_is_written_keeps_the_real_name(env, data_dir, style, tmp_path):
    """A signal after the last frame left the network (the rest written while the run winds
    down) named the whole output `out.partial.mp4`, "interrupted: N frames kept": now it is
    finished as out.mp4, reported, the same file as an uninterrupted run's, then the run stops."""
    source = cut(data_dir, tmp_path / "clip.mp4")
    whole = start(env, tmp_path, source, "-s", style, "-o", "whole.mp4")
    assert whole.wait(timeout=120) == 0, whole.stderr.read()
    process = start({**env, "HOLD_END": "1"}, tmp_path, source, "-s", style, "-o", "out.mp4", "--json")
    out, err = signal_at(process, "stylized all", signal.SIGTERM)
    assert process.returncode == 143, err
    assert "finished out.mp4; stopping there" in err and " kept in " not in err, err
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix == ".mp4") == ["clip.mp4", "out.mp4", "whole.mp4"]
    assert (tmp_path / "out.mp4").read_bytes() == (tmp_path / "whole.mp4").read_bytes()
    assert [json.loads(line)["output"] for line in out.splitlines()] == ["out.mp4"]


def picture(value: int) -> np.ndarray:
    return np.full((16, 16, 3), value, np.uint8)


def test_partial_pictures_never_replace_an_earlier_runs(tmp_path):
    """A second interrupted run's pictures were named f_0001.partial.png ... over the first run's:
    now f_0001.partial-1.png, -2, ..., as a video's partial file; a pattern with any picture in the
    folder (even of other numbers) is taken."""
    pattern = tmp_path / "o" / "f_%04d.png"
    kept = []
    for run in range(3):
        pictures = PictureOutput(pattern, 1, Fraction(24))
        for frame in range(3 - run):
            pictures.write_frame(picture(10 * run + frame), None, 1)
        kept.append(pictures.publish_partial())
    assert kept == [tmp_path / "o" / name for name in ("f_%04d.partial.png", "f_%04d.partial-1.png",
                                                         "f_%04d.partial-2.png")]
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == [
        "f_0001.partial-1.png", "f_0001.partial-2.png", "f_0001.partial.png", "f_0002.partial-1.png",
        "f_0002.partial.png", "f_0003.partial.png"]
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "f_0500.partial.png").write_bytes(b"someone's")
    pictures = PictureOutput(tmp_path / "p" / "f_%04d.png", 1, Fraction(24))
    pictures.write_frame(picture(0), None, 1)
    assert pictures.publish_partial() == tmp_path / "p" / "f_%04d.partial-1.png"
    assert (tmp_path / "p" / "f_0500.partial.png").read_bytes() == b"someone's"


@pytest.mark.slow  # (5-10 s of timed signals)
def test_a_terminated_picture_run_says_terminated_and_keeps_the_earlier_partials(env, data_dir, style, tmp_path):
    """SIGTERM: the kept frames were said `interrupted: N frames kept in ...`, then `terminated`;
    the earlier run's partial pictures of that pattern were overwritten."""
    out = tmp_path / "o"
    out.mkdir()
    for number in (1, 2, 3):
        (out / f"f_{number:04d}.partial.png").write_bytes(b"an earlier run's")
    process = start(env, tmp_path, data_dir / "videos" / "cutBunny.mp4", "-s", style, "-o", "o/f_%04d.png")
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and process.poll() is None:
        temps = [p for p in out.iterdir() if p.name.startswith(".")]
        if temps and len(os.listdir(temps[0])) >= 3:
            break
        time.sleep(0.05)
    assert process.poll() is None, "finished before it could be interrupted"
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 143, err
    last = err.splitlines()[-1]  # (one line: the signal's word and what was kept)
    assert last.startswith("terminated: ") and last.endswith(" frames kept in o/f_%04d.partial-1.png"), err
    assert all((out / f"f_{n:04d}.partial.png").read_bytes() == b"an earlier run's" for n in (1, 2, 3))
    assert (out / "f_0003.partial-1.png").is_file() and not (out / "f_0004.partial.png").exists()


def test_missing_videos_join_the_line_naming_every_bad_input(run_cli, weights_env, style, tmp_path):
    (tmp_path / "bad.mp4").write_bytes(b"not a video")
    (tmp_path / "bad.jpg").write_bytes(b"not a picture")
    nope1, nope2, bad = tmp_path / "nope1.mp4", tmp_path / "nope2.mp4", tmp_path / "bad.mp4"
    code, _, err = run_cli("video", nope1, nope2, "-s", style, "-o", tmp_path / "nd")
    assert one_error_line(err, code) == (f"error: 2 inputs cannot be used, nothing done: {nope1}: no such input file "
                                         f"or directory; {nope2}: no such input file or directory")
    code, _, err = run_cli("video", nope1, bad, "-s", style, "-s", tmp_path / "bad.jpg", "-s", tmp_path / "n.jpg",
                           "-o", tmp_path / "nd")
    line = one_error_line(err, code)
    assert line.startswith("error: 4 inputs cannot be used, nothing done: ")
    named = [f"{tmp_path / 'n.jpg'}: no such style", f"{tmp_path / 'bad.jpg'}: not a", f"{nope1}: no such input",
             f"{bad}: not a readable video"]  # (the styles, then the videos)
    assert [line.index(text) for text in named] == sorted(line.index(text) for text in named), line
    assert not (tmp_path / "nd").exists()


def test_missing_images_join_the_line_and_a_file_in_two_roles_is_named_once(run_cli, weights_env, style, tmp_path):
    for name in ("bad.mp4", "bad1.jpg", "bad2.jpg"):
        (tmp_path / name).write_bytes(b"not a picture")
    nope1, nope2, bad = tmp_path / "nope1.jpg", tmp_path / "nope2.jpg", tmp_path / "bad.mp4"
    code, _, err = run_cli("image", nope1, bad, nope2, "-s", style, "-o", tmp_path / "nd")
    assert one_error_line(err, code) == (
        f"error: 3 inputs cannot be used, nothing done: {nope1}: no such content file or directory; "
        f"{nope2}: no such content file or directory; {bad}: not a readable image")
    bad1, bad2 = tmp_path / "bad1.jpg", tmp_path / "bad2.jpg"
    code, _, err = run_cli("image", bad1, bad2, "-s", bad1, "-o", tmp_path / "nd")
    assert one_error_line(err, code) == (f"error: 2 inputs cannot be used, nothing done: {bad1}: not a readable image; "
                                         f"{bad2}: not a readable image")
    assert not (tmp_path / "nd").exists()


@pytest.mark.parametrize("name", ["x/%04d.gif", "y/f_%04d.mp4", "z/f_%d.MKV"])
def test_a_video_file_name_with_a_number_pattern_is_refused(run_cli, weights_env, style, data_dir, tmp_path, name):
    """Numbered pictures are .png, .jpg, ...: `-o 'f_%04d.mp4'` wrote one video named so."""
    code, _, err = run_cli("video", data_dir / "videos" / "cutBunny.mp4", "-s", style, "-o", tmp_path / name)
    assert code == 2
    line = one_error_line(err)
    assert line.startswith(f"error: {tmp_path / name}: numbered pictures need a picture extension (.jpg "), line
    assert line.endswith("a video file's name cannot hold " + re.search(r"%\d*d", name).group()), line
    assert not (tmp_path / name).parent.exists()
