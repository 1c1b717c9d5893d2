"""`video ... -o 'out/frame_%04d.png'`: the stylized frames as numbered pictures, published whole
(a failed run leaves nothing and replaces nothing; an interrupted one leaves NAME.partial pictures)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import pytest

from cli_support import one_error_line
from realtime_adain.stale_temporaries import process_tag
from test_video_realworld_inputs import stylize, style  # noqa: F401  (a fixture)
from test_video_sequences import pictures
from test_full_disk import disk  # noqa: F401  (a fixture)
from video_corpus import FFMPEG


def clip(path: Path, frames: int = 6, size: str = "64x48") -> Path:
    subprocess.run([FFMPEG, "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i", f"testsrc2=size={size}:rate=12",
                    "-f", "lavfi", "-i", "sine=duration=1", "-frames:v", str(frames), "-c:v", "libx264", "-c:a", "aac",
                    "-shortest", str(path)], check=True, capture_output=True)
    return path


def hidden(folder: Path) -> list[Path]:
    return [p for p in folder.iterdir() if p.name.startswith(".")]


def test_a_clip_becomes_numbered_pictures_with_notes_for_timing_and_sound(run_cli, weights_env, style, tmp_path):
    source = clip(tmp_path / "clip.mp4")
    out = tmp_path / "frames"
    err = stylize(run_cli, source, style, out / "f_%04d.png")
    assert sorted(p.name for p in out.iterdir()) == [f"f_{n:04d}.png" for n in range(1, 7)]
    assert cv2.imread(str(out / "f_0001.png")).shape == (48, 64, 3)  # the display size (--keep-size)
    assert "numbered pictures keep no timing: the video ran at 12 fps" in err
    assert "numbered pictures hold no audio; leaving out stream #1" in err


def test_a_render_keeps_its_numbers_and_may_not_be_overwritten(run_cli, weights_env, style, tmp_path):
    pattern = pictures(tmp_path / "render", "shot_%04d.png", 3, start=1001)
    stylize(run_cli, pattern, style, tmp_path / "styled" / "shot_%04d.jpg")
    assert sorted(p.name for p in (tmp_path / "styled").iterdir()) == ["shot_1001.jpg", "shot_1002.jpg", "shot_1003.jpg"]
    before = (pattern.parent / "shot_1002.png").read_bytes()
    for out in (pattern, pattern.parent / "shot_%d.png"):  # the same pictures, or names that cover them
        code, _, err = run_cli("video", pattern, "-s", style, "-o", out)
        assert "would overwrite an input" in one_error_line(err, code)
    assert (pattern.parent / "shot_1002.png").read_bytes() == before


def test_a_failed_run_leaves_nothing_and_replaces_no_earlier_picture(run_cli, weights_env, style, tmp_path):
    source = clip(tmp_path / "clip.mp4", frames=24)
    cut = tmp_path / "cut.mp4"
    data = source.read_bytes()
    cut.write_bytes(data[: len(data) * 2 // 3])  # its index says 24 frames; fewer decode
    out = tmp_path / "frames"
    out.mkdir()
    (out / "f_0001.png").write_bytes(b"an earlier run's picture")
    code, _, err = run_cli("video", cut, "-s", style, "--size", "32", "-o", out / "f_%04d.png")
    assert code != 0 and "Traceback" not in err
    assert [p.name for p in out.iterdir()] == ["f_0001.png"]
    assert (out / "f_0001.png").read_bytes() == b"an earlier run's picture"


@pytest.mark.slow  # (4-6 s of timed signals; video partials run by default in test_signals)
def test_ctrl_c_keeps_the_pictures_made_as_partial_ones(data_dir, weights_env, tmp_path):
    out = tmp_path / "frames"
    command = [sys.executable, "-m", "realtime_adain", "video", str(data_dir / "videos" / "cutBunny.mp4"), "-s",
               str(data_dir / "style" / "trial.jpg"), "--size", "32", "--style-size", "64", "--threads", "1",
               "-o", str(out / "f_%04d.png")]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and process.poll() is None:
        temps = hidden(out) if out.is_dir() else []
        if temps and len(os.listdir(temps[0])) >= 3:
            break
        time.sleep(0.05)
    assert process.poll() is None, "finished before it could be interrupted"
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    kept = sorted(out.iterdir())
    assert process.returncode == 130 and len(kept) >= 3 and not hidden(out), err
    assert all(p.name.endswith(".partial.png") for p in kept) and kept[0].name == "f_0001.partial.png"
    assert " kept in " in err and "f_%04d.partial.png" in err


@pytest.mark.parametrize("extra, message", [
    (["--crf", "20"], "--crf: applies to a video file; numbered pictures are written as .png files: leave it out"),
    (["--codec", "libx264", "--pix-fmt", "yuv444p"], "--codec, --pix-fmt: apply to a video file; numbered pictures are written as .png files: leave them out"),
    (["-s", "{style}"], "numbered pictures hold one result; this run makes 2"),
])
def test_what_pictures_cannot_take_is_one_line(run_cli, weights_env, style, tmp_path, extra, message):
    source = clip(tmp_path / "clip.mp4")
    extra = [str(style) if a == "{style}" else a for a in extra]
    code, _, err = run_cli("video", source, "-s", style, *extra, "-o", tmp_path / "f_%04d.png")
    assert message in one_error_line(err, code) and not any(tmp_path.glob("f_*"))


@pytest.mark.slow  # (default run's time: 4 s)
def test_the_python_api_writes_pictures(weights_env, data_dir, tmp_path):
    import realtime_adain as ra

    source = clip(tmp_path / "clip.mp4", frames=3)
    ra.stylize_video(source, tmp_path / "f_%02d.png", style=data_dir / "style" / "trial.jpg", size=32, stabilize="off")
    assert sorted(p.name for p in tmp_path.glob("f_*")) == ["f_01.png", "f_02.png", "f_03.png"]
    with pytest.raises(ValueError, match="codec, crf, bitrate and pix_fmt encode video files"):
        ra.stylize_video(source, tmp_path / "g_%02d.png", style=data_dir / "style" / "trial.jpg", crf=20)


def test_a_killed_runs_hidden_folder_is_swept_by_the_next(run_cli, weights_env, style, tmp_path):
    """A SIGKILLed run cannot remove its hidden folder of pictures; the next run in that folder
    does, once its process is gone (as for the temporary files of video outputs)."""
    out = tmp_path / "frames"
    stale = out / f".f_0001.realtime-adain-{process_tag(999999999)}-abcd1234.part"
    stale.mkdir(parents=True)
    (stale / "f_0001.png").write_bytes(b"x")
    old = time.time() - 3600
    os.utime(stale, (old, old))
    stylize(run_cli, clip(tmp_path / "clip.mp4", frames=2), style, out / "f_%04d.png")
    assert not stale.exists() and sorted(p.name for p in out.iterdir()) == ["f_0001.png", "f_0002.png"]


@pytest.mark.parametrize("leave", [0, 96_000])  # full from the start, or after some pictures
@pytest.mark.slow_cases('0')  # (default run's time: 2 s)
def test_pictures_onto_a_full_disk_are_one_line_and_leave_nothing(run_cli, weights_env, data_dir, disk, leave):
    from test_full_disk import assert_one_error_naming, fill, left_on

    fill(disk, leave)
    out = disk / "f_%04d.png"
    code, _, err = run_cli("video", data_dir / "videos" / "cutBunny.mp4", "-s", data_dir / "style" / "trial.jpg",
                           "--size", "32", "--style-size", "32", "--frames", "60", "-o", out)
    err = "".join(line + "\n" for line in err.splitlines() if not line.startswith("note: "))
    assert_one_error_naming(code, err, out)
    assert left_on(disk) == []
