"""GPU engines against fp32 eager on real frames: fp16 eager, compile (CUDA graphs), TensorRT.

Accuracy in uint8 space: relative error < 1e-2 and PSNR > 40 dB; no NaN/Inf, including for a
large frame and all-dark/all-bright frames (fp16 overflow in the early layers and in the AdaIN
statistics). These run only where a CUDA GPU (and torch-tensorrt) is present.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engines_support import assert_close, content_frames, extreme_frames, style_image
from realtime_adain import engines
from realtime_adain.adain import StyleStats
from realtime_adain.engines.cache import EngineCache
from realtime_adain.picture_sizes import resize
from realtime_adain.stylizer import Stylizer

pytestmark = pytest.mark.gpu


def gpu_frames(data_dir) -> list[np.ndarray]:
    """Real photos at 360p-ish and one upscaled to 1080p, plus the extreme frames."""
    photos = content_frames(data_dir, 360, count=2)
    large = resize(photos[0], (1920, 1080))
    return photos + [large] + extreme_frames(360, 640)


@pytest.fixture(scope="module")
def stylizers(published_weights):
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA GPU")
    vgg, decoder = published_weights
    return {dtype: Stylizer.load(vgg, decoder, device="cuda", dtype=dtype) for dtype in ("fp32", "fp16")}


@pytest.fixture(scope="module")
def style(stylizers, data_dir) -> StyleStats:
    return stylizers["fp32"].style_stats(style_image(data_dir, 256))


def test_fp16_eager_matches_fp32(stylizers, style, data_dir):
    for frame in gpu_frames(data_dir):
        assert_close(stylizers["fp32"].stylize(frame, style), stylizers["fp16"].stylize(frame, style))


def test_fp16_activations_stay_finite(stylizers, style, data_dir):
    """Every encoder activation and the output are finite in fp16, for the brightest frames too."""
    fp16 = stylizers["fp16"]
    for frame in gpu_frames(data_dir):
        with torch.inference_mode():
            images = fp16.to_tensor(frame)
            for feature in fp16.net.encoder.features(images):
                assert torch.isfinite(feature).all()
            stats = style.to("cuda", torch.float16)
            assert torch.isfinite(fp16.net(images, stats.mean, stats.std, torch.ones(1, device="cuda").half())).all()


def test_cpu_and_gpu_eager_agree(stylizer, stylizers, style, data_dir):
    frame = content_frames(data_dir, 96, count=1)[0]
    assert_close(stylizer.stylize(frame, style), stylizers["fp32"].stylize(frame, style))


def test_double_buffered_stream_matches_single_calls(stylizers, style, data_dir):
    engine = stylizers["fp16"].engine
    frames = [f[:352, :480] for f in content_frames(data_dir, 360, count=2)] * 3
    streamed = list(engine.stylize_stream(frames, style))
    for frame, out in zip(frames, streamed, strict=True):
        np.testing.assert_array_equal(out, engine.stylize(frame, style))


def test_compile_with_cuda_graphs_matches_fp32(stylizers, style, data_dir):
    fp16 = stylizers["fp16"]
    engine = engines.create("compile", fp16.net, fp16.device, fp16.dtype)
    for frame in content_frames(data_dir, 360, count=2) + extreme_frames(360, 640):
        assert_close(stylizers["fp32"].stylize(frame, style), engine.stylize(frame, style))


@pytest.mark.tensorrt
def test_tensorrt_fp16_matches_fp32_and_style_switch_does_not_rebuild(stylizers, style, data_dir, tmp_path):
    pytest.importorskip("torch_tensorrt")
    fp16 = stylizers["fp16"]
    cache = EngineCache(tmp_path)
    engine = engines.create("tensorrt", fp16.net, fp16.device, fp16.dtype, fp16.weights_id, cache)
    frames = [f[:360, :480] for f in content_frames(data_dir, 360, count=2)] + extreme_frames(360, 480)
    for frame in frames:
        assert_close(stylizers["fp32"].stylize(frame, style), engine.stylize(frame, style))
    assert engine.builds == 1  # one shape, one engine
    other = stylizers["fp32"].style_stats(style_image(data_dir, 256)[::-1].copy())
    switched = engine.stylize(frames[0], other, 0.5)
    assert engine.builds == 1  # a new style and alpha are inputs: nothing rebuilt
    assert_close(stylizers["fp32"].stylize(frames[0], other, 0.5), switched)
    # A second engine loads the cached engine instead of building it.
    again = engines.create("tensorrt", fp16.net, fp16.device, fp16.dtype, fp16.weights_id, cache)
    np.testing.assert_array_equal(again.stylize(frames[0], style), engine.stylize(frames[0], style))
    assert again.builds == 0


@pytest.mark.parametrize("passes", [1, 2])
def test_stabiliser_blends_on_the_gpu_as_on_the_cpu(stylizers, style, data_dir, tmp_path, monkeypatch, passes):
    """`video --stabilize flow` on CUDA warps and blends on the device (`DeviceBlend`; with two
    passes the backward pass too); the same clip with the CPU stage gives the same frames up to
    float arithmetic (lossless FFV1), and both differ from the unstabilized frames (54 dB and
    47 dB on the CPU device, tests/test_device_blend.py)."""
    import av

    from realtime_adain.benchmarks.temporal_quality import psnr
    from realtime_adain.settings import VideoSettings
    from realtime_adain.video import job, temporal_stages
    from realtime_adain.video.encoder_settings import EncodeSettings

    assert temporal_stages.blends_on_device(stylizers["fp16"])
    decoded = {}
    for mode, on_device in (("flow", True), ("flow", False), ("off", True)):
        monkeypatch.setattr(temporal_stages, "blends_on_device", lambda _stylizer, value=on_device: value)
        out = tmp_path / f"{mode}_{on_device}.mkv"
        frames, _ = job.stylize_file(data_dir / "videos" / "cutBunny.mp4", out, stylizers["fp16"], lambda first: style,
                                     VideoSettings(size=360, frames=24, batch=4, stabilize=mode,
                                                   stabilize_passes=passes if mode != "off" else None),
                                     EncodeSettings("ffv1", pix_fmt="bgr0"))
        assert frames == 24 and stylizers["fp16"].engine.after_step is None
        with av.open(str(out)) as container:
            decoded[mode, on_device] = [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]
    device_side, cpu, off = decoded["flow", True], decoded["flow", False], decoded["off", True]
    assert len(device_side) == len(cpu) == 24
    assert psnr(device_side, cpu) > 45
    assert psnr(device_side, off) < psnr(device_side, cpu)


def test_live_blends_on_the_gpu_as_on_the_cpu(stylizers, style, data_dir):
    """`live` on CUDA warps and blends on the device too (chosen by default there); against the
    host blend on the same camera-like frames (57 dB on the CPU device, tests/test_live_session.py)."""
    from realtime_adain.benchmarks.temporal_quality import psnr
    from realtime_adain.live.controller import Controller
    from realtime_adain.live.stability import Stability
    from realtime_adain.video.frames import Frame
    from realtime_adain.video.reader import VideoReader

    with VideoReader(data_dir / "videos" / "cutBunny.mp4", max_frames=12) as reader:
        clip = [resize(item.image, (640, 360)) for item in reader.items() if isinstance(item, Frame)]
    shown = {}
    for on_device in (None, False):
        stability = Stability(stylizers["fp16"], on_device=on_device)
        assert (stability.device_blend is not None) == (on_device is None)
        controller = Controller(["a"], stabilize="flow")
        try:
            shown[on_device] = [stability.stylize(controller.state, content, style) for content in clip]
        finally:
            stability.close()
        assert stylizers["fp16"].engine.after_step is None
    assert psnr(shown[None], shown[False]) > 45
