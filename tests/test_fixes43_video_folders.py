"""A folder run (or several inputs) of `video` where one input fails as it is read: its outputs
alone are not written; the others are made (each reported, `--json` too), then one `error:` line
names each input that failed, exit status 2. The run stopped at the first such input, the later
ones never processed nor named. A failure that concerns every output (a full disk) still stops
the run at once. Each failure is noted as it happens, and a run stopped later (a full disk, a
signal) names the inputs that failed before in its last words."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from cli_support import one_error_line
from live_support import cli_env
from test_full_disk import fill, left_on, tmpfs
from video_samples import gradient_frames, wait_until_encoding, write_video

# 32x32 at --size 32 fits --max-pixels 5000; a later 320x32 picture does not (as test_video_cli's
# test_pixel_budget_refuses_before_and_during_the_run): refused only once the reading gets there.
BUDGET = ("--size", "32", "--style-size", "32", "--max-pixels", "5000", "--stabilize", "off")
OVER = "320x32 at --size 32 is 320x32, over the budget of 5000 pixels"


def clip(path: Path) -> Path:
    """Three 32x32 frames."""
    return write_video(path, gradient_frames(3, 32, 32), pix_fmt="yuv444p")


def growing_clip(path: Path) -> Path:
    """Three 32x32 frames, then three of 320x32 (two MPEG-TS clips joined byte for byte)."""
    parts = [write_video(path.with_name(f"{path.stem}-{w}.ts"), gradient_frames(3, w, 32), pix_fmt="yuv444p")
             for w in (32, 320)]
    path.write_bytes(b"".join(part.read_bytes() for part in parts))
    for part in parts:
        part.unlink()
    return path


@pytest.fixture
def full_disk(tmp_path):
    """A 2 MiB tmpfs with no room left (test_full_disk's), unmounted afterwards."""
    with tmpfs(tmp_path / "disk", "2m") as mount:
        fill(mount)
        yield mount


def notes_aside(err: str) -> str:
    return "".join(line + "\n" for line in err.splitlines() if not line.startswith("note: "))


def test_an_input_that_fails_as_it_is_read_costs_its_own_outputs_only(run_cli, weights_env, data_dir, tmp_path):
    folder, out = tmp_path / "clips", tmp_path / "out"
    folder.mkdir()
    for name in ("a.mp4", "c.mp4"):
        clip(folder / name)
    bad = growing_clip(folder / "b.ts")
    styles = [data_dir / "style" / "trial.jpg", data_dir / "style" / "brushstrokes.jpg"]
    code, stdout, err = run_cli("video", folder, "-s", styles[0], "-s", styles[1], *BUDGET, "--json", "-o", f"{out}/")
    # (b.ts is read once: its second style's output is not attempted, and it is named once)
    assert one_error_line(notes_aside(err), code) == (
        f"error: 2 of 6 outputs not written (the others were): {bad}: {OVER} (raise it with --max-pixels, "
        "or give --size 22 or less)")
    assert code == 2
    made = sorted(f"{clip_name}_stylized_{style.stem}.mp4" for clip_name in "ac" for style in styles)
    assert sorted(Path(json.loads(line)["output"]).name for line in stdout.splitlines()) == made
    assert sorted(path.name for path in out.iterdir()) == made  # (nothing hidden or partial left)


def test_none_written_names_every_input_that_failed(run_cli, weights_env, data_dir, tmp_path):
    folder = tmp_path / "clips"
    folder.mkdir()
    first, second = growing_clip(folder / "a.ts"), growing_clip(folder / "b.ts")
    code, stdout, err = run_cli("video", folder, "-s", data_dir / "style" / "trial.jpg", *BUDGET,
                                "-o", f"{tmp_path / 'out'}/")
    line = one_error_line(notes_aside(err), code)
    assert line.startswith(f"error: none of the 2 outputs written: {first}: {OVER}") and f"; {second}: {OVER}" in line
    assert code == 2 and stdout == "" and not list((tmp_path / "out").glob("*"))
    # each said as it failed; after the last input, no other to go on with
    said = [line for line in err.splitlines() if line.startswith("note: not written: ")]
    assert len(said) == 2 and all(note.startswith(f"note: not written: {path}: {OVER}")
                                  for note, path in zip(said, (first, second))), err
    assert [note.endswith("; going on with the other inputs") for note in said] == [True, False], err


@pytest.mark.slow  # (a regression guard: the run stopped at a full disk before the fix too)
def test_a_full_disk_still_stops_the_run_at_once(run_cli, weights_env, data_dir, tmp_path, full_disk):
    """ENOSPC names an output, not an input: every later output would fail the same way."""
    folder = tmp_path / "clips"
    folder.mkdir()
    for name in ("a.mp4", "b.mp4"):
        clip(folder / name)
    code, stdout, err = run_cli("video", folder, "-s", data_dir / "style" / "trial.jpg", *BUDGET,
                                "-o", f"{full_disk}/")
    line = one_error_line(notes_aside(err), code)
    assert line.startswith(f"error: {full_disk / 'a_stylized_trial.mp4'}: ") and "No space left" in line, line
    assert code == 2 and stdout == "" and left_on(full_disk) == []


@pytest.mark.slow  # (default run's time: two inputs, a full disk)
def test_a_full_disk_after_an_input_failed_names_that_input_too(run_cli, weights_env, data_dir, tmp_path, one_thread):
    """The run stopped by a later output's full disk said that output's error alone: the input that
    had failed before was never named."""
    folder = tmp_path / "clips"
    folder.mkdir()
    bad = growing_clip(folder / "a.ts")
    shutil.copy(data_dir / "videos" / "cutBunny.mp4", folder / "b.mp4")  # (120 frames: more than 96 kB at 32 px)
    with tmpfs(tmp_path / "disk", "2m") as full_disk:
        fill(full_disk, 96_000)  # (room for a.ts's start, as test_full_disk's)
        code, stdout, err = run_cli("video", folder, "-s", data_dir / "style" / "trial.jpg", *BUDGET, "--frames", "120",
                                    "-o", f"{full_disk}/")
        left = left_on(full_disk)
    line = one_error_line(notes_aside(err), code)
    assert line.startswith(f"error: {full_disk / 'b_stylized_trial.mp4'}: ") and "No space left" in line, line
    assert line.endswith(f"; also not written: {bad}: {OVER} (raise it with --max-pixels, or give --size 22 or less)")
    assert f"note: not written: {bad}: {OVER}" in err and "; going on with the other inputs\n" in err, err
    assert code == 2 and stdout == "" and left == []


@pytest.mark.slow  # (default run's time: two inputs, a signal)
def test_a_signal_after_an_input_failed_names_that_input_too(published_weights, data_dir, tmp_path):
    """SIGTERM during a later input said only `terminated: N frames kept in ...` and `terminated`:
    the input that had failed before was never named. Its failure is said as it happens, too."""
    folder, out = tmp_path / "clips", tmp_path / "out"
    folder.mkdir()
    out.mkdir()
    bad = growing_clip(folder / "a.ts")
    shutil.copy(data_dir / "videos" / "cutBunny.mp4", folder / "b.mp4")  # (long enough to be stopped in)
    errors = tmp_path / "stderr.txt"
    with open(errors, "wb") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "realtime_adain", "video", str(folder), "-s", str(data_dir / "style" / "trial.jpg"),
             *BUDGET, "--threads", "1", "-o", f"{out}/"],
            env=cli_env(published_weights, tmp_path / "home"), cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=stderr)
    try:
        assert wait_until_encoding(process, out, "b_stylized_trial"), errors.read_text()
        assert f"note: not written: {bad}: {OVER}" in errors.read_text()  # (before the run ends)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 143
    finally:
        if process.poll() is None:
            process.kill()
    lines = errors.read_text().strip().splitlines()
    assert "Traceback" not in errors.read_text() and lines[-1] == "terminated", lines
    assert lines[-2] == (f"note: also not written: {bad}: {OVER} (raise it with --max-pixels, "
                         "or give --size 22 or less)"), lines
    assert lines[-3].startswith("terminated: ") and lines[-3].endswith(f"kept in {out / 'b_stylized_trial.partial.mp4'}")
