"""The window's picture: views and overlays drawn at any size without failing."""

from __future__ import annotations

import numpy as np
import pytest

from realtime_adain import drawn_text
from realtime_adain.live import hud


def info(**overrides) -> hud.HudInfo:
    values = dict(style="1/3 starry", thumbnail=np.zeros((64, 64, 3), np.uint8), alpha=0.8, mix="+ 25 % wave",
                  preserve_color=True, fps=12.3, latency_ms=80.0, size="284x160", device="cpu float32",
                  engine="eager", source="camera 0 stopped delivering frames; reconnecting in 2 s",
                  recording=True, paused=True, view="stylized")
    values.update(overrides)
    return hud.HudInfo(**values)


@pytest.mark.parametrize("view, width", [("stylized", 320), ("original", 320), ("side-by-side", 640)])
def test_views_compose_to_the_display_size(view, width):
    original = np.full((360, 640, 3), 200, np.uint8)
    stylized = np.zeros((64, 114, 3), np.uint8)
    stylized[..., 0] = 255  # red in RGB
    picture = hud.compose(original, stylized, view, (320, 180))
    assert picture.shape == (180, width, 3)
    if view == "stylized":
        assert tuple(picture[90, 160]) == (0, 0, 255)  # BGR for OpenCV


@pytest.mark.parametrize("shape", [(180, 320, 3), (720, 1280, 3), (40, 60, 3)])
def test_hud_and_help_draw_on_any_size(shape):
    picture = np.full(shape, 128, np.uint8)
    hud.draw_hud(picture, info())
    assert picture.shape == shape and (picture != 128).any()
    before = picture.copy()
    hud.draw_help(picture)
    assert (picture != before).any()
    assert np.array_equal(picture[0, -1], np.round(before[0, -1] / 4))  # the help panel darkens it in place


def drawn(**overrides) -> np.ndarray:
    picture = np.full((360, 640, 3), 128, np.uint8)
    hud.draw_hud(picture, info(thumbnail=None, **overrides))
    return picture


def test_style_names_are_drawn_as_opencv_can_draw_them():
    """A style or source name from a file name: a tab or newline is drawn as '?' (OpenCV 5 starts a
    new line at a newline, drawn over the HUD's next line); where OpenCV 5 has the glyphs, names in
    other scripts are drawn, not '?'."""
    assert np.array_equal(drawn(style="1/2 tab\there", source="a\nb.mp4"), drawn(style="1/2 tab?here", source="a?b.mp4"))
    if drawn_text.UNICODE:
        assert not np.array_equal(drawn(style="1/2 Мунк"), drawn(style="1/2 ????"))


def test_an_output_failure_is_drawn_on_the_hud():
    """A recording stopped by a full disk was said only on stderr: the user watching the window saw
    nothing (the `-o` recording has no REC badge to lose)."""
    notice = "recording stopped: No space left on device; kept rec.partial.mp4"
    assert not np.array_equal(drawn(notice=notice), drawn())


@pytest.mark.parametrize("height, width", [(360, 640), (360, 360), (640, 360), (1800, 360)])
def test_the_help_fits_the_window(height, width):
    """At 640x360 (any 16:9 source up to 360 high) the last line, "q, Esc quit", was cut off; at
    360x360 the ends of the lines were; in a portrait window a line ran off its edge, and in one
    taller than the screen the help was centred, off-screen: it starts at the top there."""
    picture = np.zeros((height, width, 3), np.uint8)
    hud.draw_help(picture)
    text = picture.max(axis=2) > 150  # the lettering, not the dark panel
    rows, columns = np.nonzero(text.any(axis=1))[0], np.nonzero(text.any(axis=0))[0]
    assert rows.max() < height - 4 and columns.max() < width - 4  # (cut off, the text ran to the edge)
    assert rows.min() < (60 if height > width else height)


@pytest.mark.parametrize("width", [360, 200])
def test_the_hud_fits_a_narrow_window(width):
    """A portrait window cut the HUD's lines at its edge; a long style name ran off it."""
    picture = np.zeros((640, width, 3), np.uint8)
    hud.draw_hud(picture, info(style="3/17 " + "a_very_long_style_name_" * 6, thumbnail=None))
    text = picture.max(axis=2) > 150
    assert np.nonzero(text.any(axis=0))[0].max() < width - 4


def test_the_help_is_drawn_instead_of_the_hud():
    """The help's panel is not opaque: over the HUD, the HUD's lines showed through the key table."""
    from realtime_adain.live.controller import LiveState
    from realtime_adain.live.inference import Result
    from realtime_adain.live.sources import Frame
    from realtime_adain.live.window import picture

    image = np.full((180, 320, 3), 128, np.uint8)
    result = Result(Frame(image, 0.0, 1), image[::2, ::2], image[::2, ::2])
    shown = lambda **state: picture(result, LiveState(("a",), **state), (320, 180), info())  # noqa: E731
    np.testing.assert_array_equal(shown(help=True), shown(help=True, hud=False))
    assert not np.array_equal(shown(), shown(hud=False))
