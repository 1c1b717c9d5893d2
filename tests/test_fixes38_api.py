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
