"""A hostile tester's `bench` findings: inputs that inflate sizes (a strip of a photo, 1000 frames
at 1080p), clips the loops could not take (an odd size, a size changing mid-stream, one frame),
results files a benchmark must not write, timings of one setup under two names, and the tools'
own options. Each refused in one line, before any timing, or measured as what it says."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from cli_support import one_error_line
from train_support import load_tool
from test_hostile_environment import limit_address_space

REPO = Path(__file__).resolve().parents[1]
TINY_TEMPORAL = ("--frames", "2", "--size", "32", "--strengths", "0.5", "--cost-frames", "1")


def ffmpeg(*args: str | os.PathLike) -> None:
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", *map(str, args)], check=True)


def test_clip(path: Path, size: str = "64x48", frames: int = 2, *options: str) -> Path:
    ffmpeg("-f", "lavfi", "-i", f"testsrc=size={size}:rate=24", "-frames:v", str(frames), *options, path)
    return path


test_clip.__test__ = False  # (a helper, not a test)


@pytest.fixture
def tiny_clip(tmp_path) -> Path:
    return test_clip(tmp_path / "tiny2.mp4")


def temporal(run_cli, data_dir, clip: Path, *options) -> tuple[int, str, str]:
    return run_cli("bench", "temporal", "--video", clip, "--style", data_dir / "style" / "mondrian.jpg",
                   *TINY_TEMPORAL, *options)


@pytest.mark.parametrize("shape, words", [((2000, 1, 3), "longer than 16384 pixels on a side"),
                                          ((1, 2000, 3), "less than a pixel high")])
def test_a_photo_too_thin_for_the_pan_clip_is_one_line(run_cli, weights_env, data_dir, tiny_clip, tmp_path, shape, words):
    """The pan copy is scaled by width: 2000x1 (tall) was 6 GB and a segfault, 1x2000 (flat)
    OpenCV's resize assertion."""
    photo = tmp_path / "strip.png"
    cv2.imwrite(str(photo), np.random.default_rng(0).integers(0, 256, shape, np.uint8))
    code, out, err = temporal(run_cli, data_dir, tiny_clip, "--photo", photo)
    line = one_error_line(err, code)
    assert code == 2 and words in line and "closer to 16:9" in line and not out


def test_train_results_are_not_written_over_the_installed_weights_nor_into_the_engine_cache(run_cli, weights_env, tmp_path,
                                                                                            monkeypatch):
    vgg, _ = weights_env
    before = vgg.read_bytes()
    tiny = ("bench", "train", "--device", "cpu", "--iterations", "1", "--warmup", "0", "--size", "16", "--batch-size", "1")
    code, _, err = run_cli(*tiny, "--json", vgg)
    assert one_error_line(err, code) == f"error: {vgg}: output would overwrite an input" and vgg.read_bytes() == before
    monkeypatch.setenv("REALTIME_ADAIN_ENGINES", str(tmp_path / "engines"))
    code, _, err = run_cli(*tiny, "--json", tmp_path / "engines" / "r.json")
    assert code == 2 and "inside the engine cache" in one_error_line(err)


def test_the_reference_loop_encodes_an_odd_size_as_the_pipeline_does(stylizer, data_dir, tmp_path, one_thread):
    """65x49 in 4:4:4: libx264 in 4:2:0 was a traceback (only --no-baseline ran)."""
    from realtime_adain.benchmarks.video import reference_loop

    clip = test_clip(tmp_path / "odd.mp4", "65x49", 2, "-pix_fmt", "yuv444p")
    out = tmp_path / "out.mp4"
    assert reference_loop(stylizer, clip, data_dir / "style" / "mondrian.jpg", out, 32, 32, 2) == 2
    capture = cv2.VideoCapture(str(out))
    assert (capture.get(cv2.CAP_PROP_FRAME_WIDTH), capture.get(cv2.CAP_PROP_FRAME_HEIGHT)) == (65, 49)


def test_a_picture_size_changing_mid_stream_is_scaled_to_the_first(tmp_path):
    """`cat a.ts b.ts` of 64x48 and 96x48: "flow needs two lumas of one shape" was a traceback."""
    from realtime_adain.benchmarks.temporal_clips import video_clip
    from realtime_adain.benchmarks.temporal_quality import input_flows

    parts = [test_clip(tmp_path / f"{size}.ts", size, 3, "-c:v", "libx264") for size in ("64x48", "96x48")]
    joined = tmp_path / "joined.ts"
    joined.write_bytes(b"".join(part.read_bytes() for part in parts))
    clip = video_clip(joined, 10, 32)
    assert len(clip) == 6 and {frame.shape for frame in clip} == {(32, 43, 3)}
    assert len(input_flows(clip)) == 5


