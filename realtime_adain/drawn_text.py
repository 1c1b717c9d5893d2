"""Text drawn into pictures with OpenCV's `putText` (contact-sheet captions, the live HUD).

OpenCV 5 draws many scripts with its built-in font, but not all: 5.1's 'sans' has Latin with
accents, Cyrillic, Hebrew and Arabic, not CJK, Korean, Greek, Devanagari or Thai, and `putText`
draws '?' for a character its font lacks, so `日本.jpg` and `中国.jpg` were both drawn `??.jpg`.
Which characters draw is found by drawing each one (once); one that does not is written as its
Python escape (`日` as `\\u65e5`), so different names stay different. OpenCV 4's Hershey fonts
have ASCII only: there accents are folded away and anything else is escaped. Control characters
(a tab, a newline) are '?' on both.
"""

from __future__ import annotations

import functools
import re
import unicodedata

import cv2
import numpy as np

UNICODE = int(cv2.__version__.split(".")[0]) >= 5


def drawable(text: str, unicode: bool = UNICODE) -> str:
    """`text` as `putText` can draw it: a printable character the font has kept, one it lacks
    escaped (`\\u65e5`); without `unicode` (OpenCV 4's ASCII fonts) accents are folded away first."""
    if not unicode:
        text = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    return "".join(_drawn_as(c, unicode) for c in text)


def _drawn_as(char: str, unicode: bool) -> str:
    # Not printable first: a lone surrogate (from an undecodable file name) crashes putText.
    if not char.isprintable():
        return "?"
    drawn = has_glyph(char) if unicode else " " <= char <= "~"
    # (a backslash escaped too: a file named `\\u65e5.jpg` was captioned as `日.jpg` is)
    return char if drawn and char != "\\" else char.encode("unicode_escape").decode("ascii")


# One character as `drawable` gives it: an escape whole (`fit_label` cuts between these).
DRAWN_UNITS = re.compile(r"\\U[0-9a-f]{8}|\\u[0-9a-f]{4}|\\x[0-9a-f]{2}|\\\\|.", re.S)


@functools.lru_cache(maxsize=4096)  # (every character of a hostile folder of names: bounded)
def has_glyph(char: str) -> bool:
    """Whether `putText` draws the printable `char` itself rather than the '?' it draws for a
    character its font lacks."""
    return char == "?" or not np.array_equal(_drawn(char), _drawn("?"))


def _drawn(char: str) -> np.ndarray:
    picture = np.zeros((32, 48), np.uint8)
    cv2.putText(picture, char, (4, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.6, 255, 1, cv2.LINE_AA)
    return picture
