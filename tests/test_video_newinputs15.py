"""Image sequences and interlaced video as hostile users and real files bring them: a FIFO or an
empty file (a render still being written) named like a frame, an unreadable picture, an output
named like one of the pictures, pictures too small for the deinterlacer."""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from cli_support import one_error_line
from realtime_adain.video.deinterlace import Deinterlacer
from realtime_adain.video.frames import Frame
from realtime_adain.video.reader import VideoReader
from test_video_deinterlace import ffmpeg
from test_video_realworld_inputs import stylize, style  # noqa: F401  (a fixture)
from test_train_changing_data import PROCESS_LIMIT_GROUP
from test_video_sequences import pictures

ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


def frames_read(pattern: Path) -> int:
    reader = VideoReader(pattern)
    try:
        return sum(isinstance(item, Frame) for item in reader.items())
    finally:
        reader.container.close()


class FifoWatch:
    """Whether anyone opened `fifo` for reading: polled with a non-blocking writer's open, which
    succeeds only while a reader waits on it. That reader is let go at once (end of file), so a
    failing check fails instead of hanging."""

    def __init__(self, fifo: Path) -> None:
        self.fifo, self.opened, self._stop = fifo, False, threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def __enter__(self) -> "FifoWatch":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def _watch(self) -> None:
        while not self._stop.wait(0.02):
            try:
                os.close(os.open(self.fifo, os.O_WRONLY | os.O_NONBLOCK))
                self.opened = True
            except OSError as exc:
                assert exc.errno == errno.ENXIO  # no reader: as it should be


def test_a_fifo_named_like_a_frame_is_never_opened(tmp_path, capsys):
    """FFmpeg's stream probing read ahead past the pictures played and opened the FIFO named
    f_0003.png: the run waited on it forever. (Needs reader.py to open with `Sequence.options`.)"""
    pattern = pictures(tmp_path, "f_%04d.png", 6)
    (tmp_path / "f_0003.png").unlink()
    os.mkfifo(tmp_path / "f_0003.png")
    with FifoWatch(tmp_path / "f_0003.png") as watch:
        count = frames_read(pattern)
    assert not watch.opened and count == 2
    assert ("f_0003.png is not a picture file (a folder, FIFO, socket or broken link), so it and 3 later file(s) "
            "are left out") in capsys.readouterr().err


def test_an_empty_file_a_render_is_still_writing_ends_the_clip_with_a_note(tmp_path, capsys):
    """FFmpeg ends the clip at an empty file: 4 of 8 frames came out without a word."""
    pattern = pictures(tmp_path, "f_%02d.png", 8)
    (tmp_path / "f_05.png").write_bytes(b"")
    assert frames_read(pattern) == 4
    assert ("the sequence stops at f_04.png (4 pictures): f_05.png is empty (a render still writing it?), so it "
            "and 3 later file(s) are left out") in capsys.readouterr().err


@pytest.mark.slow  # (default run's time, 2026-12-07: a rarer variant; the corpus and `-m slow` runs keep it)
def test_a_sequence_whose_first_file_is_empty_is_one_line(run_cli, weights_env, style, tmp_path):
    """A folder of empty files (renders that never got written) was "the video has no frames"."""
    for number in range(1, 2001):
        (tmp_path / f"f_{number:05d}.png").write_bytes(b"")
    code, _, err = run_cli("video", tmp_path / "f_%05d.png", "-s", style, "-o", tmp_path / "out.mp4")
    assert "its first file, f_00001.png, is empty" in one_error_line(err, code)


