"""Session 57's fixes to what an API call holds in memory: `Stylizer.style_stats` counts its colour
reference's copy in its memory check, before copying it, and says it as the reference's."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

import realtime_adain as ra
from realtime_adain import available_memory
from realtime_adain.stylizer import OutOfMemory


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
