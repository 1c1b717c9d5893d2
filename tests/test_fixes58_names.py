"""Session 58: file names and listings. A dataset folder nested 1000 deep ended training in a
RecursionError traceback; checking outputs against 3000 inputs took minutes (every pair); a name's
bytes that are not UTF-8 reached messages raw; bench printed a name holding a newline raw; two
outputs named `a<newline>b.jpg` and `a\\nb.jpg` were printed alike; an NFC name was "no such file"
beside its NFD twin; /proc files were "empty" (video) or 0 bytes (weights info)."""

from __future__ import annotations

import codecs
import os
import sys
import unicodedata
from pathlib import Path

import pytest
from PIL import Image

from realtime_adain import output_checks
from realtime_adain.errors import escaped_name, one_line, shell_quoted
from realtime_adain.standard_streams import FILE_NAME_ERRORS


def test_a_dataset_folder_nested_deeper_than_the_recursion_limit_is_listed(tmp_path):
    """os.walk recursed a level a call in Python 3.11: RecursionError at ~1000 levels."""
    from realtime_adain.training.image_listing import list_images

    root = tmp_path / "C"
    depth = sys.getrecursionlimit() + 100
    root.mkdir()
    deep = str(root)
    for _ in range(depth):  # (os.makedirs recurses a level a call too)
        deep = os.path.join(deep, "d")
        os.mkdir(deep)
    try:
        Image.new("RGB", (8, 8)).save(root / "a.jpg")
        Image.new("RGB", (8, 8)).save(os.path.join(deep, "b.jpg"))
        assert [path.name for path in list_images(root, "content")] == ["a.jpg", "b.jpg"]
    finally:  # (pytest's rmtree of its temporary folders recurses too: a RecursionError in a later run)
        os.unlink(os.path.join(deep, "b.jpg"))
        while deep != str(root):
            os.rmdir(deep)
            deep = os.path.dirname(deep)


def test_the_walk_keeps_os_walks_order_and_pruning(tmp_path):
    from realtime_adain.training.image_listing import walk

    for folder in ("a/x", "a/.h", "b", "c/y/z"):
        (tmp_path / folder).mkdir(parents=True)
    (tmp_path / "a" / "f.jpg").touch()
    (tmp_path / "link").symlink_to(tmp_path / "b")
    ours = []
    for folder, subfolders, names in walk(tmp_path, print):
        subfolders[:] = sorted(d for d in subfolders if not d.startswith("."))
        ours.append((folder, sorted(subfolders), sorted(names)))
    theirs = []
    for folder, subfolders, names in os.walk(tmp_path, followlinks=True):
        subfolders[:] = sorted(d for d in subfolders if not d.startswith("."))
        theirs.append((folder, sorted(subfolders), sorted(names)))
    assert ours == theirs
    unlisted: list[OSError] = []
    assert list(walk(tmp_path / "none", unlisted.append)) == [] and len(unlisted) == 1


def test_outputs_are_checked_against_many_inputs_in_linear_calls(tmp_path, monkeypatch):
    """Each output was asked of every input whether it names one of its pictures (only an image
    sequence's pattern can): 3000 photos, 9 million calls, minutes before any work."""
    inputs = [tmp_path / f"{number:04d}.png" for number in range(1000)]
    for path in inputs:
        path.touch()
    pattern = tmp_path / "seq" / "f_%04d.png"
    pattern.parent.mkdir()
    (pattern.parent / "f_0001.png").touch()
    calls = 0
    real = output_checks.names_a_picture

    def counted(*args):
        nonlocal calls
        calls += 1
        assert calls <= 10 * len(inputs), "names_a_picture asked of every (output, input) pair"
        return real(*args)

    monkeypatch.setattr(output_checks, "names_a_picture", counted)
    outputs = [tmp_path / "out" / f"{number:04d}_stylized_s.png" for number in range(1000)]
    output_checks.refuse_overwriting_inputs(outputs, [*inputs, pattern])
    assert calls == len(outputs)  # each output against the one pattern
    # What it refuses is kept: an output named as the sequence's picture, a pattern naming an input.
    with pytest.raises(output_checks.UserError, match="a picture of an image-sequence input"):
        output_checks.refuse_overwriting_inputs([pattern.parent / "f_0007.png"], [*inputs, pattern])
    with pytest.raises(output_checks.UserError, match="numbered pictures would overwrite an input"):
        output_checks.refuse_overwriting_inputs([tmp_path / "%04d.png"], inputs)