@pytest.mark.slow  # (default run's time: 4 s)
@PROCESS_LIMIT_GROUP  # (runs as nobody: it counts against the `ulimit -u` tests' limit, run in turn)
def test_an_unreadable_picture_is_one_line(weights_env, style):
    """FFmpeg ended the clip at an unreadable picture without a word: 2 of 6 frames (an
    unreadable first one it skipped, starting at the next). (As root the command runs as nobody,
    through util-linux's setpriv, keeping the right to read this checkout; access(2) still says
    the picture is unreadable.)"""
    as_nobody = ()
    if ROOT:
        assert shutil.which("setpriv"), "as root this test needs setpriv (util-linux) to run as another user"
        as_nobody = ("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=+dac_read_search",
                     "--ambient-caps=+dac_read_search")
    with tempfile.TemporaryDirectory() as scratch:  # pytest's folders are their owner's alone (0700)
        os.chmod(scratch, 0o755)
        pattern = pictures(Path(scratch), "f_%04d.png", 6)
        out = Path(scratch) / "out"  # writable to all: before the check, the run went on (2 frames)
        out.mkdir(mode=0o777)
        out.chmod(0o777)
        (pattern.parent / "f_0003.png").chmod(0)
        done = subprocess.run([*as_nobody, sys.executable, "-m", "realtime_adain", "video", str(pattern), "-s",
                               str(style), "-o", str(out / "out.mp4")], capture_output=True, text=True, timeout=120,
                              cwd=Path(__file__).parent.parent)
        assert (f"{pattern.parent / 'f_0003.png'}: cannot read this picture of the sequence (permission denied)"
                in one_error_line(done.stderr, done.returncode))


def test_an_output_named_as_one_of_the_pictures_is_refused(run_cli, weights_env, style, tmp_path):
    """`-o f_0003.gif` beside `f_%04d.gif` replaced the third picture of the input. (Needs
    output_checks.refuse_overwriting_inputs to ask `names_a_picture`.)"""
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=64x48:rate=25", "-frames:v", "5", "-f", "image2",
           tmp_path / "f_%04d.gif")
    before = (tmp_path / "f_0003.gif").read_bytes()
    code, _, err = run_cli("video", tmp_path / "f_%04d.gif", "-s", style, "-o", tmp_path / "f_0003.gif")
    assert "output would overwrite a picture of an image-sequence input" in one_error_line(err, code)
    assert (tmp_path / "f_0003.gif").read_bytes() == before


def combed(width: int, height: int, pts: int, fmt: str = "yuv420p") -> av.VideoFrame:
    """A frame whose fields are two pictures (black and white lines), swapped from frame to frame:
    each field moves, so none of it is kept as a still part of the scene."""
    luma = np.zeros((height, width), np.uint8)
    luma[pts % 2::2] = 255
    frame = av.VideoFrame.from_ndarray(np.dstack([luma] * 3), format="rgb24").reformat(format=fmt)
    frame.pts, frame.time_base = pts, Fraction(1, 25)
    return frame


def comb(frame: av.VideoFrame) -> float:
    """How much lines differ from their neighbours (255 for black and white lines)."""
    luma = frame.to_ndarray(format="gray").astype(np.float64)
    return float(np.abs(np.diff(luma, axis=0)).mean())


def test_pictures_too_small_for_bwdif_pass_and_larger_ones_after_are_deinterlaced(capsys):
    """bwdif refuses a plane under 3x4 (a 2x2 picture; 6x6 in 4:2:0): that refusal stopped the
    deinterlacing of the rest of the clip, whatever its size, with a vague "Invalid argument"."""
    deinterlacer = Deinterlacer("on", "small.mkv")
    pushed = [combed(2, 2, 0), combed(6, 6, 1)] + [combed(64, 48, pts) for pts in range(2, 6)]
    out = [picture for frame in pushed for picture in deinterlacer.push(frame)] + list(deinterlacer.flush())
    assert [f.pts for f in out] == list(range(6)) and [f.width for f in out] == [2, 6, 64, 64, 64, 64]
    assert all(comb(f) < 64 for f in out[2:]), [comb(f) for f in out]
    err = capsys.readouterr().err
    assert "2x2 pictures (yuv420p) are too small for FFmpeg's bwdif" in err and "Invalid argument" not in err


def test_a_tiny_interlaced_clip_is_stylized_with_one_note(run_cli, weights_env, style, tmp_path):
    source = tmp_path / "tiny.mkv"
    ffmpeg("-f", "lavfi", "-i", "color=size=4x4:rate=25:duration=0.2", "-vf", "setfield=tff", "-c:v", "ffv1",
           "-field_order", "tt", source)
    err = stylize(run_cli, source, style, tmp_path / "out.mkv")
    assert "too small for FFmpeg's bwdif" in err and "could not be deinterlaced" not in err
    with av.open(str(tmp_path / "out.mkv")) as container:
        assert len(list(container.decode(video=0))) == 5
