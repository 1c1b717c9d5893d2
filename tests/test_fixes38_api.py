"""Session 38: the Python API's messages say what is wrong."""
import pytest

from realtime_adain.adain import StyleStats


@pytest.mark.parametrize("weights", [[], ()])
def test_mixing_no_styles_says_so(weights):
    """It said the weights needed "a positive sum", about weights the caller had not given."""
    with pytest.raises(ValueError, match="no styles to mix"):
        StyleStats.mix([], weights)


@pytest.mark.parametrize("value", [-1, 0, 0.0, -0.0, float("nan"), float("-inf")])
def test_a_positive_setting_says_one_rule(value):
    """-1 was "must be in [0, inf]" and 0 "must be positive": two rules for one setting."""
    from realtime_adain.temporal import ContentStatsSmoother, Stabilizer

    with pytest.raises(ValueError, match=r"photometric \(grey levels\) must be positive \(above 0\), got"):
        Stabilizer(photometric=value)
    with pytest.raises(ValueError, match=r"cut_distance must be positive \(above 0\)"):
        ContentStatsSmoother(cut_distance=value)


def test_a_positive_setting_takes_infinity_and_refuses_a_bool():
    from realtime_adain.temporal import Stabilizer

    assert Stabilizer(photometric=float("inf")).photometric == float("inf")
    with pytest.raises(TypeError, match="must be a positive number, got bool"):
        Stabilizer(photometric=True)


@pytest.mark.parametrize("value", [10**400, -10**400, 10**5000], ids=["1e400", "-1e400", "1e5000"])
def test_an_integer_past_floats_is_a_value_error_naming_the_setting(value):
    """`Stabilizer(photometric=10**400)` raised a bare OverflowError naming no argument."""
    from realtime_adain.temporal import ContentStatsSmoother, Stabilizer

    with pytest.raises(ValueError, match=r"photometric \(grey levels\) must be positive \(above 0\), got an integer too large"):
        Stabilizer(photometric=value)
    with pytest.raises(ValueError, match=r"cut_distance must be positive \(above 0\), got an integer too large"):
        ContentStatsSmoother(cut_distance=value)
    with pytest.raises(ValueError, match=r"strength must be in \[0, 1\], got an integer too large for a float"):
        Stabilizer(strength=value)
