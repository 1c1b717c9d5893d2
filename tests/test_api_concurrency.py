"""The API under several threads and processes at once, as web servers and notebooks call it:
one shared Stylizer gives every thread what it gives one call at a time (bit for bit on the CPU),
videos and streams run side by side, the style cache survives concurrent writers and damaged
files, and a Stylizer works after fork and pickle. See docs/api.md, "Threads and processes"."""

from __future__ import annotations

import multiprocessing
import pickle
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import av
import numpy as np
import pytest
import torch
from safetensors.torch import save_file

import realtime_adain as ra
from realtime_adain.engines.eager import EagerEngine
from realtime_adain.engines.frames import CudaFrames
from realtime_adain.imageio import write_image
from realtime_adain.live.styles import StyleLibrary
from test_engines_cuda_frames import cpu_as_cuda  # noqa: F401  (fixture: CUDA's streams on the CPU)
from video_samples import gradient_frames, write_video

RNG = np.random.default_rng(7)
IMAGES = [RNG.integers(0, 256, (40 + 8 * i, 56 - 4 * i, 3), np.uint8) for i in range(4)]
ALPHAS = [1.0, 0.5, 0.8, 0.3]


@pytest.fixture(scope="module")
def styles(stylizer):
    return [stylizer.style(RNG.integers(0, 256, (48, 48, 3), np.uint8), size=48) for _ in range(4)]


def run_threads(count: int, work) -> list:
    """`work(i)` in `count` threads started together; results in order, exceptions re-raised."""
    barrier = threading.Barrier(count)

    def start(i):
        barrier.wait()
        return work(i)

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(start, range(count)))


def test_one_stylizer_shared_by_threads_gives_the_serial_results(stylizer, styles, one_thread):
    """The engine's style inputs are tensors kept between calls: a thread's style was overwritten
    by another's before its step ran (102 of 120 results wrong, silently)."""
    expected = [stylizer.stylize(IMAGES[i], styles[i], ALPHAS[i]) for i in range(4)]
    expected_image = [stylizer.stylize_image(IMAGES[i], styles[i], ALPHAS[i], size=32) for i in range(4)]

    def work(i):
        k = i % 4
        return [(stylizer.stylize(IMAGES[k], styles[k], ALPHAS[k]),
                 stylizer.stylize_image(IMAGES[k], styles[k], ALPHAS[k], size=32),
                 stylizer.style(IMAGES[k], size=32)) for _ in range(3)]

    for i, rounds in enumerate(run_threads(8, work)):
        k = i % 4
        for plain, image, style in rounds:
            assert np.array_equal(plain, expected[k]) and np.array_equal(image, expected_image[k]), f"thread {i}"
            assert torch.equal(style.mean, stylizer.style(IMAGES[k], size=32).mean)


def test_a_stream_and_single_calls_at_once(stylizer, styles, one_thread):
    """A `stylize_frames` consumer and `stylize` callers on other threads: each keeps its style."""
    frames = [IMAGES[0]] * 6
    expected_stream = list(stylizer.stylize_frames(frames, styles[0], 0.9, batch=2))
    expected = stylizer.stylize(IMAGES[1], styles[1])

    def work(i):
        if i == 0:
            return list(stylizer.stylize_frames(frames, styles[0], 0.9, batch=2))
        return [stylizer.stylize(IMAGES[1], styles[1]) for _ in range(4)]

    stream, *singles = run_threads(3, work)
    assert all(np.array_equal(a, b) for a, b in zip(stream, expected_stream, strict=True))
    assert all(np.array_equal(out, expected) for outs in singles for out in outs)


def decoded(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]


@pytest.mark.slow  # (default run's time: 2 s)
def test_two_videos_at_once_with_one_stylizer(stylizer, styles, tmp_path, one_thread):
    """Two `stylize_video` calls sharing a Stylizer: the smoothing hook set on the engine by one
    run smoothed the other's frames too, and the first to finish removed it from the other."""
    sources = [write_video(tmp_path / "gradient.mp4", gradient_frames(12, 48, 32)),
               write_video(tmp_path / "noise.mp4", [RNG.integers(0, 256, (32, 48, 3), np.uint8) // (1 + i % 4)
                                                    for i in range(12)])]

    def video(i: int, output: Path) -> list[np.ndarray]:
        ra.stylize_video(sources[i], output, style=styles[i], stabilize="stats", stylizer=stylizer, crf=0)
        return decoded(output)

    expected = [video(i, tmp_path / f"serial{i}.mp4") for i in range(2)]
    together = run_threads(2, lambda i: video(i, tmp_path / f"together{i}.mp4"))
    for want, got in zip(expected, together):
        assert len(got) == len(want) == 12
        assert all(np.array_equal(a, b) for a, b in zip(want, got))


