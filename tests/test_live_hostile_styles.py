"""The style folder changing under a running session: a style deleted or replaced by garbage,
then colour preservation (which re-reads the image) asked for."""

from __future__ import annotations

import numpy as np
import pytest

from live_support import copy_styles
from realtime_adain.imageio import read_image
from realtime_adain.live.controller import Controller
from realtime_adain.live.active_style import ActiveStyle
from realtime_adain.live.styles import StyleLibrary
from realtime_adain.picture_sizes import fit_short_side


@pytest.mark.parametrize("change", ["deleted", "garbage"])
def test_colour_preservation_of_a_vanished_style_keeps_its_own_colours(stylizer, data_dir, tmp_path, one_thread,
                                                                       change):
    """`live` pressed `c` after trial.jpg was deleted: the inference thread died
    ('live: error reason="UserError: .../trial.jpg: no such file"') and the session ended."""
    folder = copy_styles(data_dir, tmp_path / "styles", names=("trial.jpg",))
    events = []
    lib = StyleLibrary([folder], stylizer, 64, tmp_path / "cache", lambda event, **f: events.append((event, f))).load()
    active = ActiveStyle(lib, lambda event, **f: events.append((event, f)))
    controller = Controller(lib.names)
    if change == "deleted":
        (folder / "trial.jpg").unlink()
    else:
        (folder / "trial.jpg").write_bytes(b"not an image at all")
    controller.apply("color")
    frame = fit_short_side(read_image(data_dir / "style" / "brushstrokes.jpg"), 32)
    assert active.stats(controller.state, frame) is lib[0].stats
    (event, fields), = events
    assert event == "color-reference-failed" and "trial.jpg" in fields["reason"]
    assert active.stats(controller.state, frame) is lib[0].stats and len(events) == 1  # said once, not per frame


def test_a_rescan_that_shrinks_the_library_mid_lookup_cannot_kill_inference(stylizer, data_dir, tmp_path, one_thread):
    """The active style looked a name up in one list of styles and took the index from the next
    (a rescan replaces it from its thread): an IndexError ended the inference thread."""
    folder = copy_styles(data_dir, tmp_path / "styles", names=("brushstrokes.jpg", "trial.jpg"))
    lib = StyleLibrary([folder], stylizer, 64, tmp_path / "cache").load()
    full, reads = lib.styles, []

    class Rescanning(StyleLibrary):
        """Every read after the first sees the list a rescan left: only the first style."""

        @property
        def styles(self):
            reads.append(1)
            return full if len(reads) == 1 else full[:1]

        @styles.setter
        def styles(self, value):
            pass

    shrinking = Rescanning([folder], stylizer, 64, tmp_path / "cache")
    controller = Controller(lib.names)
    controller.apply("select", 1)  # trial, the style the rescan removes
    stats = ActiveStyle(shrinking).stats(controller.state, np.zeros((32, 32, 3), np.uint8))
    assert stats is full[1].stats  # as the one list read said
