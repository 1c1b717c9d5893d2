"""`image` after a re-test of round 39's image fixes: a grey premultiplied-alpha TIFF, the line of a
run whose every result failed, `--sheet` holding its inputs to the check as `-o` does, and
--preserve-color reading each small style once."""

from __future__ import annotations

import hashlib
import os
import shutil
import struct

import cv2
import numpy as np
import pytest

from cli_support import one_error_line
from realtime_adain import imageio
from realtime_adain.checked_inputs import StylePictures
from realtime_adain.imageio import read_image
from realtime_adain.notes import collected
from test_fixes39_image import SMALL, changed_after_the_check, picture


def grey_premultiplied_tiff() -> bytes:
    """An uncompressed 4x4 grey TIFF with associated (premultiplied) alpha, Pillow's mode `La`:
    rows transparent, opaque grey 200, and twice grey 100 at half alpha (stored as 50)."""
    grey, alpha = np.full((4, 4), 50, np.uint8), np.full((4, 4), 128, np.uint8)
    grey[0], alpha[0] = 0, 0
    grey[1], alpha[1] = 200, 255
    data = np.dstack([grey, alpha]).tobytes()
    entries = [(256, 3, 4), (257, 3, 4), (258, 3, None), (259, 3, 1), (262, 3, 1), (273, 4, None), (277, 3, 2),
               (278, 3, 4), (279, 4, len(data)), (338, 3, 1)]  # (338, ExtraSamples: 1, associated alpha)
    data_at = 8 + 2 + 12 * len(entries) + 4
    header = bytearray(b"II*\x00" + struct.pack("<IH", 8, len(entries)))
    for tag, kind, value in entries:
        if tag == 258:  # BitsPerSample: 8, 8
            header += struct.pack("<HHIHH", tag, kind, 2, 8, 8)
        elif tag == 273:  # StripOffsets
            header += struct.pack("<HHII", tag, kind, 1, data_at)
        else:
            header += struct.pack("<HHIHH", tag, kind, 1, value, 0) if kind == 3 else struct.pack("<HHII", tag, kind, 1, value)
    return bytes(header) + struct.pack("<I", 0) + data


def test_a_grey_premultiplied_alpha_tiff_is_read_over_white(tmp_path):
    """Pillow's `La` has no "A" in its name: the file was taken to have no alpha and OpenCV read
    its premultiplied grey as it is (transparent black, half-transparent grey 100 as 50)."""
    path = tmp_path / "la.tif"
    path.write_bytes(grey_premultiplied_tiff())
    with collected() as notes:
        rgb = read_image(path)
    assert rgb[:, 0, 0].tolist() == [255, 200, 177, 177]
    assert (rgb == rgb[..., :1]).all()
    assert any("its transparent areas are read as over white" in line for line in notes), notes


def test_a_run_whose_every_result_failed_says_none_was_written(run_cli, weights_env, data_dir, tmp_path,
                                                               monkeypatch, one_thread):
    """Said "2 of 2 results not written (the others were)" where there were no others."""
    content = tmp_path / "a.png"
    cv2.imwrite(str(content), picture(data_dir, "lenna.jpg", 32))
    changed_after_the_check(monkeypatch, content.unlink)
    code, out, err = run_cli("image", content, "-s", data_dir / "style" / "mondrian.jpg", "-s",
                             data_dir / "style" / "trial.jpg", *SMALL, "-o", tmp_path / "out/")
    assert one_error_line(err, code) == (f"error: none of the 2 results written: {content}: no such file; "
                                         "it changed since the run checked it")
    assert out == "" and not (tmp_path / "out").exists()


@pytest.mark.parametrize("change", ["style larger", "style cut", "style other", "photo larger"])
def test_a_sheet_input_changed_after_the_check_fails_the_run(run_cli, weights_env, data_dir, tmp_path, monkeypatch,
                                                              one_thread, change):
    """The sheet read its inputs again unchecked: a style replaced by a 300x300 went through at
    --style-size 0 --max-pixels 20000 (the style library's budget is at least 16 MP), one cut
    short or replaced by another picture was left out or used (exit 0, a sheet missing its tile or
    showing another), and a photo replaced by one over the budget was used. The sheet is one
    output: the run fails with one line, and no sheet is written."""
    styles, photo = tmp_path / "styles", tmp_path / "photo.png"
    styles.mkdir()
    cv2.imwrite(str(photo), picture(data_dir, "lenna.jpg", 32))  # (3 tiles of 32: within the budget)
    for name, source in (("a.png", "brad_pitt.jpg"), ("b.png", "cornell.jpg")):
        cv2.imwrite(str(styles / name), picture(data_dir, source, 64))
    large = tmp_path / "large.png"
    cv2.imwrite(str(large), picture(data_dir, "cornell.jpg", 300))
    changes = {"style larger": lambda: shutil.copy(large, styles / "b.png"),
               "style cut": lambda: (styles / "b.png").write_bytes((styles / "b.png").read_bytes()[:100]),
               "style other": lambda: shutil.copy(styles / "a.png", styles / "b.png"),
               "photo larger": lambda: shutil.copy(large, photo)}
    changed_after_the_check(monkeypatch, changes[change])
    code, out, err = run_cli("image", photo, "-s", styles, "--sheet", tmp_path / "sheet.png", "--size", "0",
                             "--style-size", "0", "--max-pixels", "20000", "--style-cache", tmp_path / "cache")
    expected = (f"{photo}: 300x300 (full size), over the budget of 20000 pixels (raise it with --max-pixels, or give "
                "--size 141 or less); it changed since the run checked it" if change == "photo larger" else
                f"{styles}/b.png: the file changed since the run checked it")
    assert one_error_line(err, code) == f"error: {expected}"
    assert out == "" and not (tmp_path / "sheet.png").exists()


@pytest.mark.slow  # (default run's time, 2026-12-07: a rarer variant; the corpus and `-m slow` runs keep it)
def test_preserve_color_reads_each_small_style_once(run_cli, weights_env, data_dir, tmp_path, monkeypatch,
                                                    one_thread):
    """With --preserve-color each style is encoded again for every content, and each was decoded
    and hashed again for each (since styles are no longer held from the check). A small picture
    at --style-size is now kept for the run; a large one (here over 4 MiB at --style-size 0) is
    still read again each time, so memory stays bounded."""
    decoded: list[str] = []  # (the names of the pictures decoded, the check's included)
    decode = imageio.decode_still
    monkeypatch.setattr(imageio, "decode_still", lambda data, name: decoded.append(os.path.basename(name)) or decode(data, name))
    contents = tmp_path / "contents"
    contents.mkdir()
    for name in ("a.png", "b.png", "c.png"):
        cv2.imwrite(str(contents / name), picture(data_dir, "lenna.jpg", 32))
    code, _, err = run_cli("image", contents, "-s", data_dir / "style" / "mondrian.jpg", "-s",
                           data_dir / "style" / "trial.jpg", *SMALL, "--preserve-color", "-o", tmp_path / "out/")
    assert code == 0, err
    assert sorted(name for name in decoded if name.endswith(".jpg")) == ["mondrian.jpg"] * 2 + ["trial.jpg"] * 2
    assert len(list((tmp_path / "out").iterdir())) == 6

    large = tmp_path / "large.png"
    cv2.imwrite(str(large), picture(data_dir, "cornell.jpg", 1300))  # (1300x1300x3: 4.8 MiB)
    decoded.clear()
    pictures = StylePictures({large: hashlib.sha256(large.read_bytes()).hexdigest()}, None, keep=True)
    assert (pictures[large] == pictures[large]).all()
    assert decoded == ["large.png", "large.png"]
