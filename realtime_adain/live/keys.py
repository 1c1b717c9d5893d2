"""The one key table: every binding of the live window, its action and what it does.

The controller, the help overlay and the key table in docs/live.md all come from `BINDINGS`;
`python3 -m realtime_adain.live.keys` prints that table as Markdown.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

# Arrow keys as `cv2.waitKeyEx` reports them: X11 keysyms (Qt and GTK on Linux; then the keypad's
# arrows with NumLock off, KP_Left ...), Windows virtual keys shifted by 16 bits, and the macOS
# function-key characters.
LEFT = (65361, 65430, 0x250000, 63234)
UP = (65362, 65431, 0x260000, 63232)
RIGHT = (65363, 65432, 0x270000, 63235)
DOWN = (65364, 65433, 0x280000, 63233)
ESC = 27


@dataclass(frozen=True)
class Binding:
    keys: str  # as shown to the user (ASCII: the overlay's Hershey font has nothing else)
    action: str
    description: str
    codes: Mapping[int, int | None]  # key code -> the action's argument


def _codes(*groups: int | str | tuple[int, ...]) -> dict[int, None]:
    codes: dict[int, None] = {}
    for group in groups:
        for item in group if isinstance(group, tuple) else (group,):
            codes[ord(item) if isinstance(item, str) else item] = None
    return codes


BINDINGS: tuple[Binding, ...] = (
    Binding("1-9", "select", "pick style 1 to 9 of the library", {ord(str(i)): i - 1 for i in range(1, 10)}),
    Binding("n, Right", "next", "next style", _codes("n", RIGHT)),
    Binding("p, Left", "previous", "previous style", _codes("p", LEFT)),
    Binding("+, Up", "alpha_up", "more style: alpha + 0.1", _codes("+", "=", UP)),
    Binding("-, Down", "alpha_down", "less style: alpha - 0.1", _codes("-", "_", DOWN)),
    Binding("m", "mix", "mix in the next style: 25 %, 50 %, 75 %, off", _codes("m")),
    Binding("c", "color", "colour preservation on/off (the colours of the frame at that time)", _codes("c")),
    Binding("t", "stabilize", "temporal stabiliser: off, flow, stats, both", _codes("t")),
    Binding("o", "view", "view: stylized, original, side by side", _codes("o")),
    Binding("space", "pause", "pause/resume", _codes(" ")),
    Binding("s", "snapshot", "save the stylized and the original frame as PNG", _codes("s")),
    Binding("r", "record", "start/stop recording the stylized stream to MP4", _codes("r")),
    Binding("f", "fullscreen", "fullscreen on/off", _codes("f")),
    Binding("i", "hud", "HUD on/off", _codes("i")),
    Binding("l", "rescan", "rescan the style folders for new or changed images", _codes("l")),
    Binding("h", "help", "this help on/off", _codes("h")),
    Binding("q, Esc", "quit", "quit (a recording is finalised)", _codes("q", ESC)),
)

_BY_CODE: dict[int, tuple[str, int | None]] = {
    code: (binding.action, arg) for binding in BINDINGS for code, arg in binding.codes.items()
}


def lookup(code: int) -> tuple[str, int | None] | None:
    """(action, argument) bound to a `cv2.waitKeyEx` code, or None for an unbound key."""
    return _BY_CODE.get(code)


def help_lines() -> list[tuple[str, str]]:
    return [(binding.keys, binding.description) for binding in BINDINGS]


def markdown_table() -> str:
    rows = ["| Key | Action |", "| --- | --- |"]
    rows += [f"| `{keys}` | {description} |" for keys, description in help_lines()]
    return "\n".join(rows) + "\n"


if __name__ == "__main__":
    print(markdown_table(), end="")
