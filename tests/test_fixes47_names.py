"""Session 47: hostile file names. A name FFmpeg reads as its `subfile` protocol opened another
file; escape sequences and line breaks in names reached the terminal through `video`'s and
`evaluate`'s progress bars, `live`'s event lines and an interrupted video's last lines; the hint
for a value starting with a dash took `--` for an option."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import signal
import struct
import sys
import termios
import threading
from fractions import Fraction
from typing import Callable

import numpy as np
import pytest
import torch
from PIL import Image

from live_support import write_video
from realtime_adain import weights
from realtime_adain.cli import dash_value_hint
from realtime_adain.cli import main as cli_main
from realtime_adain.live.events import EventLog
from realtime_adain.training.evaluate import mean_losses
from realtime_adain.video.partial_outputs import keep_partial
from realtime_adain.video.picture_output import PictureOutput
from realtime_adain.video.reader import VideoReader
from test_fixes29_video import cut, env, signal_at, start  # noqa: F401 (env: a fixture)

SUBFILE = "subfile,,start,0,end,0,,:"  # FFmpeg's subfile protocol over the whole of the file after the colon
HOSTILE = "k\x1b[2J\x1b]0;PWNED\x07\r\nx"  # clears the screen, sets the title, breaks the line


def test_a_name_starting_like_ffmpegs_subfile_protocol_is_that_file(tmp_path, monkeypatch):
    """`subfile,,start,0,end,0,,:x.mp4` was read as the subfile protocol over x.mp4: `video` and
    `live` stylized x.mp4, a file and an image sequence alike (a folder so named)."""
    monkeypatch.chdir(tmp_path)
    write_video(tmp_path / "x.mp4", frames=2, size=(32, 24))
    write_video(tmp_path / f"{SUBFILE}x.mp4", frames=2, size=(48, 32))
    (tmp_path / "d").mkdir()
    (tmp_path / f"{SUBFILE}d").mkdir()
    for number in (1, 2):
        Image.new("RGB", (32, 24)).save(tmp_path / "d" / f"f{number:02d}.png")
        Image.new("RGB", (48, 32)).save(tmp_path / f"{SUBFILE}d" / f"f{number:02d}.png")
    for name in (f"{SUBFILE}x.mp4", f"{SUBFILE}d/f%02d.png"):
        with VideoReader(name) as reader:
            assert (reader.width, reader.height) == (48, 32), name


def on_a_terminal(run: Callable[[], object]) -> str:
    """What `run` writes to sys.stderr when that is a terminal (a pseudo-terminal's), where tqdm
    draws its bars."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 400, 0, 0))  # (0 columns: an empty bar)
    chunks: list[bytes] = []

    def drain() -> None:
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:  # (EIO: the terminal's side closed)
                return
            if not data:
                return
            chunks.append(data)

    reader = threading.Thread(target=drain)
    reader.start()
    try:
        with open(slave, "w", encoding="utf-8") as terminal, pytest.MonkeyPatch.context() as patch:
            patch.setattr(sys, "stderr", terminal)
            run()
    finally:
        reader.join(timeout=30)
        os.close(master)
    return b"".join(chunks).decode("utf-8", "replace")


def test_videos_progress_bar_shows_its_name_escaped(weights_env, data_dir, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_video(tmp_path / f"{HOSTILE}.mp4", frames=2, size=(32, 24))
    codes = []
    shown = on_a_terminal(lambda: codes.append(cli_main(
        ["video", f"{HOSTILE}.mp4", "-s", str(data_dir / "style" / "trial.jpg"), "-o", "out.mp4", "--size", "32",
         "--style-size", "64", "--stabilize", "off"])))
    assert codes == [0], shown
    assert "\x1b" not in shown and "k\\x1b[2J\\x1b]0;PWNED\\x07\\r\\nx.mp4" in shown, shown


def test_evaluates_progress_bar_shows_the_decoders_name_escaped(published_weights):
    vgg, decoder = published_weights
    batch = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    shown = on_a_terminal(lambda: mean_losses(weights.load_encoder(vgg), [weights.load_decoder(decoder)], [batch],
                                              [batch], torch.device("cpu"), label=f"{HOSTILE}.pth", content_batches=1))
    assert "\x1b" not in shown and "k\\x1b[2J\\x1b]0;PWNED\\x07\\r\\nx.pth" in shown, shown


def test_live_event_values_with_control_characters_are_quoted_and_escaped(tmp_path, capsys):
    """`EventLog._value` quoted only values with a space, `"`, `=` or a newline: an ESC sequence or
    a CR in a name went raw to stderr and the --log file."""
    for name in ("esc\x1b[31mRED\rx.mp4", "c1\x9b2J\u2028.mp4"):
        log = EventLog(tmp_path / "log.txt")
        log("start", source=name, resolution="32x24")
        log.close()
        for line in ((tmp_path / "log.txt").read_text(encoding="utf-8"), capsys.readouterr().err):
            assert line.count("\n") == 1 and line.endswith(" resolution=32x24\n"), line
            assert not any(ord(c) < 0x20 or 0x7f <= ord(c) < 0xa0 or c in "\u2028\u2029" for c in line[:-1]), line
            assert json.loads(line.removeprefix("live: start source=").removesuffix(" resolution=32x24\n")) == name
        (tmp_path / "log.txt").unlink()


def test_an_interrupted_videos_kept_output_is_named_on_one_line(tmp_path, capsys):
    """`interrupted: 1 frame kept in ...` printed the kept file's name raw: an escape sequence drove
    the terminal, a newline split the line."""
    pictures = PictureOutput(tmp_path / HOSTILE / "f_%04d.png", 1, Fraction(24))
    pictures.write_frame(np.zeros((16, 16, 3), np.uint8), None, 1)
    keep_partial(pictures, pictures, KeyboardInterrupt())
    err = capsys.readouterr().err.splitlines(keepends=True)[-1]  # (after a note on the pictures' timing)
    assert err == f"interrupted: 1 frame kept in {tmp_path}/k\\x1b[2J\\x1b]0;PWNED\\x07\\r\\nx/f_%04d.partial.png\n"


@pytest.mark.slow  # (a timed signal in a run: about 10 s)
def test_an_output_finished_while_a_signal_waits_is_named_on_one_line(env, data_dir, tmp_path):  # noqa: F811
    source = cut(data_dir, tmp_path / "clip.mp4")
    process = start({**env, "HOLD_END": "1"}, tmp_path, source, "-s", data_dir / "style" / "trial.jpg",
                    "-o", f"{HOSTILE}.mp4")
    _, err = signal_at(process, "stylized all", signal.SIGTERM)
    assert process.returncode == 143, err
    assert "finished k\\x1b[2J\\x1b]0;PWNED\\x07\\r\\nx.mp4; stopping there\n" in err and "\x1b" not in err, err


@pytest.mark.parametrize("args, hint", [
    (["-s", "s.jpg", "-o", "--", "-x.jpg"], "-o=-x.jpg"),
    (["-s", "--", "-s.jpg", "-o", "x.jpg"], "-s=-s.jpg"),
])
def test_the_dash_value_hint_does_not_take_double_dash_for_an_option(args, hint):
    """`--` matched as an abbreviation of every long option: "a value starting with '-' is written
    --=-x.jpg"."""
    option = "-o/--output" if hint.startswith("-o") else "--style/-s"
    message = f"argument {option}: expected one argument"
    assert dash_value_hint(message, ["image", "c.jpg", *args]) == f"; a value starting with '-' is written {hint}"
