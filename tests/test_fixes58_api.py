"""Session 58: the API's words for a mix weight that is not a finite number of 0 or more."""

from __future__ import annotations

import numpy as np
import pytest

from realtime_adain.api import check_mix


@pytest.mark.parametrize("weight", [float("nan"), float("inf"), -1.0, np.float32("nan")])
def test_a_mix_weight_that_is_not_finite_and_0_or_more_is_said_in_one_rule(weight):
    """Before: nan was "mix[0] must be in [0, inf]" and inf then refused as "must be finite"."""
    with pytest.raises(ValueError, match=r"^mix\[0\] must be a finite number, 0 or more, got (nan|inf|-1\.0)$"):
        check_mix([weight, 1.0], 2)


def test_finite_weights_are_scaled_as_before():
    assert check_mix([1e308, 1e308], 2) == (1.0, 1.0)
    assert check_mix([-0.0, 2], 2) == (0.0, 1.0)
