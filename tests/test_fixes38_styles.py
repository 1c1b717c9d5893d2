"""A style file replaced by a huge strip while `serve` runs: the image read again for colour
preservation is refused as changed, and checked against the style budget before it is resized (a 4000x1 strip at
--style-size 16 was resized to 64000x16, one at 512 to gigabytes), the client whose style failed
gets the style's own colours with one `color-reference-failed` line, and a failure in one client's
frame or one group loses only those frames, not the other clients' in the same batch."""

from __future__ import annotations

import dataclasses
import hashlib

import cv2
import numpy as np
import pytest

from realtime_adain.errors import UserError
from realtime_adain.live.styles import StyleLibrary
from realtime_adain.serve.batcher import Batcher, Delivery, Pipeline, _Job
from realtime_adain.serve.control import Look
from realtime_adain.serve.styles import StyleRegistry

W, H = 64, 48


@pytest.fixture
def library(stylizer, data_dir, tmp_path) -> StyleLibrary:
    """a.jpg and b.jpg (small copies of two styles) loaded at --style-size 16, then b.jpg replaced
    by a 4000x1 strip (64000x16 at that size: over MAX_SIDE)."""
    folder = tmp_path / "styles"
    folder.mkdir()
    for name, source in (("a.jpg", "mondrian.jpg"), ("b.jpg", "asheville.jpg")):
        image = cv2.imread(str(data_dir / "style" / source))
        cv2.imwrite(str(folder / name), cv2.resize(image, (64, 48), interpolation=cv2.INTER_AREA))
    loaded = StyleLibrary([folder], stylizer, 16, tmp_path / "cache").load()
    cv2.imwrite(str(folder / "b.jpg"), np.full((1, 4000, 3), 128, np.uint8))
    return loaded


def frame(k: int) -> np.ndarray:
    return np.full((H, W, 3), 40 + 30 * k, np.uint8)


def test_a_style_read_again_is_refused_before_it_is_resized(library):
    """The budget of the first load holds for the image read again (it was resized unchecked).
    A file changed since it was loaded is refused before it is decoded at all; the budget is for
    the file that was loaded from a style cache without being decoded (here: its digest taken as
    the loaded one)."""
    with pytest.raises(UserError, match=r"b\.jpg: the file changed since it was loaded"):
        library.style_image(library.styles[1])
    strip = library.styles[1]
    loaded_as_is = dataclasses.replace(strip, digest=hashlib.sha256(strip.path.read_bytes()).hexdigest(),
                                      size=strip.path.stat().st_size)
    with pytest.raises(UserError, match=r"b\.jpg: 4000x1 at --style-size 16 is 64000x16"):
        library.style_image(loaded_as_is)
    assert library.style_image(library.styles[0]).shape == (16, 21, 3)


def test_a_failing_style_loses_no_other_clients_frame(stylizer, library, capfd, one_thread):
    """The tester's case in process: client A's style (b.jpg, now a strip) with colour preservation
    toggled, client B on a.jpg in the same batch. Both frames are stylized (A in the style's own
    colours), the failure said once in one line however often A toggles."""
    registry = StyleRegistry(library)
    batcher = Batcher(stylizer, 48, (1280, 720))
    got: dict[str, list[Delivery]] = {"a": [], "b": []}
    a = Pipeline(registry, stylizer, Look("s1", stabilize="off"), got["a"].append, 0.7)
    b = Pipeline(registry, stylizer, Look("s0", stabilize="off"), got["b"].append, 0.7)
    for k in range(3):  # on (fails), off, on again with a new reference (fails again)
        a.look = Look("s1", preserve_color=k % 2 == 0, color_epoch=k, stabilize="off")
        batcher._process([_Job(a, frame(k), 0.0), _Job(b, frame(k), 0.0)])
    assert len(got["a"]) == len(got["b"]) == 3
    assert all(d.image.shape == (H, W, 3) and d.batch == 2 for d in got["a"] + got["b"])
    lines = [line for line in capfd.readouterr().err.splitlines() if line.startswith("serve:")]
    assert len(lines) == 1, lines
    assert lines[0].startswith("serve: color-reference-failed: ") and "b.jpg: the file changed since it was loaded" in lines[0]
    assert "(using the style's colours)" in lines[0] and batcher.error is None


@pytest.mark.parametrize("bad, said", [
    (np.zeros((0, 0, 3), np.uint8), "ZeroDivisionError"),  # a frame the worker cannot bring to size: its job
    (np.zeros((H, W, 4), np.uint8), "ValueError: frames must be"),  # one that fails in the network: its group (its own size)
], ids=["frame", "group"])
def test_one_clients_failing_frame_loses_only_its_own(stylizer, library, capfd, one_thread, bad, said):
    """The failing client comes first in the batch: the one after it is still stylized."""
    registry = StyleRegistry(library)
    batcher = Batcher(stylizer, 48, (1280, 720))
    got: dict[str, list[Delivery]] = {"a": [], "b": []}
    a = Pipeline(registry, stylizer, Look("s0", stabilize="off"), got["a"].append, 0.7)
    b = Pipeline(registry, stylizer, Look("s0", stabilize="off"), got["b"].append, 0.7)
    batcher._process([_Job(a, bad, 0.0), _Job(b, frame(1), 0.0)])
    assert got["a"] == [] and len(got["b"]) == 1 and got["b"][0].image.shape == (H, W, 3)
    lines = [line for line in capfd.readouterr().err.splitlines() if line.startswith("serve:")]
    assert len(lines) == 1 and lines[0].startswith("serve: stylizing failed: ") and said in lines[0], lines
