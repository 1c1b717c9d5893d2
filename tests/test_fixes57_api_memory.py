"""Session 57's fixes to what an API call holds in memory: `Stylizer.style_stats` counts its colour
reference's copy in its memory check, before copying it, and says it as the reference's."""

from __future__ import annotations

import errno
import os
import signal
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

import realtime_adain as ra
from realtime_adain import atomic, available_memory
from realtime_adain.interrupts import Terminated
from realtime_adain.library_signals import signals_through_libraries
from realtime_adain.stylizer import OutOfMemory
from realtime_adain.video.frames import Frame
from realtime_adain.video.pipeline import Pipeline
from test_fixes57_api import grown_after, without_cycle_collection


@pytest.fixture
def free_mib(monkeypatch):
    """What is available, set in MiB (a patched reading), with every call checked."""
    monkeypatch.setattr(available_memory, "UNCHECKED_BYTES", 0)
    return lambda mib: monkeypatch.setattr(available_memory, "free_memory", lambda device: mib * 2**20)


def peak_of(call) -> int:
    """Bytes numpy and Python took at the peak of `call` (what it raised is kept for the caller)."""
    tracemalloc.start()
    try:
        try:
            call()
        except Exception as exc:  # noqa: BLE001 (returned to be checked)
            return tracemalloc.get_traced_memory()[1], exc
        return tracemalloc.get_traced_memory()[1], None
    finally:
        tracemalloc.stop()


SMALL_STYLE = np.full((32, 32, 3), 90, np.uint8)  # 0.8 MB in the encoder


@pytest.mark.parametrize("reference", [
    pytest.param(lambda: np.broadcast_to(np.uint8(7), (2000, 2000, 3)), id="view"),
    pytest.param(lambda: np.broadcast_to(np.uint8(7), (2000, 2000)), id="grey"),
])
def test_style_stats_counts_its_colour_references_copy_before_making_it(stylizer, free_mib, one_thread, reference):
    """A small style with a huge reference (a 16000 x 16000 view: 768 MB copied) was copied before
    the check, which counted the style's pixels only: taken unchecked, or refused as the style's
    'needs about 0 MiB; lower size', where lowering size changes nothing."""
    free_mib(8)
    peak, error = peak_of(lambda: stylizer.style_stats(SMALL_STYLE, color_reference=reference()))
    assert isinstance(error, OutOfMemory), error
    assert str(error) == ("color_reference: out of memory (needs about 12 MiB, and 8 MiB is available); "
                          "pass a smaller color_reference")
    assert peak < 4 * 2**20, f"{peak / 2**20:.1f} MiB taken before the refusal"


def test_style_stats_counts_no_copy_of_a_reference_taken_as_it_is(stylizer, free_mib, one_thread):
    """A contiguous RGB array is not copied (it is held already): it fits as before."""
    free_mib(8)
    reference = np.full((2000, 2000, 3), 7, np.uint8)
    assert isinstance(stylizer.style_stats(SMALL_STYLE, color_reference=reference), ra.StyleStats)


def test_style_stats_says_a_large_style_as_the_styles(stylizer, free_mib, one_thread):
    """Where the style is the larger part, lowering size is what helps."""
    free_mib(1)
    with pytest.raises(OutOfMemory, match=r"^image: out of memory \(needs about 7 MiB, and 1 MiB is available\); "
                                          r"lower size$"):
        stylizer.style_stats(np.full((96, 96, 3), 9, np.uint8), color_reference=np.broadcast_to(np.uint8(7), (8, 8, 3)))


def test_a_video_run_interrupted_twice_holds_none_of_the_engines_frames(monkeypatch):
    """A Ctrl-C while the engine ran, and another while the run wound down (`_wind_down` holds it):
    the second, kept in a local of a frame its traceback holds, kept that frame, and the first
    Ctrl-C's traceback (its context: the engine's frames and their activations, 98 MB at 640x480
    in `stylize_video`), until a cyclic GC."""
    def step(batch):
        activations = np.ones(2**22, np.uint8)  # (what the engine's frame holds when the signal comes)
        if int(batch[0, 0, 0, 0]) == 1:
            raise KeyboardInterrupt
        return batch + activations[:1]

    def stylize_stream(batches):
        for batch in batches:
            yield step(batch)

    put = Pipeline._put_downstream
    interrupted = []

    def put_interrupted(self, target, item, wait_always=False):
        if wait_always and not interrupted:  # (the second Ctrl-C, as the run winds down)
            interrupted.append(True)
            raise KeyboardInterrupt
        return put(self, target, item, wait_always)

    monkeypatch.setattr(Pipeline, "_put_downstream", put_interrupted)

    def run() -> None:
        interrupted.clear()
        frames = [Frame(np.full((4, 4, 3), index, np.uint8), index, 1, index) for index in range(4)]
        Pipeline(iter(frames), stylize_stream=stylize_stream, write_frame=lambda frame: None,
                 write_packet=lambda packet: None, batch_size=1).run()

    with without_cycle_collection():
        grown = grown_after([run] * 3, KeyboardInterrupt)
    assert interrupted == [True]
    assert grown < 2**20, f"{grown / 2**20:.1f} MiB still held after three runs"


def full_disk(path, data):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))


def failing_rename(source, target):
    raise OSError(errno.EIO, os.strerror(errno.EIO))


@pytest.mark.parametrize("fails", [
    pytest.param(lambda monkeypatch: monkeypatch.setattr(Path, "write_bytes", full_disk), id="writing"),
    pytest.param(lambda monkeypatch: monkeypatch.setattr(atomic.os, "replace", failing_rename), id="publishing"),
])
def test_a_failed_write_image_holds_no_copy_of_the_image(tmp_path, monkeypatch, fails):
    """A full disk (or a failed rename) in `write_image`: the error `PendingOutput` said in its
    place (naming the output), kept in a local of the frame raising it, held that frame and every
    caller's, with the image's copy and its encoded bytes twice (11.5 MB for a 1000x1000 view)."""
    fails(monkeypatch)
    image = np.broadcast_to(np.uint8(7), (600, 800, 3))
    with without_cycle_collection():
        grown = grown_after([lambda: ra.write_image(tmp_path / "out.png", image)] * 3, ra.UserError)
    assert grown < 2**20, f"{grown / 2**20:.1f} MiB still held after three failures"
    assert not list(tmp_path.iterdir())


def test_a_signal_through_a_library_holds_none_of_its_frames():
    """A Ctrl-C the ONNX exporter wrapped in its own error (`Stylizer.load(engine="onnx")`), said
    as the Ctrl-C by `signals_through_libraries`: kept in a local there (and, through the
    exporter's error, `contextlib`'s argument), it held the exporter's frames until a cyclic GC."""
    def export():
        graph = np.ones(2**22, np.uint8)  # (what the exporter's frames hold)
        try:
            raise Terminated(signal.SIGHUP)
        except KeyboardInterrupt as exc:
            raise RuntimeError(f"export failed ({graph.size})") from exc

    def load():
        with signals_through_libraries():
            export()

    with without_cycle_collection():
        grown = grown_after([load] * 3, KeyboardInterrupt)
    assert grown < 2**20, f"{grown / 2**20:.1f} MiB still held after three interrupts"
    with pytest.raises(Terminated) as caught:
        load()
    assert caught.value.signum == signal.SIGHUP
