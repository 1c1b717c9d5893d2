"""Session 57's fixes to the Python API (docs/api.md): a call refused for memory holds no copy of
its input once handled, `Stylizer.from_settings` says its mistakes in the API's words (the commands
keep the CLI's), and `StyleStats.mix` checks its weights' kinds as `stylize_video(mix=)` does."""

from __future__ import annotations

import array
import contextlib
import gc
import tracemalloc

import numpy as np
import pytest
import torch

import realtime_adain as ra
from realtime_adain import available_memory
from realtime_adain.settings import ModelSettings, check_weights
from realtime_adain.stylizer import OutOfMemory, Stylizer

SHAPE = (600, 800, 3)  # 1.4 MB a copy


@pytest.fixture
def no_memory(monkeypatch):
    """Every call is refused for memory, before any work (a patched reading: nothing is filled)."""
    monkeypatch.setattr(available_memory, "free_memory", lambda device: 1)
    monkeypatch.setattr(available_memory, "UNCHECKED_BYTES", 0)


@contextlib.contextmanager
def without_cycle_collection():
    """Only reference counting frees what the calls leave: what a cycle keeps stays kept."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def view() -> np.ndarray:
    """A picture that takes no memory until a call copies it."""
    return np.broadcast_to(np.uint8(7), SHAPE)


def fresh() -> np.ndarray:
    """A picture only the call holds: freed with its frames."""
    return np.full(SHAPE, 7, np.uint8)


CALLS = {
    "style": lambda st, s: st.style(view(), size=None),
    "style_stats": lambda st, s: st.style_stats(view()),
    "style_stats_color_reference": lambda st, s: st.style_stats(view(), color_reference=view()),
    "stylize_image": lambda st, s: st.stylize_image(view(), s, size=None),
    "stylize": lambda st, s: st.stylize(fresh(), s),
    "stylize_frames": lambda st, s: list(st.stylize_frames([view()], s)),
    "stylize_stream": lambda st, s: list(st.stylize_stream([fresh()[None]], s)),
    "stylize_masked": lambda st, s: st.stylize_masked(fresh(), np.zeros(SHAPE[:2], np.int64), [s]),
}


def grown_after(calls, error: type[BaseException]) -> int:
    """Bytes numpy and Python still hold after each of `calls` raised `error` and it was handled."""
    for call in calls[:1]:  # (once first: what a first call caches is not a leak)
        with pytest.raises(error):
            call()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for call in calls:
            with pytest.raises(error):
                call()
        return tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("name", CALLS)
def test_a_call_refused_for_memory_holds_no_copy_of_its_input(stylizer, name, no_memory, one_thread):
    """Ten refused `stylize_image(view_16000x16000)` calls took a process from 0.7 to 7.8 GB, and
    what was "available" fell, so later calls that fit were refused: the OutOfMemory, kept in a local
    of the frame raising it, and that frame (in its traceback) held each other, a cycle keeping every
    caller's frame and the contiguous copies they held until a cyclic GC."""
    style = ra.StyleStats(torch.rand(512), torch.rand(512) + 0.1)
    with without_cycle_collection():
        grown = grown_after([lambda: CALLS[name](stylizer, style)] * 4, OutOfMemory)
    assert grown < 2**20, f"{grown / 2**20:.1f} MiB still held after four refusals"


def test_an_error_of_the_callers_frames_holds_none_of_them(stylizer, one_thread):
    """`stylize_frames` raises the caller's own iterable's error as itself (`callers_errors_raised`):
    kept in a local there, it held the caller's generator frame, and the copies there, the same way."""
    style = ra.StyleStats(torch.rand(512), torch.rand(512) + 0.1)

    def frames():
        held = fresh()  # (what the caller's frame holds)
        yield np.ascontiguousarray(held[:8, :8])
        raise KeyError("the caller's")

    with without_cycle_collection():
        grown = grown_after([lambda: list(stylizer.stylize_frames(frames(), style))] * 4, KeyError)
    assert grown < 2**20, f"{grown / 2**20:.1f} MiB still held after four failures"


