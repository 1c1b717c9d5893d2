"""Folders a failed command made, and temporaries lost mid-run (testers h4 and h5, session 46):
the user's own empty folder made where a run's folder had been moved away was removed with the
run's; a `weights download --dir` that could not be made left its made parents behind and said a
bare strerror; a temporary file deleted before its rename said "No such file or directory"."""

from __future__ import annotations

import fcntl
import os

import pytest

from cli_support import one_error_line
from realtime_adain import atomic, cli, download_folder
from realtime_adain.errors import UserError
from realtime_adain.made_folders import make_folders
from test_full_disk import tmpfs


@pytest.fixture
def made_folders(monkeypatch):
    """This test's own record of the folders `make_folders` made (none of the earlier tests')."""
    monkeypatch.setattr("realtime_adain.made_folders._made_folders", [])


def test_a_folder_made_where_the_commands_own_was_moved_away_is_left(made_folders, tmp_path, capsys):
    """The trainer's --out moved away mid-run and the user's `mkdir` in its place: the failed run
    removed that empty folder, by its path."""
    run, untouched, moved = tmp_path / "runs" / "rp", tmp_path / "untouched", tmp_path / "runs" / "rp_moved"

    def moved_then_stopped() -> None:
        make_folders(run)
        make_folders(untouched)
        run.rename(moved)
        run.mkdir()  # the user's
        raise UserError(f"{run}: its folder was moved")

    assert cli.run_reporting_errors(moved_then_stopped) == 2
    assert run.is_dir() and moved.is_dir() and not untouched.exists()


def test_a_download_refused_the_folder_it_had_just_made_leaves_it(made_folders, tmp_path, capsys):
    """Made by this run's mkdir, taken by another download a moment later: removing it (empty, as
    the other run had not written yet) pulled it from under that run."""
    folder = tmp_path / "new" / "weights"

    def refused() -> None:
        folder.mkdir(parents=True)  # (as `held_folder` makes it)
        other_run = os.open(folder, os.O_RDONLY)
        fcntl.flock(other_run, fcntl.LOCK_EX)
        try:
            with download_folder.held_folder(folder):
                pass
        finally:
            os.close(other_run)

    assert cli.run_reporting_errors(refused) == 2
    assert "another download into this folder is running" in capsys.readouterr().err
    assert folder.is_dir()


def test_a_download_folder_that_cannot_be_made_says_so_and_leaves_no_parent(run_cli, tmp_path):
    with tmpfs(tmp_path / "disk", "64k,nr_inodes=2") as disk:  # (inodes for the root and one folder)
        folder = disk / "w" / "x"
        code, out, err = run_cli("weights", "download", "--base-url", "file:///nowhere", "--no-checksum", "--dir", folder)
        assert one_error_line(err, code) == f"error: {folder}: the download folder cannot be made (No space left on device)"
        assert list(disk.iterdir()) == [] and out == ""


def test_a_temporary_file_deleted_before_its_rename_is_said_so(tmp_path):
    output = tmp_path / "out.jpg"
    pending = atomic.PendingOutput(output)
    pending.path.unlink()
    with pytest.raises(UserError) as refused:
        pending.publish()
    assert str(refused.value) == f"{output}: cannot write (its temporary file {pending.path} was removed during the run)"
    assert list(tmp_path.iterdir()) == []