def test_engine_hooks_belong_to_the_thread_that_sets_them(stylizer, styles, one_thread):
    """`stylize_video` sets the engine's `content_stats` (smoothing) for its run and clears it at
    the end: a run on another thread used it, or lost its own when the first run ended."""
    engine = stylizer.engine
    hooks = [lambda mean, std: (mean * 0.5, std), lambda mean, std: (mean, std * 2.0)]

    def hooked(i: int) -> list[np.ndarray]:
        engine.content_stats = hooks[i]
        try:
            return [engine.stylize(IMAGES[i], styles[i]) for _ in range(4)]
        finally:
            engine.content_stats = None

    expected = [hooked(i) for i in range(2)]
    assert not np.array_equal(expected[0][0], stylizer.stylize(IMAGES[0], styles[0]))  # the hook matters
    together = run_threads(2, hooked)
    assert all(np.array_equal(a, b) for i in range(2) for a, b in zip(expected[i], together[i]))
    assert engine.content_stats is None and engine.after_step is None


def test_engine_built_once_for_threads_asking_together(published_weights):
    """(Python 3.12 dropped cached_property's lock: every thread built its own engine.)"""
    stylizer = ra.Stylizer.load(*published_weights, device="cpu")
    engines = run_threads(6, lambda i: stylizer.engine)
    assert all(engine is engines[0] for engine in engines)


def test_a_stream_left_early_leaves_no_thread_and_the_engine_free(stylizer, styles, one_thread):
    before = threading.active_count()
    stream = stylizer.stylize_frames(iter([IMAGES[0]] * 5), styles[0])
    for _ in stream:
        break
    stream.close()
    results = stylizer.stylize_frames([IMAGES[0]] * 3, styles[0])
    next(results)  # a stream abandoned half way, never closed
    assert threading.active_count() == before
    done = run_threads(2, lambda i: stylizer.stylize(IMAGES[2], styles[2]))  # nothing waits for them
    assert np.array_equal(done[0], done[1])


def _store_many(weights, folder: Path, cache: Path, rounds: int) -> str:
    """A process of its own writing the same cache files over and over (spawned: see below)."""
    torch.set_num_threads(1)
    stylizer = ra.Stylizer.load(*weights, device="cpu")
    library = StyleLibrary([folder], stylizer, 32, cache).load()
    for _ in range(rounds):
        for style in library.styles:
            library._store(style.digest, style.stats, style.thumbnail, style.path.name)
    return stylizer.encoder_id


@pytest.mark.slow  # (several interpreters (6 s); threads sharing the cache run by default)
def test_processes_writing_one_style_cache_at_once(published_weights, stylizer, tmp_path):
    folder, cache = tmp_path / "styles", tmp_path / "cache"
    folder.mkdir()
    for k in range(2):
        write_image(folder / f"s{k}.png", RNG.integers(0, 256, (40, 40, 3), np.uint8))
    context = multiprocessing.get_context("spawn")
    with context.Pool(2) as pool:
        writers = pool.starmap_async(_store_many, [(published_weights, folder, cache, 60)] * 2)
        reads = 0
        while not writers.ready():  # meanwhile every file read back is whole
            logged = []
            library = StyleLibrary([folder], stylizer, 32, cache, log=lambda *a, **k: logged.append(a)).load()
            assert not logged and library.computed + library.reused == 2
            reads += 1
        writers.get(timeout=60)
    assert reads > 1
    assert sorted(p.suffix for p in cache.iterdir()) == [".safetensors"] * 2  # no temporary left


@pytest.mark.parametrize("damage", ["truncated", "three values", "negative std", "wrong thumbnail"])
def test_a_damaged_style_cache_file_is_rebuilt(stylizer, tmp_path, damage):
    """A file of the right form but three means, or negative stds, was trusted: the first frame
    failed (size mismatch) or was silently wrong."""
    folder, cache = tmp_path / "styles", tmp_path / "cache"
    folder.mkdir()
    write_image(folder / "s.png", RNG.integers(0, 256, (40, 40, 3), np.uint8))
    good = StyleLibrary([folder], stylizer, 32, cache).load()
    [path] = cache.iterdir()
    thumb = torch.zeros(64, 64, 3, dtype=torch.uint8)
    if damage == "truncated":
        path.write_bytes(path.read_bytes()[:100])
    else:
        mean, std = {"three values": (torch.zeros(3), torch.ones(3)),
                     "negative std": (torch.zeros(512), -torch.ones(512)),
                     "wrong thumbnail": (torch.zeros(512), torch.ones(512))}[damage]
        save_file({"mean": mean, "std": std, "thumbnail": thumb[:8] if damage == "wrong thumbnail" else thumb}, path)
    logged = []
    again = StyleLibrary([folder], stylizer, 32, cache, log=lambda *a, **k: logged.append((a, k))).load()
    assert (again.computed, again.reused) == (1, 0) and logged[0][0] == ("style-cache-rebuild",)
    assert torch.equal(again[0].stats.mean, good[0].stats.mean)
    assert StyleLibrary([folder], stylizer, 32, cache).load().reused == 1  # the rebuilt file is whole


