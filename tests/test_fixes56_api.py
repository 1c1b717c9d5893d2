"""Session 56's fixes to the Python API (docs/api.md): a call that cannot fit in the memory
available refused in one line before the OOM killer ends the process, times said as plain numbers,
and the commands' loading (`Stylizer.for_command`, since session 57; `from_settings` then) saying
its mistakes in the CLI's words throughout."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from fractions import Fraction

import numpy as np
import pytest
from PIL import Image

import realtime_adain as ra
from realtime_adain import available_memory, engines
from realtime_adain.settings import ModelSettings
from realtime_adain.stylizer import OutOfMemory, Stylizer
from realtime_adain.times import check_time
from test_api21 import style  # noqa: F401  (a fixture)
from video_samples import gradient_frames, write_video

FREE = 100 * 2**20  # bytes "available", through a patched reading (memory is never filled)


@pytest.fixture
def little_memory(monkeypatch):
    monkeypatch.setattr(available_memory, "free_memory", lambda device: FREE)


def test_calls_that_cannot_fit_are_refused_before_the_work(stylizer, style, little_memory):
    """`stylize(np.broadcast_to(f, (100000, 24, 32, 3)), style)`, within the 16384 x 16384 pixels a
    call takes, was ended by the OOM killer (Linux overcommits: nothing to catch) where docs/api.md
    promises a one-line `ra.UserError` that is a MemoryError. Each call is refused before it copies
    anything, saying what it needs and what is available."""
    frame = np.zeros((24, 32, 3), np.uint8)
    many = np.broadcast_to(frame, (1000, 24, 32, 3))  # 768,000 pixels, about 600 MB at the eager step's peak
    big = np.zeros((1000, 800, 3), np.uint8)
    calls = {
        "frames: out of memory (needs about 586 MiB, and 100 MiB is available); pass smaller frames, or fewer at a time":
            lambda: stylizer.stylize(many, style),
        "batches: out of memory (needs about 586 MiB, and 100 MiB is available); pass smaller frames, or fewer at a time":
            lambda: list(stylizer.stylize_stream([frame, many], style)),
        "frames: out of memory (needs about 586 MiB, and 100 MiB is available); lower batch, or pass smaller frames":
            lambda: list(stylizer.stylize_frames(many, style, batch=1000, max_pixels=10**6)),
        "image: out of memory (needs about 610 MiB, and 100 MiB is available); lower size":
            lambda: stylizer.style_stats(big, None),
        "frame: out of memory (needs about 610 MiB, and 100 MiB is available); pass a smaller frame":
            lambda: stylizer.stylize_masked(big, np.zeros(big.shape[:2], int), [style]),
    }
    for words, call in calls.items():
        with pytest.raises(OutOfMemory) as refused:
            call()
        assert isinstance(refused.value, ra.UserError) and isinstance(refused.value, MemoryError)
        assert str(refused.value) == words
    with pytest.raises(OutOfMemory, match=r"^image: out of memory \(needs about 610 MiB, and 100 MiB is available\); "
                                          r"lower size$"):
        stylizer.stylize_image(big, style, size=None)


def test_small_calls_go_unchecked(stylizer, style, monkeypatch):
    """Reading what is available takes milliseconds: a call needing less than UNCHECKED_BYTES runs
    unchecked (a frame of live video each time)."""
    monkeypatch.setattr(available_memory, "free_memory", lambda device: 0)
    assert stylizer.stylize(np.zeros((16, 16, 3), np.uint8), style).shape == (16, 16, 3)


def test_the_commands_say_it_in_one_line(weights_env, run_cli, little_memory, tmp_path):
    """`image` and `video` at sizes their --max-pixels allows met the OOM killer the same way on a
    machine with little memory: one line, what it needs and what is available, what to lower."""
    Image.fromarray(np.full((16, 16, 3), 90, np.uint8)).save(tmp_path / "style.png")
    Image.fromarray(np.zeros((1000, 800, 3), np.uint8)).save(tmp_path / "photo.png")
    code, _, err = run_cli("image", tmp_path / "photo.png", "-s", tmp_path / "style.png", "--style-size", "16",
                           "--size", "0", "--device", "cpu", "-o", tmp_path / "out.png")
    assert code == 2 and err.splitlines() == [
        f"error: {tmp_path / 'photo.png'}: out of memory (needs about 610 MiB, and 100 MiB is available); lower --size"]
    assert not (tmp_path / "out.png").exists()
    clip = write_video(tmp_path / "in.mp4", gradient_frames(2, 480, 480))
    code, _, err = run_cli("video", clip, "-s", tmp_path / "style.png", "--style-size", "16", "--size", "0",
                           "--device", "cpu", "-o", tmp_path / "out.mp4")
    assert code == 2 and err.splitlines()[-1:] == [
        f"error: {clip}: out of memory (needs about 176 MiB, and 100 MiB is available); lower --size"], err
    assert not (tmp_path / "out.mp4").exists()


@pytest.mark.slow  # (a fresh interpreter stylizing 512x512 on the CPU: 15 s on a shared machine)
@pytest.mark.parametrize("call", ["st.stylize(frame, S)", "st.stylize_masked(frame, mask, [S, S])",
                                  "st.style_stats(frame, None)"])
def test_the_eager_cost_a_pixel_is_measured_with_a_margin(published_weights, call):
    """The refusal's estimate is a measured peak (ru_maxrss over the memory held before the call),
    not a guess: what a call takes stays within `cpu_bytes_per_pixel` of the eager engine."""
    script = textwrap.dedent(f"""
        import os, resource, numpy as np, torch, realtime_adain as ra
        torch.set_num_threads(2)
        st = ra.Stylizer.load({str(published_weights[0])!r}, {str(published_weights[1])!r}, device="cpu", engine="eager")
        S = st.style(np.full((16, 16, 3), 90, np.uint8), size=16)
        frame = np.random.default_rng(0).integers(0, 255, (512, 512, 3), np.uint8)
        mask = np.zeros((512, 512), int); mask[:, 256:] = 1
        held = int(open("/proc/self/statm").read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        {call}
        print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - held) / 512 / 512)
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    per_pixel = float(result.stdout)
    assert 100 < per_pixel < engines.REGISTRY["eager"].cpu_bytes_per_pixel


