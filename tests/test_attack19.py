"""The less-used surface attacked (task h19): `engines`, `weights`, `export` and `bench` options,
and the REALTIME_ADAIN_* variables, given values a user or a damaged cache can give. Each was a
traceback or a silently wrong result; each is now one error line, or the right figure."""

from __future__ import annotations

import json
import pwd
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest
from safetensors import safe_open
from safetensors.torch import save_file

from cli_support import one_error_line, training_error_line
from realtime_adain.engines.cache import EngineCache
from realtime_adain.training import checkpoint_files
from test_train_hostile_data import dataset  # noqa: F401  (a fixture)
from train_support import tiny_args, train_tool  # noqa: F401  (a fixture)

NO_USER = "nosuchuser-h19"  # `~NO_USER/...`: a home folder nobody has
COMPONENTS = {"kind": "onnx", "weights": "abc", "precision": "fp32", "shape": "dynamic"}


def small_picture(path: Path, seed: int) -> Path:
    cv2.imwrite(str(path), np.random.default_rng(seed).integers(0, 256, (48, 64, 3), dtype=np.uint8))
    return path


def small_clip(path: Path, frames: int = 10) -> Path:
    """A 64x48 clip of `frames` frames at 10 fps (`.h264`: a raw stream, which holds no frame count)."""
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-f", "lavfi", "-i", "testsrc=s=64x48:r=10",
                    "-frames:v", str(frames), "-pix_fmt", "yuv420p", "-c:v", "libx264", str(path)], check=True)
    return path


def test_no_such_user_exists():
    """The `~user` tests below need a user that does not exist."""
    with pytest.raises(KeyError):
        pwd.getpwnam(NO_USER)


# --- the engine cache ---------------------------------------------------------------------------

def test_an_engine_built_for_no_versions_lists_without_a_dangling_comma(tmp_path, run_cli, monkeypatch):
    """A sidecar without library versions listed as "weights abc, cpu, " (a trailing comma)."""
    cache = EngineCache(tmp_path / "engines")
    cache.directory.mkdir()
    entry = cache.entry(COMPONENTS, ".onnx")
    entry.path.write_text("an engine")
    entry.sidecar.write_text(json.dumps(COMPONENTS))
    monkeypatch.setenv("REALTIME_ADAIN_ENGINES", str(cache.directory))
    code, out, err = run_cli("engines", "list")
    # (no digest file beside it: marked as one a run would rebuild)
    assert code == 0 and out.splitlines()[-1].endswith(" will be rebuilt) weights abc, cpu"), (out, err)


def test_a_sidecar_nested_past_the_json_parsers_stack_is_no_metadata(tmp_path, run_cli, monkeypatch):
    """A sidecar of 60,000 `[` (under the 64 KiB a sidecar may have) raised RecursionError out of
    json.loads: `engines list` and `engines clear` were a traceback, and so was every run that
    looked for a cached ONNX export (`EngineCache.is_valid`). Damaged JSON is no metadata."""
    cache = EngineCache(tmp_path / "engines")
    cache.directory.mkdir()
    entry = cache.entry(COMPONENTS, ".onnx")
    entry.path.write_text("an engine")
    entry.sidecar.write_text("[" * 60_000)
    entry.digest_file.write_text("0" * 64 + " 9\n")
    monkeypatch.setenv("REALTIME_ADAIN_ENGINES", str(cache.directory))

    assert not cache.is_valid(entry)
    code, out, err = run_cli("engines", "list")
    assert code == 0 and "(no readable metadata: will be rebuilt)" in out, err
    code, out, err = run_cli("engines", "clear")
    assert code == 0 and "removed 1 engine " in out, err
    assert sorted(cache.directory.iterdir()) == []


# --- `~user` in paths and variables -------------------------------------------------------------

