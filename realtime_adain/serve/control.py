"""What one client sees (`Look`) and the data-channel messages that change it.

Messages are JSON objects from the page; anything malformed is answered with an error and
changes nothing, so a bad or hostile client can never break its peer connection or the server.
A `Look` converts to the live session's `LiveState` (style = the chosen style, "next" = the mixed
one), so the live temporal stage (`live.stability.Stability`) follows it unchanged.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Callable

from realtime_adain.live.controller import LiveState
from realtime_adain.serve.styles import StyleRegistry
from realtime_adain.settings import STABILIZE_MODES, STATS_MODES, STATS_NEED_EAGER

VIEWS = ("stylized", "original", "side")
MAX_MESSAGE = 4096  # bytes: every valid message is a few dozen


class BadMessage(ValueError):
    """A message that is answered `{"error": ...}` and otherwise ignored."""


@dataclass(frozen=True)
class Look:
    style: str  # style id
    alpha: float = 1.0
    mix_style: str | None = None
    mix_weight: float = 0.0  # weight of `mix_style`; 0 = no mix
    preserve_color: bool = False
    color_epoch: int = 0  # bumped when colour preservation is switched on: a new reference frame
    stabilize: str = "flow"
    view: str = "stylized"

    @property
    def mixing(self) -> bool:
        return self.mix_style is not None and self.mix_weight > 0

    def state(self) -> dict:
        """The look as the protocol's `state` object."""
        mix = {"style": self.mix_style, "weight": self.mix_weight} if self.mixing else None
        return {"style": self.style, "alpha": self.alpha, "mix": mix, "preserve_color": self.preserve_color,
                "stabilize": self.stabilize, "view": self.view}

    def live_state(self, name: Callable[[str], str] = str) -> LiveState:
        """The equivalent live-session state (for `Stability` and `ActiveStyle`); `name` maps a
        style id to the library's name of it."""
        names = tuple(map(name, (self.style, self.mix_style) if self.mixing else (self.style,)))
        return LiveState(names, alpha=self.alpha, mix=self.mix_weight if self.mixing else 0.0,
                         preserve_color=self.preserve_color, color_epoch=self.color_epoch, stabilize=self.stabilize)


def _number(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise BadMessage(f"{name} must be a number")
    if not 0.0 <= value <= 1.0:  # also NaN, infinities and integers too large for a float
        raise BadMessage(f"{name} must be in [0, 1]")
    return float(value)


def _style(value: object, styles: StyleRegistry, name: str = "style") -> str:
    if not isinstance(value, str):  # (null and 5 were quoted back as the ids 'None' and '5')
        raise BadMessage(f"{name} must be a style id (a string), got {type(value).__name__ if value is not None else 'null'}")
    if styles.get(value) is None:
        raise BadMessage(f"unknown style id {str(value)[:40]!r}")
    return value  # type: ignore[return-value]


def _mix(look: Look, value: object, styles: StyleRegistry) -> Look:
    if value is None:
        return replace(look, mix_style=None, mix_weight=0.0)
    if not isinstance(value, dict):
        raise BadMessage("mix must be an object {style, weight} or null")
    _known_fields(value, ("style", "weight"), "mix ")  # (as the message's own: a typo is said, not ignored)
    weight = _number(value.get("weight"), "mix weight")
    if weight == 0:
        return replace(look, mix_style=None, mix_weight=0.0)
    return replace(look, mix_style=_style(value.get("style"), styles, "mix style"), mix_weight=weight)


def _known_fields(value: dict, known: tuple[str, ...], where: str = "") -> None:
    unknown = [key for key in value if key not in known]
    if unknown:
        raise BadMessage(f"unknown {where}field {str(unknown[0])[:40]!r}")


def _boolean(value: object, name: str) -> bool:
    if not isinstance(value, bool):
        raise BadMessage(f"{name} must be true or false")
    return value


def _choice(value: object, name: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise BadMessage(f"{name} must be one of {', '.join(choices)}")
    return value  # type: ignore[return-value]


def _color(look: Look, value: object) -> Look:
    on = _boolean(value, "preserve_color")
    return replace(look, preserve_color=on, color_epoch=look.color_epoch + (on and not look.preserve_color))


SETTERS = {
    "style": lambda look, value, styles: replace(look, style=_style(value, styles)),
    "alpha": lambda look, value, styles: replace(look, alpha=round(_number(value, "alpha"), 4)),
    "mix": _mix,
    "preserve_color": lambda look, value, styles: _color(look, value),
    "view": lambda look, value, styles: replace(look, view=_choice(value, "view", VIEWS)),
}


def stabilize_modes(engine_name: str) -> tuple[str, ...]:
    """The stabiliser modes a server offers: stats/both smooth statistics inside the network, which
    only the eager engine does (elsewhere a client choosing them saw "stats" and got nothing)."""
    return STABILIZE_MODES if engine_name == "eager" else tuple(m for m in STABILIZE_MODES if m not in STATS_MODES)


def _stabilize(look: Look, value: object, modes: tuple[str, ...]) -> Look:
    if value in STATS_MODES and value not in modes:
        raise BadMessage(f"stabilize {value} {STATS_NEED_EAGER}; this server offers {', '.join(modes)}")
    return replace(look, stabilize=_choice(value, "stabilize", modes))


def parse(text: object) -> dict:
    """A message's JSON object; BadMessage for anything else."""
    if isinstance(text, bytes):
        raise BadMessage("messages are JSON text")
    if not isinstance(text, str) or len(text) > MAX_MESSAGE:
        raise BadMessage(f"messages are JSON objects of at most {MAX_MESSAGE} bytes")
    try:
        message = json.loads(text)
    except (ValueError, RecursionError):  # RecursionError: nested deeper than the parser's stack
        raise BadMessage("not JSON") from None
    if not isinstance(message, dict) or not message:
        raise BadMessage("a message is a non-empty JSON object")
    return message


def pong(message: dict) -> dict | None:
    """The answer to a `ping` (the client's own timestamp back), None without one."""
    if "ping" not in message:
        return None
    ping = message["ping"]
    if isinstance(ping, bool) or not isinstance(ping, (int, float)) or not -1e18 < ping < 1e18:
        raise BadMessage("ping must be a number between -1e18 and 1e18 (both excluded: the client's clock, e.g. in ms)")
    return {"pong": ping}


def apply(look: Look, message: dict, styles: StyleRegistry, modes: tuple[str, ...] = STABILIZE_MODES) -> Look:
    """The look after the message's settings (all of them, or none when one is bad); `ping` is
    the caller's; `modes` are the stabiliser modes this server offers (`stabilize_modes`)."""
    _known_fields(message, (*SETTERS, "ping", "stabilize"))
    for key, value in message.items():
        if key == "stabilize":
            look = _stabilize(look, value, modes)
        elif key in SETTERS:
            look = SETTERS[key](look, value, styles)
    return look
