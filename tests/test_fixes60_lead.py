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


def test_an_output_folder_a_read_only_folder_cannot_hold_is_said_not_made(run_cli, weights_env, data_dir, tmp_path):
    """A results folder that is not there, inside a read-only one, was "not writable" (it does not exist).
    (A folder root cannot write in: /proc.)"""
    code, _, err = run_cli("image", data_dir / "content" / "sailboat.jpg", "-s", data_dir / "style" / "mondrian.jpg",
                           "-s", data_dir / "style" / "trial.jpg", "--size", "32", "--style-size", "32", "-o", "/proc/results")
    assert (code, err) == (2, "error: /proc/results: output directory cannot be made in /proc (files cannot be created there)\n")


def test_a_missing_mask_is_named_as_the_mask(run_cli, weights_env, data_dir, tmp_path):
    """It was "x.png: no such file", where a missing content or style says which it is."""
    missing = tmp_path / "nonex\udcfe.png"
    code, _, err = run_cli("image", data_dir / "content" / "sailboat.jpg", "-s", data_dir / "style" / "mondrian.jpg",
                           "-s", data_dir / "style" / "trial.jpg", "--mask", missing, "-o", tmp_path / "o.png")
    assert code == 2 and err.startswith("error: ") and err.endswith("nonex\\xfe.png: no such mask file\n"), err
    assert err.count("\n") == 1, err
    assert not (tmp_path / "o.png").exists()