@pytest.mark.parametrize("model, api_words, cli_words", [
    (ModelSettings(device="CPU"), "unknown device 'CPU'", "unknown --device 'CPU'"),
    (ModelSettings(vgg="", device="cpu"), "an empty vgg path", "an empty --vgg path"),
    (ModelSettings(device="cpu", dtype="fp16"), "dtype fp16 needs a GPU", "--dtype fp16 needs a GPU"),
    (ModelSettings(device="cpu", engine="tensorrt"), "the tensorrt engine needs a CUDA GPU (use engine eager",
     "the tensorrt engine needs a CUDA GPU (use --engine eager"),
])
def test_from_settings_says_its_mistakes_in_the_apis_words(weights_env, model, api_words, cli_words):
    """`Stylizer.from_settings` (public, docs/api.md) said them as a UserError in the CLI's words
    (`unknown --device 'CPU'`), where `Stylizer.load` and `stylize_video(model=)` say a ValueError
    naming the argument; the commands load through `for_command`, in the CLI's words as before."""
    with pytest.raises(ValueError) as caught:
        Stylizer.from_settings(model)
    assert str(caught.value).startswith(api_words) and "--" not in str(caught.value)
    assert isinstance(caught.value, ra.UserError)  # (as Stylizer.load's: ArgumentMistake)
    with pytest.raises(ValueError) as loaded:
        Stylizer.load(model.vgg, model.decoder, model.device, model.dtype, model.engine)
    assert str(loaded.value) == str(caught.value)
    with pytest.raises(ra.UserError) as commanded:
        Stylizer.for_command(model)
    assert str(commanded.value).startswith(cli_words) and not isinstance(commanded.value, ValueError)


def test_from_settings_names_a_weights_file_as_the_api_does(weights_env, tmp_path):
    """A file problem stays a UserError (not a ValueError), in the API's words as `load`'s."""
    missing = ModelSettings(decoder=str(tmp_path / "none.pth"), device="cpu")
    with pytest.raises(ra.UserError, match="none.pth: no such weights file") as caught:
        Stylizer.from_settings(missing)
    assert "--" not in str(caught.value)
    assert Stylizer.from_settings(ModelSettings(device="cpu"), sizes_vary=True).engine_name == "eager"


def test_the_image_command_keeps_the_clis_words(weights_env, run_cli, data_dir, tmp_path):
    code, _, err = run_cli("image", data_dir / "style" / "mondrian.jpg", "--style", data_dir / "style" / "mondrian.jpg",
                           "-o", tmp_path / "out", "--device", "cpu", "--dtype", "fp16")
    assert code != 0 and "error: --dtype fp16 needs a GPU" in err, err


KINDS = "must be a tuple of numbers (or a list or 1-D numpy array), one weight per style"


@pytest.mark.parametrize("weights, got", [
    (range(1, 3), "got range"),
    (array.array("d", [1, 2]), "got array"),
    (np.ones((2, 1)), "got a 2-D numpy array of shape (2, 1)"),
    (np.array(1.0), "got a 0-D numpy array of shape ()"),
    ([1, "a"], "got a list holding str (weights[1])"),
    (None, "got NoneType"),
])
def test_mix_checks_its_weights_kinds_as_stylize_video_does(weights, got):
    """`StyleStats.mix` took a range and an array.array that `stylize_video(mix=)` refuses, and
    said a 2-D array as "weights must be a list of numbers ..., got ndarray" without its shape:
    docs/api.md promises the one check of the kinds (`settings.check_weights`)."""
    styles = [ra.StyleStats(torch.rand(512), torch.rand(512) + 0.1) for _ in range(2)]
    with pytest.raises(TypeError) as caught:
        ra.StyleStats.mix(styles, weights)
    assert str(caught.value) == f"weights {KINDS}, {got}"
    if weights is not None:
        with pytest.raises(TypeError) as mixed:
            check_weights(weights)
        assert str(mixed.value) == f"mix {KINDS}, or None, {got.replace('weights[', 'mix[')}"


def test_mix_still_takes_what_stylize_video_takes():
    styles = [ra.StyleStats(torch.rand(512), torch.rand(512) + 0.1) for _ in range(2)]
    even = ra.StyleStats.mix(styles, [1, 1]).mean
    for weights in ((1, 1), np.array([2.0, 2.0]), [1e308, 1e308], [np.float32(3), np.int64(3)]):
        assert torch.allclose(ra.StyleStats.mix(styles, weights).mean, even)
    with pytest.raises(ValueError, match=r"^weights\[0\] is too large for a float$"):
        ra.StyleStats.mix(styles, [10**400, 1])
