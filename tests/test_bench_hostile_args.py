"""Values of `bench model/video/live/train/serve` and `export` that would run for days, hold
gigabytes or make no sense are one usage line at parse time, before any work."""

from __future__ import annotations

import pytest

HUGE = str(2**63)


@pytest.mark.parametrize("command, option, value, words", [
    ("bench model", "--iters", HUGE, f"{HUGE} is outside 1..100000"),
    ("bench model", "--warmup", "10001", "10001 is outside 0..10000"),
    ("bench model", "--batch", HUGE, f"{HUGE} is outside 1..64"),
    ("bench model", "-r", "16384x16384", "both sides must be 16 to 4096 pixels"),
    ("bench model", "--json", "", "an empty path"),
    ("bench video", "--repeats", HUGE, f"{HUGE} is outside 1..100"),
    ("bench video", "--style-size", HUGE, f"{HUGE} is outside 0..4096"),
    ("bench video", "--size", "100000", "100000 is outside 0..4096"),
    ("bench video", "--batch", "65", "65 is outside 1..64"),
    ("bench video", "--resolution", "16384x16384", "both sides must be 16 to 4096 pixels"),
    ("bench video", "--video", "", "an empty path"),
    ("bench video", "--style", " ", "an empty path"),
    ("bench video", "--json", "", "an empty path"),
    ("bench live", "--source-fps", "0", "0 is outside 1..240"),
    ("bench live", "--source-fps", "-5", "-5 is outside 1..240"),
    ("bench live", "--source-fps", HUGE, f"{HUGE} is outside 1..240"),
    ("bench live", "--source-fps", "nan", "'nan' is not a frame rate such as 24, 29.97 or 30000/1001"),
    ("bench live", "--resolution", "16384x16384", "both sides must be 16 to 4096 pixels"),
    ("bench live", "--stabilize", "foo", "invalid choice: 'foo'"),
    ("bench live", "--source", "", "an empty path"),
    ("bench train", "--batch-size", HUGE, f"{HUGE} is outside 1..1024"),
    ("bench train", "--size", "100000", "100000 is outside 16..4096"),
    ("bench train", "--size", "33", "33 is not a multiple of 8"),
    ("bench train", "--iterations", HUGE, f"{HUGE} is outside 1..100000"),
    ("bench train", "--warmup", HUGE, f"{HUGE} is outside 0..10000"),
    ("bench train", "--amp", "", "'' is not one of auto, off, bf16, fp16"),
    ("bench train", "--amp", "off,off", "'off,off' names a mode twice"),
    ("bench serve", "--clients", "65", "65 is outside 1..64"),
    ("bench serve", "--fps", "1e20", "1e20 is outside 1..240 fps"),
    ("bench serve", "--fps", "1e-300", "1e-300 is outside 1..240 fps"),
    ("bench serve", "--size", "16384x16384", "both sides must be 16 to 4096 pixels"),
    ("bench serve", "--json", "", "an empty path"),
    *[(command, "--json", "-", "'-' is no file name: the results table is printed on stdout")  # (it made a file "-")
      for command in ("bench model", "bench video", "bench live", "bench train", "bench serve", "bench temporal")],
    ("export --format tensorrt", "-r", "16384x16384", "both sides must be 16 to 4096 pixels"),
    ("export --format tensorrt", "--batch", HUGE, f"{HUGE} is outside 1..64"),
])
def test_unbounded_or_empty_values_are_one_usage_line(run_cli, command, option, value, words):
    code, out, err = run_cli(*command.split(), f"{option}={value}")
    assert code == 2 and words in err and len(err.strip().splitlines()) == 1, err
    assert err.startswith(f"error: realtime-adain {command.split(' --')[0]}: argument ") and not out
