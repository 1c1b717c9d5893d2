"""`--help`, the docs and the refusals of range options, held to one another (task f4, session 41)."""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess

import pytest

from cli_support import one_error_line
from realtime_adain.errors import UserError
from realtime_adain.cli import build_parser
from test_docs_examples import tool_parser
from test_fixes39_docs import REPO, help_of, words


@pytest.mark.parametrize("command, option, value, complaint", [
    # One check in argparse for each range: 0 and 65 were said in two styles, the settings' without
    # "argument", and a float the user never typed ("2.0", "65.0").
    ("serve", "--max-clients", "0", "0 is outside 1..64"),
    ("serve", "--max-clients", "65", "65 is outside 1..64"),
    ("serve", "--max-upload-mb", "0", "0 is outside (0, 64]"),
    ("serve", "--max-upload-mb", "65", "65 is outside (0, 64]"),
    ("live", "--fps", "0", "'0': give more than 1/2002 frames per second (a frame every 2002 s), at most 1000"),
    ("live", "--fps", "2000", "'2000': give more than 1/2002 frames per second (a frame every 2002 s), at most 1000"),
    ("live", "--fps", "1e-9", "'1e-9': give more than 1/2002 frames per second (a frame every 2002 s), at most 1000"),
    ("video", "--framerate", "1e-9", "'1e-9': give more than 1/2002 frames per second (a frame every 2002 s), at most 1000"),
    ("video", "--framerate", "1e400",  # (a traceback)
     "'1e400': give more than 1/2002 frames per second (a frame every 2002 s), at most 1000"),
    ("live", "--alpha", "2", "2 is outside [0, 1]"),
    ("video", "--alpha", "2", "2 is outside [0, 1]"),
    # As video refuses them: live and serve checked these only in their settings, in other words.
    ("live", "--stabilize-strength", "2", "2 is outside [0, 1]"),
    ("serve", "--stabilize-strength", "2", "2 is outside [0, 1]"),
    ("live", "--stabilize", "wobble", "invalid choice: 'wobble' (choose from 'off', 'flow', 'stats', 'both')"),
    ("serve", "--stabilize", "wobble", "invalid choice: 'wobble' (choose from 'off', 'flow', 'stats', 'both')"),
])
def test_a_range_is_refused_once_in_the_words_typed(run_cli, tmp_path, command, option, value, complaint):
    inputs = ["in.mp4", "-s", "s.jpg", "-o", tmp_path / "o.mp4"] if command == "video" else ["--styles", "s.jpg"]
    code, out, err = run_cli(command, *inputs, option, value)
    assert one_error_line(err, code) == (f"error: realtime-adain {command}: argument {option}: {complaint} "
                                         f"(see `realtime-adain {command} --help`)")
    assert (code, out) == (2, "")


@pytest.mark.parametrize("command, said", [
    ("serve", "--max-clients N most clients at once, 1 to 64 (default 4)"),
    ("serve", "--max-upload-mb MB largest style upload in MiB, above 0 and at most 64 (default 8)"),
    ("serve", "--alpha ALPHA initial content/style trade-off in [0, 1] (default 1)"),
    ("live", "--alpha ALPHA initial content/style trade-off in [0, 1] (default 1)"),
    ("live", "--fps FPS frames per second, above 1/2002 (a frame every 2002 s) and at most 1000 (30, 29.97, "
             "30000/1001): the rate to ask a "
             "camera for (default: the camera's own), or an image sequence's (default 25)"),
    ("video", "--framerate FPS frames per second of an image-sequence input, above 1/2002 (a frame every 2002 s) "
              "and at most 1000"),
    ("video", "--crf Q constant quality, lower is better: 0 to 51 (0 to 63 for VP8, VP9 and AV1) (default 18)"),
    ("live", "how much of the previous output is kept where the flow is trusted"),
    ("serve", "how much of the previous output is kept where the flow is trusted"),
    ("video", "how much of the previous output is kept where the flow is trusted"),
    ("bench model", "--device DEVICE auto (CUDA if present, else an Apple GPU, else the CPU), cpu, cuda, cuda:N or mps"),
    ("bench model", "--dtype {auto,fp32,fp16,bf16} precision: auto (fp16 on a GPU, fp32 on the CPU)"),
    ("bench temporal", "(default: the test material's golden_gate.jpg)"),
    ("bench temporal", "(default: the test material's brushstrokes.jpg)"),
])
def test_help_states_what_is_enforced(command, said, capsys):
    assert said in help_of(command, capsys)


def test_style_cache_default_is_said_alike(capsys):
    """`image --style-cache` said "the per-user cache", live and serve also $REALTIME_ADAIN_HOME:
    one default (`live.style_cache.run_cache_dir`), one wording."""
    default = "(default: $REALTIME_ADAIN_HOME/cache/styles or the per-user cache directory)"
    for command in ("image", "live", "serve"):
        assert default in help_of(command, capsys), command


def test_bench_model_takes_dtype_auto():
    """`bench live` and `bench serve` took --dtype auto, `bench model` refused it."""
    argv = ["bench", "model", "--dtype", "auto"]
    assert build_parser(argv).parse_args(argv).dtype == "auto"


