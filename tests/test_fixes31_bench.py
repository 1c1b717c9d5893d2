"""`realtime-adain bench` after a hostile tester's findings (session 31): a style in any image
mode through the reference loop, a clip over the pixel budget refused before any variant, memory
checks that heed a cgroup's limit (and one for `bench train`), outputs written at the end and
each apart (a full disk loses neither the JSON line nor the other file), `--resolution` naming
the user's clip, containers that do not say their frame count, E_warp's "reference value", and
an unknown option pointing to the target's own help. Tiny sizes throughout."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from cli_support import one_error_line
from test_full_disk import disk, fill  # noqa: F401 (the tmpfs fixture)
from test_hostile_environment import limit_address_space

REPO = Path(__file__).resolve().parents[1]
TINY_MODEL = ("bench", "model", "--device", "cpu", "-r", "32x32", "--iters", "1", "--warmup", "1", "--engine", "eager")
TINY_TEMPORAL = ("--frames", "2", "--size", "32", "--cost-frames", "1", "--strengths", "0.5")


def write_clip(path: Path, width: int = 64, height: int = 36, frames: int = 3) -> Path:
    """A small H.264 clip (flat frames: quick to encode at any size)."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=24)
        stream.width, stream.height, stream.pix_fmt, stream.options = width, height, "yuv420p", {"preset": "ultrafast"}
        for index in range(frames):
            frame = av.VideoFrame.from_ndarray(np.full((height, width, 3), 40 * index, np.uint8), format="rgb24")
            frame.pts = index
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return path


def bench_video(run_cli, clip: Path, style: Path, *options):
    return run_cli("bench", "video", "--video", clip, "--style", style, "--size", "32", "--style-size", "32",
                   "--repeats", "1", "--threads", "1", "--no-baseline", *options)


def cli(*args, **kwargs) -> subprocess.CompletedProcess:
    """`realtime-adain ARGS` in a child process (for limits that must not hit the test's own)."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "realtime_adain", *map(str, args)], capture_output=True, text=True,
                          env=env, timeout=180, **kwargs)


# --- 1. the reference loop reads the style as every command does --------------------------------


def style_image(path: Path, mode: str) -> Path:
    rgb = np.random.default_rng(0).integers(0, 256, (40, 48, 3), np.uint8)
    image = Image.fromarray(rgb)
    if mode == "I;16":
        image = Image.fromarray((rgb[..., 0].astype(np.uint16) * 257))
    elif mode == "P":
        image = image.quantize(16)
    else:
        image = image.convert(mode)
    image.save(path)
    return path


@pytest.mark.parametrize("mode, name", [("L", "grey.jpg"), ("P", "palette.png"), ("CMYK", "cmyk.jpg"),
                                        ("RGBA", "rgba.png"), ("I;16", "deep.png")])
def test_the_reference_loop_takes_a_style_in_any_image_mode(stylizer, tmp_path, mode, name, one_thread):
    """PIL's own open gave ToTensor a 1- or 4-channel (or 16-bit integer) style: "expected
    input[1, 1, 64, 64] to have 3 channels", a traceback."""
    from realtime_adain.benchmarks.video import reference_loop

    clip = write_clip(tmp_path / "clip.mp4")
    style = style_image(tmp_path / name, mode)
    assert reference_loop(stylizer, clip, style, tmp_path / "out.mp4", 32, 32, 1) == 1


# --- 2. a clip over the pixel budget, refused before any variant ---------------------------------


@pytest.mark.parametrize("baseline", [[], ["--no-baseline"]])
@pytest.mark.slow_cases('baseline1', 'baseline0')
def test_a_clip_over_the_pixel_budget_is_refused_before_any_variant(weights_env, data_dir, tmp_path, baseline):
    """The reference loop ran a 5000x4000 clip at full size until the OOM killer came (with
    --no-baseline it was refused, suggesting a --max-pixels bench video does not have). In a child
    with an address-space limit, so a run that starts stylizing fails at once."""
    clip = write_clip(tmp_path / "big.mp4", 4160, 4096, 1)
    done = cli("bench", "video", "--video", clip, "--style", data_dir / "style" / "brushstrokes.jpg", "--frames", "1",
               "--repeats", "1", "--threads", "1", *baseline, preexec_fn=limit_address_space(6 << 20))
    assert one_error_line(done.stderr, done.returncode) == (
        f"error: {clip}: 4160x4096 (full size), over the budget of 16777216 pixels (give --size 4064 or less)")
    assert done.returncode == 2 and done.stdout == ""  # (no header: nothing ran)


# --- 3. memory checks: a cgroup's limit, and bench train ----------------------------------------


