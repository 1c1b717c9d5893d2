"""Fixes of the hostile campaign on tools and commands of session 35 (task h2): evaluate.py's
`--batch-size` without a bound, `bench train --compile --warmup 0` timing the compile as the step,
and `export --format onnx` refusing `A.ONNX` (and saying `.onnx` did not end in .onnx)."""

from __future__ import annotations

import json

import pytest

from cli_support import one_error_line
from train_support import load_tool


@pytest.mark.parametrize("value", ["1025", "100000"])
def test_evaluate_batch_size_is_bounded_as_training_s(value, capsys):
    """`--batch-size 100000` held every held-out crop and its features at once (2.5 GB for 100
    pictures of 128 px; the tool's own note: 31 GB for COCO's validation set at 256 px)."""
    with pytest.raises(SystemExit) as stopped:
        load_tool("evaluate").main(["--content", "c", "--style", "s", "--decoder", "d", "--batch-size", value])
    assert stopped.value.code == 2
    assert f"argument --batch-size: {value} is outside 1..1024" in one_error_line(capsys.readouterr().err)


@pytest.mark.slow
def test_export_onnx_takes_the_extension_in_capitals(run_cli, weights_env, tmp_path):
    code, out, err = run_cli("export", "--format", "onnx", "-o", tmp_path / "A.ONNX")
    assert code == 0, err
    assert f"exported: {tmp_path / 'A.ONNX'}" in out and (tmp_path / "A.ONNX").stat().st_size > 1 << 20


def test_export_onnx_says_a_name_is_missing_before_the_extension_in_capitals(run_cli, weights_env, tmp_path):
    """(`.onnx` in lower case: tests/test_bench_hostile_runs.py)"""
    code, _, err = run_cli("export", "--format", "onnx", "-o", tmp_path / ".ONNX")
    assert one_error_line(err, code) == f"error: {tmp_path / '.ONNX'}: no name before .onnx; give one such as adain.onnx"
    assert not list(tmp_path.glob("*onnx*"))


@pytest.mark.slow  # (a torch.compile of the training step on the CPU: about a minute)
def test_bench_train_never_times_the_compile(run_cli, tmp_path, one_thread):
    """`--compile --warmup 0` reported the compile as the step: median 70 s at 16 px, batch 1."""
    results = {}
    for compiled in (False, True):
        out = tmp_path / f"{compiled}.json"
        code, _, err = run_cli("bench", "train", "--device", "cpu", "--iterations", "1", "--warmup", "0",
                               "--batch-size", "1", "--size", "16", *(["--compile"] if compiled else []), "--json", out)
        assert code == 0, err
        results[compiled] = json.loads(out.read_text())["results"][0]["median_s"]
    assert results[True] < 5 * results[False] + 0.5, results
