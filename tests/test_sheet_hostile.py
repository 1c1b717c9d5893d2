"""`image --sheet` with hostile libraries and outputs: styles that share a file name, sheet names
that are folders, devices or unknown formats."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from realtime_adain import sheet
from realtime_adain.imageio import read_image
from realtime_adain.picture_sizes import fit_short_side


def test_style_captions_name_folders_only_to_tell_styles_apart():
    paths = [Path("oils/x.jpg"), Path("inks/x.jpg"), Path("y.jpg"), Path("p/s/z.png"), Path("q/s/z.png"), Path("/w.jpg"),
             Path("w.jpg")]
    assert sheet.style_captions(paths) == ["oils/x.jpg", "inks/x.jpg", "y.jpg", "p/s/z.png", "q/s/z.png", "/w.jpg", "w.jpg"]
    assert sheet.style_captions([Path("a/b.jpg")]) == ["b.jpg"] and sheet.style_captions([]) == []


def test_styles_sharing_a_file_name_have_different_captions(weights_env, run_cli, data_dir, tmp_path, one_thread):
    """Two libraries' `x.jpg` used to be captioned `x.jpg` both: the sheet, made to choose a style,
    could not say which tile was which. Their captions now name the folder too."""
    for folder, style in (("oils", "mondrian.jpg"), ("inks", "asheville.jpg")):
        (tmp_path / folder).mkdir()
        shutil.copy(data_dir / "style" / style, tmp_path / folder / "x.jpg")
    content = data_dir / "content" / "golden_gate.jpg"
    out = tmp_path / "sheet.png"
    code, _, err = run_cli("image", content, "-s", tmp_path / "oils", "-s", tmp_path / "inks", "--sheet", out,
                           "--no-sheet-original", "--sheet-columns", "2", "--size", "96", "--style-size", "64")
    assert code == 0, err
    picture = read_image(out)
    height, width = fit_short_side(read_image(content), 96).shape[:2]
    texts = []
    for index in range(2):
        x, y = sheet.tile_origin(index, (width, height), 2)
        text_x = x + sheet.THUMB + 6  # the caption's text, right of its thumbnail
        texts.append(picture[y + height:y + height + sheet.CAPTION, text_x:x + width])
    assert np.abs(texts[0].astype(int) - texts[1].astype(int)).max() > 100  # different words drawn


@pytest.mark.parametrize("name", ["{tmp}/results/", "{tmp}/sheet.png/", "{tmp}/sheet.xyz", "/dev/full"])
def test_a_sheet_name_that_is_no_image_file_says_what_is_written(weights_env, run_cli, data_dir, tmp_path, name):
    """A folder (trailing slash), a device or an unknown extension: one line naming the formats
    written, as `image -o` does (they used to be listed nowhere, and `x.png/` wrote x.png)."""
    name = name.format(tmp=tmp_path)
    code, _, err = run_cli("image", data_dir / "content" / "golden_gate.jpg", "-s", data_dir / "style" / "mondrian.jpg",
                           "--sheet", name, "--size", "32")
    assert code == 2 and err.startswith("error:") and err.count("\n") == 1, err
    assert "(written: .jpg .jpeg .png" in err, err
    assert not list(tmp_path.iterdir())


def test_an_animated_style_is_noted_once(weights_env, run_cli, data_dir, tmp_path, one_thread):
    """The sheet's input checks and its style library each said "only the first is used"."""
    from PIL import Image

    style = tmp_path / "moving.gif"
    frames = [Image.new("RGB", (24, 24), colour) for colour in ((200, 40, 40), (40, 40, 200))]
    frames[0].save(style, save_all=True, append_images=frames[1:], duration=100)
    code, _, err = run_cli("image", data_dir / "content" / "golden_gate.jpg", "-s", style, "--sheet", tmp_path / "s.png",
                           "--size", "64", "--style-size", "32")
    assert code == 0, err
    assert err.count("only the first is used") == 1, err
