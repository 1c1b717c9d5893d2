"""What the docs and `--help` say, held to what the tool does (task h6's review, session 39)."""

from __future__ import annotations

import signal
import sys
from pathlib import Path

import numpy as np
import pytest

from live_support import cli_env
from realtime_adain import interrupts
from realtime_adain.cli import build_parser
from realtime_adain.errors import UserError
from realtime_adain.imageio import write_image
from realtime_adain.live.source_opening import open_source
from realtime_adain.settings import StyleSettings
from test_interrupts21 import start_held

REPO = Path(__file__).resolve().parents[1]


def words(text: str) -> str:
    """`text` with its line breaks and runs of spaces as single spaces (help and docs wrap)."""
    return " ".join(text.split())


def help_of(command: str, capsys) -> str:
    argv = [*command.split(), "--help"]
    with pytest.raises(SystemExit):
        build_parser(argv).parse_args(argv)
    return words(capsys.readouterr().out)


@pytest.mark.parametrize("command", ["image", "serve", "video", "live", "bench live", "bench serve"])
def test_engine_help_says_auto_is_eager_on_a_gpu_for_image_and_serve(command, capsys):
    """`Stylizer.from_settings(..., sizes_vary=True)` makes auto eager on a GPU for image (and its
    --sheet) and serve, whose frame sizes vary; every command's help said tensorrt > compile >
    eager, as README did (docs/engines.md named image only)."""
    assert "on a GPU tensorrt > compile > eager, but eager for image and serve, whose frame sizes vary" \
        in help_of(command, capsys)
    readme, engines_doc, serve_doc = (words((REPO / name).read_text()) for name in
                                      ("README.md", "docs/engines.md", "docs/serve.md"))
    assert "else eager on a GPU, but eager for `image` and `serve`, whose frame sizes vary" in readme
    assert "for `image` (`--sheet` too) and `serve`, whose inputs each have their own size" in engines_doc
    assert "on a GPU `--engine auto` is `eager`, as for `image`" in serve_doc


# A sitecustomize that holds the import of realtime_adain.interrupts (announced on stdout): the
# first of the package's modules the command imports, where no handler of ours was set yet.
SLOW_INTERRUPTS_IMPORT = """
import importlib.abc, os, sys, time

class SlowInterrupts(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "realtime_adain.interrupts":
            os.write(1, b"importing interrupts\\n")
            time.sleep(20)
        return None

sys.meta_path.insert(0, SlowInterrupts())
"""


@pytest.mark.parametrize("sig, code, said", [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated")])
def test_signals_are_handled_before_the_package_modules_import(published_weights, tmp_path, sig, code, said):
    """`__main__` imported `realtime_adain.interrupts` (and with it errors, threading, typing)
    before it set its handlers: a Ctrl-C there was a traceback, SIGTERM a silent -15. Its first
    lines now set them (README: "as soon as Python has started the command")."""
    process = start_held(cli_env(published_weights, tmp_path / "home"), tmp_path, SLOW_INTERRUPTS_IMPORT)
    assert process.stdout.readline() == "importing interrupts\n"
    process.send_signal(sig)
    _, err = process.communicate(timeout=30)
    assert (process.returncode, err) == (code, f"{said}\n")
    assert "as soon as Python has started the command" in words((REPO / "README.md").read_text())
    assert "from the first moment" not in words((REPO / "realtime_adain" / "cli.py").read_text())


def test_main_takes_the_signals_cli_handles_and_gives_them_back():
    """`__main__` names its signals before `interrupts` is imported: they must be the same ones.
    Importing it takes none (`entry` does, and `cli.main` takes them over)."""
    before = {sig: signal.getsignal(sig) for sig in interrupts.SIGNALS}
    sys.modules.pop("realtime_adain.__main__", None)
    import realtime_adain.__main__ as main

    assert main.STARTING_SIGNALS == interrupts.SIGNALS
    assert {sig: signal.getsignal(sig) for sig in interrupts.SIGNALS} == before


@pytest.mark.parametrize("target", ["live", "serve"])
def test_bench_weights_help_says_generated_stand_ins(target, capsys):
    """`bench live` and `bench serve` fall back to generated weights, as the other targets, whose
    help says so; theirs said "$REALTIME_ADAIN_VGG or the downloaded file", as a command's does."""
    text = help_of(f"bench {target}", capsys)
    assert "--vgg PATH encoder weights (default: installed, else generated)" in text
    assert "--decoder PATH decoder weights (default: installed, else generated)" in text
    assert "the downloaded file" not in text


@pytest.mark.parametrize("option", ["--frame-size", "--size"])
def test_bench_serve_frame_size_and_its_old_name(option, capsys):
    """`bench serve --size WxH` was the clients' frame size, where every other command's --size
    is the processing size: it is --frame-size now, the help saying that --size, still taken, is
    its old name."""
    argv = ["bench", "serve", option, "64x48"]
    assert build_parser(argv).parse_args(argv).frame_size == (64, 48)
    assert ("--frame-size WxH, --size WxH frame size the clients send, 16 to 4096 a side (default 320x240; "
            "--size: its old name, deprecated)") in help_of("bench serve", capsys)


def test_one_mix_weight_is_singular():
    with pytest.raises(UserError, match=r"^--mix has 1 weight for 2 styles$"):
        StyleSettings(mix=(1.0,)).check_for_command(style_count=2)
    with pytest.raises(UserError, match=r"^--mix has 2 weights for 1 style$"):
        StyleSettings(mix=(1.0, 1.0)).check_for_command(style_count=1)


def test_an_image_sequence_is_labelled_with_the_pattern_as_given(tmp_path):
    """`live: start source=frame_%04d.png` for render/frame_%04d.png: the folder was dropped."""
    (tmp_path / "render").mkdir()
    for number in (1, 2):
        write_image(tmp_path / "render" / f"frame_{number:04d}.png", np.full((48, 64, 3), 40 * number, np.uint8))
    pattern = str(tmp_path / "render" / "frame_%04d.png")
    source = open_source(pattern, loop=False)
    try:
        assert source.label == pattern
    finally:
        source.close()


def test_docs_say_what_the_tool_accepts_and_does():
    """docs/live.md said --resolution is "at most 7680x4320" (4320x7680 is taken); README said a
    write-protected output is refused "as cp refuses it" (as root, as for cp, it is replaced)."""
    assert "`--resolution` is at most 7680x4320 either way up" in words((REPO / "docs" / "live.md").read_text())
    assert ("a write-protected one is refused, as `cp` refuses it (for root, as for `cp`, it is replaced)"
            in words((REPO / "README.md").read_text()))
