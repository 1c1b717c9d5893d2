"""Session 54's fixes to the Python API: a PIL image with a side of 0 is refused as an empty array
is (it divided by zero scaling to `size`, or was named as the frames it became); `StyleStats.to`
refuses an int device and a dtype that is not floating as `Stylizer.load` does; `Stylizer.to_uint8`
refuses a meta or complex tensor."""

from __future__ import annotations

import subprocess

import numpy as np
import pytest
import torch
from PIL import Image

import realtime_adain as ra
from realtime_adain.adain import StyleStats

EMPTY_PIL = {
    "0x0": lambda: Image.new("RGB", (0, 0)),
    "cropped to no width": lambda: Image.new("RGB", (64, 64)).crop((10, 10, 10, 40)),
}

CALLS = {  # a call, and the argument it names
    "style": (lambda st, s, im: st.style(im), "image"),
    "stylize_image at size": (lambda st, s, im: st.stylize_image(im, s, size=64), "image"),
    "stylize_image as it is": (lambda st, s, im: st.stylize_image(im, s, size=None), "image"),
    "stylize_frames": (lambda st, s, im: list(st.stylize_frames([im], s)), r"frames\[0\]"),
    "style_stats": (lambda st, s, im: st.style_stats(im, 64), "image"),
    "color_reference": (lambda st, s, im: st.style_stats(np.full((16, 16, 3), 90, np.uint8), 64,
                                                         color_reference=im), "color_reference"),
}


@pytest.fixture(scope="module")
def style() -> StyleStats:
    generator = torch.Generator().manual_seed(54)
    return StyleStats(torch.rand(512, generator=generator), torch.rand(512, generator=generator) + 0.1)


@pytest.mark.parametrize("pil", list(EMPTY_PIL))
@pytest.mark.parametrize("call", list(CALLS))
def test_a_pil_image_with_a_side_of_zero_is_refused_as_an_empty_array(stylizer, style, call, pil):
    """ZeroDivisionError where it was scaled to a size; 'frames must be ...' where it was not."""
    run, name = CALLS[call]
    image = EMPTY_PIL[pil]()
    with pytest.raises(ValueError, match=f"^{name} has a side of 0 pixels \\({image.size[0]}x{image.size[1]}\\): "
                                         "it holds no picture$"):
        run(stylizer, style, image)


def test_stylize_video_refuses_an_empty_pil_style(tmp_path, published_weights):
    clip = tmp_path / "clip.mp4"
    subprocess.run(["ffmpeg", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc=size=32x32:rate=5", "-t", "0.4",
                    "-pix_fmt", "yuv420p", str(clip)], check=True)
    vgg, decoder = published_weights
    with pytest.raises(ValueError, match=r"^style has a side of 0 pixels \(0x0\)"):
        ra.stylize_video(clip, tmp_path / "out.mp4", style=Image.new("RGB", (0, 0)),
                         model=ra.ModelSettings(vgg=str(vgg), decoder=str(decoder), device="cpu"))
    assert not (tmp_path / "out.mp4").exists()


@pytest.mark.parametrize("device", [5, 0, 1.5])
def test_style_stats_to_refuses_an_int_device_as_stylizer_load_does(style, device):
    """`.to(5)` was taken as 'cuda:5' (a ValueError without a GPU, a GPU with one); `Stylizer.load`
    says it is no str."""
    said = f"^device must be a str such as 'auto', got {type(device).__name__}$"
    with pytest.raises(TypeError, match=said):
        style.to(device)
    with pytest.raises(TypeError, match=said):
        ra.Stylizer.load(device=device)
    assert style.to(torch.device("cpu")).mean.device.type == "cpu"


@pytest.mark.parametrize("dtype", [torch.bool, torch.int8, torch.uint8, torch.int64, torch.complex64,
                                   torch.float8_e4m3fn, torch.float8_e5m2], ids=str)
def test_style_stats_to_refuses_a_dtype_that_is_not_floating(style, dtype):
    """torch.bool passed (for `stylize` to refuse it later); int8 and uint8 cut the statistics."""
    with pytest.raises(ValueError, match=f"^dtype {dtype} cannot hold a style's statistics"):
        style.to("cpu", dtype)
    for floating in (torch.float16, torch.bfloat16, torch.float32, torch.float64):
        assert style.to("cpu", floating).std.dtype == floating


def test_to_uint8_refuses_meta_and_complex_tensors(stylizer):
    """A meta tensor was torch's NotImplementedError ('Cannot copy out of meta tensor'); a complex
    one lost its imaginary part with a warning only."""
    with pytest.raises(ValueError, match="^images are on the meta device"):
        stylizer.to_uint8(torch.zeros(1, 3, 2, 2, device="meta"))
    with pytest.raises(TypeError, match="^images must be a real tensor, got torch.complex64$"):
        stylizer.to_uint8(torch.zeros(1, 3, 2, 2, dtype=torch.complex64))
    for odd in (torch.zeros(1, 3, 2, 2).to_sparse(), torch.nested.as_nested_tensor([torch.zeros(3, 2, 2)])):
        with pytest.raises(TypeError, match="^images must be a dense tensor, not a sparse or nested one$"):
            stylizer.to_uint8(odd)  # (torch's "add(sparse, dense) is not supported", "Internal error")
    assert stylizer.to_uint8(torch.ones(1, 3, 2, 2)).tolist() == np.full((1, 2, 2, 3), 255, np.uint8).tolist()


@pytest.mark.parametrize("device", [5, 0, 1.5])
def test_two_pass_refuses_an_int_device_as_stylizer_load_does(device):
    from realtime_adain.temporal.two_pass import TwoPassStabilizer

    with pytest.raises(TypeError, match=f"^device must be a str such as 'auto', got {type(device).__name__}$"):
        TwoPassStabilizer(device=device)
