"""Session 38: the Python API's messages say what is wrong."""
import pytest

from realtime_adain.adain import StyleStats


@pytest.mark.parametrize("weights", [[], ()])
def test_mixing_no_styles_says_so(weights):
    """It said the weights needed "a positive sum", about weights the caller had not given."""
    with pytest.raises(ValueError, match="no styles to mix"):
        StyleStats.mix([], weights)
