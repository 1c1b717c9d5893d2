"""Session 39's fixes to the Python API (docs/api.md), found by a tester: out of memory in
`stylize_image`/`stylize_frames` as a MemoryError, one-position regions of `stylize_masked`
styled, `TwoPassStabilizer(device=...)` checked, styles changeable in place, and messages naming
`stylize_masked`'s `frame`."""

from __future__ import annotations

import textwrap

import numpy as np
import pytest
import torch

from realtime_adain.adain import EPS, StyleStats, masked_adain
from realtime_adain.temporal.two_pass import TwoPassStabilizer
from test_fixes30_api import run_under_memory_limit

RNG = np.random.default_rng(39)
PICTURE = RNG.integers(0, 256, (64, 64, 3), dtype=np.uint8)


@pytest.fixture(scope="module")
def styles(stylizer):
    return [stylizer.style(RNG.integers(0, 256, (32, 32, 3), dtype=np.uint8), size=32) for _ in range(3)]


@pytest.mark.slow  # (default run's time: fills the address space)
def test_out_of_memory_in_stylize_image_and_stylize_frames_is_a_memory_error(published_weights):
    """`stylize`, `style` and `stylize_masked` raised `OutOfMemory` (a UserError and a
    MemoryError), but `stylize_image` and `stylize_frames` a plain UserError, which `except
    MemoryError` missed. (A fresh interpreter under `ulimit -v`: the only check of this fix.)"""
    script = textwrap.dedent(f"""
        import numpy as np, realtime_adain as ra
        st = ra.Stylizer.load({str(published_weights[0])!r}, {str(published_weights[1])!r}, device="cpu", engine="eager")
        S = st.style(np.full((16, 16, 3), 90, np.uint8), size=16)
        big = np.zeros((3000, 3000, 3), np.uint8)
        for call in (lambda: st.stylize_image(big, S, size=None), lambda: list(st.stylize_frames([big], S))):
            try:
                call()
                print("no error")
            except MemoryError as exc:
                print(isinstance(exc, ra.UserError), exc)
    """)
    result = run_under_memory_limit(script)
    assert result.stdout.splitlines() == [
        "True image: out of memory; lower size",
        "True frames: out of memory; lower batch, or pass smaller frames",
    ], result.stderr[-2000:]


def test_a_one_position_region_gets_its_style_as_adain_gives_it(styles):
    """A region of one relu4_1 position has no unbiased variance, and was left unstyled (the
    content's features); AdaIN of it is the style's mean, whatever positive std normalises it.
    Every region against the formula in float64."""
    content = torch.from_numpy(RNG.normal(5.0, 3.0, (1, 512, 4, 5)).astype(np.float32))
    mask = torch.zeros(4, 5, dtype=torch.long)
    mask[2, 3] = 1  # one position; style 2 has none
    got = masked_adain(content, mask, styles).double()
    flat, labels = content.double().reshape(512, -1), mask.flatten()
    expected = flat.clone()
    for index, style in enumerate(styles[:2]):
        region = flat[:, labels == index]
        mean, std = style.mean.double()[:, None], style.std.double()[:, None]
        if region.shape[1] == 1:
            expected[:, labels == index] = mean
        else:
            normalised = (region - region.mean(1, keepdim=True)) / (region.var(1, keepdim=True) + EPS).sqrt()
            expected[:, labels == index] = normalised * std + mean
    torch.testing.assert_close(got.reshape(512, -1), expected, rtol=1e-5, atol=1e-4)


def test_an_8x8_patch_of_stylize_masked_takes_its_style(stylizer, styles):
    """The tester's case: an 8x8 patch asking for another style came out the same whichever style
    it asked for (unstyled); now each gives its own picture there."""
    mask = np.zeros(PICTURE.shape[:2], np.int64)
    patch = np.s_[24:32, 24:32]
    results = []
    for index in (1, 2):
        mask[patch] = index
        results.append(stylizer.stylize_masked(PICTURE, mask, styles))
    assert np.abs(results[0][patch].astype(int) - results[1][patch]).mean() > 1


@pytest.mark.parametrize("device, error, words", [
    ("bogus", ValueError, r"^unknown device 'bogus' \(use auto, cpu, cuda, cuda:N or mps\)$"),
    ("cuda:99", ValueError, r"^device 'cuda:99' asked for, but (no CUDA GPU is available|there (is|are) only)"),
    (99, TypeError, r"^device must be a str such as 'auto', got int$"),  # (as Stylizer.load: session 54)
    ("meta", ValueError, r"^unknown device 'meta'"),
    (True, TypeError, r"^device must be a str such as 'auto', got bool$"),
    (1.5, TypeError, r"^device must be a str such as 'auto', got float$"),
])
def test_two_pass_stabilizer_checks_its_device(device, error, words):
    """Was torch's RuntimeError ("Expected one of cpu, cuda, ... device type at start of device
    string: bogus", "Found no NVIDIA driver"), where every other argument names itself."""
    with pytest.raises(error, match=words):
        TwoPassStabilizer(device=device)


def test_two_pass_stabilizer_takes_the_devices_stylizer_load_takes():
    assert TwoPassStabilizer(device="cpu").device == torch.device("cpu")
    assert TwoPassStabilizer(device=torch.device("cpu")).device == torch.device("cpu")
    if torch.cuda.is_available():
        assert TwoPassStabilizer(device="cuda").device.type == "cuda"
    else:  # (this machine's case: 'cuda' is a clear error too)
        with pytest.raises(ValueError, match=r"^device 'cuda' asked for, but no CUDA GPU is available$"):
            TwoPassStabilizer(device="cuda")


def test_a_style_changed_in_place_as_the_docs_show_it(stylizer):
    """docs/api.md: "Statistics changed in place (`style.std.mul_(0.5)`, ...) are used": it raised
    "Inplace update to inference tensor outside InferenceMode" (style_stats runs in that mode)."""
    style = stylizer.style(RNG.integers(0, 256, (32, 32, 3), dtype=np.uint8), size=32)
    before = stylizer.stylize(PICTURE, style)
    style.std.mul_(0.5)
    after = stylizer.stylize(PICTURE, style)
    assert not np.array_equal(before, after)
    np.testing.assert_array_equal(after, stylizer.stylize(PICTURE, StyleStats(style.mean.clone(), style.std.clone())))
    assert not stylizer.style_stats(PICTURE).mean.is_inference()


def test_a_huge_frame_for_stylize_masked_is_named_frame(stylizer, styles):
    """Was "frames are 1 x 20000x20000 ...", the words of `stylize`, whose argument is `frames`;
    a frame of 4 channels was "frames must be (H, W, 3) or (N, H, W, 3) RGB"."""
    huge = np.broadcast_to(np.uint8(7), (20000, 30000, 3))
    with pytest.raises(ValueError) as caught:
        stylizer.stylize_masked(huge, np.broadcast_to(np.int64(0), huge.shape[:2]), styles)
    assert str(caught.value) == ("frame is 30000x20000, 600000000 pixels, more than 268435456 (16384x16384): "
                                 "pass a smaller frame")
    with pytest.raises(ValueError, match=r"^frame must be one \(H, W, 3\) uint8 RGB array, got \(8, 8, 4\)$"):
        stylizer.stylize_masked(np.zeros((8, 8, 4), np.uint8), np.zeros((8, 8), np.int64), styles)
