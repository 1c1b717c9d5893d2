"""Session 38: command-line messages."""
import pytest

from realtime_adain.cli import dash_value_hint


@pytest.mark.parametrize("value", ["-inf", "-Infinity", "-nan", "-NaN"])
def test_a_negative_infinity_or_nan_is_told_how_to_be_written(value):
    """`--stabilize-strength -inf` said only "expected one argument", as if no value were given
    (`-1e-3` got the hint)."""
    message = "argument --stabilize-strength: expected one argument"
    hint = dash_value_hint(message, ["live", "--stabilize-strength", value, "--no-window"])
    assert hint == f"; a value starting with '-' is written --stabilize-strength={value}"


@pytest.mark.parametrize("value", ["-o", "--info", "-n"])
def test_an_option_after_an_option_is_still_a_forgotten_value(value):
    assert dash_value_hint("argument --alpha: expected one argument", ["image", "--alpha", value]) == ""


@pytest.mark.parametrize("given", ["--stabilize-s", "--stabilize-strength"])
def test_an_abbreviated_option_gets_the_hint_too(given):
    """argparse takes `--stabilize-s` for `--stabilize-strength`; the hint looked for the full name."""
    message = "argument --stabilize-strength: expected one argument"
    assert dash_value_hint(message, ["video", "a.mp4", given, "-inf"]) == f"; a value starting with '-' is written {given}=-inf"
