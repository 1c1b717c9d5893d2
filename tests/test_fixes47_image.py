"""`image` after tester h2's round 47: a content cut short after the check stylized all the same
(`-o` and `--sheet`), number options refusing spaces `--mix` takes, the sheet's tile limit not
saying that leaving the photo out fits, and `--json` not saying a result was mixed or masked."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2
import pytest

from realtime_adain.commands import argtypes
from realtime_adain.commands.sheet import check_request
from realtime_adain.errors import UserError
from realtime_adain.sheet import MAX_TILES
from test_fixes39_image import SMALL, changed_after_the_check, picture


def cut_short(path: Path) -> None:
    """`path` (a baseline JPEG) without its last quarter: it still reads, with a note, the
    missing part grey, as browsers show it."""
    data = path.read_bytes()
    path.write_bytes(data[:len(data) * 3 // 4])


def test_a_content_cut_short_after_the_check_fails_its_results_alone(run_cli, weights_env, data_dir, tmp_path,
                                                                      monkeypatch, one_thread):
    """Only its pixel budget was checked again: its result was made from the half-grey picture,
    exit 0. Now it is held to the file checked, as styles are."""
    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("a.jpg", "b.jpg"):
        cv2.imwrite(str(folder / name), picture(data_dir, "lenna.jpg", 64))
    changed_after_the_check(monkeypatch, lambda: cut_short(folder / "b.jpg"))
    code, out, err = run_cli("image", folder, "-s", data_dir / "style" / "mondrian.jpg", *SMALL, "-o", tmp_path / "out/")
    assert err.strip().splitlines()[-1] == (f"error: 1 of 2 results not written (the others were): {folder}/b.jpg: "
                                            "the file changed since the run checked it"), err
    assert code == 2 and out.splitlines() == [f"{tmp_path}/out/a_stylized_mondrian.jpg"]
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["a_stylized_mondrian.jpg"]


def test_a_sheet_photo_cut_short_after_the_check_fails_the_run(run_cli, weights_env, data_dir, tmp_path, monkeypatch,
                                                               one_thread):
    """The sheet's photo, read again unheld, made a sheet of half-grey tiles, exit 0."""
    photo = tmp_path / "photo.jpg"
    cv2.imwrite(str(photo), picture(data_dir, "lenna.jpg", 64))
    changed_after_the_check(monkeypatch, lambda: cut_short(photo))
    code, out, err = run_cli("image", photo, "-s", data_dir / "style" / "mondrian.jpg", "--sheet", tmp_path / "sheet.png",
                             *SMALL, "--style-cache", tmp_path / "cache")
    assert err.strip().splitlines()[-1] == f"error: {photo}: the file changed since the run checked it", err
    assert code == 2 and out == "" and not (tmp_path / "sheet.png").exists()


NUMBER_TYPES = [argtypes.unit_interval, argtypes.positive_int, argtypes.positive_float, argtypes.whole_number,
                argtypes.real_number, argtypes.side_length, argtypes.style_side, argtypes.max_pixels,
                argtypes.thread_count, argtypes.seconds, argtypes.framerate, argtypes.frame_rate, argtypes.frame_batch]


@pytest.mark.parametrize("parse", NUMBER_TYPES, ids=lambda parse: parse.__name__)
def test_every_number_option_takes_spaces_around_as_mix_does(parse):
    """`--alpha ' 0.5'` was "not a number" where `--mix ' 0.5 , 0.5'` (and --bitrate, --start) took
    them; nothing (or spaces) is still no number."""
    assert parse(" 1 ") == parse("1\t") == parse("1") == 1
    for text in ("", " ", "1 0", "1_0"):
        with pytest.raises(argparse.ArgumentTypeError, match="is not a"):
            parse(text)


def test_resolutions_and_weights_take_spaces_around():
    with pytest.raises(argparse.ArgumentTypeError, match=r"^2 is outside \[0, 1\]$"):  # (as typed, spaces aside)
        argtypes.unit_interval(" 2 ")
    assert argtypes.resolution(" 64x32 ") == (64, 32) and argtypes.resolution(" 720p") == (1280, 720)
    assert argtypes.mix_weights(" 0.5 , 0.5") == [0.5, 0.5]
    for text in ("", " ", "64 x 32"):
        with pytest.raises(argparse.ArgumentTypeError, match="is not WIDTHxHEIGHT"):
            argtypes.resolution(text)


@pytest.mark.parametrize("styles, original, hint", [(MAX_TILES, True, True), (MAX_TILES + 1, True, False),
                                                    (MAX_TILES + 1, False, False)])
def test_too_many_tiles_says_when_leaving_the_photo_out_fits(styles, original, hint):
    """400 styles and the photo: "split the style folder" alone, where --no-sheet-original fits them."""
    args = argparse.Namespace(mix=None, mask=None, ext=None, keep_size=None, sheet="sheet.png", sheet_original=original)
    with pytest.raises(UserError) as refused:
        check_request(args, [Path("photo.jpg")], [Path(f"s{index}.png") for index in range(styles)], None)
    fits = " or give --no-sheet-original" if hint else ""
    assert str(refused.value) == (f"--sheet: {styles + original} tiles, at most {MAX_TILES} fit one sheet "
                                  f"(split the style folder{fits})")


@pytest.mark.parametrize("given, said", [(["--mix", "0.7, 0.3"], {"mix": [0.7, 0.3]}),
                                         (["--mask", "MASK"], {"mask": "MASK", "engine": "eager"})])
def test_json_says_a_result_was_mixed_or_masked(run_cli, weights_env, data_dir, tmp_path, one_thread, given, said):
    """A mixed or masked result's record read as a plain one of its first style."""
    mask = str(data_dir / "mask" / "mask.png")
    given = [mask if value == "MASK" else value for value in given]
    code, out, err = run_cli("image", data_dir / "content" / "lenna.jpg", "-s", data_dir / "style" / "mondrian.jpg",
                             "-s", data_dir / "style" / "trial.jpg", *given, *SMALL, "-o", tmp_path / "out.png", "--json")
    assert code == 0, err
    record = json.loads(out)
    assert {key: record.get(key) for key in said} == {key: mask if value == "MASK" else value
                                                      for key, value in said.items()}
    assert ("mask" in record, "mix" in record) == ("mask" in said, "mix" in said)
