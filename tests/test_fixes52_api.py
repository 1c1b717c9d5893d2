"""Session 52's fixes to the Python API: a picture over its pixel budget is refused from its height
and width before its pixels are copied (a broadcast view over max_pixels was copied, 768 MB and
13 s, before the refusal); `stylize_stream` names the batch it refuses; the public helpers
`Stylizer.from_settings`, `Stylizer.to_uint8`, `StyleStats.of_features` and
`StyleStats.changed_since` refuse a mistaken argument by name, not with Python's raw error."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
import torch
from PIL import Image

import realtime_adain as ra
from realtime_adain.adain import StyleStats

SMALL_PEAK = 20 * 2**20  # bytes: far below any copy of the pictures below (96 to 192 MB)


@pytest.fixture(scope="module")
def style() -> StyleStats:
    generator = torch.Generator().manual_seed(52)
    return StyleStats(torch.rand(512, generator=generator), torch.rand(512, generator=generator))


def view(*shape: int) -> np.ndarray:
    """A picture of `shape` that takes no memory until it is copied."""
    return np.broadcast_to(np.zeros(shape[2:] or (1,), np.uint8), shape)


def refused(call, error: type[Exception] = ValueError) -> tuple[str, int]:
    """What `call` says when it refuses, and the most memory Python's allocators (numpy's included)
    held meanwhile."""
    tracemalloc.start()
    try:
        with pytest.raises(error) as caught:
            call()
        return str(caught.value), tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


OVER_BUDGET = {
    "stylize_frames": (lambda st, s: list(st.stylize_frames([view(8000, 8000, 3)], s)), "frames[0] is 8000x8000"),
    "stylize_image": (lambda st, s: st.stylize_image(view(8000, 8000, 3), s, size=None), "image is 8000x8000"),
    "stylize_image grey": (lambda st, s: st.stylize_image(view(8000, 8000), s, size=None), "image is 8000x8000"),
    "stylize_image scaled": (lambda st, s: st.stylize_image(view(2000, 16000, 3), s, size=4096),
                             "image (16000x2000) at size 4096 is 32768x4096"),
    "style": (lambda st, s: st.style(view(8000, 8000, 3), size=None), "image is 8000x8000"),
    "style scaled": (lambda st, s: st.style(view(2000, 16000, 3), size=4096), "at size 4096 is 32768x4096"),
    "style_stats scaled": (lambda st, s: st.style_stats(view(2000, 16000, 3), size=4096), "at size 4096 is 32768x4096"),
}


@pytest.mark.parametrize("case", list(OVER_BUDGET))
def test_a_picture_over_its_budget_is_refused_before_it_is_copied(stylizer, style, case):
    """Each entry copied the view (a grey one repeated to RGB) and only then refused it."""
    call, said = OVER_BUDGET[case]
    message, peak = refused(lambda: call(stylizer, style))
    assert said in message
    assert peak < SMALL_PEAK, f"{peak} bytes held before the refusal"


def test_a_pil_image_over_its_budget_is_refused_before_it_is_converted(stylizer, style):
    """A PIL image's size is its header's: it was converted to an RGB array (192 MB here) first."""
    picture = Image.new("L", (8000, 8000))  # (Pillow's own memory, not traced)
    message, peak = refused(lambda: stylizer.stylize_image(picture, style, size=None))
    assert "image is 8000x8000, over max_pixels" in message
    assert peak < SMALL_PEAK


def test_a_mistaken_color_reference_is_said_before_the_style_image_is_copied(stylizer):
    message, peak = refused(lambda: stylizer.style_stats(view(4000, 4000, 3), None, color_reference=5), TypeError)
    assert message.startswith("color_reference must be a path, a PIL image or a numpy array, got int")
    assert peak < SMALL_PEAK


def test_the_stream_and_masked_paths_refuse_an_oversized_view_before_copying(stylizer, style):
    """(These checked before copying already: kept so.)"""
    huge = view(17000, 17000, 3)
    for call in (lambda: list(stylizer.stylize_stream([huge], style)), lambda: stylizer.stylize(huge, style),
                 lambda: stylizer.stylize_masked(huge, np.broadcast_to(np.zeros((), np.int64), (17000, 17000)), [style])):
        message, peak = refused(call)
        assert "more than 268435456 (16384x16384)" in message
        assert peak < SMALL_PEAK


def test_stylize_stream_names_the_batch_it_refuses(stylizer, style, one_thread):
    """It said `frames must be a uint8 numpy array, got int`: no argument of stylize_stream."""
    good = np.zeros((16, 16, 3), np.uint8)
    with pytest.raises(TypeError, match=r"^batches\[1\] must be a uint8 numpy array, got int$"):
        list(stylizer.stylize_stream([good, 5], style))
    with pytest.raises(TypeError, match=r"^batches\[0\] must be a uint8 numpy array, got float32 values$"):
        list(stylizer.stylize_stream([good.astype(np.float32)], style))
    with pytest.raises(ValueError, match=r"^batches\[2\] must be \(H, W, 3\) or \(N, H, W, 3\) RGB, got shape \(16, 16, 4\)$"):
        list(stylizer.stylize_stream([good, good[None], np.zeros((16, 16, 4), np.uint8)], style))


def test_from_settings_refuses_what_is_no_model_settings(published_weights):
    vgg, decoder = published_weights
    with pytest.raises(TypeError, match=r"^model must be ModelSettings, got NoneType$"):  # (an AttributeError)
        ra.Stylizer.from_settings(None)
    with pytest.raises(TypeError, match=r"^sizes_vary must be bool, got str$"):  # ("no" was taken as True)
        ra.Stylizer.from_settings(ra.ModelSettings(str(vgg), str(decoder), "cpu"), sizes_vary="no")


def test_to_uint8_refuses_what_is_no_batch_of_images():
    with pytest.raises(TypeError, match=r"^images must be a torch tensor, got NoneType$"):  # (an AttributeError)
        ra.Stylizer.to_uint8(None)
    with pytest.raises(ValueError, match=r"^images must be \(N, 3, H, W\), got shape \(3, 4, 4\)$"):
        ra.Stylizer.to_uint8(torch.zeros(3, 4, 4))
    assert ra.Stylizer.to_uint8(torch.ones(1, 3, 2, 2)).tolist() == [[[[255] * 3] * 2] * 2]


def test_of_features_refuses_what_is_no_batch_of_features():
    with pytest.raises(ValueError, match=r"^feat must be an \(N, C, H, W\) tensor of features, got shape \(3,\)$"):
        StyleStats.of_features(torch.zeros(3))  # ("not enough values to unpack")
    with pytest.raises(TypeError, match=r"^feat must be an \(N, C, H, W\) torch tensor of features, got NoneType$"):
        StyleStats.of_features(None)  # ("'NoneType' object is not subscriptable")


def test_changed_since_refuses_what_is_no_snapshot(style):
    with pytest.raises(TypeError, match=r"^snapshot must be what StyleStats.snapshot\(\) returns, got NoneType$"):
        style.changed_since(None)  # ("'NoneType' object is not iterable")
    with pytest.raises(TypeError, match=r"got a tuple of 1$"):
        style.changed_since((1,))
    assert not style.changed_since(style.snapshot())


def test_a_style_over_its_budget_is_refused_by_stylize_video_before_it_is_copied(weights_env, data_dir, tmp_path):
    """`stylize_video`'s style images too: checked from their sides, then copied."""
    said, peak = refused(lambda: ra.stylize_video(data_dir / "videos" / "cutBunny.mp4", tmp_path / "out.mp4",
                                                  view(2000, 16000, 3), style_size=4096))
    assert "at style_size 4096 is 32768x4096" in said and peak < SMALL_PEAK, (said, peak)
