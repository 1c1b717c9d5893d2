"""Text drawn into pictures with OpenCV's `putText` (contact-sheet captions, the live HUD).

OpenCV 5 draws most scripts (Latin with accents, Cyrillic, CJK, ...) with its built-in font;
OpenCV 4's Hershey fonts have ASCII only and draw '?' for anything else. Style names come from
file names, so they are made drawable here: accents folded away on OpenCV 4, control characters
(a tab, a newline) '?' on both.
"""

from __future__ import annotations

import unicodedata

import cv2

UNICODE = int(cv2.__version__.split(".")[0]) >= 5


def drawable(text: str, unicode: bool = UNICODE) -> str:
    """`text` as `putText` can draw it: with `unicode`, every printable character kept; without,
    accents dropped and anything outside ASCII '?'."""
    if unicode:
        return "".join(c if c.isprintable() else "?" for c in text)
    folded = unicodedata.normalize("NFKD", text)
    kept = (c for c in folded if not unicodedata.combining(c))
    return "".join(c if " " <= c <= "~" else "?" for c in kept)