def _child_stylizes(_):
    return _SHARED["stylizer"].stylize(IMAGES[0], _SHARED["style"])


_SHARED: dict = {}


@pytest.mark.slow  # (default run's time, 2026-12-07: a rarer variant; the corpus and `-m slow` runs keep it)
def test_a_stylizer_used_after_fork(published_weights):
    """gunicorn's --preload: load (and warm up) in the parent, stylize in forked workers. GNU
    OpenMP's pool does not survive fork: the children hung in their first convolution."""
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        stylizer = ra.Stylizer.load(*published_weights, device="cpu")
        style = stylizer.style(IMAGES[1], size=48)
        expected = stylizer.stylize(IMAGES[0], style)
        _SHARED.update(stylizer=stylizer, style=style)
        pool = multiprocessing.get_context("fork").Pool(2)
        try:
            results = pool.map_async(_child_stylizes, range(2)).get(timeout=30)
        finally:
            pool.terminate()
            pool.join()
    finally:
        torch.set_num_threads(before)
        _SHARED.clear()
    assert all(np.array_equal(result, expected) for result in results)


def test_a_pickled_stylizer_works(stylizer, styles, one_thread):
    expected = stylizer.stylize(IMAGES[0], styles[0])
    copy = pickle.loads(pickle.dumps(stylizer))  # after use: its engine (and locks) built anew
    assert np.array_equal(copy.stylize(IMAGES[0], styles[0]), expected) and copy.engine is not stylizer.engine
    assert np.array_equal(copy.stylize(IMAGES[0], pickle.loads(pickle.dumps(styles[0]))), expected)


def test_gpu_frame_buffers_of_a_stream_are_its_own(stylizer, styles, cpu_as_cuda, one_thread):
    """On a GPU a stream keeps a batch in its frame buffers while the consumer holds the one
    before: a `stylize` from another thread meanwhile (here interleaved, deterministically) wrote
    its frame into them, or reallocated them for its own size. (CUDA's streams mocked, no GPU.)"""
    engine = EagerEngine(stylizer.net, torch.device("cpu"), torch.float32)
    engine.frames = CudaFrames(torch.device("cpu"), torch.float32, torch.channels_last)
    batches = [np.stack([IMAGES[0]] * 2)] * 4
    expected = [engine.stylize(batch, styles[0]) for batch in batches]
    singles = [engine.stylize(IMAGES[k], styles[k]) for k in (0, 1)]
    got = []
    for result in engine.stylize_stream(batches, styles[0]):
        got.append(result)
        for k in (0, 1):  # the same size as the stream's frames, and another
            assert np.array_equal(engine.stylize(IMAGES[k], styles[k]), singles[k])
    assert all(np.array_equal(a, b) for a, b in zip(got, expected, strict=True))
    assert np.array_equal(engine.stylize(batches[0], styles[0]), expected[0])  # its buffers are back


def test_a_video_interrupted_stops_its_threads(published_weights, styles, tmp_path, one_thread):
    """Ctrl-C in the middle of `stylize_video` (raised here by the third batch's step): every
    thread it started has ended when the KeyboardInterrupt reaches the caller, and the engine
    works on."""
    stylizer = ra.Stylizer.load(*published_weights, device="cpu")
    source = write_video(tmp_path / "in.mp4", gradient_frames(40, 32, 24))
    engine, steps = stylizer.engine, []

    def step(*args):
        steps.append(1)
        if len(steps) == 3:
            raise KeyboardInterrupt
        return type(engine).step(engine, *args)

    engine.step = step
    before = {t for t in threading.enumerate() if t.name != "tqdm_monitor"}
    with pytest.raises(KeyboardInterrupt):
        ra.stylize_video(source, tmp_path / "out.mp4", style=styles[0], stylizer=stylizer, stabilize="stats")
    assert {t for t in threading.enumerate() if t.name != "tqdm_monitor"} == before
    assert engine.content_stats is None
    del engine.step
    assert stylizer.stylize(IMAGES[0], styles[0]).shape == IMAGES[0].shape
