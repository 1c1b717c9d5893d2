"""Session 56, benchmarks: a missing input the user named is only said missing (the "(pass --video)"
hint is for a default of the test material), and `bench temporal`'s table and JSON tell an
undefined ratio (per-frame E_warp 0) from an identical output (PSNR inf) alike."""

from __future__ import annotations

import argparse
import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from realtime_adain.benchmarks.setup import check_input_files, material_file, report_json
from realtime_adain.benchmarks.temporal_quality import measure_clip
from realtime_adain.benchmarks.temporal_report import json_clip, print_table
from realtime_adain.errors import UserError
from cli_support import one_error_line

TINY = ("--frames", "2", "--size", "32", "--strengths", "0.5", "--cost-frames", "1")


def strict_json(text: str) -> dict:
    def refuse(name: str) -> None:
        raise ValueError(f"{name} in JSON")

    return json.loads(text, parse_constant=refuse)


@pytest.mark.parametrize("target, flag", [("temporal", "--video"), ("temporal", "--photo"), ("temporal", "--style"),
                                          ("video", "--video"), ("video", "--style")])
@pytest.mark.parametrize("kind", ["missing", "folder"])
def test_a_given_input_that_cannot_be_used_names_no_option(run_cli, weights_env, tmp_path, target, flag, kind):
    """`--video nosuch.mp4` said "no such file (pass --video)": the user did pass it."""
    path = tmp_path / ("nosuch.mp4" if kind == "missing" else "folder")
    if kind == "folder":
        path.mkdir()
    extra = TINY if target == "temporal" else ("--frames", "1")
    code, _, err = run_cli("bench", target, *extra, flag, path)
    said = "no such file" if kind == "missing" else "not a regular file"
    assert one_error_line(err, code) == f"error: {path}: {said}"


def test_a_default_that_cannot_be_used_still_names_its_option(tmp_path, monkeypatch):
    monkeypatch.setenv("REALTIME_ADAIN_TEST_DATA", str(tmp_path))
    material_file("video").mkdir(parents=True)
    with pytest.raises(UserError) as raised:
        check_input_files((material_file("video"), "--video"), (material_file("style"), "--style"),
                          (tmp_path / "mine.jpg", "--photo"))
    assert str(raised.value) == (
        f"3 inputs cannot be used, nothing done: {material_file('video')}: not a regular file (pass --video); "
        f"{material_file('style')}: no such file (pass --style, or point $REALTIME_ADAIN_TEST_DATA at the test "
        f"material); {tmp_path / 'mine.jpg'}: no such file")


@pytest.mark.slow  # (default run's time, 2026-12-07: a rarer case; `-m slow` runs keep it)
def test_the_tone_map_tool_names_no_option_for_a_photo_given(tmp_path):
    tool = Path(__file__).resolve().parents[1] / "tools" / "bench_tone_map.py"
    done = subprocess.run(["python3", tool, "--photo", tmp_path / "x.jpg"], capture_output=True, text=True, timeout=120)
    assert (done.returncode, done.stderr.strip()) == (1, f"error: {tmp_path / 'x.jpg'}: no such file")


def flat_result(stylizer) -> dict:
    """`measure_clip` of a still clip of one colour: every output alike, per-frame E_warp 0."""
    clip = [np.full((32, 48, 3), 100, np.uint8) for _ in range(3)]
    style = stylizer.style_stats(np.full((64, 64, 3), 200, np.uint8), 64)
    args = argparse.Namespace(momentum=0.8, strengths=[0.0, 0.5], preset="ultrafast", flow_width=320)
    return measure_clip("flat", clip, stylizer, style, args)


def test_a_flat_clips_ratios_are_undefined_but_the_per_frame_rows_is_one(stylizer, capsys, tmp_path):
    """The per-frame row's ratio was nan (0 / 0) and every other's too, printed `nan`; the JSON said
    null for it and for an identical output's PSNR (inf) alike."""
    result = flat_result(stylizer)
    rows = result["rows"]
    assert rows[0]["variant"] == "per-frame" and rows[0]["e_warp"] == 0
    assert rows[0]["ratio"] == 1.0 and all(row["ratio"] is None for row in rows[1:])
    print_table(result)
    table = capsys.readouterr().out
    assert "nan" not in table
    for row in rows:
        line = next(line for line in table.splitlines() if line.startswith(row["variant"] + " "))
        assert line.split()[-2:] == (["1.00", "inf"] if row is rows[0] else ["-", "inf"]), line
    report_json({"clips": [json_clip(result)]}, tmp_path / "r.json")
    printed = strict_json(capsys.readouterr().out.strip())
    saved = strict_json((tmp_path / "r.json").read_text())["clips"][0]["rows"]
    assert printed["clips"][0]["rows"] == saved
    assert [(row["ratio"], row["psnr"]) for row in saved] == [(1.0, "inf")] + [(None, "inf")] * (len(rows) - 1)


def test_a_moving_clips_rows_keep_their_numbers(stylizer):
    """Where the per-frame output moves, ratios are numbers, the per-frame row's 1, and only an
    identical output's PSNR is "inf" in the JSON."""
    rng = np.random.default_rng(0)
    clip = [rng.integers(0, 256, (32, 48, 3), dtype=np.uint8) for _ in range(3)]
    style = stylizer.style_stats(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8), 64)
    args = argparse.Namespace(momentum=0.8, strengths=[0.5], preset="ultrafast", flow_width=320)
    result = measure_clip("noise", clip, stylizer, style, args)
    assert result["rows"][0]["ratio"] == 1.0 and all(isinstance(row["ratio"], float) for row in result["rows"])
    rows = json_clip(result)["rows"]
    assert [row["psnr"] for row in rows] == [
        "inf" if row["psnr"] == float("inf") else row["psnr"] for row in result["rows"]]  # (the result left as it was)
    assert rows[0]["psnr"] == "inf" and isinstance(rows[1]["psnr"], float)  # (a moving average differs)


@pytest.mark.slow  # a whole tiny run: tens of seconds on a loaded 2-core machine
def test_a_static_grey_clips_table_and_json_agree(run_cli, weights_env, tmp_path):
    subprocess.run(["ffmpeg", "-loglevel", "error", "-f", "lavfi", "-i", "color=c=gray:s=64x48:r=10", "-frames:v", "4",
                    "-c:v", "ffv1", tmp_path / "static.mkv"], check=True)
    subprocess.run(["ffmpeg", "-loglevel", "error", "-f", "lavfi", "-i", "color=c=gray:s=64x48", "-frames:v", "1",
                    tmp_path / "gray.png"], check=True)
    code, out, err = run_cli("bench", "temporal", *TINY, "--video", tmp_path / "static.mkv", "--photo", tmp_path / "gray.png",
                             "--json", tmp_path / "s.json")
    assert code == 0, err
    assert " nan" not in out
    rows = strict_json((tmp_path / "s.json").read_text())["clips"][0]["rows"]
    assert rows[0]["variant"] == "per-frame" and (rows[0]["ratio"], rows[0]["psnr"]) == (1.0, "inf")
    table = out.split("\n\n")[1].splitlines()[2:]
    for row, line in zip(rows, table):
        shown = line.split()[-2:]
        assert shown == ["-" if row["ratio"] is None else f"{row['ratio']:.2f}", row["psnr"]], line
