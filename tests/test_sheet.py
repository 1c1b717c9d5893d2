"""`image PHOTO --style STYLES --sheet FILE`: the contact sheet of a style library (issue #13)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from realtime_adain import sheet
from realtime_adain.drawn_text import drawable
from realtime_adain.errors import UserError
from realtime_adain.imageio import read_image, write_image
from realtime_adain.picture_sizes import MAX_SIDE, fit_short_side, short_side_size

SMALL = ["--size", "48", "--style-size", "64"]


@pytest.fixture
def library(tmp_path, data_dir):
    """Two styles in a folder, one with a name the caption font cannot draw."""
    folder = tmp_path / "styles"
    folder.mkdir()
    shutil.copy(data_dir / "style" / "trial.jpg", folder / "trial.jpg")
    shutil.copy(data_dir / "style" / "mondrian.jpg", folder / "café_日本の絵_with_a_very_long_name.jpg")
    return folder


@pytest.mark.slow  # (default run's time: 3 s)
def test_tiles_are_image_results_and_styles_are_encoded_once(weights_env, run_cli, data_dir, tmp_path, library, one_thread):
    content = data_dir / "content" / "lenna.jpg"
    cache = tmp_path / "cache"
    out = tmp_path / "sheet.png"
    code, stdout, err = run_cli("image", content, "-s", library, "--sheet", out, "--style-cache", cache, *SMALL, "--json")
    assert code == 0, err
    record = json.loads(stdout)
    assert record["tiles"] == 3 and record["output"] == str(out) and record["device"] == "cpu"
    assert record["styles"] == [str(p) for p in sorted(library.iterdir())]

    picture = read_image(out)
    photo = fit_short_side(read_image(content), 48)
    tile = photo.shape[1::-1]
    assert (record["width"], record["height"]) == picture.shape[1::-1] == sheet.sheet_size(tile, 3)
    expected = [photo]
    for style in sorted(library.iterdir()):
        single = tmp_path / f"{style.stem}.png"
        assert run_cli("image", content, "-s", style, "-o", single, *SMALL, "--no-keep-size")[0] == 0
        expected.append(read_image(single))
    columns = sheet.grid(3)[0]
    for index, image in enumerate(expected):
        x, y = sheet.tile_origin(index, tile, columns)
        np.testing.assert_array_equal(picture[y:y + tile[1], x:x + tile[0]], image)

    cached = {p: p.stat().st_mtime_ns for p in cache.iterdir()}
    assert len(cached) == 2
    again = tmp_path / "again.png"
    code, _, err = run_cli("image", content, "-s", library, "--sheet", again, "--style-cache", cache, *SMALL)
    assert code == 0, err
    assert {p: p.stat().st_mtime_ns for p in cache.iterdir()} == cached  # read back, not encoded again
    np.testing.assert_array_equal(read_image(again), picture)


@pytest.mark.slow  # (default run's time: 2 s)
def test_columns_original_and_budget(weights_env, run_cli, data_dir, tmp_path, one_thread):
    content = data_dir / "content" / "sailboat.jpg"
    styles = [data_dir / "style" / "trial.jpg", data_dir / "style" / "mondrian.jpg"]
    out = tmp_path / "row.jpg"
    code, _, err = run_cli("image", content, "-s", styles[0], "-s", styles[1], "--sheet", out, *SMALL,
                           "--sheet-columns", "5", "--no-sheet-original", "--style-cache", tmp_path / "cache")
    assert code == 0, err
    photo = fit_short_side(read_image(content), 48)
    assert read_image(out).shape[1::-1] == sheet.sheet_size(photo.shape[1::-1], 2, 5)  # 5 columns for 2 tiles: 2

    budget = 30_000
    code, _, err = run_cli("image", content, "-s", styles[0], "--sheet", tmp_path / "small.png", "--size", "96",
                           "--style-size", "64", "--max-pixels", str(budget), "--style-cache", tmp_path / "cache")
    assert code == 0, err
    assert err.startswith("note: tiles at --size ") and "--max-pixels 30000" in err
    height, width = read_image(tmp_path / "small.png").shape[:2]
    assert width * height <= budget


def test_too_many_tiles_refused_before_any_work(weights_env, run_cli, data_dir, tmp_path):
    folder = tmp_path / "many"
    folder.mkdir()
    for index in range(sheet.MAX_TILES):
        write_image(folder / f"s{index:03d}.png", np.full((4, 4, 3), index % 256, np.uint8))
    code, _, err = run_cli("image", data_dir / "content" / "lenna.jpg", "-s", folder, "--sheet", tmp_path / "s.png")
    assert code == 2 and err.strip() == "error: --sheet: 401 tiles, at most 400 fit one sheet (split the style folder or give --no-sheet-original)"
    assert not (tmp_path / "s.png").exists()


def test_captions_are_drawable_and_fit():
    """OpenCV 5 draws accents and Cyrillic (they used to be folded to ASCII and '?' there too; CJK is
    escaped, tests/test_fixes37_captions.py); OpenCV 4 has ASCII only (the rest escaped too). A
    control character is '?' on both."""
    assert drawable("café_Мунк.jpg", unicode=True) == "café_Мунк.jpg"
    assert drawable("café_日本.jpg", unicode=False) == "cafe_\\u65e5\\u672c.jpg"  # (was '?': names collided)
    assert drawable("tab\there\n", unicode=True) == drawable("tab\there\n", unicode=False) == "tab?here?"
    name = sheet.fit_label("a_very_long_style_name_that_does_not_fit.jpg", 80)
    assert name.startswith("a_") and "..." in name and name.endswith(".jpg") and sheet._text_width(name) <= 80
    assert sheet.fit_label("short", 80) == "short"
    assert sheet.fit_label("wide", 1) == "..."


def test_compose_sheet_places_every_tile():
    tiles = [np.full((20, 30, 3), 40 * i, np.uint8) for i in range(5)]
    thumbs = [np.full((64, 64, 3), 255, np.uint8)] * 4 + [None]
    picture = sheet.compose_sheet(tiles, [f"t{i}" for i in range(5)], thumbs, columns=2)
    assert picture.shape[1::-1] == sheet.sheet_size((30, 20), 5, 2) == (8 + 2 * 38, 8 + 3 * (20 + 40 + 8))
    for index, tile in enumerate(tiles):
        x, y = sheet.tile_origin(index, (30, 20), 2)
        np.testing.assert_array_equal(picture[y:y + 20, x:x + 30], tile)
    assert sheet.grid(17) == (5, 4) and sheet.grid(1) == (1, 1) and sheet.grid(3, 64) == (3, 1)


@pytest.mark.parametrize("arguments, error, match", [
    (([], [], []), ValueError, "at least one"),
    (([np.zeros((4, 4, 3), np.uint8)], ["a", "b"], [None]), ValueError, "one each"),
    (([np.zeros((4, 4, 3), np.uint8), np.zeros((4, 5, 3), np.uint8)], ["a", "b"], [None, None]), ValueError, "one size"),
    (([np.zeros((4, 4, 3), np.float32)], ["a"], [None]), ValueError, "uint8"),
])
def test_compose_sheet_rejects_bad_tiles(arguments, error, match):
    with pytest.raises(error, match=match):
        sheet.compose_sheet(*arguments)


def test_fit_tile_side_shrinks_then_refuses():
    assert sheet.fit_tile_side((512, 512), 384, 18, None, 1 << 24) == 384
    side = sheet.fit_tile_side((512, 768), 384, 400, None, 1 << 24)
    width, height = sheet.sheet_size((side * 3 // 2, side), 400)
    assert side < 384 and width * height <= 1 << 24
    assert sheet.fit_tile_side((100, 100), 0, 1, None, 1 << 24) == 100  # native
    strip = sheet.fit_tile_side((64, 6400), 384, 2, 2, 1 << 28)  # a wide strip: the sheet's side is the limit
    assert strip < 384 and max(sheet.sheet_size(short_side_size(64, 6400, strip), 2, 2)) <= MAX_SIDE
    with pytest.raises(UserError, match="does not fit in 5000 pixels"):
        sheet.fit_tile_side((512, 512), 384, 10, None, 5000)
