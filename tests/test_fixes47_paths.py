"""Output and input names that slipped past the checks (tester h11, session 47): a hard link of an
input as the output, a `..` out of a folder that does not exist, names ending in a space or dot."""

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from realtime_adain.errors import UserError
from realtime_adain.input_paths import expand_images
from realtime_adain.made_folders import make_folders
from realtime_adain.output_checks import refuse_overwriting_inputs
from realtime_adain.output_paths import writable_target
from realtime_adain.writable_folders import check_writable_dir


def tiny_picture(path: Path, colour=(200, 30, 30)) -> Path:
    Image.fromarray(np.full((16, 16, 3), colour, np.uint8)).save(path)
    return path


def test_a_hard_link_of_an_input_is_refused_as_the_input_is(tmp_path):
    """`ln in.mp4 hl.mp4; video in.mp4 -o hl.mp4` replaced hl.mp4, silently breaking the link, where
    a symbolic link was refused (every command's outputs and `--json` pass this check)."""
    source = tiny_picture(tmp_path / "in.jpg")
    os.link(source, tmp_path / "hl.jpg")
    with pytest.raises(UserError, match=r"hl\.jpg: output would overwrite an input$"):
        refuse_overwriting_inputs([tmp_path / "hl.jpg"], [tmp_path / "other.jpg", source])
    refuse_overwriting_inputs([tmp_path / "new.jpg"], [source])  # (a new name, as before)


def test_image_refuses_an_output_hard_linked_to_its_content(tmp_path, monkeypatch, weights_env, run_cli):
    monkeypatch.chdir(tmp_path)
    tiny_picture(Path("c.jpg"))
    tiny_picture(Path("s.jpg"), (30, 30, 200))
    os.link("c.jpg", "hl.jpg")
    code, _, err = run_cli("image", "c.jpg", "-s", "s.jpg", "-o", "hl.jpg")
    assert (code, err) == (2, "error: hl.jpg: output would overwrite an input\n")
    assert os.path.samefile("c.jpg", "hl.jpg")  # the link kept


def test_a_dotdot_out_of_a_missing_folder_is_refused_making_no_folder(tmp_path, monkeypatch, weights_env, run_cli):
    """`-o newdir/../dotdot.jpg` wrote ./dotdot.jpg and left an empty newdir/ (cp refuses it)."""
    monkeypatch.chdir(tmp_path)
    tiny_picture(Path("c.jpg"))
    tiny_picture(Path("s.jpg"), (30, 30, 200))
    code, _, err = run_cli("image", "c.jpg", "-s", "s.jpg", "-o", "newdir/../dotdot.jpg")
    assert (code, err) == (2, "error: newdir/../dotdot.jpg: newdir: no such folder for the '..' after it to step "
                              "out of; make it first, or give the path without it\n")
    assert sorted(os.listdir()) == ["c.jpg", "s.jpg"]
    for check in (writable_target, check_writable_dir, make_folders):  # (files, folders, and the folder maker)
        with pytest.raises(UserError, match=r"/new/a/\.\.: .*/new: no such folder"):
            check(tmp_path / "new" / "a" / "..")
    assert not (tmp_path / "new").exists()
    os.mkdir("newdir")  # once it exists, `..` steps out of it as before
    assert writable_target(Path("newdir/../dotdot.jpg")) == Path("newdir/../dotdot.jpg")


def test_pictures_whose_names_end_in_a_space_or_dot_are_noted(tmp_path, capsys):
    """`a.jpg ` and `b.jpg.` in an input folder were left out without a word; named alone, `a.jpg `
    gave a .png result, unexplained."""
    folder = tmp_path / "in"
    folder.mkdir()
    picture = tiny_picture(folder / "c.jpg").read_bytes()
    for name in ("a.jpg ", "b.jpg.", "notes.txt "):  # (not a picture's name however trimmed: not said)
        (folder / name).write_bytes(picture)
    assert expand_images([folder], "content") == [folder / "c.jpg"]
    assert capsys.readouterr().err == (f"note: {folder}/a.jpg : left out, its name ends in a space (rename it to include it)\n"
                                       f"note: {folder}/b.jpg.: left out, its name ends in a dot (rename it to include it)\n")
    assert expand_images([folder / "a.jpg "], "content") == [folder / "a.jpg "]
    assert capsys.readouterr().err == f"note: {folder}/a.jpg : its name ends in a space, so '.jpg' is not taken as its extension\n"
