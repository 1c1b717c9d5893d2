"""Session 37's fixes in the CLI's input checks."""

from __future__ import annotations

import os
import shutil


def test_a_missing_file_given_as_content_and_as_style_is_named_once(run_cli, weights_env, data_dir, tmp_path):
    """README: every bad input is named "once, given as content and as style"; a missing one was
    named twice (its line said `content` once and `style` once), an unreadable one once."""
    photo = shutil.copy(data_dir / "content" / "golden_gate.jpg", tmp_path / "photo.jpg")
    style = shutil.copy(data_dir / "style" / "mondrian.jpg", tmp_path / "starry.jpg")
    missing, fifo = tmp_path / "nonexist.jpg", tmp_path / "pipe.jpg"
    os.mkfifo(fifo)
    for bad in (missing, fifo):
        code, out, err = run_cli("image", photo, bad, "-s", style, "-s", bad, "-o", tmp_path / "out")
        assert code == 2 and out == ""
        (line,) = err.strip().splitlines()
        assert line.count(str(bad)) == 1 and "content or style" in line and "inputs cannot" not in line, line
    code, _, err = run_cli("image", photo, missing, "-s", style, "-s", tmp_path / "other.jpg", "-o", tmp_path / "out")
    assert code == 2 and "nonexist.jpg: no such content file" in err and "other.jpg: no such style file" in err
    assert not (tmp_path / "out").exists()


def test_a_missing_path_spelled_two_ways_is_named_once(run_cli, weights_env, tmp_path, monkeypatch):
    """`./nope.jpg` as content and `nope.jpg` as style (or `dir/` and `dir`) were named twice."""
    monkeypatch.chdir(tmp_path)
    for args in (["./nope.jpg", "-s", "nope.jpg"], ["nodir/", "-s", "nodir"], ["nope.jpg", "-s", "nope.jpg", "-s", "./nope.jpg"]):
        code, _, err = run_cli("image", *args, "-o", "o.png")
        assert code == 2 and err.count("no such") == 1 and "content or style" in err, (args, err)
