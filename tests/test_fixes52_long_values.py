"""A 5,000-character value is quoted short in every error that echoes it: argparse's invalid
choices and unknown options, --device and --dtype, and --start/--duration (which said it in a
second style of their own)."""

from __future__ import annotations

import pytest

LONG = "x" * 5000
SHORT = f"'{'x' * 80}...' (5000 characters)"


@pytest.mark.parametrize("args, said", [
    ([LONG], f"invalid choice: {SHORT}"),
    (["weights", LONG], f"invalid choice: {SHORT}"),
    (["video", "a.mp4", "-s", "s.jpg", "--stabilize", LONG], f"invalid choice: {SHORT}"),
    (["image", "c.jpg", "-s", "s.jpg", "-o", "o.png", "--dtype", LONG], f"invalid choice: {SHORT}"),
    (["image", "c.jpg", "-s", "s.jpg", "-o", "o.png", "--" + LONG], "unrecognized arguments: '--xxx"),
    (["image", "c.jpg", "-s", "s.jpg", "-o", "o.png", "--device", LONG], f"unknown --device {SHORT}"),
    (["video", "a.mp4", "-s", "s.jpg", "--start", LONG], f"{SHORT} is not a time such as 90 or 1:30"),
    (["video", "{video}", "-s", "{style}", "-o", "o.mp4", "--codec", LONG], f"unknown video encoder {SHORT}"),
    (["video", "{video}", "-s", "{style}", "-o", "o.mp4", "--pix-fmt", LONG], f"--pix-fmt {SHORT}: not a pixel format"),
    (["video", "{video}", "-s", "{style}", "-o", "o.mp4", "--ext", LONG], f"--ext {SHORT}: --ext applies to a folder"),
], ids=["command", "action", "choice", "dtype", "option", "device", "start", "codec", "pix-fmt", "ext"])
def test_a_long_value_is_quoted_short(run_cli, weights_env, data_dir, tmp_path, monkeypatch, args, said):
    monkeypatch.chdir(tmp_path)
    given = {"{video}": str(data_dir / "videos" / "cutBunny.mp4"), "{style}": str(data_dir / "style" / "trial.jpg")}
    code, out, err = run_cli(*(given.get(arg, arg) for arg in args))
    assert code != 0 and out == ""
    assert err.count("\n") == 1 and said in err and len(err) < 400, err[:300]
