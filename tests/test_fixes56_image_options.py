"""Session 56 fixes: the image command's options and what it reads and removes (h11's report)."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from realtime_adain import stale_temporaries


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_the_sweep_leaves_a_users_hidden_files_and_folders(run_cli, weights_env, data_dir, tmp_path):
    """`.album.1999-holidays.part.zip` and the folder `.thesis.2022-versions.part` matched the
    temporaries' pattern (ordinary words fill its 8 characters, a year its process id): an output
    into their folder deleted both, the folder with all it held. Only names with our mark go."""
    old = time.time() - 2 * stale_temporaries.STALE_UNKNOWN_AFTER_S
    album, thesis = tmp_path / ".album.1999-holidays.part.zip", tmp_path / ".thesis.2022-versions.part"
    album.write_bytes(b"precious")
    thesis.mkdir()
    (thesis / "draft.tex").write_bytes(b"chapter 1")
    gone = dead_pid()
    ours = tmp_path / f".clip.realtime-adain-{gone}-abcd_123.part.mp4"  # a killed run's leftover
    ours_folder = tmp_path / f".f_0001.realtime-adain-{gone}-abcd1234.part"
    ours.write_bytes(b"x")
    (ours_folder / "f_0001.png").parent.mkdir()
    (ours_folder / "f_0001.png").write_bytes(b"x")
    for path in (album, thesis, ours, ours_folder):
        os.utime(path, (old, old))
    code, _, err = run_cli("image", data_dir / "content" / "brad_pitt.jpg", "-s", data_dir / "style" / "asheville.jpg",
                           "--size", "32", "--style-size", "32", "-o", tmp_path / "out.jpg")
    assert code == 0, err
    assert album.read_bytes() == b"precious" and (thesis / "draft.tex").read_bytes() == b"chapter 1"
    assert not ours.exists() and not ours_folder.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([album.name, thesis.name, "out.jpg"])
