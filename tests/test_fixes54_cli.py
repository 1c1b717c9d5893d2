"""Session 54's CLI fixes: a whole number Python refuses to read for its length alone."""

from __future__ import annotations

import argparse
import sys

import pytest

from realtime_adain.commands import argtypes

LIMIT = sys.get_int_max_str_digits()


@pytest.mark.parametrize("text", ["9" * (LIMIT + 1), "-" + "9" * (LIMIT + 1), " +" + "1" * (LIMIT + 1) + " "])
def test_a_whole_number_of_too_many_digits_is_out_of_range_not_unreadable(text):
    with pytest.raises(argparse.ArgumentTypeError, match=rf"is far out of range \(more than {LIMIT} digits\)$"):
        argtypes.int_between(0, 16384, "size")(text)


def test_a_whole_number_at_the_digit_limit_is_said_outside_its_range():
    with pytest.raises(argparse.ArgumentTypeError, match=r"is outside 0\.\.16384$"):
        argtypes.int_between(0, 16384, "size")("9" * LIMIT)


@pytest.mark.parametrize("text", ["\u0661" * (LIMIT + 1), "9" * LIMIT + "x", "1_" + "0" * LIMIT, "+-" + "9" * (LIMIT + 1),
                                  "--" + "9" * (LIMIT + 1)])
def test_what_is_no_plain_whole_number_stays_not_a_whole_number(text):
    with pytest.raises(argparse.ArgumentTypeError, match=r"is not a whole number$"):
        argtypes.whole_number(text)


@pytest.mark.parametrize("text, value", [("0" * (LIMIT + 1), 0), ("0" * LIMIT + "5", 5), ("-" + "0" * LIMIT + "7", -7)])
def test_leading_zeros_do_not_count_against_the_digit_limit(text, value):
    assert argtypes.whole_number(text) == value
