"""Session 33: what the first GPU run (an H200) found in the engines.

torch compiles a module for 8 shapes at most (`torch._dynamo.config.recompile_limit`); with
`fullgraph=True` the ninth shape was a hard failure (`FailOnRecompileLimitHit`): on a GPU without
TensorRT, 'auto' is the compile engine, and the gpu tests' ninth frame size failed. The compile
engine now runs shapes past its share eagerly, and a shape torch refuses too.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engines_support import assert_close, content_frames
from realtime_adain import engines
from realtime_adain.engines.compiled import recompile_limit_hit


@pytest.mark.slow  # (compiles on the CPU (10-21 s))
def test_shapes_past_the_compile_limit_run_eagerly(stylizer, data_dir, caplog):
    import torch._dynamo

    # (torch's own patch, which restores its config: once, with a monkeypatch here, a later test
    # in the same process found recompile_limit hidden, "does not exist"; cause not established)
    with torch._dynamo.config.patch(recompile_limit=2):  # one shape each (8 by default: 7)
        check_shapes_past_the_compile_limit(stylizer, data_dir, caplog)
    assert torch._dynamo.config.recompile_limit == 8


def check_shapes_past_the_compile_limit(stylizer, data_dir, caplog):
    torch._dynamo.reset()
    style = stylizer.style_stats(content_frames(data_dir, 64, count=1)[0])
    first = engines.create("compile", stylizer.net, stylizer.device, stylizer.dtype)
    other = engines.create("compile", stylizer.net, stylizer.device, stylizer.dtype)
    assert first.compiled_shapes_allowed == 1
    photo = content_frames(data_dir, 64, count=1)[0]
    shapes = [(32, 40), (40, 48), (24, 32)]
    for height, width in shapes:
        frame = np.ascontiguousarray(photo[:height, :width])
        assert_close(stylizer.stylize(frame, style), first.stylize(frame, style))
    assert len(first.compiled_shapes) == 1 and len(first.eager_shapes) == 2
    # Another engine over the same module, allowed more: torch has one entry left for it, then
    # refuses (FailOnRecompileLimitHit), and that shape runs eagerly too.
    other.compiled_shapes_allowed = 5
    for height, width in shapes[1:]:
        frame = np.ascontiguousarray(photo[:height, :width])
        assert_close(stylizer.stylize(frame, style), other.stylize(frame, style))
    assert other.compiled_shapes == {(1, 3, 40, 48)} and other.eager_shapes == {(1, 3, 24, 32)}
    # After torch's first refusal the engine tries no more (each try printed torch's five-line
    # warning, which is kept quiet too).
    assert other.compiled_shapes_allowed == 1
    frame = np.ascontiguousarray(photo[:16, :24])
    assert_close(stylizer.stylize(frame, style), other.stylize(frame, style))
    assert (1, 3, 16, 24) in other.eager_shapes
    assert "recompile_limit" not in caplog.text
    torch._dynamo.reset()


def test_recompile_limit_hit_reads_the_exception_chain():
    class FailOnRecompileLimitHit(Exception):
        pass

    try:
        try:
            raise FailOnRecompileLimitHit("Hard failure due to fullgraph=True")
        except FailOnRecompileLimitHit as inner:
            raise RuntimeError("Dynamo recompile limit exceeded") from inner
    except RuntimeError as outer:
        assert recompile_limit_hit(outer)
    assert recompile_limit_hit(FailOnRecompileLimitHit())
    assert not recompile_limit_hit(RuntimeError("CUDA out of memory"))
    assert not recompile_limit_hit(None)


def test_a_step_the_fp16_scaler_skips_does_not_warn(published_weights, monkeypatch, recwarn):
    """fp16's GradScaler skips an optimizer step whose gradients overflowed (its first, on an
    H200: PyTorch then warned "Detected call of `lr_scheduler.step()` before `optimizer.step()`"
    in every `train --amp fp16` and `bench train`); the schedule still moves on."""
    from realtime_adain import weights
    from realtime_adain.training.config import TrainConfig
    from realtime_adain.training.step import TrainingStep

    vgg, decoder = published_weights
    step = TrainingStep(weights.load_encoder(vgg), weights.load_decoder(decoder).requires_grad_(True),
                        TrainConfig(amp="off"), torch.device("cpu"))
    monkeypatch.setattr(step.scaler, "step", lambda optimizer: None)  # what the scaler does on inf gradients
    content, style = (torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(n)) for n in range(2))
    step.step(content, style)
    assert not [w for w in recwarn if "lr_scheduler" in str(w.message)]
    assert step.scheduler.last_epoch == 1


@pytest.mark.slow  # (default run's time: 2 s)
def test_the_flow_of_a_frame_starts_while_it_waits_for_the_network(data_dir):
    """On an H200 the flow stabiliser took 720p video from 46 to 33 fps: each batch's optical flow
    began only as the batch went to the network, and the on-GPU blend waited for it right after the
    step was queued. The decoder thread now starts each frame's flow as the frame is decoded, so
    the frames of the next batch have theirs under way while the network works on this one."""
    import threading
    import time

    from realtime_adain.temporal import Stabilizer
    from realtime_adain.video.pipeline import Pipeline
    from realtime_adain.video.frames import Frame

    started: dict[int, float] = {}
    lock = threading.Lock()

    class Timed(Stabilizer):
        def motion(self, prev_luma, luma, size, reverse=False):
            with lock:
                started[len(started)] = time.monotonic()
            return super().motion(prev_luma, luma, size, reverse)

    photo = content_frames(data_dir, 96, count=1)[0]
    frames = [Frame(image=np.ascontiguousarray(np.roll(photo, 2 * i, axis=1)), pts=i, duration=1, index=i)
              for i in range(6)]
    handed: list[float] = []

    def stream(batches):
        for batch in batches:
            handed.append(time.monotonic())
            time.sleep(0.5)  # the network's turn
            yield batch

    written = []
    Pipeline(iter(frames), stream, written.append, lambda packet: None, batch_size=2,
             stabilizer=Timed(strength=1.0), motion_workers=1).run()
    assert len(written) == 6 and len(handed) == 3
    assert started[2] < handed[1] and started[4] < handed[2]  # (before: after each hand-over)
