"""The stabiliser's warp and blend on the stylizer's device (`DeviceBlend`, used on CUDA), run here
on the CPU device: it must give the frames `Stabilizer.apply` gives, up to its float state."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from realtime_adain.benchmarks.temporal_quality import psnr
from realtime_adain.temporal.device_blend import DeviceBlend
from realtime_adain.temporal import Stabilizer
from realtime_adain.video.pipeline import Pipeline
from realtime_adain.video.frames import Frame
from test_temporal import camera_clip, flickering


def as_images(frame: np.ndarray, pad: int = 0) -> torch.Tensor:
    """(H, W, 3) uint8 -> (1, 3, H + pad, W + pad) in [0, 1], padded as engines pad (with junk)."""
    images = torch.full((1, 3, frame.shape[0] + pad, frame.shape[1] + pad), 7.0)
    images[0, :, :frame.shape[0], :frame.shape[1]] = torch.from_numpy(frame).permute(2, 0, 1) / 255.0
    return images


def as_frame(images: torch.Tensor, height: int, width: int) -> np.ndarray:
    return (images[0, :, :height, :width].clamp(0, 1) * 255 + 0.5).to(torch.uint8).permute(1, 2, 0).numpy()


@pytest.mark.parametrize("pad", [0, 5])
def test_device_blend_gives_the_frames_of_the_cpu_blend(pad):
    """Same motions, same rules: frame by frame within a few grey levels of `Stabilizer.apply`
    (bilinear weights in float against OpenCV's 1/32 pixel steps; a float state and weight against
    the 8-bit ones, each blend rounded twice: 54 dB here), cuts counted alike, and the padding the engine adds left as it was."""
    clip = camera_clip()
    stylized = flickering(clip)
    host, device_side = Stabilizer(0.7, flow_width=80), Stabilizer(0.7, flow_width=80)
    blend = DeviceBlend(device_side)
    previous = None
    expected, got = [], []
    for content, frame in zip(clip, stylized):
        luma = host.luma(content)
        motion = host.motion(previous, luma, frame.shape[:2])
        previous = luma
        expected.append(host.apply(motion, frame))
        images = as_images(frame, pad)
        blend.blend(motion, images[0], frame.shape[:2])
        got.append(as_frame(images, *frame.shape[:2]))
        if pad:
            assert torch.all(images[0, :, frame.shape[0]:, :] == 7.0) and torch.all(images[0, :, :, frame.shape[1]:] == 7.0)
    assert device_side.cuts == host.cuts == 3
    differences = [np.abs(a.astype(int) - b).max() for a, b in zip(got, expected)]
    assert max(differences) <= 2, differences
    assert psnr(got, expected) > 50
    assert psnr(got, stylized) < psnr(expected, stylized) + 1  # it blends as much


def test_device_blend_in_the_video_pipeline_with_a_real_engine(stylizer):
    """The pipeline announces each batch's motions; the engine calls the blend after its step
    (a short last batch is filled up: only real frames are blended). Against the CPU stage."""
    clip = [frame[30:90:2, 20:158:2] for frame in camera_clip()[:9]]  # 30x69, not multiples of 8: the engine pads

    def run(device_side: bool) -> list[np.ndarray]:
        written: list[np.ndarray] = []
        stabilizer = Stabilizer(0.7, flow_width=80)
        blend = DeviceBlend(stabilizer) if device_side else None
        stylizer.engine.after_step = blend
        try:
            Pipeline(iter([Frame(frame.copy(), i, 1, i) for i, frame in enumerate(clip)]),
                     stylize_stream=lambda batches: stylizer.stylize_stream(batches, style),
                     write_frame=lambda frame: written.append(frame.image), write_packet=print, batch_size=3,
                     stabilizer=stabilizer, device_blend=blend).run()
        finally:
            stylizer.engine.after_step = None
        return written

    style = stylizer.style_stats(clip[0], 64)
    per_frame = [stylizer.stylize(frame, style) for frame in clip]
    cpu, device_side = run(False), run(True)
    assert len(device_side) == len(cpu) == len(clip)
    assert psnr(device_side, cpu) > 50  # 56 dB here
    assert psnr(cpu, per_frame) < 45 and psnr(device_side, per_frame) < 45  # both did blend (37 dB here)


@pytest.mark.parametrize("passes", [1, 2])
@pytest.mark.slow_cases('1', '2')  # (default run's time: 1 stays)
def test_video_job_wires_the_device_blend_and_unhooks_it(stylizer, data_dir, tmp_path, monkeypatch, passes):
    """`video` with the blend on the stylizer's device (chosen on CUDA; forced here on the CPU):
    the frames of the stabilize thread's up to float arithmetic (lossless FFV1, so the encoder
    hides nothing), far from the unstabilized ones, and the engine's hook removed afterwards.
    With two passes the forward pass runs on the device and the backward one on the CPU."""
    import av

    from realtime_adain.imageio import read_image
    from realtime_adain.settings import VideoSettings
    from realtime_adain.video import job, temporal_stages
    from realtime_adain.video.encoder_settings import EncodeSettings

    assert not temporal_stages.blends_on_device(stylizer)  # the CPU: the stabilize thread
    style = stylizer.style_stats(read_image(data_dir / "style" / "brushstrokes.jpg"), 64)
    decoded = {}
    for mode, on_device in (("flow", True), ("flow", False), ("off", False)):
        monkeypatch.setattr(temporal_stages, "blends_on_device", lambda _stylizer, value=on_device: value)
        out = tmp_path / f"{mode}_{on_device}.mkv"
        frames, _ = job.stylize_file(data_dir / "videos" / "cutBunny.mp4", out, stylizer, lambda first: style,
                                     VideoSettings(size=48, frames=12, batch=3, stabilize=mode,
                                                   stabilize_passes=passes if mode != "off" else None),
                                     EncodeSettings("ffv1", pix_fmt="bgr0"))
        assert frames == 12 and stylizer.engine.after_step is None
        with av.open(str(out)) as container:
            decoded[mode, on_device] = [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]
    device_side, cpu, off = decoded["flow", True], decoded["flow", False], decoded["off", False]
    assert len(device_side) == len(cpu) == 12
    assert psnr(device_side, cpu) > 50  # 54 dB here
    assert psnr(device_side, off) < psnr(device_side, cpu) - 4  # it did blend (47 dB from off)
