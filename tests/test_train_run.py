"""Tiny real training runs on ../shared/data: the loss falls, resume is exact, checkpoints run."""

from __future__ import annotations

import csv
import json
import importlib.util
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import pytest
import torch
from safetensors import safe_open

from realtime_adain import weight_files, weights
from realtime_adain.synthetic import write_torchvision_vgg
from realtime_adain.training import checkpoint_files
from train_support import REPO, load_tool, tiny_args, train_tool  # noqa: F401  (fixtures)

ITERATIONS = 30


def read_log(run_dir) -> list[dict]:
    with open(run_dir / "log.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def tensors(path) -> dict[str, torch.Tensor]:
    with safe_open(str(path), framework="pt") as handle:
        return {key: handle.get_tensor(key) for key in handle.keys()}


# The tests that read `runs` go to one xdist worker (.ci/run's --dist loadgroup): split between
# two, each made both training runs (25-55 s of setup each).
RUNS_GROUP = pytest.mark.xdist_group("train_run_runs")


@pytest.fixture(scope="module")
def runs(tmp_path_factory, published_weights, data_dir):
    """The same 30-iteration run twice: straight through, and stopped at 15 then resumed."""
    tool = load_tool("train")
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    vgg, _ = published_weights
    base = tmp_path_factory.mktemp("runs")
    straight, resumed = base / "straight", base / "resumed"
    common = ("--save-every", "15", "--log-every", "5", "--sample-every", "15")
    try:
        assert tool.main(tiny_args(data_dir, vgg, straight, ITERATIONS, *common)) == 0
        assert tool.main(tiny_args(data_dir, vgg, resumed, 15, *common)) == 0
        assert tool.main(["--resume", str(resumed), "--iterations", str(ITERATIONS)]) == 0
    finally:
        torch.set_num_threads(before)
    return straight, resumed


@RUNS_GROUP
def test_training_lowers_the_loss(runs):
    straight, _ = runs
    rows = read_log(straight)
    assert [int(r["iteration"]) for r in rows] == list(range(5, ITERATIONS + 1, 5))
    first, last = float(rows[0]["total_loss"]), float(rows[-1]["total_loss"])
    assert last < 0.7 * first, (first, last)
    for row in rows:  # the reference schedule: lr / (1 + 5e-5 * iteration), logged for the window's last
        assert float(row["lr"]) == pytest.approx(1e-4 / (1 + 5e-5 * (int(row["iteration"]) - 1)), rel=1e-5)
        assert float(row["total_loss"]) == pytest.approx(float(row["content_loss"]) + float(row["style_loss"]), rel=1e-4)
    samples = sorted(p.name for p in (straight / "samples").iterdir())
    assert samples == ["iter_0000015.jpg", "iter_0000030.jpg"]
    grid = cv2.imread(str(straight / "samples" / samples[0]))
    assert grid.shape == (2 * 32, 3 * 32, 3)  # two rows of content | style | output
    assert any((straight / "tensorboard").iterdir())


@RUNS_GROUP
def test_resume_continues_exactly(runs):
    straight, resumed = runs
    a, b = (tensors(checkpoint_files.decoder_file(run / "checkpoints", ITERATIONS)) for run in (straight, resumed))
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    state_a, state_b = (tensors(checkpoint_files.state_file(run / "checkpoints", ITERATIONS))
                        for run in (straight, resumed))
    for key in state_a:
        if key.startswith("optimizer."):
            assert torch.equal(state_a[key], state_b[key]), key
    losses = lambda run: [{k: v for k, v in row.items() if k != "iterations_per_s"} for row in read_log(run)]  # noqa: E731
    assert losses(straight) == losses(resumed)


@RUNS_GROUP
def test_checkpoint_metadata_and_loading(runs):
    straight, _ = runs
    path = checkpoint_files.decoder_file(straight / "checkpoints", ITERATIONS)
    loaded = weight_files.read_weights(path)
    assert loaded.metadata["architecture"] == "plain"
    assert loaded.metadata["encoder"] == "vgg-normalised"
    assert loaded.metadata["iteration"] == str(ITERATIONS)
    assert json.loads(loaded.metadata["config"])["style_weight"] == 10.0
    decoder = weights.load_decoder(path)  # what `realtime-adain export` uses
    assert decoder.encoder_kind == "vgg-normalised"
    assert torch.equal(decoder.state_dict()["1.weight"], loaded.state_dict["1.weight"])


@RUNS_GROUP
def test_plain_checkpoint_runs_through_image(runs, published_weights, data_dir, run_cli, tmp_path):
    straight, _ = runs
    vgg, _ = published_weights
    out = tmp_path / "out.png"
    code, _, err = run_cli(
        "image", data_dir / "content" / "lenna.jpg", "-s", data_dir / "style" / "mondrian.jpg", "-o", out,
        "--vgg", vgg, "--decoder", checkpoint_files.decoder_file(straight / "checkpoints", ITERATIONS),
        "--size", "48", "--style-size", "64", "--device", "cpu",
    )
    assert code == 0, err
    assert cv2.imread(str(out)).shape == (640, 640, 3)


@pytest.mark.slow  # (default run's time: 2 s)
def test_skip_concat_with_torchvision_encoder_trains_and_runs_through_image(
    published_weights, data_dir, run_cli, train_tool, tmp_path, one_thread
):
    torchvision_vgg = write_torchvision_vgg(tmp_path / "vgg19.pth")
    run = tmp_path / "run"
    code, _, err = train_tool(*tiny_args(data_dir, torchvision_vgg, run, 2, "--decoder", "skip-concat",
                                         "--encoder", "torchvision-vgg19", "--save-every", "2"))
    assert code == 0, err
    ckpt = checkpoint_files.decoder_file(run / "checkpoints", 2)
    decoder = weights.load_decoder(ckpt)
    assert (decoder.kind, decoder.encoder_kind) == ("skip-concat", "torchvision-vgg19")

    content, style = data_dir / "content" / "sailboat.jpg", data_dir / "style" / "trial.jpg"
    out = tmp_path / "out.png"
    code, _, err = run_cli("image", content, "-s", style, "-o", out, "--vgg", torchvision_vgg,
                           "--decoder", ckpt, "--size", "40", "--style-size", "64", "--no-keep-size", "--device", "cpu")
    assert code == 0, err
    assert cv2.imread(str(out)).shape == (40, 40, 3)

    # The runtime refuses the encoder the decoder was not trained against, in one line.
    vgg, _ = published_weights
    code, _, err = run_cli("image", content, "-s", style, "-o", tmp_path / "x.png", "--vgg", vgg,
                           "--decoder", ckpt, "--size", "40", "--style-size", "64", "--device", "cpu")
    assert code == 2 and err.count("\n") == 1
    assert "or a decoder trained against it) needs its own weights: pass vgg19-dcbb9e9d.pth with --vgg" in err
    assert not (tmp_path / "x.png").exists()


@RUNS_GROUP
def test_evaluate_compares_decoders(runs, published_weights, data_dir, tmp_path, capsys):
    straight, _ = runs
    vgg, _ = published_weights
    held_out = tmp_path / "held_out"
    for kind, names in (("content", ("brad_pitt.jpg", "flowers.jpg")), ("style", ("goeritz.jpg", "asheville.jpg"))):
        (held_out / kind).mkdir(parents=True)
        for name in names:
            (held_out / kind / name).symlink_to(data_dir / kind / name)
    early, late = (checkpoint_files.decoder_file(straight / "checkpoints", i) for i in (15, ITERATIONS))
    report = tmp_path / "eval.json"
    tool = load_tool("evaluate")
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        code = tool.main(["--decoder", str(early), "--decoder", str(late), "--vgg", str(vgg),
                          "--content", str(held_out / "content"), "--style", str(held_out / "style"),
                          "--load-size", "64", "--crop-size", "32", "--device", "cpu", "--json", str(report)])
    finally:
        torch.set_num_threads(before)
    out = capsys.readouterr().out
    assert code == 0
    results = json.loads(report.read_text())
    assert [r["pairs"] for r in results] == [4, 4]
    for r in results:
        assert r["total_loss"] == pytest.approx(r["content_loss"] + 10 * r["style_loss"])
        assert f"{r['content_loss']:.4g}" in out
    assert results[0]["total_loss"] != results[1]["total_loss"]


@pytest.mark.gpu
@pytest.mark.parametrize("amp", ["bf16", "fp16"])
def test_gpu_training_with_amp(published_weights, data_dir, run_cli, train_tool, tmp_path, amp):
    """AMP, channels_last and the loss scaler on a GPU: the loss falls and the checkpoint runs on CUDA."""
    vgg, _ = published_weights
    run = tmp_path / "run"
    args = tiny_args(data_dir, vgg, run, 40, "--device", "cuda", "--amp", amp, "--batch-size", "8",
                     "--load-size", "128", "--crop-size", "64", "--log-every", "10", "--save-every", "40",
                     "--decoder", "skip-concat")
    code, _, err = train_tool(*args)
    assert code == 0, err
    rows = read_log(run)
    assert float(rows[-1]["total_loss"]) < 0.7 * float(rows[0]["total_loss"])
    out = tmp_path / "out.png"
    code, _, err = run_cli("image", data_dir / "content" / "lenna.jpg", "-s", data_dir / "style" / "mondrian.jpg",
                           "-o", out, "--vgg", vgg, "--decoder", checkpoint_files.decoder_file(run / "checkpoints", 40),
                           "--size", "128", "--device", "cuda", "--dtype", "fp16")
    assert code == 0, err


def test_training_benchmark_reports_iterations_per_second(run_cli, one_thread):
    code, out, err = run_cli("bench", "train", "--device", "cpu", "--batch-size", "1", "--size", "32",
                             "--iterations", "2", "--warmup", "1", "--decoder", "skip-concat")
    assert code == 0, err
    report = json.loads(out.strip().splitlines()[-1])
    (result,) = report["results"]
    assert report["device"] == "cpu" and report["machine"].endswith(" threads")
    assert result["amp"] == "off" and result["iterations_per_s"] > 0
    assert result["hours_to_160k"] == pytest.approx(160_000 * result["median_s"] / 3600)


def test_run_log_survives_an_empty_log_file(tmp_path):
    """A run killed before its header reached log.csv leaves an empty file; the next run starts it."""
    from realtime_adain.training.run_files import CSV_FIELDS, RunLogger

    (tmp_path / "log.csv").write_text("")
    logger = RunLogger(tmp_path, start_iteration=0)
    logger.csv_file.close()
    assert (tmp_path / "log.csv").read_text().splitlines()[0].split(",") == list(CSV_FIELDS)


# SIGINT is slow-only: it takes the same path as SIGTERM, and the default run must stay short
@pytest.mark.parametrize("sig, code, said", [(signal.SIGTERM, 143, "terminated"),
                                             pytest.param(signal.SIGINT, 130, "interrupted", marks=pytest.mark.slow)])
@pytest.mark.slow_cases('15-143-terminated')  # (default run's time: 7 s)
def test_a_signal_stops_training_with_one_line_and_the_checkpoint_resumes(
    train_tool, published_weights, data_dir, tmp_path, one_thread, sig, code, said
):
    """SIGTERM (a service manager, `timeout`, a cluster's scheduler) ends a run as Ctrl-C does: one
    line, 143, and the last checkpoint continues with --resume."""
    run = tmp_path / "run"
    args = tiny_args(data_dir, published_weights[0], run, 100_000, "--save-every", "1")
    process = subprocess.Popen([sys.executable, str(REPO / "tools" / "train.py"), *args], stderr=subprocess.PIPE,
                               text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    line = ""
    try:
        for line in process.stderr:  # until the run has started: its first checkpoint
            if line.startswith("checkpoint: "):
                break
        os.kill(process.pid, sig)
        err = line + process.communicate(timeout=60)[1]
    finally:
        process.kill()
    assert process.returncode == code, err
    assert "Traceback" not in err and err.strip().splitlines()[-1] == f"{said} (resume from the last checkpoint with --resume {run})"
    last = checkpoint_files.latest_decoder_file(run / "checkpoints")
    assert last is not None, err
    done = int(last.name.split("_")[-1].split(".")[0])
    code, out, err = train_tool("--resume", run, "--iterations", done + 1)
    assert code == 0 and out.strip() == f"decoder: {checkpoint_files.decoder_file(run / 'checkpoints', done + 1)}", err


def test_an_interrupted_run_names_what_it_resumes_from(tmp_path):
    """Stopped before its first checkpoint, a run said "resume from the last checkpoint with
    --resume", and --resume then found none."""
    spec = importlib.util.spec_from_file_location("train_tool_module", REPO / "tools" / "train.py")
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    run = tmp_path / "my run"
    (run / "checkpoints").mkdir(parents=True)
    assert tool.resume_hint(str(run)) == tool.resume_hint(None) == "no checkpoint was saved yet"
    for name in (checkpoint_files.decoder_file(run / "checkpoints", 4),
                 checkpoint_files.state_file(run / "checkpoints", 4)):
        name.write_bytes(b"")  # (only named here: the run that resumes reads them)
    assert tool.resume_hint(str(run)) == f"resume from the last checkpoint with --resume '{run}'"


def test_the_loading_workers_ignore_ctrl_c(data_dir):
    """A terminal's Ctrl-C reaches the whole process group, the loading workers too; a worker
    caught by it while exiting printed a 19-line traceback after the run's one line (about one
    Ctrl-C in two with --workers 2). The workers ignore SIGINT (the kernel's record of them says
    so); the training process stops them."""
    from realtime_adain.training import batch_loading, item_streams

    stream = item_streams.pair_stream(str(data_dir / "content"), str(data_dir / "style"), 64, 32, seed=0)
    iterator = batch_loading.batches(stream, 0, 2, workers=2)
    try:
        next(iterator), next(iterator)  # (one batch from each worker: each ran its init; after one, the other may not have)
        for worker in iterator._workers:
            status = Path(f"/proc/{worker.pid}/status").read_text()
            ignored = int(next(line for line in status.splitlines() if line.startswith("SigIgn:")).split()[1], 16)
            assert ignored & (1 << (signal.SIGINT - 1)), status
    finally:
        iterator._shutdown_workers()


@pytest.mark.slow
def test_ctrl_c_in_a_terminal_stops_the_loading_workers_quietly(published_weights, data_dir, tmp_path):
    """The same end to end: Ctrl-C to the process group of a run under `timeout` with two workers
    (the traceback came about one run in two before; three runs here)."""
    for attempt in range(3):
        args = tiny_args(data_dir, published_weights[0], tmp_path / f"run{attempt}", 100_000, "--workers", "2",
                         "--save-every", "1")
        process = subprocess.Popen(["timeout", "120", sys.executable, str(REPO / "tools" / "train.py"), *args],
                                   stderr=subprocess.PIPE, text=True, start_new_session=True,
                                   env={**os.environ, "OMP_NUM_THREADS": "1"})
        line = ""
        try:
            for line in process.stderr:  # until the run has started: its first checkpoint
                if line.startswith("checkpoint: "):
                    break
            time.sleep(2 + attempt)
            os.killpg(process.pid, signal.SIGINT)  # `timeout` passes it on to the group again
            err = line + process.communicate(timeout=60)[1]
        finally:
            process.kill()
        assert process.returncode == 130, err
        assert "Traceback" not in err
        assert err.strip().splitlines()[-1] == f"interrupted (resume from the last checkpoint with --resume {tmp_path / f'run{attempt}'})"
