"""Names OpenCV 5's built-in font cannot draw: contact-sheet captions and the HUD drew every such
character as '?', so `日本.jpg` and `中国.jpg` were both captioned `??.jpg`."""

from __future__ import annotations

import re

import cv2
import numpy as np

from realtime_adain import drawn_text, sheet
from realtime_adain.drawn_text import drawable
from realtime_adain.live import hud

NAMES = ["日本.jpg", "中国.jpg", "한국.png", "Ελλάδα.jpg", "भारत.jpg", "ไทย.jpg", "Мунк.jpg", "עברית.jpg",
         "عربي.jpg", "café_crème.jpg", "why?.jpg", "😀.png", "tab\there\n",
         "a\udcffb.jpg"]  # os.fsdecode of a name that is not UTF-8: a lone surrogate crashes putText


def drawn(text: str) -> np.ndarray:
    picture = np.zeros((32, 48), np.uint8)
    cv2.putText(picture, text, (4, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.6, 255, 1, cv2.LINE_AA)
    return picture


def test_every_drawable_character_draws_itself():
    """putText draws '?' for a character its font lacks; a drawable string holds none of those."""
    for name in NAMES:
        for char in set(drawn_text.drawable(name)):
            assert char == "?" or not np.array_equal(drawn(char), drawn("?")), (name, char)


def test_names_differing_in_cjk_are_captioned_differently():
    first, second = drawn_text.drawable("日本.jpg"), drawn_text.drawable("中国.jpg")
    assert first != second and first.endswith(".jpg")
    tile = np.zeros((20, 160, 3), np.uint8)
    sheets = [sheet.compose_sheet([tile], [name], [None], columns=1) for name in ("日本.jpg", "中国.jpg")]
    assert not np.array_equal(*sheets)
    assert not np.array_equal(*(_hud(f"1/2 {name}") for name in ("日本", "中国")))


def _hud(style: str) -> np.ndarray:
    picture = np.full((360, 640, 3), 128, np.uint8)
    hud.draw_hud(picture, hud.HudInfo(style=style, thumbnail=None, alpha=1.0, mix="", preserve_color=False,
                                      fps=10.0, latency_ms=50.0, size="64x64", device="cpu float32",
                                      engine="eager", source="live", recording=False, paused=False,
                                      view="stylized"))
    return picture


def test_an_escape_never_stands_for_a_literal_backslash_and_is_never_cut():
    """`日本.png` and a file named `\\u65e5\\u672c.png` were captioned alike; a cut fell inside an
    escape (`\\U0001f600\\...`) and dropped the end that told two long names apart."""
    for unicode in (True, False):  # (OpenCV 5's font, OpenCV 4's ASCII)
        assert drawable("日本.png", unicode) != drawable("\\u65e5\\u672c.png", unicode)
        assert drawable("日本.png", unicode) != drawable("中国.png", unicode)
    one, two = (drawable(f"日本語の長い名前のスタイル画像ファイル_{n}.png") for n in "一二")
    cut_one, cut_two = sheet.fit_label(one, 300), sheet.fit_label(two, 300)
    assert cut_one != cut_two and cut_one.endswith(".png") and "..." in cut_one
    for cut in (cut_one, sheet.fit_label(drawable("😀" * 62 + ".png"), 100)):
        head, _, tail = cut.partition("...")
        for part in (head, tail):  # whole escapes and other characters only
            assert re.fullmatch(r"(\\u[0-9a-f]{4}|\\U[0-9a-f]{8}|[^\\])*", part), cut
