"""Session 48's fixes to the Python API: a style changed in place after a call that never reached
the engine, StyleStats of float8 and other dtypes, `Stylizer.load(dtype=torch.float32)`, and
`write_image` given a name ending in a slash."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import realtime_adain as ra
from realtime_adain.adain import StyleStats

RNG = np.random.default_rng(48)
PICTURE = RNG.integers(0, 256, (32, 32, 3), dtype=np.uint8)


def two_styles(stylizer) -> tuple[StyleStats, StyleStats]:
    return tuple(stylizer.style(RNG.integers(0, 256, (32, 32, 3), dtype=np.uint8), size=32) for _ in range(2))


def a_copy(style: StyleStats) -> StyleStats:
    return StyleStats(style.mean.clone(), style.std.clone())


def fails_on_alpha(stylizer, style):
    with pytest.raises(ValueError, match="alpha"):
        stylizer.stylize(PICTURE, style, alpha=1.5)


def fails_on_frames(stylizer, style):
    with pytest.raises(ValueError, match="frames"):
        stylizer.stylize(np.zeros((0, 4, 3), np.uint8), style)


def stream_not_consumed(stylizer, style):
    stylizer.stylize_stream([PICTURE], style)


@pytest.mark.parametrize("between", [fails_on_alpha, fails_on_frames, stream_not_consumed])
def test_a_style_changed_in_place_after_a_call_that_never_reached_the_engine(stylizer, one_thread, between):
    """The Stylizer's snapshot was of the style checked last (the other one, in a call that failed
    or a stream never iterated), the engine's upload kept by identity: the old values were used."""
    first, second = two_styles(stylizer)
    before = stylizer.stylize(PICTURE, first)
    between(stylizer, second)
    first.std.mul_(0.5)
    after = stylizer.stylize(PICTURE, first)
    assert not np.array_equal(before, after)
    np.testing.assert_array_equal(after, stylizer.stylize(PICTURE, a_copy(first)))


def test_the_engine_itself_uploads_a_style_changed_in_place(stylizer, one_thread):
    """`st.engine.stylize` (docs/api.md: the engine) kept a style's upload by identity alone."""
    style, _ = two_styles(stylizer)
    before = stylizer.engine.stylize(PICTURE, style)
    style.mean.add_(1.0)
    after = stylizer.engine.stylize(PICTURE, style)
    assert not np.array_equal(before, after)
    np.testing.assert_array_equal(after, stylizer.engine.stylize(PICTURE, a_copy(style)))


def test_a_style_made_nan_during_a_stream_is_refused_at_its_next_batch(stylizer, one_thread):
    """Uploaded again when changed, a style is checked again: NaN made black pictures."""
    style, _ = two_styles(stylizer)
    stream = stylizer.stylize_stream([PICTURE, PICTURE], style)
    next(stream)
    style.std[0] = float("nan")
    with pytest.raises(ValueError, match=r"^style\.std holds NaN"):
        next(stream)


def test_styles_of_float8_and_uint16_mix_and_stylize(stylizer, one_thread):
    """mix raised torch's "Promotion for Float8 Types is not supported"; a float8 or uint16 std made
    every call raise '"lt_cpu" not implemented' (docs/api.md: mix takes any dtype)."""
    ones = torch.ones(512)
    for dtype in (torch.float8_e4m3fn, torch.uint16):
        odd = StyleStats(torch.zeros(512, dtype=dtype), ones.to(dtype))
        plain = StyleStats(torch.zeros(512), ones * 3)
        mixed = StyleStats.mix([odd, plain], [1, 1])
        assert mixed.mean.dtype == torch.float32
        torch.testing.assert_close(mixed.std, ones * 2)
        np.testing.assert_array_equal(stylizer.stylize(PICTURE, odd), stylizer.stylize(PICTURE, StyleStats(
            torch.zeros(512), ones.clone())))


def test_a_style_of_a_dtype_torch_cannot_convert_is_a_type_error_naming_it():
    unusable = StyleStats(torch.zeros(512, dtype=torch.bits8), torch.ones(512))
    with pytest.raises(TypeError, match=r"^styles\[0\]\.mean holds torch\.bits8 values, which torch cannot convert"):
        StyleStats.mix([unusable, unusable], [1, 1])


def test_load_takes_the_torch_dtype_a_stylizer_has(stylizer, published_weights):
    """`Stylizer.load(dtype=st.dtype)` was "dtype must be a str such as 'auto', got dtype"."""
    assert ra.Stylizer.load(*published_weights, device="cpu", dtype=stylizer.dtype).dtype == torch.float32
    accepted = "'auto', 'fp32', 'fp16', 'bf16', torch.float32, torch.float16 or torch.bfloat16"
    with pytest.raises(ValueError) as refused:
        ra.Stylizer.load(*published_weights, device="cpu", dtype=torch.float64)
    assert str(refused.value) == f"dtype torch.float64 is not one a Stylizer runs in (use {accepted})"
    assert isinstance(refused.value, ra.UserError)
    with pytest.raises(ValueError, match=r"^dtype fp16 needs a GPU"):
        ra.Stylizer.load(*published_weights, device="cpu", dtype=torch.float16)
    with pytest.raises(TypeError) as refused:
        ra.Stylizer.load(*published_weights, device="cpu", dtype=None)
    assert str(refused.value) == f"dtype must be a str or torch.dtype ({accepted}), got NoneType"


def test_write_image_refuses_a_name_ending_in_a_slash(tmp_path):
    """'new/f.png/' (a folder meant) wrote the file f.png, Path having dropped the slash."""
    with pytest.raises(ValueError) as refused:
        ra.write_image(f"{tmp_path}/new/f.png/", PICTURE)
    assert str(refused.value) == f"path '{tmp_path}/new/f.png/' ends in a slash: give the file's name, not a folder"
    assert list(tmp_path.iterdir()) == []