def write_group(folder: Path, files: dict[str, str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text)


def test_a_cgroup_limit_lower_than_the_machine_is_the_memory_free(tmp_path):
    """Files laid out as the kernel's, v1 and v2: the least of limit - (usage - inactive file
    cache) over the process's group and those above it; no limit ("max") or no files: None."""
    from realtime_adain.available_memory import cgroup_free_memory

    gib = 2**30
    v1 = tmp_path / "v1"
    write_group(v1 / "memory", {"memory.limit_in_bytes": "9223372036854771712", "memory.usage_in_bytes": str(9 * gib)})
    write_group(v1 / "memory" / "jobs", {"memory.limit_in_bytes": str(4 * gib), "memory.usage_in_bytes": str(3 * gib),
                                         "memory.stat": f"cache 5\ntotal_inactive_file {gib // 2}\n"})
    write_group(v1 / "memory" / "jobs" / "mine", {"memory.limit_in_bytes": str(3 * gib),
                                                  "memory.usage_in_bytes": str(gib)})
    (tmp_path / "cgroup1").write_text("5:cpu,cpuacct:/elsewhere\n4:memory:/jobs/mine\n0::/\n")
    assert cgroup_free_memory(tmp_path / "cgroup1", v1) == gib * 3 // 2  # (the parent's: 4 - (3 - 0.5))

    v2 = tmp_path / "v2"
    write_group(v2 / "user", {"memory.max": "max", "memory.current": str(gib)})
    write_group(v2 / "user" / "job", {"memory.max": str(3 * gib), "memory.current": str(2 * gib),
                                      "memory.stat": f"anon 1\ninactive_file {gib}\n"})
    (tmp_path / "cgroup2").write_text("0::/user/job\n")
    assert cgroup_free_memory(tmp_path / "cgroup2", v2) == 2 * gib
    (tmp_path / "cgroup3").write_text("0::/user\n")
    assert cgroup_free_memory(tmp_path / "cgroup3", v2) is None
    assert cgroup_free_memory(tmp_path / "missing", v2) is None


@contextlib.contextmanager
def memory_cgroup(limit: int):
    """A real memory cgroup below this process's own, limited to `limit` bytes (root, v1 or v2 with
    the memory controller; else skipped); yields the file a child writes its pid to."""
    if os.geteuid() != 0:
        pytest.skip("a cgroup needs root")
    lines = Path("/proc/self/cgroup").read_text().splitlines()
    v1 = next((line.split(":", 2)[2] for line in lines if "memory" in line.split(":")[1].split(",")), None)
    if v1 is not None:
        folder, limit_name = Path("/sys/fs/cgroup/memory", v1.lstrip("/"), f"f31-{os.getpid()}"), "memory.limit_in_bytes"
    else:
        v2 = next((line.split(":", 2)[2] for line in lines if line.startswith("0::")), "/")
        folder, limit_name = Path("/sys/fs/cgroup", v2.lstrip("/"), f"f31-{os.getpid()}"), "memory.max"
    try:
        folder.mkdir()
    except OSError as exc:
        pytest.skip(f"cannot make a cgroup: {exc}")
    try:
        try:
            (folder / limit_name).write_text(str(limit))
        except OSError as exc:
            pytest.skip(f"cannot limit a cgroup's memory: {exc}")
        yield folder / "cgroup.procs"
    finally:
        folder.rmdir()


@pytest.mark.slow  # (default run's time: 4 s)
def test_bench_model_heeds_a_cgroup_memory_limit(weights_env):
    """In a 3 GiB cgroup, a shape needing 6 GiB passed the check (it read /proc/meminfo only) and
    was OOM-killed."""
    with memory_cgroup(2 * 2**30) as procs:
        done = cli("bench", "model", "--device", "cpu", "-r", "4096x2048", "--engine", "eager", "--iters", "1",
                   "--warmup", "0", preexec_fn=lambda: procs.write_text(str(os.getpid())))
    line = one_error_line(done.stderr, done.returncode)
    assert done.returncode == 2 and line.startswith("error: 4096x2048 at batch 1 needs at least 6.0 GiB, and cpu has ")
    assert float(line.split(" cpu has ")[1].split()[0]) <= 2.0


@pytest.mark.slow  # (default run's time: 4 s)
def test_bench_train_refuses_a_batch_that_cannot_fit(weights_env):
    """`bench train` had no check: `--batch-size 64 --size 1024` needs over 16 GiB for one
    activation. (In a child with an address-space limit: a run that starts fails at once.)"""
    done = cli("bench", "train", "--device", "cpu", "--batch-size", "1024", "--size", "1024", "--iterations", "1",
               "--warmup", "0", preexec_fn=limit_address_space(6 << 20))
    line = one_error_line(done.stderr, done.returncode)
    assert line.startswith("error: --batch-size 1024 at --size 1024 needs at least 768.0 GiB (amp off), and cpu has ")
    assert line.endswith("GiB free; lower --batch-size or --size") and done.stdout == ""


# --- 4, 5. outputs written at the end, each apart ------------------------------------------------


@pytest.mark.slow  # (default run's time: a benchmark run)
def test_a_results_file_on_a_full_disk_keeps_the_json_line(run_cli, weights_env, disk, one_thread):
    """The file was written before the line was printed: its failure lost both."""
    fill(disk)
    code, out, err = run_cli(*TINY_MODEL, "--json", disk / "r.json")
    assert one_error_line(err, code) == f"error: {disk / 'r.json'}: cannot write (No space left on device)"
    assert json.loads(out.strip().splitlines()[-1])["benchmark"] == "model"


@pytest.mark.slow  # (a whole bench temporal run (15-33 s); the results file on a full disk runs by default)
def test_a_figure_on_a_full_disk_keeps_the_results_file(run_cli, weights_env, data_dir, disk, tmp_path,
                                                        one_thread):
    """The figure was written before the cost was measured: its failure ended the run, and a
    results file on a healthy disk was never written."""
    fill(disk)
    clip, results = write_clip(tmp_path / "clip.mp4"), tmp_path / "ok.json"
    code, out, err = run_cli("bench", "temporal", "--video", clip, "--style", data_dir / "style" / "mondrian.jpg",
                             *TINY_TEMPORAL, "--figure", disk / "f.png", "--json", results)
    assert one_error_line(err, code) == f"error: {disk / 'f.png'}: cannot write (No space left on device)"
    assert json.loads(results.read_text())["cost_ms_per_frame_1_thread"]
    assert json.loads(out.strip().splitlines()[-1]) == json.loads(results.read_text())


@pytest.mark.slow  # (6-12 s; interrupted benches are tested by default in test_bench_hostile_runs)
def test_an_interrupted_temporal_run_leaves_no_figure_without_results(weights_env, data_dir, tmp_path):
    """A Ctrl-C during the cost (after the tables) left the figure, written before it, and no
    results file."""
    clip, figure, results = write_clip(tmp_path / "clip.mp4"), tmp_path / "f.png", tmp_path / "r.json"
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen([sys.executable, "-m", "realtime_adain", "bench", "temporal", "--video", str(clip),
                                "--style", str(data_dir / "style" / "mondrian.jpg"), *TINY_TEMPORAL,
                                "--figure", str(figure), "--json", str(results)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        tables = 0
        for line in process.stdout:
            tables += line.startswith("better than moving average w=0.6")
            if tables == 3:  # (the last clip's table: then the figure, then the cost)
                break
        time.sleep(1.0)  # the figure of two 32-pixel frames takes milliseconds, the cost seconds
        assert process.poll() is None, "the run ended before the Ctrl-C; nothing tested"
        process.send_signal(signal.SIGINT)
        code = process.wait(timeout=60)
    finally:
        process.kill()
        process.wait()
    assert code == 130 and not figure.exists() and not results.exists()


# --- 6, 7. the clip bench video names, and containers without a frame count ----------------------


@pytest.mark.slow  # (default run's time, 2026-12-07: a rarer variant; the corpus and `-m slow` runs keep it)
def test_a_resolution_copy_is_named_as_the_clip_given(run_cli, weights_env, data_dir, tmp_path, one_thread):
    clip, results = write_clip(tmp_path / "mine.mp4"), tmp_path / "r.json"
    code, out, err = bench_video(run_cli, clip, data_dir / "style" / "brushstrokes.jpg", "--frames", "2",
                                 "--resolution", "96x54", "--json", results)
    assert code == 0, err
    assert out.startswith("clip: mine.mp4 96x54 (a scaled copy, without audio), 2 of 3 frames;")
    assert json.loads(results.read_text())["clip"] == "mine.mp4"


@pytest.mark.parametrize("frames, header", [([], "all frames"), (["--frames", "1000"], "up to 1000 frames")])
@pytest.mark.slow_cases('frames1-up to 1000 frames')  # (default run's time, 2026-12-07: a rarer variant; the corpus and `-m slow` runs keep it)
def test_a_container_that_does_not_say_its_frame_count_is_timed(run_cli, weights_env, data_dir, tmp_path, one_thread,
                                                               frames, header):
    """.mkv and .ts were refused without --frames (fps counts the frames decoded anyway), and with
    --frames 1000 the header read "1000 of 0 frames"."""
    clip, results = write_clip(tmp_path / "clip.mkv"), tmp_path / "r.json"
    code, out, err = bench_video(run_cli, clip, data_dir / "style" / "brushstrokes.jpg", *frames, "--json", results)
    assert code == 0, err
    assert out.startswith(f"clip: clip.mkv 64x36, {header} (the container does not say how many);")
    assert json.loads(results.read_text())["frames"] == 3


# --- 8, 9. words -----------------------------------------------------------------------------------


def test_the_input_e_warp_is_called_a_reference_value(run_cli):
    """The output's E_warp can be below the input's (a low-contrast output): it was "the floor"."""
    code, out, _ = run_cli("bench", "temporal", "--help")
    words = " ".join(out.split())  # (as argparse wrapped them)
    assert code == 0 and "printed as a reference value" in words and "is the floor" not in words


def test_an_unknown_option_points_to_the_targets_help(run_cli):
    code, _, err = run_cli("bench", "video", "--bogus")
    assert code == 2 and err == ("error: realtime-adain bench video: unrecognized arguments: --bogus "
                                 "(see `realtime-adain bench video --help`)\n")