@pytest.mark.parametrize("variable", ["REALTIME_ADAIN_ENGINES", "REALTIME_ADAIN_HOME"])
def test_a_cache_variable_naming_an_unknown_users_home_is_one_line(tmp_path, run_cli, monkeypatch, variable):
    """`REALTIME_ADAIN_ENGINES=~nosuchuser/engines` was a RuntimeError traceback ("Could not
    determine home directory"), and the same in $REALTIME_ADAIN_HOME said "$HOME is unset", which
    it was not (and `live` and engine builds then used a temporary cache instead, with that note)."""
    monkeypatch.delenv("REALTIME_ADAIN_ENGINES", raising=False)
    monkeypatch.setenv(variable, f"~{NO_USER}/cache")
    code, out, err = run_cli("engines", "list")
    line = one_error_line(err, code)
    assert code == 2 and f"~{NO_USER}/cache (from ${variable}): ~{NO_USER} names no home folder" in line
    assert "$HOME is unset" not in line


@pytest.mark.parametrize("given", ["--vgg", "$REALTIME_ADAIN_VGG", "$REALTIME_ADAIN_DECODER"])
def test_weights_under_an_unknown_users_home_are_one_line(tmp_path, run_cli, weights_env, monkeypatch, given):
    """`--vgg ~nosuchuser/vgg.pth`, or such a path in $REALTIME_ADAIN_VGG or _DECODER, was a
    RuntimeError traceback from Path.expanduser; nothing is written."""
    content, style = small_picture(tmp_path / "c.png", 1), small_picture(tmp_path / "s.png", 2)
    path = f"~{NO_USER}/weights.pth"
    flags = ["--vgg", path] if given == "--vgg" else []
    if given != "--vgg":
        monkeypatch.setenv(given[1:], path)
    code, out, err = run_cli("image", content, "-s", style, "--device", "cpu", "--size", "32", "-o",
                             tmp_path / "out.png", *flags)
    line = one_error_line(err, code)
    assert f"{path}{'' if given == '--vgg' else f' (from {given})'}: ~{NO_USER} names no home folder" in line
    assert not (tmp_path / "out.png").exists()


def test_a_download_folder_under_an_unknown_users_home_is_one_line(tmp_path, run_cli):
    """`weights download --dir ~nosuchuser/w` was a RuntimeError traceback."""
    code, out, err = run_cli("weights", "download", "--dir", f"~{NO_USER}/w", "--base-url", tmp_path.as_uri())
    assert f"~{NO_USER}/w (--dir): ~{NO_USER} names no home folder" in one_error_line(err, code)


# --- options of export and bench ----------------------------------------------------------------

@pytest.mark.parametrize("command", [("export", "--format", "tensorrt", "-r"), ("bench", "model", "-r")])
def test_a_frame_size_too_small_names_the_limit_these_commands_take(run_cli, command):
    """`-r 15x15` said "both sides must be 16 to 16384 pixels", while 9999x9999 is refused by
    these commands (at most 4096 a side): the range given must be the one that holds."""
    code, out, err = run_cli(*command, "15x15")
    assert code == 2 and "'15x15': both sides must be 16 to 4096 pixels" in err, err


@pytest.mark.parametrize("sheet", [True, False])
def test_an_empty_style_cache_is_refused_not_the_default(tmp_path, run_cli, weights_env, sheet):
    """`--style-cache ''` (an unset variable) made the sheet with the per-user cache without a
    word, and without --sheet it was not even refused as a sheet option; as `--dir ''` and `-o ''`
    are, it is one line, and nothing is written."""
    content, style = small_picture(tmp_path / "c.png", 1), small_picture(tmp_path / "s.png", 2)
    output = tmp_path / "out.png"
    code, out, err = run_cli("image", content, "-s", style, "--sheet" if sheet else "-o", output, "--style-cache", "",
                             "--device", "cpu", "--size", "32")
    line = one_error_line(err, code)
    assert ("--style-cache '': an empty path" if sheet else "--style-cache applies to a contact sheet") in line
    assert not output.exists()


def bench_video(run_cli, tmp_path: Path, clip: Path, *extra: str) -> dict:
    style = small_picture(tmp_path / "style.png", 3)
    results = tmp_path / "bench.json"
    code, out, err = run_cli("bench", "video", "--video", clip, "--style", style, "--size", "32", "--style-size", "32",
                             "--repeats", "1", "--threads", "1", "--no-baseline", "--json", results, *extra)
    assert code == 0, err
    return json.loads(results.read_text())