@pytest.mark.parametrize("arguments, words", [
    ({"start": Fraction(-1, 2)}, "start -0.5 must be at least 0 seconds"),
    ({"start": np.float64(-1)}, "start -1.0 must be at least 0 seconds"),
    ({"duration": np.float32(0)}, "duration 0.0 must be above 0 seconds"),
    ({"start": np.float64(1e20)}, "start 1e+20 is longer than any video (1000000000 s at most)"),
    ({"start": np.float32("nan")}, "start nan is not a finite time"),
    ({"start": Fraction(10**400)}, "start is longer than any video (1000000000 s at most)"),
])
def test_times_are_said_as_plain_numbers(arguments, words, tmp_path):
    """start=Fraction(-1, 2) was said "start Fraction(-1, 2) must be ...", np.float64(-1) as
    "np.float64(-1.0)": Python's reprs, where every other argument says its value plainly.
    (Fraction(10**400) was an OverflowError from math.isfinite.)"""
    with pytest.raises(ValueError) as refused:
        ra.stylize_video(tmp_path / "in.mp4", tmp_path / "o.mp4", style="s.jpg", size=32, **arguments)
    assert str(refused.value) == words and isinstance(refused.value, ra.UserError)


def test_a_settings_time_is_said_as_a_plain_number():
    with pytest.raises(ra.UserError, match=r"^--start -1 must be at least 0 seconds$"):
        ra.VideoSettings(start=Fraction(-1)).check_for_command()
    with pytest.raises(ra.UserError, match=r"^--start -2 must be at least 0 seconds$"):
        check_time(np.int64(-2), "--start")
    with pytest.raises(ra.UserError, match=r"^--start '-1:00' is negative$"):  # (text stays quoted)
        check_time("-1:00", "--start")


@pytest.mark.parametrize("arguments, cli_words, api_words", [
    ({"dtype": "fp64"}, "unknown --dtype 'fp64' (use auto, fp32, fp16, bf16)",
     "unknown dtype 'fp64' (use auto, fp32, fp16, bf16)"),
    ({"engine": "x"}, "unknown --engine 'x' (use auto, eager, compile, tensorrt, onnx)",
     "unknown engine 'x' (use auto, eager, compile, tensorrt, onnx)"),
    ({"dtype": "fp16"}, "--dtype fp16 needs a GPU", "dtype fp16 needs a GPU"),
])
def test_for_command_says_every_mistake_in_the_clis_words(arguments, cli_words, api_words):
    """`for_command` (the commands' `from_settings` of session 56) promises the CLI's words (`--dtype fp16 needs a GPU`), but an unknown dtype
    or engine was "unknown dtype 'fp64'"; `Stylizer.load` keeps the API's."""
    with pytest.raises(ra.UserError) as refused:
        Stylizer.for_command(ModelSettings(device="cpu", **arguments))
    assert str(refused.value).startswith(cli_words)
    with pytest.raises(ValueError) as refused:
        Stylizer.load(device="cpu", **arguments)
    assert str(refused.value).startswith(api_words) and "--" not in str(refused.value)
