"""Colour preservation (`c`) re-reads the chosen styles' images on `live`'s inference thread:
a file replaced by another valid picture meanwhile was encoded as the style (under its old name,
beside its old statistics), and a cut-short JPEG printed libjpeg's own line on the terminal."""

from __future__ import annotations

import threading

import cv2
import pytest

from realtime_adain.errors import UserError
from realtime_adain.imageio import read_image
from realtime_adain.live.controller import Controller
from realtime_adain.live.active_style import ActiveStyle
from realtime_adain.live.styles import StyleLibrary
from realtime_adain.picture_sizes import fit_short_side


def small_jpeg(data_dir, source: str, path, side: int = 96) -> bytes:
    """A small copy of a shared style as JPEG bytes, written to `path`."""
    image = fit_short_side(read_image(data_dir / "style" / source), side)
    ok, encoded = cv2.imencode(".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    path.write_bytes(encoded.tobytes())
    return encoded.tobytes()


def test_a_style_replaced_by_another_picture_keeps_its_own_colours(stylizer, data_dir, tmp_path, one_thread):
    """The tester's case: a.jpg replaced by a valid picture, then `c`, no rescan. The old name and
    statistics were paired with the new picture's colours; now refused in one line, and after
    the rescan the new picture is recoloured."""
    folder = tmp_path / "styles"
    folder.mkdir()
    small_jpeg(data_dir, "mondrian.jpg", folder / "a.jpg")
    events = []
    lib = StyleLibrary([folder], stylizer, 32, tmp_path / "cache", lambda event, **f: events.append((event, f))).load()
    active = ActiveStyle(lib, lambda event, **f: events.append((event, f)))
    controller = Controller(lib.names)
    small_jpeg(data_dir, "asheville.jpg", folder / "a.jpg")  # (rewritten in place: the same path)
    with pytest.raises(UserError, match=r"a\.jpg: the file changed since it was loaded \(.*`l` in `live`\)"):
        lib.style_image(lib[0])
    controller.apply("color")
    frame = fit_short_side(read_image(data_dir / "style" / "brushstrokes.jpg"), 32)
    assert active.stats(controller.state, frame) is lib[0].stats
    (event, fields), = events
    assert event == "color-reference-failed" and "changed since it was loaded" in fields["reason"]
    assert lib.rescan() == []  # (edited, not new)
    assert lib.style_image(lib[0]).shape[0] == 32  # the new picture, now the style's own


def test_a_cut_short_style_read_again_prints_no_native_line(stylizer, data_dir, tmp_path, capfd, one_thread):
    """`c` with a mix of a cut-short JPEG and a whole one, on a thread of its own as in `live`:
    stderr got libjpeg's bare "Corrupt JPEG data: premature end of data segment". The start's
    note says it once, in the project's words, and `c` adds nothing."""
    folder = tmp_path / "styles"
    folder.mkdir()
    whole = small_jpeg(data_dir, "brushstrokes.jpg", folder / "a_whole.jpg", side=120)
    (folder / "b_trunc.jpg").write_bytes(whole[:len(whole) // 2])
    lib = StyleLibrary([folder], stylizer, 32, tmp_path / "cache").load()
    events = []
    active, controller = ActiveStyle(lib, lambda event, **f: events.append(event)), Controller(lib.names)
    controller.apply("mix")
    controller.apply("color")
    frame = fit_short_side(read_image(data_dir / "style" / "trial.jpg"), 32)
    inference = threading.Thread(target=active.stats, args=(controller.state, frame))
    inference.start()
    inference.join()
    err = capfd.readouterr().err
    assert events == ["color-reference"]  # both styles recoloured: the cut-short one reads as at the start
    assert "Corrupt JPEG" not in err and "premature end" not in err.lower(), err
    assert err.count("b_trunc.jpg: the file ends before its picture does") == 1, err


def test_a_style_replaced_by_a_huge_file_is_refused_unread(tmp_path, stylizer):
    """A 3 GB file in a style's place was read whole (and hashed) on the frame thread when `c`
    was pressed: serve's other clients got no frame for 15 s, a `live` session could end."""
    import numpy as np

    folder = tmp_path / "styles"
    folder.mkdir()
    cv2.imwrite(str(folder / "a.png"), np.full((24, 32, 3), 90, np.uint8))
    library = StyleLibrary([folder], stylizer, 16, tmp_path / "cache").load()
    (folder / "a.png").unlink()
    with open(folder / "a.png", "wb") as handle:
        handle.truncate(3 << 30)  # (sparse: nothing is written)
    with pytest.raises(UserError, match="the file changed since it was loaded"):
        library.style_image(library.styles[0])
