"""Session 46: a style file edited on disk and rescanned (`l`) keeps its name, so the live
stabiliser did not start afresh (the old style was blended into the next frames) and a paused
frame was not stylized again. Now both follow the chosen styles' files (`ActiveStyle.look`)."""

from __future__ import annotations

import shutil
import time

import numpy as np
import pytest

from realtime_adain.live.controller import Controller
from realtime_adain.live.inference import Inference
from realtime_adain.live.sources import Frame, Latest
from realtime_adain.live.stability import Stability
from realtime_adain.live.active_style import ActiveStyle
from realtime_adain.live.styles import StyleLibrary

SIZE = 64  # style size; frames are 32x24


@pytest.fixture
def session(stylizer, data_dir, tmp_path, one_thread):
    """A running inference thread steadying in mode `flow` over one style file, `look.jpg`, and
    `edit()`: that file replaced by another picture on disk, then `l` (rescan, new names)."""
    folder = tmp_path / "styles"
    folder.mkdir()
    shutil.copy(data_dir / "style" / "brushstrokes.jpg", folder / "look.jpg")
    library = StyleLibrary([folder], stylizer, SIZE, tmp_path / "cache").load()
    controller = Controller(library.names, stabilize="flow")
    frames: Latest[Frame] = Latest()
    inference = Inference(frames, stylizer, controller, ActiveStyle(library), (32, 24),
                          Stability(stylizer, 0.7, on_device=False))
    image = np.random.default_rng(0).integers(0, 256, (24, 32, 3), dtype=np.uint8)

    def edit() -> None:
        shutil.copy(data_dir / "style" / "trial.jpg", folder / "look.jpg")
        library.rescan()
        controller.set_styles(library.names)

    inference.start()
    try:
        yield library, controller, frames, inference, image, edit
    finally:
        inference.stop()
        inference.join(10)


def plain(stylizer, library, result) -> np.ndarray:
    """The frame of `result` stylized by the library's (only) style, not steadied."""
    return stylizer.stylize(result.content, library[0].stats, 1.0)


def test_a_style_edited_and_rescanned_shows_at_once(stylizer, session):
    """Before: the first frame after the rescan was 70 % the old style's (resets stayed 0)."""
    library, controller, frames, inference, image, edit = session
    seq = 0
    for index in (1, 2):
        frames.put(Frame(image, time.monotonic(), index))
        seq, result = inference.results.newer(seq, 30)
    edit()
    frames.put(Frame(image, time.monotonic(), 3))
    seq, result = inference.results.newer(seq, 30)
    assert result.frame.index == 3
    assert np.abs(result.stylized.astype(int) - plain(stylizer, library, result)).max() == 0
    assert inference.stability.resets == 1


def test_a_style_edited_and_rescanned_while_paused_stylizes_the_held_frame(stylizer, session):
    """Before: a pause held the old style's picture, as only a change of the names was followed."""
    library, controller, frames, inference, image, edit = session
    frames.put(Frame(image, time.monotonic(), 1))
    seq, before = inference.results.newer(0, 30)
    controller.apply("pause")
    edit()
    got = inference.results.newer(seq, 30)
    assert got is not None, "the held frame was not stylized in the edited style"
    after = got[1]
    assert after.frame is before.frame
    assert np.abs(after.stylized.astype(int) - plain(stylizer, library, after)).max() == 0
    assert not np.array_equal(after.stylized, before.stylized)
