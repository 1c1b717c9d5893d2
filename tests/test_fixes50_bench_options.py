"""`bench` options: `bench temporal --strengths` is bounded and its refusals quote a long list cut
short; the limits the checks enforce are the ones `--help` states. The command lines are only
parsed (`build_parser`), so that nothing is timed, and a list the old code took is not run."""

from __future__ import annotations

import argparse

import pytest
from cli_support import one_error_line

from realtime_adain.benchmarks.temporal import MAX_CLIP_FRAMES, MAX_STRENGTHS
from realtime_adain.cli import build_parser
from realtime_adain.commands.argtypes import MAX_STEPS, MAX_WARMUP_STEPS


def parse(*args: str) -> argparse.Namespace:
    argv = ["bench", *args]
    return build_parser(argv).parse_args(argv)


def refusal(capsys, *args: str) -> str:
    """The one error line of a `bench` command line that parsing refuses."""
    with pytest.raises(SystemExit) as stopped:
        parse(*args)
    return one_error_line(capsys.readouterr().err, stopped.value.code)


def strength_list(count: int) -> str:
    return ",".join(f"{index / 100:g}" for index in range(1, count + 1))


def test_bench_temporal_takes_at_most_max_strengths(capsys):
    """1000 strengths were taken and run (each adds three variants on each of the three clips)."""
    assert parse("temporal", "--strengths", strength_list(MAX_STRENGTHS)).strengths == [
        (index + 1) / 100 for index in range(MAX_STRENGTHS)]
    line = refusal(capsys, "temporal", "--strengths", strength_list(MAX_STRENGTHS + 1))
    assert f"names {MAX_STRENGTHS + 1} strengths: at most {MAX_STRENGTHS}" in line, line


def test_a_long_strength_list_is_quoted_cut_short(capsys):
    """A repeat quoted the whole list back, kilobytes on one line (`'0.5,0.5,…' names a strength
    twice`); the line now quotes 80 characters of it and says the repeated value."""
    many = refusal(capsys, "temporal", "--strengths", ",".join(["0.5"] * 1000))
    assert len(many) < 300 and "(3999 characters)" in many, many
    long_spelled = refusal(capsys, "temporal", "--strengths", f"0.1,0.5{'0' * 3000},0.5")
    assert len(long_spelled) < 300 and "names a strength twice (0.5)" in long_spelled, long_spelled


def test_a_repeated_strength_typed_with_a_newline_stays_on_one_line(capsys):
    line = refusal(capsys, "temporal", "--strengths", "0.5\n,0.5")
    assert "'0.5\\n,0.5' names a strength twice (0.5)" in line, line


@pytest.mark.parametrize("target, option, low, high, words", [
    ("model", "--iters", 1, MAX_STEPS, "timed steps, 1 to"),
    ("train", "--iterations", 1, MAX_STEPS, "timed iterations per mode, 1 to"),
    ("train", "--warmup", 0, MAX_WARMUP_STEPS, "untimed iterations first, 0 to"),
    ("temporal", "--cost-frames", 1, MAX_CLIP_FRAMES, "frames timed per cost resolution, 1 to"),
])
def test_help_states_the_limits_the_checks_enforce(capsys, target, option, low, high, words):
    """`bench model --iters` refused values outside 1..100000 while its help said only "timed steps
    (default 100 GPU, 5 CPU)"; `bench train --iterations` and `--warmup` stated no limit either."""
    with pytest.raises(SystemExit):
        parse(target, "--help")
    help_text = " ".join(capsys.readouterr().out.split())
    assert f"{option} N {words} {high} " in help_text, help_text
    name = option.lstrip("-").replace("-", "_")
    assert getattr(parse(target, option, str(low)), name) == low
    assert getattr(parse(target, option, str(high)), name) == high
    for outside in (low - 1, high + 1):
        assert f"{outside} is outside {low}..{high}" in refusal(capsys, target, option, str(outside))


def test_help_states_the_strength_limit(capsys):
    with pytest.raises(SystemExit):
        parse("temporal", "--help")
    help_text = " ".join(capsys.readouterr().out.split())
    assert f"--strengths LIST flow/both strengths, up to {MAX_STRENGTHS} from 0 to 1 " in help_text, help_text
