"""Path names as JSON documents carry them: a name's bytes read as UTF-8 whatever the locale."""

from __future__ import annotations

import os
import re


def name_text(text: str | os.PathLike) -> str:
    """A path, or a message naming one, as JSON carries it: a name's bytes read as UTF-8 whatever
    the locale (under `LC_ALL=C PYTHONUTF8=0` "é" was "\\udcc3\\udca9", unreadable to any reader),
    bytes that are not UTF-8 as the surrogate escapes of PEP 383 (`os.fsencode` gives them back)."""
    text = os.fspath(text)
    try:
        return os.fsencode(text).decode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # words the locale cannot encode around the name: only its escapes
        return re.sub("[\udc80-\udcff]+", lambda m: os.fsencode(m.group()).decode("utf-8", "surrogateescape"), text)


def names_as_utf8(document):
    """`document` (dicts, lists, strings, numbers) with every string read as `name_text` does."""
    if isinstance(document, str):
        return name_text(document)
    if isinstance(document, dict):
        return {name_text(k) if isinstance(k, str) else k: names_as_utf8(v) for k, v in document.items()}
    if isinstance(document, (list, tuple)):
        return [names_as_utf8(v) for v in document]
    return document
