"""The GPU frame path (`CudaFrames` and the double-buffered `stylize_stream`) run on the CPU.

No GPU exists here, so CUDA's streams, events and pinned memory are replaced by synchronous
stand-ins (a mock of the absent hardware only): the conversions, padding, cropping, rounding and
the slot bookkeeping of double buffering are the real code, and must give what the CPU path gives.
Asynchrony itself is checked on a GPU by tests/test_engines_gpu.py.
"""

from __future__ import annotations

import contextlib

import numpy as np
import pytest
import torch

from engines_support import content_frames, extreme_frames, style_image
from realtime_adain.engines.eager import EagerEngine
from realtime_adain.engines.frames import CudaFrames


class SynchronousStream:
    """A CUDA stream where every operation has finished by the time it returns."""

    def wait_event(self, event) -> None:
        assert event.recorded, "waiting for an event that was never recorded"


class SynchronousEvent:
    def __init__(self, *args, **kwargs) -> None:
        self.recorded = False

    def record(self, stream=None) -> None:
        self.recorded = True

    def synchronize(self) -> None:
        assert self.recorded, "synchronizing on an event that was never recorded"


@pytest.fixture
def cpu_as_cuda(monkeypatch):
    stream = SynchronousStream()
    monkeypatch.setattr(torch.cuda, "Stream", lambda *args, **kwargs: stream)
    monkeypatch.setattr(torch.cuda, "Event", SynchronousEvent)
    monkeypatch.setattr(torch.cuda, "stream", lambda s: contextlib.nullcontext())
    monkeypatch.setattr(torch.cuda, "current_stream", lambda *args: stream)
    monkeypatch.setattr(torch.cuda, "synchronize", lambda *args: None)
    monkeypatch.setattr(torch.Tensor, "pin_memory", lambda self: self)


@pytest.fixture
def engine_pair(stylizer, cpu_as_cuda):
    """(host path, GPU path on the CPU) around the same eager network."""
    host = EagerEngine(stylizer.net, torch.device("cpu"), torch.float32)
    device_path = EagerEngine(stylizer.net, torch.device("cpu"), torch.float32)
    device_path.frames = CudaFrames(torch.device("cpu"), torch.float32, torch.channels_last)
    return host, device_path


def assert_nearly_equal(expected: np.ndarray, got: np.ndarray) -> None:
    """Equal up to the last-bit differences of convolutions in another memory layout."""
    assert got.shape == expected.shape and got.dtype == np.uint8
    difference = np.abs(got.astype(int) - expected.astype(int))
    assert difference.max() <= 1 and (difference > 0).mean() < 1e-3


def test_device_frame_path_matches_the_host_path(engine_pair, stylizer, data_dir):
    host, device_path = engine_pair
    style = stylizer.style_stats(style_image(data_dir))
    for frame in [f[:45, :61] for f in content_frames(data_dir, 45)] + extreme_frames(24, 32):
        assert_nearly_equal(host.stylize(frame, style, 0.8), device_path.stylize(frame, style, 0.8))


def test_double_buffered_stream_keeps_order_across_shape_changes(engine_pair, stylizer, data_dir):
    """Batches alternate between the two slots; a new shape drains the pipeline and reallocates."""
    host, device_path = engine_pair
    style = stylizer.style_stats(style_image(data_dir))
    photos = content_frames(data_dir, 40, count=2)
    batches = [photos[0][:40, :48], photos[1][:40, :48], photos[0][:40, :48],  # one shape, slots 0 1 0
               photos[1][:33, :41], photos[0][:33, :41],  # needs padding: the shape changes
               np.stack([photos[0][:40, :48], photos[1][:40, :48]])]  # a batch of two
    streamed = list(device_path.stylize_stream(batches, style, 1.0))
    assert len(streamed) == len(batches)
    for batch, out in zip(batches, streamed, strict=True):
        assert_nearly_equal(host.stylize(batch, style, 1.0), out)
    assert device_path.frames.shape == batches[-1].shape
