"""Session 44: option values as users type them."""
from fractions import Fraction

import pytest

from realtime_adain.commands.argtypes import frame_rate


@pytest.mark.parametrize("typed, rate", [("30000/1001", Fraction(30000, 1001)), ("24000/1001", Fraction(24000, 1001)),
                                         ("29.97", Fraction("29.97")), ("240", 240)])
def test_a_benchmark_source_rate_may_be_a_ratio_as_video_rates_are(typed, rate):
    """`bench live --source-fps 30000/1001` was refused ("not a finite number") where `live --fps` takes it."""
    assert frame_rate(typed) == pytest.approx(float(rate), rel=1e-15)
