"""The examples `--help` shows a new user parse: the root help's first steps and every command's
`examples:` (docs pages are held to this by tests/test_docs_examples.py; the help texts were not,
and `video --help` named h264_nvenc as if it were the default encoder on NVIDIA GPUs)."""

from __future__ import annotations

import argparse
import re
import shlex

import pytest

from realtime_adain.cli import COMMAND_MODULES, build_parser


def help_texts() -> dict[str, str]:
    """Each parser's whole help, the root's and every (sub)command's, by its prog."""
    found: dict[str, str] = {}

    def walk(parser: argparse.ArgumentParser) -> None:
        found[parser.prog] = parser.format_help()
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for child in action.choices.values():
                    walk(child)

    walk(build_parser(["bench"]))  # (bench registers its targets only when asked for)
    return found


HELP = help_texts()
EXAMPLES = [(prog, line) for prog, text in HELP.items() for line in text.splitlines()
            if line.strip().startswith("realtime-adain ")]


def test_the_root_help_says_how_to_start():
    root = HELP["realtime-adain"]
    assert "realtime-adain weights download" in root and "realtime-adain doctor" in root
    assert "`realtime-adain COMMAND --help`" in root


def test_every_command_help_shows_examples():
    shown = {prog.split()[1] for prog, _ in EXAMPLES if len(prog.split()) > 1}
    assert shown >= set(COMMAND_MODULES) - {"doctor", "engines"}


@pytest.mark.parametrize("prog, line", EXAMPLES, ids=lambda v: v)
def test_help_example_parses(prog, line, capsys):
    argv = shlex.split(line, comments=True)[1:]
    try:
        build_parser(argv).parse_args(argv)
    except SystemExit as exc:
        pytest.fail(f"`{prog} --help` shows `{line.strip()}`, which is refused: {capsys.readouterr().err.strip()} "
                    f"(exit {exc.code})")


def test_codec_help_names_no_default_it_does_not_have():
    """h264_nvenc is never picked by itself: the help named it beside the defaults."""
    codec = re.search(r"\n  --codec CODEC(.*?)\n  --", HELP["realtime-adain video"], re.S).group(1)
    assert "default libx264" in " ".join(codec.split())
    assert "h264_nvenc on NVIDIA GPUs)" not in " ".join(codec.split())
