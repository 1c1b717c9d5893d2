"""Session 44: option values as users type them."""
from fractions import Fraction

import pytest

from realtime_adain.commands.argtypes import frame_rate


@pytest.mark.parametrize("typed, rate", [("30000/1001", Fraction(30000, 1001)), ("24000/1001", Fraction(24000, 1001)),
                                         ("29.97", Fraction("29.97")), ("240", 240)])
def test_a_benchmark_source_rate_may_be_a_ratio_as_video_rates_are(typed, rate):
    """`bench live --source-fps 30000/1001` was refused ("not a finite number") where `live --fps` takes it."""
    assert frame_rate(typed) == pytest.approx(float(rate), rel=1e-15)


def test_a_video_named_as_a_picture_is_told_the_numbered_pictures_form(tmp_path):
    """`video ... -o x.png` listed the video formats only, not `-o 'x_%04d.png'`, which writes frames."""
    from realtime_adain.errors import UserError
    from realtime_adain.output_checks import output_is_one_file

    with pytest.raises(UserError, match=r"unknown video format '\.png' \(written: \.mp4 \.mkv; numbered pictures: "
                                        r"-o 'NAME_%04d\.png'; to make a folder"):
        output_is_one_file(str(tmp_path / "x.png"), lambda path: path.suffix in (".mp4", ".mkv"), 1, "video",
                           (".mp4", ".mkv"))
    with pytest.raises(UserError) as refused:  # (`image`'s words have no such form)
        output_is_one_file(str(tmp_path / "x.mp4"), lambda path: path.suffix == ".png", 1, "image", (".png",))
    assert "numbered" not in str(refused.value)
