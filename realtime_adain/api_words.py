"""The API's words for messages written for the CLI: a check or an error of the library names the
CLI's options (`--max-pixels`); a caller of the Python API set arguments (`max_pixels`)."""

from __future__ import annotations

import contextlib
import re
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from realtime_adain.api_images import in_api_functions
from realtime_adain.errors import UserError


# The CLI options whose messages reach a caller of `stylize_video`, each said as the argument that
# sets it (stylize_video's, or ModelSettings'/Stylizer.load's): --max-pixels becomes max_pixels.
API_ARGUMENTS = ("size", "keep-size", "max-pixels", "style-size", "alpha", "mix", "preserve-color", "stabilize",
                 "stabilize-strength", "stabilize-passes", "frames", "codec", "crf", "bitrate", "pix-fmt",
                 "deinterlace", "framerate", "start", "duration", "device", "dtype", "engine", "vgg", "decoder")
# The CLI's switches that turn an option off, said as the argument's value.
API_SWITCHES = {"no-keep-size": "keep_size=False"}
# An option with its value's placeholder ("pass --decoder PATH") is said as the argument given it: decoder=PATH.
_OPTION = re.compile(r"(?<![\w-])--(" + "|".join(sorted([*API_ARGUMENTS, *API_SWITCHES], key=len, reverse=True))
                     + r")(?![\w-])(?: (PATH|N)\b)?")


def _api_argument(option: re.Match) -> str:
    name = API_SWITCHES.get(option.group(1)) or option.group(1).replace("-", "_")
    return f"{name}={option.group(2)}" if option.group(2) else name


def in_api_words(message: str, paths: Sequence[Path] = ()) -> str:
    """`message`, written for the CLI, with the options a call sets by argument named as those
    arguments; the names of `paths` in it are left as they are (a file may be called --size.mp4)."""
    names = sorted({str(p) for p in paths if str(p)}, key=len, reverse=True)
    parts = re.split("(" + "|".join(map(re.escape, names)) + ")", message) if names else [message]
    return "".join(part if index % 2 else in_api_functions(_OPTION.sub(_api_argument, part))
                   for index, part in enumerate(parts))


class ArgumentMistake(ValueError, UserError):
    """A mistaken argument found by a check written for the CLI: a ValueError naming it, as every
    other mistake in a call; a UserError too, for the commands that call the API (`export` and
    `bench` load through `Stylizer.load`), which say it in one line."""


def as_value_error(check: Callable[[], Any], paths: Sequence[Path] = ()) -> Any:
    """Run a settings check written for the CLI (its value returned); its refusal is a ValueError
    naming the argument (--style-size becomes style_size), as every other mistake in a call; the
    names of `paths` in it left as they are."""
    try:
        return check()
    except UserError as exc:
        raise ArgumentMistake(in_api_words(str(exc), paths)) from None


@contextlib.contextmanager
def api_words(paths: Sequence[Path]) -> Iterator[None]:
    """A UserError from the video code (written for the CLI: a video over the pixel budget is
    '... raise it with --max-pixels, or lower --size') naming the caller's arguments instead; its
    type and traceback kept."""
    try:
        yield
    except UserError as exc:
        if len(exc.args) == 1 and isinstance(exc.args[0], str):
            exc.args = (in_api_words(exc.args[0], paths),)
        raise
