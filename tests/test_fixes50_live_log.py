"""Session 50: a --log folder that cannot be made is said in the words -o and --snapshot-dir use,
not as mkdir's "File exists" (which named nothing that exists there)."""

from __future__ import annotations

import os

import pytest

from realtime_adain.errors import UserError
from realtime_adain.live.events import EventLog


def test_a_file_higher_up_the_log_path_is_named(run_cli, weights_env, data_dir, tmp_path):
    """`--log afile/deeper/x.log`: "its folder afile/deeper cannot be made (File exists)", where
    nothing is at `deeper`; -o says "(afile is a file, not a folder)"."""
    (tmp_path / "afile").write_text("x\n")
    log = tmp_path / "afile" / "deeper" / "x.log"
    code, _, err = run_cli("live", "--source", data_dir / "videos" / "cutBunny.mp4", "--styles", data_dir / "style" / "trial.jpg",
                           "--no-window", "-o", tmp_path / "out.mp4", "--log", log)
    assert (code, err) == (2, f"error: --log {log}: its folder {log.parent} cannot be made "
                              f"({tmp_path / 'afile'} is a file, not a folder)\n")


def test_a_file_at_the_log_folder_is_it(tmp_path):
    (tmp_path / "afile").write_text("x\n")
    with pytest.raises(UserError) as refused:
        EventLog(tmp_path / "afile" / "x.log")
    assert str(refused.value) == (f"--log {tmp_path}/afile/x.log: its folder {tmp_path}/afile cannot be made "
                                  "(it is a file, not a folder)")


def test_a_fifo_higher_up_the_log_path_is_named(tmp_path):
    os.mkfifo(tmp_path / "fifo")
    log = tmp_path / "fifo" / "sub" / "x.log"
    with pytest.raises(UserError) as refused:
        EventLog(log)
    assert str(refused.value) == (f"--log {log}: its folder {log.parent} cannot be made "
                                  f"({tmp_path}/fifo is a device, fifo or socket, not a folder)")


def test_a_dead_link_on_the_log_path_is_named(tmp_path):
    (tmp_path / "gone").symlink_to(tmp_path / "missing")
    log = tmp_path / "gone" / "x.log"
    with pytest.raises(UserError) as refused:
        EventLog(log)
    assert str(refused.value) == (f"--log {log}: its folder {log.parent} cannot be made "
                                  f"({tmp_path}/gone is a symbolic link to {tmp_path}/missing, which does not exist)")
    assert not (tmp_path / "missing").exists()