@pytest.mark.slow  # (default run's time: 2 s)
def test_bench_video_without_frames_times_every_frame_of_the_clip(tmp_path, run_cli, weights_env):
    """`bench video` without --frames (0: all, the default) reported 0 frames and 0.000 fps for
    every variant since the count became min(--frames, frames in the clip)."""
    result = bench_video(run_cli, tmp_path, small_clip(tmp_path / "clip.mp4"))
    assert result["frames"] == 10
    assert all(row["fps"] == pytest.approx(10 / row["median_s"]) for row in result["rows"]), result["rows"]


@pytest.mark.slow  # (default run's time: 2 s)
def test_bench_video_counts_the_frames_a_clip_of_unknown_length_has(tmp_path, run_cli, weights_env):
    """A raw H.264 stream holds no frame count, so --frames is required; --frames 1000 on a clip of
    10 frames gave an fps 100 times too high (1000 frames over the time 10 took)."""
    result = bench_video(run_cli, tmp_path, small_clip(tmp_path / "clip.h264"), "--frames", "1000")
    assert result["frames"] == 10
    assert all(row["fps"] == pytest.approx(10 / row["median_s"]) for row in result["rows"]), result["rows"]


# --- the trainer: torchrun's variables, its state file ------------------------------------------

@pytest.mark.parametrize("environment, message", [
    ({"WORLD_SIZE": "abc"}, "$WORLD_SIZE='abc' is not a whole number from 1 (as torchrun sets it)"),
    ({"WORLD_SIZE": "0"}, "$WORLD_SIZE='0' is not a whole number from 1"),
    ({"WORLD_SIZE": "2"}, "$WORLD_SIZE=2 without $RANK: start data-parallel runs with torchrun"),
    ({"WORLD_SIZE": "2", "RANK": "1"}, "$WORLD_SIZE=2 without $MASTER_ADDR"),
    ({"WORLD_SIZE": "2", "RANK": "2", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "1"},
     "$RANK='2' is not a whole number from 0 to 1"),
    ({"WORLD_SIZE": "2", "RANK": "0", "LOCAL_RANK": "x", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "1"},
     "$LOCAL_RANK='x' is not a whole number from 0"),
])
def test_torchruns_variables_with_values_it_never_sets_are_one_line(train_tool, dataset, published_weights, tmp_path,
                                                                    monkeypatch, environment, message):
    """A stray WORLD_SIZE in the shell (`abc`, or 2 outside torchrun) was a ValueError or KeyError
    traceback from int(os.environ[...]), or torch's rendezvous traceback about MASTER_ADDR; a
    refused run leaves no run folder."""
    for name in ("RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    out = tmp_path / "run"
    code, _, err = train_tool(*tiny_args(dataset, published_weights[0], out, 1))
    assert message in training_error_line(code, err)
    assert not out.exists()


def test_a_trainer_state_nested_past_the_json_parsers_stack_is_damaged(train_tool, dataset, published_weights,
                                                                       tmp_path, one_thread):
    """A trainer state whose JSON is 100,000 `[` raised RecursionError out of json.loads on
    --resume, a traceback; it is a damaged state like any other."""
    run = tmp_path / "run"
    assert train_tool(*tiny_args(dataset, published_weights[0], run, 1, "--save-every", "1"))[0] == 0
    path = checkpoint_files.state_file(run / "checkpoints", 1)
    with safe_open(str(path), framework="pt") as handle:
        tensors = {key: handle.get_tensor(key) for key in handle.keys()}
        metadata = handle.metadata()
    save_file(tensors, str(path), {**metadata, "state": "[" * 100_000})
    code, _, err = train_tool("--resume", run, "--iterations", "2")
    assert training_error_line(code, err).startswith(f"error: {path}: damaged trainer state (RecursionError")
    assert not checkpoint_files.decoder_file(run / "checkpoints", 2).exists()
