"""`bench` and `engines list` after session 37's findings: a folder where the ONNX export goes
said twice (a note and the error), `bench video --threads -1` naming a range without its 0, the
median column to 0.1 s beside exact fps, and a sidecar of wrong types listed as raw Python values.
Tiny sizes, in process."""

from __future__ import annotations

import json
import re

import pytest

from cli_support import one_error_line
from test_fixes31_bench import bench_video, write_clip


@pytest.mark.slow  # (9-12 s: the bench measures its matmul peak first)
def test_a_folder_where_the_onnx_export_goes_is_one_error_line_in_bench_model(run_cli, weights_env, monkeypatch,
                                                                              tmp_path):
    """bench model loaded its weights with 'auto', which noted the folder ("... stands where the ONNX
    export of these weights goes ... move it away"), then its onnx row gave the error in other words."""
    from realtime_adain import weight_digests
    from realtime_adain.engines.cache import EngineCache
    from realtime_adain.engines.onnx import onnx_components
    from realtime_adain import notes

    monkeypatch.setattr(notes, "_said", set())  # (a note said once per process: said by an earlier test)
    monkeypatch.setenv("REALTIME_ADAIN_ENGINES", str(tmp_path / "engines"))
    cache = EngineCache()
    entry = cache.entry(onnx_components(weight_digests.files_id(list(weights_env))), ".onnx")
    (entry.path / "sub").mkdir(parents=True)
    code, _, err = run_cli("bench", "model", "--engine", "onnx", "-r", "16x16", "--iters", "1", "--warmup", "0")
    line = one_error_line(err, code)
    assert code == 2 and str(entry.path) in line and "move it away" in line, err


def test_bench_video_threads_out_of_range_names_the_range_taken(run_cli):
    """--threads takes 0 (torch's default, as its help says): -1 was "outside 1..1024"."""
    code, out, err = run_cli("bench", "video", "--threads", "-1")
    assert code == 2 and "argument --threads: -1 is outside 0..1024" in one_error_line(err), err
    from realtime_adain.benchmarks.video import thread_counts

    assert thread_counts("0,0") == [0, 0] and thread_counts("0, 2") == [0, 2]


def _significant_digits(text: str) -> int:
    return len(text.replace(".", "").lstrip("0"))


@pytest.mark.slow  # (default run's time, 2026-12-07: a rarer variant; the corpus and `-m slow` runs keep it)
def test_bench_video_prints_medians_to_three_significant_figures(run_cli, weights_env, data_dir, tmp_path):
    """A one-frame run of 0.04 s printed "0.0" beside 24.7 fps (to 0.1 s): the seconds shown now
    agree with the frames and fps beside them, and with the JSON's median."""
    clip = write_clip(tmp_path / "one.mp4", frames=1)
    code, out, err = bench_video(run_cli, clip, data_dir / "style" / "brushstrokes.jpg")
    assert code == 0, err
    (row,) = json.loads(out.strip().splitlines()[-1])["rows"]
    printed = next(line for line in out.splitlines() if line.startswith(row["variant"]) and " repeat" not in line)
    median, frames, fps = printed[len(row["variant"]):].split()[:3]
    repeat = re.search(r"repeat 1: .*: (\S+) s$", out, re.MULTILINE).group(1)
    for shown in (median, repeat):
        assert _significant_digits(shown) >= 3, out
        assert abs(float(shown) - row["median_s"]) <= 0.005 * row["median_s"], (shown, row)
    assert abs(int(frames) / float(median) - float(fps)) <= 0.01 * float(fps), printed


def test_engines_list_shows_a_sidecar_of_wrong_types_as_no_metadata(tmp_path, run_cli, monkeypatch):
    """`{"kind": 5, "precision": {"a": 1}, ...}` was listed as `5  {'a': 1}  [1] ... weights 7, cpu,
    torch None`: the cache writes strings only, so another sidecar is not one of its records."""
    from realtime_adain.engines.cache import EngineCache

    cache = EngineCache(tmp_path / "engines")
    cache.directory.mkdir()
    entry = cache.entry({"kind": "onnx", "weights": "abc", "precision": "fp32", "shape": "dynamic"}, ".onnx")
    entry.path.write_text("an engine")
    entry.sidecar.write_text(json.dumps({"kind": 5, "precision": {"a": 1}, "shape": [1], "weights": 7, "torch": None}))
    monkeypatch.setenv("REALTIME_ADAIN_ENGINES", str(cache.directory))

    code, out, err = run_cli("engines", "list")
    assert code == 0 and out.splitlines()[-1].endswith("(no readable metadata: will be rebuilt)"), (out, err)
    assert "{'a': 1}" not in out and "None" not in out and "weights 7" not in out
    code, out, err = run_cli("engines", "list", "--json")
    (row,) = json.loads(out)["engines"]
    assert code == 0 and set(row) == {"path", "bytes", "matches_build"} and row["matches_build"] is False, out


def test_seconds_at_a_rounding_edge_keep_three_significant_figures():
    from realtime_adain.benchmarks.video import shown_seconds

    assert [shown_seconds(s) for s in (0.9996, 9.996, 0.09996, 0.0405, 24.72, 0.0)] == [
        "1.00", "10.0", "0.100", "0.0405", "24.7", "0"]