def test_a_clip_of_one_frame_is_refused(run_cli, weights_env, data_dir, tmp_path):
    """It exited 0 with numpy's warnings and a table of nan."""
    clip = test_clip(tmp_path / "one.mp4", frames=1)
    code, out, err = temporal(run_cli, data_dir, clip)
    assert one_error_line(err, code) == f"error: {clip}: 1 frame(s) decoded; E_warp needs a clip of at least 2"
    assert code == 2 and not out


def test_clips_that_cannot_fit_in_memory_are_refused_before_any_work(run_cli, weights_env, data_dir, tiny_clip,
                                                                     monkeypatch):
    """`--frames 1000 --size 1080` was accepted: tens of GB of clips. (The memory available is
    given as a 16 GiB machine's, so the refusal is tested on any machine, a larger one too.)"""
    from realtime_adain.benchmarks import temporal

    monkeypatch.setattr(temporal, "free_memory", lambda device: 16 * 2**30)
    code, out, err = run_cli("bench", "temporal", "--video", tiny_clip, "--frames", "1000", "--size", "1080")
    line = one_error_line(err, code)
    assert code == 2 and "--frames 1000 at --size 1080 needs about" in line and "lower --frames or --size" in line
    assert not out


@pytest.mark.slow  # 9 s alone, 25 s beside other work: up to stylizing at 1080p
def test_out_of_memory_in_bench_temporal_is_one_line(weights_env, data_dir, tiny_clip):
    """With an address-space limit the clips' allocations fail at once (OpenCV's "Insufficient
    memory", or numpy's): a traceback before."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    result = subprocess.run([sys.executable, "-m", "realtime_adain", "bench", "temporal", "--video", tiny_clip,
                             "--style", data_dir / "style" / "mondrian.jpg", "--frames", "200", "--size", "1080",
                             "--strengths", "0.5", "--cost-frames", "1"],
                            capture_output=True, text=True, env=env, preexec_fn=limit_address_space(5 << 20), timeout=120)
    assert one_error_line(result.stderr, result.returncode) == (
        "error: bench temporal: out of memory; lower --frames, --size or --cost-frames")
    assert result.returncode == 2


def test_speed_ups_compare_rates_where_the_frame_counts_differ(capsys):
    """OpenCV's loop decoding fewer frames than the pipeline made the ratio of times one of
    different work."""
    from realtime_adain.benchmarks.video import rates

    fps, speedups = rates({"reference": 2, "pipeline": 4}, {"reference": 1.0, "pipeline": 1.0}, "reference")
    assert fps == {"reference": 2.0, "pipeline": 4.0} and speedups == {"reference": 1.0, "pipeline": 2.0}
    assert "different numbers of frames" in capsys.readouterr().err
    assert rates({"reference": 3, "pipeline": 3}, {"reference": 2.0, "pipeline": 1.0}, None)[1] == {
        "reference": None, "pipeline": None}


def test_warmup_0_times_the_first_step(published_weights, monkeypatch, one_thread):
    """Peak memory ran a step before the timing, so `--warmup 0` timed the second."""
    from realtime_adain import engines
    from realtime_adain.benchmarks import model
    from realtime_adain.stylizer import Stylizer

    stylizer = Stylizer.load(*published_weights, device="cpu", engine="eager")
    engine = engines.create("eager", stylizer.net, stylizer.device, stylizer.dtype, stylizer.weights_id)
    events = []
    step, interleaved = engine.step, model.interleaved
    monkeypatch.setattr(engine, "step", lambda *a: (events.append("step"), step(*a))[1])
    monkeypatch.setattr(model, "interleaved", lambda *a: (events.append("timing"), interleaved(*a))[1])
    model.measure([engine], 1, 32, 32, 0, 1, 1.0)
    assert events[:2] == ["timing", "step"]


@pytest.mark.slow  # (default run's time: a benchmark run)
def test_live_counts_stylized_frames_within_the_measured_window(run_cli, weights_env, tmp_path, one_thread):
    """The stylized count ran to the session's end (frames never shown) over the shown span: at
    a 10 fps source with nothing dropped it said 10.54 against 10.01 shown."""
    report = tmp_path / "live.json"
    code, _, err = run_cli("bench", "live", "--resolution", "64x48", "--source-fps", "10", "--seconds", "2",
                           "--warmup", "0.5", "--stabilize", "off", "--size", "32", "--json", report)
    assert code == 0, err
    result = json.loads(report.read_text())
    if result["dropped_total"] == 0:  # (a loaded machine may drop frames: then no bound holds)
        assert result["stylized_fps"] <= result["source_fps"] * 1.02


@pytest.mark.parametrize("name", ["newdir/", "m1.json/"])
def test_a_results_name_ending_in_a_slash_is_refused(run_cli, weights_env, tmp_path, name):
    """Path() drops the slash: `newdir/` wrote a file named newdir, `m1.json/` replaced m1.json."""
    (tmp_path / "m1.json").write_text("{}")
    target = f"{tmp_path}/{name}"
    code, out, err = run_cli("bench", "train", "--device", "cpu", "--iterations", "1", "--json", target)
    assert code == 2 and "ends in a slash" in err and not out
    assert (tmp_path / "m1.json").read_text() == "{}" and not (tmp_path / "newdir").exists()


def test_train_times_a_mode_that_runs_as_another_once(run_cli, weights_env, tmp_path, one_thread):
    """On a CPU `auto` is `off`: the same setup timed twice printed a speed-up of noise."""
    report = tmp_path / "train.json"
    code, out, err = run_cli("bench", "train", "--device", "cpu", "--amp", "auto,off", "--iterations", "1", "--warmup", "0",
                             "--size", "16", "--batch-size", "1", "--json", report)
    assert code == 0, err
    assert [(r["amp"], r["autocast"]) for r in json.loads(report.read_text())["results"]] == [("auto", "off")]
    assert "auto (off)" in out and "speed-up" not in out and "timed once" in err


def test_video_times_an_engine_that_runs_as_another_once(published_weights, capsys):
    """`--engine auto,eager` where auto is eager (no export cached): one row, named so."""
    from realtime_adain.benchmarks.video import resolved_engines
    from realtime_adain.stylizer import Stylizer

    stylizers = resolved_engines(["auto", "eager"], lambda name: Stylizer.load(*published_weights, device="cpu", engine=name))
    assert list(stylizers) == ["eager (auto)"] and "timed once" in capsys.readouterr().err


@pytest.mark.parametrize("tool, options, words", [
    ("bench_segment_start.py", ["--repeats", "0"], "0 is outside 1..1000"),
    ("bench_segment_start.py", ["--minutes", "nan"], "'nan' is not a finite number"),
    ("bench_segment_start.py", ["--minutes", "0.5"], "0.5 is outside 1..1440 minutes"),
    ("bench_tone_map.py", ["--sizes", "0x0"], "'0x0': both sides must be 16 to 4096 pixels"),
    ("bench_tone_map.py", ["--repeats", "0"], "0 is outside 1..1000"),
    ("bench_tone_map.py", ["--sizes", "33x20"], "4:2:0 needs even sides, e.g. 34x20"),
])
def test_the_tools_options_are_one_usage_line(monkeypatch, capsys, tool, options, words):
    """(In this process: a Python started for each case took 5-40 s of the default run, importing torch.)"""
    monkeypatch.setattr(sys, "argv", [tool, *options])
    with pytest.raises(SystemExit) as stopped:
        load_tool(tool.removesuffix(".py")).main()
    assert stopped.value.code == 2
    assert words in capsys.readouterr().err.strip().splitlines()[-1]


def test_a_tall_phone_photo_is_taken_for_the_pan_clip(tmp_path):
    """The first bound (the style budget) refused a 1080x2340 phone photo (its 1080p copy 2880x6240)."""
    from realtime_adain.benchmarks.temporal_clips import check_photo

    check_photo(tmp_path / "phone.jpg", np.zeros((2340, 1080, 3), np.uint8), [456, 1920, 2880])


def test_a_figure_name_ending_in_a_slash_is_refused(run_cli, tmp_path):
    """`--figure figs/` would have written a PNG named figs, as `--json newdir/` did."""
    code, out, err = run_cli("bench", "temporal", "--figure", f"{tmp_path}/figs/")
    assert code == 2 and "ends in a slash" in err and not out and not (tmp_path / "figs").exists()
