"""What the live session is showing, as a pure state machine driven by key actions.

No window, no threads, no model: `Controller.press(code)` turns a key into a new immutable
`LiveState` and a list of `Effect`s the app carries out (log a line, take a snapshot, toggle the
recording, rescan, quit). That is what makes every key testable without a display.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field, replace
from typing import Sequence

from realtime_adain.live import keys
from realtime_adain.live.events import number
from realtime_adain.temporal import MODES as STABILIZE_MODES

ALPHA_STEP = 0.1
MIX_STEPS = (0.0, 0.25, 0.5, 0.75)  # weight of the next style; repeated `m` walks through them
VIEWS = ("stylized", "original", "side-by-side")
UNCHANGED = "unchanged"  # the effect of a key that changes nothing (at a bound, one style): why


@dataclass(frozen=True)
class LiveState:
    style_names: tuple[str, ...]
    style: int = 0
    alpha: float = 1.0
    mix: float = 0.0
    preserve_color: bool = False
    color_epoch: int = 0  # bumped whenever the colour reference should be taken from a new frame
    view: str = "stylized"
    paused: bool = False
    help: bool = False
    hud: bool = True
    fullscreen: bool = False
    stabilize: str = "off"  # temporal stabiliser mode, one of temporal.MODES

    @property
    def style_name(self) -> str:
        return self.style_names[self.style]

    @property
    def next_style(self) -> int:
        return (self.style + 1) % len(self.style_names)

    @property
    def look(self) -> tuple:
        """What the stylized picture depends on (not the view, the HUD, the pause): a change while
        paused stylizes the held frame again."""
        return (self.style_name, self.style_names[self.next_style] if self.mix else "", self.alpha, self.mix,
                self.preserve_color, self.color_epoch, self.stabilize)


@dataclass(frozen=True)
class Effect:
    """Something the app does or logs after a key: `kind` is the action, `detail` the new values."""

    kind: str
    detail: dict = field(default_factory=dict)


class Controller:
    """Holds the current `LiveState`; readers on other threads take `state` (an immutable value)."""

    def __init__(
        self,
        style_names: Sequence[str],
        alpha: float = 1.0,
        preserve_color: bool = False,
        fullscreen: bool = False,
        stabilize: str = "off",
        style_files: Sequence[object] | None = None,
    ) -> None:
        """`style_files`: what each style is (its file), which a rescan follows (default: its name)."""
        if not style_names:
            raise ValueError("the controller needs at least one style")
        if stabilize not in STABILIZE_MODES:
            raise ValueError(f"stabilize must be one of {', '.join(STABILIZE_MODES)}, got {stabilize!r}")
        self._lock = threading.Lock()
        self._files = tuple(style_files if style_files is not None else style_names)
        self._state = LiveState(tuple(style_names), alpha=alpha, preserve_color=preserve_color, fullscreen=fullscreen,
                                stabilize=stabilize)

    @property
    def state(self) -> LiveState:
        return self._state

    def press(self, code: int) -> list[Effect]:
        """Apply the key with this `cv2.waitKeyEx` code; unbound keys do nothing."""
        bound = keys.lookup(code)
        return self.apply(*bound) if bound else []

    def apply(self, action: str, arg: int | None = None) -> list[Effect]:
        with self._lock:
            handler = getattr(self, f"_do_{action}")
            new_state, effects = handler(self._state, arg)
            self._state = new_state
            return effects

    def set_styles(self, names: Sequence[str], files: Sequence[object] | None = None) -> list[Effect]:
        """After a rescan: keep the current style's file (`files`, default the names) selected when
        it is still there; display names are renumbered each scan (trial~2 became trial, and the
        selection followed the name to another file). A selection that moved (its file gone, files
        before it, or its name changed) is a `style` effect, as a key's.
        A mix is kept only while the same file still follows the current one (the partner is the
        next style by position: kept as it was, a rescan silently mixed in another style, or the
        style with itself); otherwise it is switched off, said with a `mix` line as `m` says it."""
        with self._lock:
            old, old_files = self._state, self._files
            names = tuple(names)
            files = tuple(files if files is not None else names)
            selected, partner = old_files[old.style], old_files[old.next_style]
            index = files.index(selected) if selected in files else min(old.style, len(names) - 1)
            new = replace(old, style_names=names, style=index)
            moved = (index, new.style_name, files[index]) != (old.style, old.style_name, selected)
            effects = [Effect("styles", {"count": len(names)})] + (self._style_effect(new) if moved else [])
            if old.mix and (len(names) == 1 or files[new.next_style] != partner):
                new = replace(new, mix=0.0)
                effects.append(Effect("mix", {"weight": 0.0, "with": old.style_names[old.next_style]}))
            self._state, self._files = new, files
            return effects

    # One handler per action in keys.BINDINGS: (state, argument) -> (new state, effects).

    @staticmethod
    def _style_effect(state: LiveState) -> list[Effect]:
        return [Effect("style", {"index": state.style + 1, "name": state.style_name})]

    @staticmethod
    def _unchanged(state: LiveState, action: str, reason: str) -> tuple[LiveState, list[Effect]]:
        """A key that changes nothing says why (it looked dead): one `unchanged` line per press."""
        return state, [Effect(UNCHANGED, {"action": action, "reason": reason})]

    def _only_one_style(self, state: LiveState, action: str) -> tuple[LiveState, list[Effect]] | None:
        return self._unchanged(state, action, "only one style") if len(state.style_names) == 1 else None

    def _do_select(self, state: LiveState, arg: int | None) -> tuple[LiveState, list[Effect]]:
        count = len(state.style_names)
        if arg is None or not 0 <= arg < count:
            return self._unchanged(state, "select", "only one style" if count == 1 else f"only {count} styles")
        if arg == state.style:
            return self._unchanged(state, "select", f"style {arg + 1} is already shown")
        new = replace(state, style=arg)
        return new, self._style_effect(new)

    def _do_next(self, state: LiveState, _arg: int | None) -> tuple[LiveState, list[Effect]]:
        if (unchanged := self._only_one_style(state, "next")) is not None:
            return unchanged
        new = replace(state, style=state.next_style)
        return new, self._style_effect(new)

    def _do_previous(self, state: LiveState, _arg: int | None) -> tuple[LiveState, list[Effect]]:
        if (unchanged := self._only_one_style(state, "previous")) is not None:
            return unchanged
        new = replace(state, style=(state.style - 1) % len(state.style_names))
        return new, self._style_effect(new)

    def _set_alpha(self, state: LiveState, alpha: float, action: str) -> tuple[LiveState, list[Effect]]:
        alpha = round(min(1.0, max(0.0, alpha)), 2)
        if alpha == state.alpha:
            bound = "maximum" if action == "alpha_up" else "minimum"
            return self._unchanged(state, action, f"alpha is already {number(alpha)}, its {bound}")
        return replace(state, alpha=alpha), [Effect("alpha", {"alpha": alpha})]

    def _do_alpha_up(self, state: LiveState, _arg: int | None) -> tuple[LiveState, list[Effect]]:
        return self._set_alpha(state, state.alpha + ALPHA_STEP, "alpha_up")

    def _do_alpha_down(self, state: LiveState, _arg: int | None) -> tuple[LiveState, list[Effect]]:
        return self._set_alpha(state, state.alpha - ALPHA_STEP, "alpha_down")

    def _do_mix(self, state: LiveState, _arg: int | None) -> tuple[LiveState, list[Effect]]:
        if (unchanged := self._only_one_style(state, "mix")) is not None:
            return unchanged
        position = MIX_STEPS.index(state.mix) if state.mix in MIX_STEPS else 0
        mix = MIX_STEPS[(position + 1) % len(MIX_STEPS)]
        new = replace(state, mix=mix)
        return new, [Effect("mix", {"weight": mix, "with": state.style_names[state.next_style]})]

    def _do_color(self, state: LiveState, _arg: int | None) -> tuple[LiveState, list[Effect]]:
        new = replace(state, preserve_color=not state.preserve_color, color_epoch=state.color_epoch + 1)
        return new, [Effect("color", {"on": new.preserve_color})]

    def _do_view(self, state: LiveState, _arg: int | None) -> tuple[LiveState, list[Effect]]:
        new = replace(state, view=VIEWS[(VIEWS.index(state.view) + 1) % len(VIEWS)])
        return new, [Effect("view", {"view": new.view})]

    def _do_stabilize(self, state: LiveState, _arg: int | None) -> tuple[LiveState, list[Effect]]:
        mode = STABILIZE_MODES[(STABILIZE_MODES.index(state.stabilize) + 1) % len(STABILIZE_MODES)]
        return replace(state, stabilize=mode), [Effect("stabilize", {"mode": mode})]

    def _toggle(self, state: LiveState, name: str) -> tuple[LiveState, list[Effect]]:
        value = not getattr(state, name)
        return replace(state, **{name: value}), [Effect(name, {"on": value})]

    def _do_pause(self, state: LiveState, _arg: int | None) -> tuple[LiveState, list[Effect]]:
        return self._toggle(state, "paused")

    def _do_help(self, state: LiveState, _arg: int | None) -> tuple[LiveState, list[Effect]]:
        return self._toggle(state, "help")

    def _do_hud(self, state: LiveState, _arg: int | None) -> tuple[LiveState, list[Effect]]:
        return self._toggle(state, "hud")

    def _do_fullscreen(self, state: LiveState, _arg: int | None) -> tuple[LiveState, list[Effect]]:
        return self._toggle(state, "fullscreen")

    def _do_snapshot(self, state: LiveState, _arg: int | None) -> tuple[LiveState, list[Effect]]:
        return state, [Effect("snapshot")]

    def _do_record(self, state: LiveState, _arg: int | None) -> tuple[LiveState, list[Effect]]:
        return state, [Effect("record")]

    def _do_rescan(self, state: LiveState, _arg: int | None) -> tuple[LiveState, list[Effect]]:
        return state, [Effect("rescan")]

    def _do_quit(self, state: LiveState, _arg: int | None) -> tuple[LiveState, list[Effect]]:
        return state, [Effect("quit")]