NOT_UTF8 = os.fsdecode(b"a\xfe.jpg")


def test_a_names_bytes_that_are_not_utf8_are_escaped_as_shell_quoted_writes_them():
    """0xfe and 0xff were written raw: a UTF-8 terminal showed both as U+FFFD."""
    assert one_line(f"error: {NOT_UTF8}: not a readable image") == "error: a\\xfe.jpg: not a readable image"
    assert one_line(one_line(NOT_UTF8)) == one_line(NOT_UTF8)  # (a message escaped twice)
    assert shell_quoted(NOT_UTF8) == "$'a\\xfe.jpg'"
    assert NOT_UTF8.encode("utf-8", errors=FILE_NAME_ERRORS) == b"a\\xfe.jpg"
    assert "\udcff".encode("ascii", errors=FILE_NAME_ERRORS) == b"\\xff"
    assert codecs.lookup_error(FILE_NAME_ERRORS) is not None


def test_a_name_printed_alone_is_escaped_unambiguously():
    assert escaped_name("a\nb.jpg") != escaped_name("a\\nb.jpg")
    assert escaped_name("a\\nb.jpg") == "a\\\\nb.jpg" and escaped_name("a\nb.jpg") == "a\\nb.jpg"
    assert escaped_name("t\tab.jpg") == "t\\tab.jpg" and escaped_name(NOT_UTF8) == "a\\xfe.jpg"
    assert one_line(escaped_name("x\\y\n" + NOT_UTF8)) == escaped_name("x\\y\n" + NOT_UTF8)


def test_two_outputs_whose_names_print_alike_are_printed_apart(run_cli, weights_env, data_dir, tmp_path):
    folder = tmp_path / "amb"
    folder.mkdir()
    for name in ("a\nb.jpg", "a\\nb.jpg"):
        (folder / name).write_bytes((data_dir / "content" / "lenna.jpg").read_bytes())
    code, out, err = run_cli("image", folder, "-s", data_dir / "style" / "mondrian.jpg", "--size", "32",
                             "--style-size", "32", "-o", f"{tmp_path / 'o'}/")
    assert code == 0, err
    lines = out.splitlines()
    assert len(lines) == 2 and len(set(lines)) == 2, lines
    assert {line.rsplit("/", 1)[1] for line in lines} == {"a\\nb_stylized_mondrian.jpg", "a\\\\nb_stylized_mondrian.jpg"}


def test_a_missing_name_whose_other_unicode_composition_exists_is_said(run_cli, weights_env, data_dir, tmp_path):
    nfd = unicodedata.normalize("NFD", "café.jpg")
    (tmp_path / nfd).write_bytes((data_dir / "content" / "lenna.jpg").read_bytes())
    nfc = tmp_path / unicodedata.normalize("NFC", "café.jpg")
    code, _, err = run_cli("image", nfc, "-s", data_dir / "style" / "mondrian.jpg", "--size", "32", "-o",
                           f"{tmp_path / 'o'}/")
    assert code != 0 and "no such content file or directory" in err
    assert f"({tmp_path / nfd} exists: the same name in another Unicode composition, NFD)" in err, err
    assert "Traceback" not in err


def test_bench_prints_a_name_holding_a_newline_escaped(monkeypatch, capsys):
    from realtime_adain.benchmarks.temporal_report import print_table

    print_table({"clip": "v\nnl", "resolution": "43x32", "frames": 2, "input_e_warp": 0.5, "rows": [],
                 "beats_moving_average": {}})
    out = capsys.readouterr().out
    assert "v\\nnl 43x32, 2 frames" in out and "v\nnl" not in out


def test_a_proc_file_is_no_video_not_an_empty_file(run_cli, weights_env, data_dir, tmp_path):
    """/proc/self/maps says 0 bytes and holds text: it was "the file is empty"."""
    code, _, err = run_cli("video", "/proc/self/maps", "-s", data_dir / "style" / "mondrian.jpg", "--size", "32",
                           "-o", tmp_path / "o.mp4")
    assert code != 0 and "the file is empty" not in err and "Traceback" not in err, err
    assert err.startswith("error: /proc/self/maps: "), err


def test_weights_info_gives_the_size_of_what_it_read(run_cli, weights_env):
    code, out, err = run_cli("weights", "info", "--decoder", "/proc/self/environ")
    size = len(Path("/proc/self/environ").read_bytes())
    assert size and "Traceback" not in err, err
    assert f"size    {size:,} bytes" in out, out
