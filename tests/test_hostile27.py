"""Session 27's hostile user: option values that argparse reads as options, and contact-sheet
names and options that meant nothing."""

from __future__ import annotations

import pytest


def test_a_number_list_starting_with_a_dash_is_told_how_to_be_written(run_cli, data_dir, tmp_path):
    """`--mix -1,2` reads as an option; argparse said only "expected one argument"."""
    code, _, err = run_cli("image", data_dir / "content" / "cornell.jpg", "-s", data_dir / "style" / "trial.jpg",
                           "-s", data_dir / "style" / "mondrian.jpg", "--mix", "-1,2", "-o", tmp_path / "x.png")
    assert code == 2 and "is written" in err and "--mix=-1,2" in err and len(err.strip().splitlines()) == 1


def test_a_forgotten_value_is_not_told_to_be_written_with_an_equals_sign(run_cli):
    code, _, err = run_cli("image", "x.jpg", "-s", "-o", "y.jpg")
    assert code == 2 and "expected one argument" in err and "=" not in err


@pytest.mark.parametrize("option", ["--no-keep-size", "--keep-size"])
def test_a_sheet_refuses_keep_size(run_cli, data_dir, tmp_path, option):
    """Tiles are always at --size: the option was accepted and ignored."""
    code, _, err = run_cli("image", data_dir / "content" / "cornell.jpg", "-s", data_dir / "style" / "trial.jpg",
                           "--sheet", tmp_path / "s.jpg", option)
    assert code != 0 and "cannot be combined with --sheet" in err and not (tmp_path / "s.jpg").exists()


def test_a_sheet_without_an_extension_is_told_to_add_one(run_cli, data_dir, tmp_path):
    """It said "unknown image format ''"."""
    code, _, err = run_cli("image", data_dir / "content" / "cornell.jpg", "-s", data_dir / "style" / "trial.jpg",
                           "--sheet", tmp_path / "sheet")
    assert code != 0 and "sheet.jpg" in err and "''" not in err
