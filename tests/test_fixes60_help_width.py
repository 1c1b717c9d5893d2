"""Every `--help` fits an 80-column terminal: the examples and descriptions are written by hand
(RawDescriptionHelpFormatter keeps their lines), and bench's summary was one 140-character line."""

import argparse

from realtime_adain.cli import build_parser

WIDTH = 80


def _parsers(parser: argparse.ArgumentParser, words: tuple[str, ...] = ()):
    yield words, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _parsers(sub, (*words, name))


def _all_helps(monkeypatch) -> list[tuple[str, str]]:
    monkeypatch.setenv("COLUMNS", str(WIDTH))
    helps = []
    for first in (None, "bench"):  # (bench's targets are registered only when asked for)
        for words, parser in _parsers(build_parser(["bench"] if first else [])):
            helps.append((" ".join(words) or "(the command)", parser.format_help()))
    return helps


def test_every_help_fits_80_columns(monkeypatch):
    helps = _all_helps(monkeypatch)
    assert len({words for words, _ in helps}) > 15
    wide = [(words, line) for words, text in helps for line in text.splitlines() if len(line) > WIDTH]
    assert not wide, "\n".join(f"{words}: {len(line)}: {line}" for words, line in wide)



def test_engines_list_says_an_unreadable_sidecar_is_not_read(run_cli, tmp_path, monkeypatch):
    """An engine whose sidecar cannot be read (no permission, damaged) was said to have "no metadata"."""
    monkeypatch.setenv("REALTIME_ADAIN_ENGINES", str(tmp_path))
    (tmp_path / "onnx-fp32-dynamic-0123456789abcdef0123.onnx").write_bytes(b"\0" * 16)
    (tmp_path / "onnx-fp32-dynamic-0123456789abcdef0123.onnx.json").write_text("[1, 2")
    code, out, err = run_cli("engines", "list")
    assert code == 0 and out.splitlines()[-1].endswith("(no readable metadata: will be rebuilt)"), (out, err)
