"""The key table drives the controller: every key's effect, without a window."""

from __future__ import annotations

from pathlib import Path

import pytest

from realtime_adain.live import keys
from realtime_adain.live.controller import MIX_STEPS, Controller, Effect

NAMES = ("starry", "wave", "candy")
REPO = Path(__file__).resolve().parents[1]


def press(controller: Controller, key: str | int) -> list:
    return controller.press(ord(key) if isinstance(key, str) else key)


def kinds(effects: list) -> list[str]:
    return [e.kind for e in effects]


def test_every_binding_has_a_handler_and_codes_are_unique():
    seen: dict[int, str] = {}
    for binding in keys.BINDINGS:
        assert hasattr(Controller, f"_do_{binding.action}"), binding.action
        for code in binding.codes:
            assert code not in seen, f"{code} bound to {seen[code]} and {binding.action}"
            seen[code] = binding.action
    assert keys.lookup(ord("z")) is None
    assert Controller(NAMES).press(ord("z")) == []


def test_digits_pick_styles_and_ignore_missing_ones():
    c = Controller(NAMES)
    effects = press(c, "3")
    assert c.state.style == 2 and c.state.style_name == "candy"
    assert effects[0].kind == "style" and effects[0].detail == {"index": 3, "name": "candy"}
    assert press(c, "9") == [Effect("unchanged", {"action": "select", "reason": "only 3 styles"})] and c.state.style == 2
    assert press(c, "3") == [Effect("unchanged", {"action": "select", "reason": "style 3 is already shown"})]


@pytest.mark.parametrize("key", ["n", *keys.RIGHT])
def test_next_wraps_around(key):
    c = Controller(NAMES)
    for expected in (1, 2, 0):
        press(c, key)
        assert c.state.style == expected


@pytest.mark.parametrize("key", ["p", *keys.LEFT])
def test_previous_wraps_around(key):
    c = Controller(NAMES)
    press(c, key)
    assert c.state.style == 2


def test_alpha_steps_and_clamps():
    c = Controller(NAMES, alpha=1.0)
    assert press(c, "+") == [Effect("unchanged", {"action": "alpha_up", "reason": "alpha is already 1, its maximum"})]
    effects = press(c, "-")
    assert c.state.alpha == pytest.approx(0.9) and effects[0].detail == {"alpha": 0.9}
    press(c, keys.DOWN[0])
    press(c, "_")
    assert c.state.alpha == pytest.approx(0.7)
    for _ in range(12):
        press(c, "-")
    assert c.state.alpha == 0.0
    press(c, "=")
    press(c, keys.UP[0])
    assert c.state.alpha == pytest.approx(0.2)


def test_mix_cycles_through_the_blend_steps():
    c = Controller(NAMES)
    weights = []
    for _ in MIX_STEPS:
        effects = press(c, "m")
        weights.append(c.state.mix)
        assert effects[0].detail["with"] == "wave"
    assert weights == [*MIX_STEPS[1:], 0.0]
    assert Controller(["only"]).press(ord("m")) == [Effect("unchanged", {"action": "mix", "reason": "only one style"})]


def test_colour_preservation_toggles_and_takes_a_new_reference_each_time():
    c = Controller(NAMES)
    press(c, "c")
    assert c.state.preserve_color and c.state.color_epoch == 1
    press(c, "c")
    assert not c.state.preserve_color and c.state.color_epoch == 2


def test_view_cycles_original_side_by_side_stylized():
    c = Controller(NAMES)
    views = [press(c, "o")[0].detail["view"] for _ in range(3)]
    assert views == ["original", "side-by-side", "stylized"]


@pytest.mark.parametrize("key, field", [(" ", "paused"), ("h", "help"), ("i", "hud"), ("f", "fullscreen")])
def test_toggles(key, field):
    c = Controller(NAMES)
    before = getattr(c.state, field)
    effects = press(c, key)
    assert getattr(c.state, field) is not before
    assert effects[0].kind == field and effects[0].detail == {"on": not before}
    press(c, key)
    assert getattr(c.state, field) is before


@pytest.mark.parametrize("key, kind", [("s", "snapshot"), ("r", "record"), ("l", "rescan"), ("q", "quit"), (keys.ESC, "quit")])
def test_requests_leave_the_state_alone(key, kind):
    c = Controller(NAMES)
    before = c.state
    assert kinds(press(c, key)) == [kind]
    assert c.state == before


def test_rescan_keeps_the_current_style_by_name():
    c = Controller(NAMES)
    press(c, "2")
    c.set_styles(["aaa", "starry", "wave", "candy"])
    assert c.state.style_name == "wave" and c.state.style == 2
    c.set_styles(["x"])
    assert c.state.style == 0


def test_docs_key_table_matches_the_bindings():
    doc = (REPO / "docs" / "live.md").read_text(encoding="utf-8")
    start, end = "<!-- keys:begin -->\n", "<!-- keys:end -->"
    assert start in doc and end in doc, "docs/live.md lacks the generated key table markers"
    table = doc.split(start, 1)[1].split(end, 1)[0]
    assert table == keys.markdown_table(), "regenerate with: python3 -m realtime_adain.live.keys"


def test_default_processing_size_follows_the_device(stylizer):
    """160 keeps a CPU interactive; a GPU runs the camera's own size; --size always wins."""
    from types import SimpleNamespace

    import torch

    from realtime_adain.live.inference import processing_size
    from realtime_adain.settings import LIVE_CPU_SIZE

    assert processing_size(None, stylizer) == LIVE_CPU_SIZE == 160
    assert processing_size(None, SimpleNamespace(device=torch.device("cuda"))) == 0
    assert processing_size(96, stylizer) == 96 and processing_size(0, stylizer) == 0