def test_training_tools_help(capsys):
    """--amp showed no default, --device left out mps (taken), and the metavars were argparse's
    (SEED, LR_DECAY) where docs/training.md says N."""
    with pytest.raises(SystemExit):
        tool_parser("train").parse_args(["--help"])
    train = words(capsys.readouterr().out)
    assert "off, bf16, fp16 (default auto)" in train
    assert "--device DEVICE auto (default: CUDA if present, else an Apple GPU, else the CPU), cpu, cuda, cuda:N or mps" in train
    assert "[--seed N]" in train and "[--lr-decay D]" in train
    with pytest.raises(SystemExit):
        tool_parser("evaluate").parse_args(["--help"])
    assert "cpu, cuda, cuda:N or mps (default auto)" in words(capsys.readouterr().out)


def test_bench_temporal_names_every_missing_input(run_cli, tmp_path, monkeypatch):
    """Without the test material it named the first default missing; given that one, the next."""
    monkeypatch.setenv("REALTIME_ADAIN_TEST_DATA", str(tmp_path))
    code, out, err = run_cli("bench", "temporal")
    line = one_error_line(err, code)
    assert line.startswith("error: 3 inputs cannot be used, nothing done: "), line
    for path, flag in (("videos/cutBunny.mp4", "--video"), ("content/golden_gate.jpg", "--photo"),
                       ("style/brushstrokes.jpg", "--style")):
        assert f"{tmp_path / path}: no such file (pass {flag}, or point $REALTIME_ADAIN_TEST_DATA" in line


def test_bench_serve_says_its_old_size_option_is_deprecated(run_cli, tmp_path):
    """`bench serve --size WxH` works, deprecated: only its help said so."""
    code, _, err = run_cli("bench", "serve", "--size", "64x48", "--vgg", tmp_path / "missing.pth")
    assert err.splitlines()[0] == ("note: bench serve --size WxH is deprecated: use --frame-size WxH (the server's "
                                   "processing size is --process-size)")
    code, _, err = run_cli("bench", "serve", "--frame-size", "64x48", "--vgg", tmp_path / "missing.pth")
    assert "deprecated" not in err


def test_mix_count_is_said_in_the_singular(run_cli, weights_env, data_dir, tmp_path):
    """"--mix has 2 weights for 1 styles"."""
    code, _, err = run_cli("image", data_dir / "content" / "cornell.jpg", "-s", data_dir / "style" / "mondrian.jpg",
                           "--mix", "1,1", "-o", tmp_path / "o.png")
    assert one_error_line(err, code) == "error: --mix has 2 weights for 1 style"


def test_ci_run_needs_the_mask_folder(tmp_path):
    """The tests read mask/mask.png: material without mask/ passed the check, and those tests failed."""
    checkout, data = tmp_path / "clone", tmp_path / "data"
    (checkout / ".ci").mkdir(parents=True)
    shutil.copy2(REPO / ".ci" / "run", checkout / ".ci" / "run")
    for part in ("content", "style", "videos"):
        (data / part).mkdir(parents=True)
    env = {**os.environ, "REALTIME_ADAIN_TEST_DATA": str(data)}
    done = subprocess.run(["bash", str(checkout / ".ci" / "run")], env=env, capture_output=True, text=True, timeout=120,
                          cwd=tmp_path)
    assert (done.returncode, done.stdout, done.stderr) == (1, "", f"error: the test material is missing: the tests need "
                                                                  f"it in {data}, with content/, mask/, style/ and videos/ "
                                                                  "(where $REALTIME_ADAIN_TEST_DATA points)\n")
    assert "mask/" in words((REPO / "README.md").read_text()).split("Run the tests", 1)[1][:200]


@pytest.mark.parametrize("size, accepted", [("2160x5000", True), ("4320x7680", True), ("7680x4320", True),
                                            ("4321x7680", False), ("16x7681", False)])
def test_serve_max_resolution_takes_portrait_sizes_as_live_resolution_does(size, accepted, tmp_path):
    """`serve --max-resolution 2160x5000` was refused ("between 16x16 and 7680x4320") though
    `live --resolution 2160x5000` was taken: both now bound 8K either way up."""
    from realtime_adain.commands import argtypes
    from realtime_adain.serve.settings import ServeSettings
    if not accepted:
        with pytest.raises(argparse.ArgumentTypeError, match="7680"):
            argtypes.camera_resolution(size)
        with pytest.raises(UserError, match="either way up"):
            ServeSettings(("style.jpg",), max_resolution=tuple(int(side) for side in size.split("x"))).check()
        return
    ServeSettings(("style.jpg",), max_resolution=argtypes.camera_resolution(size)).check()


@pytest.mark.parametrize("text, empty", [("1,", 2), (",1,,2,", 1), ("0.5,,0.5", 2)])
def test_mix_refuses_an_empty_weight(text, empty):
    """`--mix 0.5,,0.5` was read as `0.5,0.5` without a word (and `1,` as one weight)."""
    from realtime_adain.commands import argtypes
    with pytest.raises(argparse.ArgumentTypeError, match=f"weight {empty} is empty"):
        argtypes.mix_weights(text)
    assert argtypes.mix_weights(" 0.7 , 0.3 ") == [0.7, 0.3]


def test_keep_size_help_states_the_area_bound_the_video_job_applies(capsys):
    """The parser loads no torch, so the help states video.job's bound as a number: kept equal."""
    from realtime_adain.video.input_checks import KEEP_SIZE_MAX_PIXELS
    assert f"{KEEP_SIZE_MAX_PIXELS} pixels" in help_of("video", capsys)
